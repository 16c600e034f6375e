"""Replicates where they decide (``rollout refine``; analysis/refinement.py,
experiment/refine.py): the second stage adds replicates only at undecided points, the added
replicates are the very worlds a sweep with more replicates would have run (common random
numbers), a refined point is decided on all its replicates, and the stage resumes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
import zarr
from conftest import small_dict

from rollout.analysis.decided import AGAINST, FOR, UNDECIDED
from rollout.analysis.discover import claim_data
from rollout.analysis.refinement import refined_decisions, select_undecided
from rollout.experiment.refine import read_stage


def test_the_budget_goes_to_undecided_points_in_design_order() -> None:
    decision = np.array([FOR, UNDECIDED, AGAINST, UNDECIDED, UNDECIDED, UNDECIDED])
    assert select_undecided(decision, budget=10, added=4) == (1, 3)
    assert select_undecided(decision, budget=3, added=4) == ()
    assert select_undecided(decision, budget=100, added=4) == (1, 3, 4, 5)


def _share_cube(wins: list[int], reps: int) -> xr.Dataset:
    """phased stable first (10 against 20 months) in ``wins[p]`` of ``reps`` replicates."""
    t = np.full((len(wins), 2, reps), 20.0)
    for p, w in enumerate(wins):
        t[p, 1, :w] = 10.0
        t[p, 1, w:] = 30.0
    config = json.dumps({"time": {"horizon_months": 60}})
    return xr.Dataset({"t_full": (("point", "strategy", "replicate"), t),
                       "t_stable": (("point", "strategy", "replicate"), t),
                       "net_benefit": (("point", "strategy", "replicate"), -t)},
                      coords={"point": np.arange(len(wins)), "strategy": ["big_bang", "phased"],
                              "replicate": np.arange(reps)},
                      attrs={"design": json.dumps({"kind": "lhs", "dims": ["point"]}),
                             "config": config})


def test_a_refined_point_is_decided_on_all_its_replicates() -> None:
    """3 of 6 wins is undecided; 6 more wins make 9 of 12 (Wilson lower bound 0.468: still
    undecided); 14 more make 17 of 20 (0.64: for). Unrefined points keep their decision."""
    cube = _share_cube([3, 6, 0], 6)
    decision = np.array([UNDECIDED, FOR, AGAINST])
    point = np.array([False, True, False])
    for more, expected in ((6, UNDECIDED), (14, FOR)):
        added = {"t_stable": np.full((1, 2, more), 20.0), "t_full": np.full((1, 2, more), 20.0),
                 "net_benefit": np.zeros((1, 2, more))}
        added["t_stable"][0, 1] = 10.0
        d, p = refined_decisions(cube, decision, point, np.array([0]), added,
                                 ["big_bang", "phased"], "phased", "stable_first", "big_bang")
        assert d.tolist() == [expected, FOR, AGAINST]
        assert p.tolist() == [True, True, False]


# ------------------------------------------------------------------------------ through the CLI
def _config(folder: Path, replicates: int) -> Path:
    d = small_dict(replicates=replicates)
    d["strategies"] = {"big_bang": {}, "phased": d["strategies"]["phased"]}
    d["sweep"] = {"design": "lhs", "points": 5, "block_size": 2, "parameters": {
        "preparation.mean_months": {"low": 2.0, "high": 18.0}}}
    path = folder / f"r{replicates}.toml"
    path.write_text(tomli_w.dumps(d), encoding="utf-8")
    return path


def _rollout(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.slow     # two sweeps, two stages, two refusals: about 80 s on a shared machine
def test_cli_refine_adds_the_same_worlds_and_resumes(tmp_path: Path) -> None:
    """A 5-point sweep with 4 replicates, refined with 4 more at undecided points, against the
    same sweep run with 8 replicates: the added replicates are replicates 4-7 of that sweep, bit
    for bit, and each refined point's decision is the 8-replicate sweep's."""
    first = tmp_path / "first.zarr"
    assert _rollout("sweep", _config(tmp_path, 4), "-o", first, "--serial", "-q",
                    cwd=tmp_path).returncode == 0
    ds = xr.open_zarr(first)
    # a threshold at the own mean of the point whose replicates differ most: its interval holds
    # it, so that point is undecided
    t = np.minimum(ds.t_full.values, 60.0)                  # restricted to the horizon
    d = t[:, 1] - t[:, 0]                                   # (point, replicate)
    noisy = int(np.argmax(d.std(axis=1)))
    assert d[noisy].std() > 0.5
    claim = f"rdiff_t_full > {d[noisy].mean():.6f}"
    stage = tmp_path / "stage.zarr"
    args = ("refine", first, "-s", "phased", "-c", claim, "--budget", 8, "--add", 4, "-o",
            stage, "--serial", "-q")
    proc = _rollout(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "first stage:" in proc.stdout and "after both:" in proc.stdout
    group = zarr.open_group(stage, mode="r")
    index = np.asarray(group["design_index"][:])
    assert noisy in index and 1 <= len(index) <= 2

    full = tmp_path / "full.zarr"
    assert _rollout("sweep", _config(tmp_path, 8), "-o", full, "--serial", "-q",
                    cwd=tmp_path).returncode == 0
    reference = xr.open_zarr(full)
    for name in ("t_full", "t_stable", "net_benefit", "harm_total"):
        want = reference[name].isel(point=index, replicate=slice(4, 8)).values
        np.testing.assert_array_equal(np.asarray(group[name][:]), want)
        np.testing.assert_array_equal(reference[name].isel(replicate=slice(0, 4)).values,
                                      ds[name].values)
    first_stage, both = claim_data(ds, "phased", claim), claim_data(reference, "phased", claim)
    _, read_index, values, names = read_stage(stage)
    decision, _ = refined_decisions(ds, first_stage.decision, first_stage.point, read_index,
                                    values, names, "phased", claim, "big_bang")
    assert decision[index].tolist() == both.decision[index].tolist()
    others = np.setdiff1d(np.arange(5), index)
    assert decision[others].tolist() == first_stage.decision[others].tolist()

    # resume: forget one block, run again: only it is recomputed, to the same values
    before = np.asarray(group["t_full"][:]).copy()
    writable = zarr.open_group(stage, mode="r+")
    writable["flags"][0, 1] = 0
    writable["t_full"][0, :, 2:4] = np.nan
    writable.attrs["complete"] = "false"
    again = _rollout(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "4 runs now" in again.stdout                 # one block of 2 replicates x 2 designs
    np.testing.assert_array_equal(np.asarray(zarr.open_group(stage, mode="r")["t_full"][:]),
                                  before)
    assert again.stdout.splitlines()[-1] == proc.stdout.splitlines()[-1]

    # discover reads the second stage: the decided counts after both stages
    found = _rollout("discover", first, "-s", "phased", "-c", claim, "--resamples", 0,
                     "--refined", stage, "--outcome", "significant", cwd=tmp_path)
    if found.returncode == 0:
        assert "decided with the second stage" in found.stdout
        after = again.stdout.splitlines()[-1].removeprefix("after both: ")
        assert f"decided: {after}" in found.stdout
    else:                                   # no point significant for the claim: no box
        assert "holds at none" in found.stderr

    # bad input: one line, exit 2, nothing written
    small = _rollout("refine", first, "-s", "phased", "-c", claim, "--budget", 2, "--add", 4,
                     "-o", tmp_path / "none.zarr", "--serial", cwd=tmp_path)
    assert small.returncode == 2 and "less than --add 4" in small.stderr
    assert len(small.stderr.strip().splitlines()) == 1 and not (tmp_path / "none.zarr").exists()
    other = _rollout("refine", first, "-s", "phased", "-c", claim, "--budget", 4, "--add", 2,
                     "-o", stage, "--serial", cwd=tmp_path)          # another second stage
    assert other.returncode == 2 and "not this second stage" in other.stderr
