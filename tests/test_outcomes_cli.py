"""Issue 21's outcomes through the real command line on a small real run: the headline shows
the crossover and the stable-first curve, ``compare --outcomes`` gives them as a table, CSV and
JSON whose numbers are the analysis's, ``export`` adds their columns, ``plot`` draws the two
figures, and a cube written before the new variables (simulated by dropping them) still
compares and exports, with what is absent named in one line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from conftest import small_dict

from rollout import open_cube
from rollout.analysis.outcomes import outcome_records, outcomes
from rollout.experiment.cube import write_cube

#: eleven CLI subprocesses (117 s measured on a shared, loaded 2-core machine): end-to-end, so
#: marked slow
pytestmark = pytest.mark.slow

NEW = ["t_overtake", "t_stable_at", "stable_threshold", "end_harm_rate", "end_benefit_rate"]


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The small config (seed 7), 3 replicates, 180 months, entrenchment on; then every command
    on its cube and on an 'old' copy without the new variables."""
    folder = tmp_path_factory.mktemp("outcomes_cli")
    config = folder / "small.toml"
    config.write_text(tomli_w.dumps(small_dict(replicates=3, time={"horizon_months": 180},
                                               entrenchment={"enabled": True})))
    cube = folder / "small.zarr"
    out = {"run": _cli("run", config, "-o", cube, "-w", "1", "-q", cwd=folder)}
    assert out["run"].returncode == 0, out["run"].stderr
    old = folder / "old.zarr"
    with open_cube(cube) as ds:
        write_cube(ds.load().drop_vars(NEW), old)
    for name, path in (("new", cube), ("old", old)):
        for fmt in ("table", "csv", "json"):
            out[f"{name}_{fmt}"] = _cli("compare", path, "--outcomes", "--format", fmt,
                                        cwd=folder)
        out[f"{name}_export"] = _cli("export", path, "--what", "summary", "--format", "csv",
                                     "-o", folder / f"{name}.csv", cwd=folder)
    for kind in ("overtake", "stable-curve"):
        out[kind] = _cli("plot", cube, "--kind", kind, "-o", folder / f"{kind}.png",
                         cwd=folder)
    # a small sweep: entrenchment off/on (a switch) x two severities, 2 replicates, 60 months
    sweep_config = folder / "sweep.toml"
    sweep_config.write_text(tomli_w.dumps(small_dict(replicates=2, sweep={
        "parameters": {"entrenchment.enabled": [False, True],
                       "defects.severity_median": [0.05, 0.3]}, "block_size": 2})))
    store = folder / "sweep.zarr"
    out["sweep"] = _cli("sweep", sweep_config, "--serial", "-o", store, cwd=folder)
    out["sweep_json"] = _cli("compare", store, "--outcomes", "--format", "json", cwd=folder)
    out["sweep_table"] = _cli("compare", store, "--outcomes", cwd=folder)
    return folder, cube, old, out


def test_headline_shows_the_crossover_and_the_stable_first_curve(runs):
    _, _, _, out = runs
    text = out["run"].stdout
    assert "overtakes" in text.splitlines()[1]                  # a column of the table
    assert "stable first by harm threshold" in text
    assert "0.02:" in text and "0.15:" in text
    assert "long-run floor" in text


def test_compare_csv_and_json_hold_the_analysis_numbers(runs):
    _, cube, _, out = runs
    for key in ("new_table", "new_csv", "new_json"):
        assert out[key].returncode == 0, out[key].stderr
    with open_cube(cube) as ds:
        expected = outcome_records(outcomes(ds, "big_bang"), ds)
    rows = json.loads(out["new_json"].stdout)
    got = [r for r in rows if r["metric"] in ("net_benefit_at", "stable_first_at", "risk")]
    assert len(got) == len(expected) > 0
    for row, exp in zip(got, expected, strict=True):
        for key, value in exp.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
            else:
                assert row[key] == value, key
    # t_overtake is among the compare metrics, with its Kaplan-Meier median
    over = [r for r in rows if r["metric"] == "t_overtake"]
    assert {r["strategy"] for r in over} == {"big_bang", "phased", "dual_track", "adaptive"}
    table = list(csv.DictReader(io.StringIO(out["new_csv"].stdout)))
    assert len(table) == len(rows)
    assert {"horizon_years", "discount_rate", "threshold", "q05", "es05", "p_below"} <= set(
        table[0])
    text = out["new_table"].stdout
    assert "d t_overtake" in text and "net benefit by horizon and discount rate" in text
    assert "horizons not reached by the run" in text             # 20, 30, 50 years: > 180 months


def test_export_adds_the_outcome_columns(runs):
    folder, cube, _, out = runs
    assert out["new_export"].returncode == 0, out["new_export"].stderr
    frame = pd.read_csv(folder / "new.csv", float_precision="round_trip")
    for column in ("t_overtake", "t_overtake_reached", "t_stable_at_0.02", "t_stable_at_0.15",
                   "floor_ratio", "net_benefit_10y_r0", "net_benefit_10y_r0.03"):
        assert column in frame, column
    with open_cube(cube) as ds:
        stored = ds["t_overtake"].transpose("strategy", "replicate").values.ravel()
    np.testing.assert_array_equal(frame["t_overtake"].to_numpy(), stored)


def test_an_old_cube_compares_and_exports_with_what_is_absent_named(runs):
    folder, cube, old, out = runs
    for key in ("old_table", "old_csv", "old_json", "old_export"):
        assert out[key].returncode == 0, out[key].stderr
    text = out["old_table"].stdout
    assert "note: stable first across thresholds: absent" in text
    assert "note: long-run floor: from the last grid step" in text
    new_rows = [r for r in json.loads(out["new_json"].stdout) if r["metric"] == "t_overtake"]
    old_rows = [r for r in json.loads(out["old_json"].stdout) if r["metric"] == "t_overtake"]
    assert old_rows == new_rows                                 # computed = stored
    old = pd.read_csv(folder / "old.csv", float_precision="round_trip")
    new = pd.read_csv(folder / "new.csv", float_precision="round_trip")
    np.testing.assert_array_equal(old["t_overtake"], new["t_overtake"])
    np.testing.assert_array_equal(old["net_benefit_10y_r0.03"], new["net_benefit_10y_r0.03"])
    assert "t_stable_at_0.02" not in old


def test_plots_are_written(runs):
    folder, _, _, out = runs
    for kind in ("overtake", "stable-curve"):
        assert out[kind].returncode == 0, out[kind].stderr
        from matplotlib.image import imread
        image = imread(folder / f"{kind}.png")
        assert image.shape[0] > 300 and image.std() > 0.01     # drawn, not blank


def test_a_sweep_gets_regret_pooled_and_per_switch_combination(runs):
    _, _, _, out = runs
    for key in ("sweep", "sweep_json", "sweep_table"):
        assert out[key].returncode == 0, out[key].stderr
    rows = [r for r in json.loads(out["sweep_json"].stdout)
            if r["metric"].startswith("regret_")]
    combos = {r["switches"] for r in rows}
    assert combos == {"pooled", "entrenchment.enabled=False", "entrenchment.enabled=True"}
    for combo in combos:
        for metric in ("regret_net_benefit", "regret_t_stable"):
            group = [r for r in rows if r["switches"] == combo and r["metric"] == metric]
            assert len(group) == 4 and sum(r["minimax"] for r in group) == 1
            best = min(group, key=lambda r: r["max_regret"])
            assert best["minimax"] and all(r["max_regret"] >= 0 for r in group)
            assert all(r["points"] == (4 if combo == "pooled" else 2) for r in group)
    assert "regret across the design" in out["sweep_table"].stdout
