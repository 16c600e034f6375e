"""The analysis scripts of docs/findings/v3/ (tables.py, robustness.py, order.py) on a small
headline-shaped sweep made by the real CLI: every structure of the headline design (5 switches x
enforcement), 3 sampled points, the five designs, 2 replicates, 21 regions over 5 years. The
scripts' committed outputs come from the 61,440-run cube; this keeps them runnable and checks
that what they print is internally consistent (counts that must nest, the overtaking split that
must add up, the order companion equal to the headline run for run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from conftest import small_dict

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "docs" / "findings" / "v3"
SWITCHES = ["support", "spillovers", "legitimacy", "entrenchment", "track_fit"]
NUMERIC = {  # the parameters the scripts read by name, over ranges like the headline's
    "regions.capacity_low": {"low": 0.15, "high": 1.0},
    "defects.mean_count": {"low": 2.0, "high": 20.0, "log": True},
    "defects.severity_median": {"low": 0.05, "high": 0.8, "log": True},
    "defects.detectability_median": {"low": 0.02, "high": 0.2, "log": True},
    "legitimacy.halt_threshold": {"low": 0.0, "high": 0.9},
}


def _config(order: bool) -> dict:
    d = small_dict(replicates=2)
    d["seed"] = 20190101
    d["strategies"]["big_bang_matched"] = {}
    d["outcomes"] = {"stable_harm_shares": [0.02, 0.05, 0.10, 0.15]}
    d["analysis"] = {"baseline": "big_bang", "horizons_years": [2.0, 5.0],
                     "discount_rates": [0.0, 0.05]}
    parameters: dict = dict(NUMERIC)
    if order:      # the companion: all five on, the queue's order x enforcement
        for m in SWITCHES:
            d[m] = {"enabled": True}
        parameters["support.order"] = ["start", "longest_first", "shortest_first"]
    else:
        parameters.update({f"{m}.enabled": [False, True] for m in SWITCHES})
    parameters["entrenchment.enforcement.enabled"] = [False, True]
    d["sweep"] = {"design": "lhs", "points": 3, "block_size": 2, "parameters": parameters}
    d["name"] = "v3_order_small" if order else "v3_small"
    return d


@pytest.fixture(scope="module")
def cubes(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("v3")
    out = {}
    for name, order in (("headline", False), ("order", True)):
        config = folder / f"{name}.toml"
        config.write_text(tomli_w.dumps(_config(order)), encoding="utf-8")
        out[name] = folder / f"{name}.zarr"
        proc = subprocess.run([sys.executable, "-m", "rollout.cli", "sweep", str(config), "-o",
                               str(out[name]), "--serial", "-q"], capture_output=True, text=True,
                              timeout=900, cwd=folder)
        assert proc.returncode == 0, proc.stderr
    return out


def _script(name: str, cubes: dict[str, Path]) -> str:
    env = {**os.environ, "V3_CUBE": str(cubes["headline"]), "V3_ORDER": str(cubes["order"])}
    proc = subprocess.run([sys.executable, str(SCRIPTS / name)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow        # two sweeps of 1,920 and 180 runs, then three scripts: about 2 min
def test_tables_robustness_and_order_run_and_their_counts_nest(cubes) -> None:
    tables = _script("tables.py", cubes)
    # 64 structures x 3 points, of which 48 x 3 are distinct (enforcement repeats without
    # entrenchment)
    assert "over the 144 distinct points" in tables
    totals = re.findall(r"^  (\w+) +\((\d+) points\) full_later +(\d+) \| +(\d+) / +(\d+); "
                        r"stable_first +(\d+) \| +(\d+) / +(\d+) \( *(\d+)\); "
                        r"overtakes +(\d+) = +(\d+) \+ +(\d+)", tables, flags=re.M)
    assert {t[0] for t in totals} == {"big_bang_matched", "phased", "dual_track", "adaptive"}
    for design, *numbers in totals:
        (points, later, later_for, later_against, stable, stable_for, stable_against, ties,
         overtakes, never_behind, catches_up) = map(int, numbers)
        assert points == (72 if design == "big_bang_matched" else 144)
        assert later_for <= later and later_for + later_against <= points
        assert stable_for <= stable and ties <= stable_against
        assert overtakes == never_behind + catches_up <= points
    assert "the 3 sampled points:" in tables
    assert len(re.findall(r"^  point +\d+: ", tables, flags=re.M)) == 3

    robustness = _script("robustness.py", cubes)
    for group in ("all 1,152 distinct points", "all five on (24)", "all five on, enforced (24)"):
        assert f"=== {group}" in robustness
    cells = re.findall(r"\d+%: (\d+) \| (\d+) / (\d+) \((\d+)\)", robustness)
    assert len(cells) >= 4 * 4 * 3          # designs x thresholds x groups
    for estimate, decided_for, against, ties in cells:
        assert int(decided_for) <= int(estimate) and int(ties) <= int(against)
    assert robustness.count("regret across the group's points") >= 3

    order = _script("order.py", cubes)
    # the companion's start order is the headline's all-five-on cells, run for run
    assert "t_full of every run identical: enforcement off True, on True" in order
    assert "phased: points (of 24) whose decision" in order
