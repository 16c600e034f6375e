"""Through the CLI on a small real sweep: a switch that changes nothing (the support queue with
far more teams than regions) doubles every row; the cluster-aware intervals stay as they were
without it, while the naive ones (rows as independent) narrow (issue 22, "Done when").

Two sweeps of the real model, serially: 12 sampled points (Latin hypercube of detectability and
preparation time), 4 replicates, big bang and phased; the second crosses them with
support.enabled = [false, true] at 1,000 teams (21 regions). Both use the same seed, so the
sampled points and replicate worlds are the same. Tolerances: the cluster intervals must agree
within 0.02 (they agree exactly when the switch changes nothing: the same seed draws the same
clusters and a repeated row moves neither Spearman's rho nor a mean); the naive intervals must
narrow by at least 20% (sqrt(2) expected).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import small_dict

pytestmark = pytest.mark.slow     # two real sweeps and six CLI runs: about 40 s

PARAMS = ("defects.detectability_median", "preparation.mean_months")


def _config(folder: Path, switch: bool) -> Path:
    d = small_dict(replicates=4, support={"teams": 1000})
    d["strategies"] = {"big_bang": {}, "phased": d["strategies"]["phased"]}
    d["sweep"] = {"design": "lhs", "points": 12, "block_size": 4, "parameters": {
        PARAMS[0]: {"low": 0.01, "high": 0.2}, PARAMS[1]: {"low": 2.0, "high": 18.0}}}
    if switch:
        d["sweep"]["parameters"]["support.enabled"] = [False, True]
    path = folder / ("switch.toml" if switch else "plain.toml")
    path.write_text(tomli_w.dumps(d), encoding="utf-8")
    return path


def _rollout(*args: object, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_NUM = r"([-+]\d+\.\d+)"


def _spearman(text: str, name: str) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """(cluster interval, naive interval or None) of a parameter's row."""
    line = next(x for x in text.splitlines() if x.startswith(name))
    found = re.findall(rf"\[{_NUM}, {_NUM}\]", line)
    cluster = tuple(map(float, found[0]))
    return cluster, (tuple(map(float, found[1])) if len(found) > 1 else None)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inert_switch")
    out = {}
    for key, switch in (("plain", False), ("switch", True)):
        store = folder / f"{key}.zarr"
        _rollout("sweep", _config(folder, switch), "-o", store, "--serial", "-q", cwd=folder)
        out[key] = store
    return out


def test_the_switch_changes_nothing_and_doubles_every_row(sweeps: dict[str, Path]) -> None:
    plain, switch = (xr.open_zarr(sweeps[k]) for k in ("plain", "switch"))
    assert switch.sizes["point"] == plain.sizes["point"] == 12
    assert switch.sizes["support__enabled"] == 2
    for var in ("t_full", "t_stable", "net_benefit"):
        on = switch[var].sel(support__enabled=True).values
        off = switch[var].sel(support__enabled=False).values
        np.testing.assert_array_equal(on, off)
        np.testing.assert_array_equal(off, plain[var].values)


def test_sensitivity_cluster_interval_stays_and_naive_narrows(sweeps: dict[str, Path]) -> None:
    plain = _rollout("sensitivity", sweeps["plain"], "-m", "t_stable", cwd=sweeps["plain"].parent)
    switch = _rollout("sensitivity", sweeps["switch"], "-m", "t_stable",
                      cwd=sweeps["plain"].parent)
    assert "over 12 design points" in plain and "over 24 design points" in switch
    assert "24 rows in 12 clusters" in switch and "support.enabled" in switch
    for name in PARAMS:
        (p_low, p_high), _ = _spearman(plain, name)
        (s_low, s_high), naive = _spearman(switch, name)
        assert s_low == pytest.approx(p_low, abs=0.02) and s_high == pytest.approx(p_high,
                                                                                   abs=0.02)
        assert naive is not None and (naive[1] - naive[0]) < 0.8 * (s_high - s_low)


def test_compare_summary_counts_double_and_pooled_interval_stays(sweeps: dict[str, Path]
                                                                 ) -> None:
    cwd = sweeps["plain"].parent
    plain = _rollout("compare", sweeps["plain"], "--summary", cwd=cwd)
    switch = _rollout("compare", sweeps["switch"], "--summary", cwd=cwd)

    def decided(text: str) -> dict[str, list[int]]:
        rows = [x.split() for x in text.splitlines() if x.startswith("phased  ")
                and len(x.split()) == 7]
        return {r[1]: list(map(int, r[2:])) for r in rows}

    p, s = decided(plain), decided(switch)
    assert set(p) == {"full_later", "stable_first", "net_benefit_higher", "slower_is_faster"}
    for claim, counts in p.items():
        assert s[claim] == [2 * c for c in counts]

    def pooled(text: str) -> dict[str, tuple[float, ...]]:
        out = {}
        for line in text.splitlines():
            if line.startswith("phased") and "d net_benefit" in line:
                nums = re.findall(r"[-+]\d+(?:\.\d+)?(?:e[-+]?\d+)?", line.split("benefit", 1)[1])
                out["net_benefit"] = tuple(map(float, nums))
        return out

    (pm, pl, ph, pnl, pnh), (sm, sl, sh, snl, snh) = (pooled(plain)["net_benefit"],
                                                      pooled(switch)["net_benefit"])
    assert sm == pytest.approx(pm, rel=1e-3)
    assert (sh - sl) == pytest.approx(ph - pl, rel=0.02)
    assert (snh - snl) < 0.8 * (pnh - pnl)
    assert "12 clusters" in switch and "crossed with 4 replicate worlds" in switch


def test_discover_says_how_it_clustered_and_what_it_fed_prim(sweeps: dict[str, Path]) -> None:
    text = _rollout("discover", sweeps["switch"], "-s", "phased", "-c", "full_later",
                    "--resamples", "3", "--outcome", "significant", cwd=sweeps["plain"].parent)
    assert "PRIM's input: significant" in text
    assert re.search(r"decided: significant for \d+, significant against \d+, undecided \d+ "
                     r"of 24 design points", text)
    assert "24 rows in 12 clusters" in text
