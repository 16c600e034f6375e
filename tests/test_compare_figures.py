"""The analysis layer beyond the headline: paired comparisons over design points (compare.py),
figures (figures.py), sensitivity (sensitivity.py) and their commands (``rollout compare``,
``plot``, ``sensitivity``).

Numbers are checked on cubes built by hand, where the answer is known exactly (or follows from
an independent scalar computation here: numpy's two-pass standard deviation, scipy's t and normal
quantiles, the Wilson formula written out). Figures
need series variables, so they are drawn from a small real cube (one run of ``small_dict``) and a
real 2 x 2 grid sweep run serially into a Zarr store; the Sobol case is a real 8-point sweep.
Command-line runs are real subprocesses, started together by one module fixture (each start
costs ~2 s of imports).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import make_config, small_dict
from dask.callbacks import Callback
from matplotlib.figure import Figure
from matplotlib.image import imread
from scipy import stats

from rollout import open_cube
from rollout.analysis.compare import (
    DEFAULT_METRICS,
    compare,
    design_summary,
    format_table,
    to_records,
    wilson,
)
from rollout.analysis.figures import (
    plot_coverage,
    plot_harm,
    plot_phase,
    plot_stages,
    plot_versions,
    save,
    select_point,
)
from rollout.analysis.sensitivity import format_sensitivity, sensitivity
from rollout.data import load_provinces
from rollout.errors import RolloutError
from rollout.experiment.cube import build_cube, write_cube
from rollout.experiment.designs import build_design
from rollout.experiment.executors import SerialExecutor
from rollout.experiment.runner import run_experiment
from rollout.experiment.sweep import run_sweep

TIMEOUT = 180                                   # seconds for any one CLI run
def _sha(text: str) -> str:
    """The hash a cube records of its stored config (checked when the cube is opened)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
UNITS = {"t_full": "months", "t_stable": "months", "harm_total": "1", "net_benefit": "1"}
SEV = "defects.severity_median"
DET = "defects.detectability_median"
# as a cube written by rollout names them (CF-valid: no dots); labels show the config field
SEV_C, DET_C = SEV.replace(".", "__"), DET.replace(".", "__")
GRID_SWEEP = {"parameters": {SEV: [0.05, 0.3], DET: [0.02, 0.1]}, "block_size": 2}
NAN = math.nan


# ------------------------------------------------------------------------------ helpers
def paired_reference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95
                     ) -> tuple[float, float, float, int, int]:
    """(mean, low, high, pairs, excluded) of a - b over the pairs where both are finite, one
    replicate pair at a time (the reference for compare's one-pass, vectorised reduction)."""
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = len(d)
    if n == 0:
        return NAN, NAN, NAN, 0, len(a)
    if n == 1:
        return float(d[0]), NAN, NAN, 1, len(a) - 1
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return float(d.mean()), d.mean() - half, d.mean() + half, n, len(a) - n


def wilson_by_hand(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n, written out."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - spread, centre + spread


HAND_HORIZON = 120


def hand_cube(data: dict[str, np.ndarray], strategies: list[str],
              design: dict[str, list] | None = None, kind: str = "grid") -> xr.Dataset:
    """A cube with dims (design..., strategy, replicate) and the attributes analysis reads."""
    design = design or {}
    dims = (*design, "strategy", "replicate")
    n = np.asarray(next(iter(data.values()))).shape[-1]
    coords = {name: (name, np.asarray(values)) for name, values in design.items()}
    coords.update(strategy=np.array(strategies, dtype=object), replicate=np.arange(n))
    variables = {m: (dims, np.asarray(v, float), {"units": UNITS.get(m, "1")})
                 for m, v in data.items()}
    sweep = ({"design": kind, "parameters": {k: list(np.asarray(v).tolist())
                                             for k, v in design.items()}} if design else None)
    config = json.dumps({"analysis": {"baseline": "big_bang"}, "sweep": sweep, "seed": 1,
                         "time": {"horizon_months": HAND_HORIZON}})
    attrs = {"rollout_cube": "1", "complete": "true", "config_name": "hand", "seed": "1",
             "config": config, "config_sha256": _sha(config)}
    if design:
        attrs["design"] = json.dumps({"kind": kind, "dims": list(design)})
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def known_cube() -> xr.Dataset:
    """Two design points x (big_bang, phased, dual_track) x 5 replicates; see the test for the
    answers. NaN = never reached, placed deliberately."""
    t_full = [
        [[30, 40, 50, 60, NAN], [31, 42, 53, 64, 80], [NAN] * 5],
        [[20] * 5, [30] * 5, [10, NAN, 30, NAN, 50]],
    ]
    t_stable = [
        [[70, 80, NAN, 90, NAN], [60, 85, 100, 70, NAN], [NAN] * 5],
        [[NAN] * 5, [1, 2, 3, 4, 5], [NAN] * 5],
    ]
    harm = [
        [[1, 2, 3, 4, 5], [1.5, 3.5, 2.5, 6.5, 6], [2, 4, 6, 8, 10]],
        [[2, 2, 2, 2, 2], [1, 4, 2, 5, 3], [0, 0, 0, 0, 0]],
    ]
    net = [
        [[10, 20, 30, 40, 50], [6, 16, 26, 36, 46], [11, 19, 31, 39, 50]],
        [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, NAN, NAN, NAN, NAN]],
    ]
    return hand_cube({"t_full": np.array(t_full), "t_stable": np.array(t_stable),
                      "harm_total": np.array(harm), "net_benefit": np.array(net)},
                     ["big_bang", "phased", "dual_track"], {SEV: [0.1, 0.2]})


def _command(args: tuple[object, ...]) -> list[str]:
    return [sys.executable, "-m", "rollout.cli", *map(str, args)]


def run_together(commands: dict[str, tuple], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    """Start every command at once (imports dominate), then collect them all."""
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env["MPLBACKEND"] = "Agg"
    procs = {key: subprocess.Popen(_command(args), cwd=cwd, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
             for key, args in commands.items()}
    out = {}
    try:
        for key, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
            out[key] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def _close(a, b) -> bool:
    """Equal numbers, or both missing (NaN / None)."""
    missing = [x is None or (isinstance(x, float) and math.isnan(x)) for x in (a, b)]
    if any(missing):
        return all(missing)
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def single_cube() -> xr.Dataset:
    """A real single-run cube: small_dict, 3 replicates, 4 strategies (in memory)."""
    cfg = make_config(small_dict(replicates=3))
    provinces = load_provinces(cfg)
    return build_cube(cfg, provinces, run_experiment(cfg, provinces, workers=1))


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory) -> Path:
    """A real 2 x 2 grid sweep (severity x detectability), 4 replicates, in a Zarr store."""
    cfg = make_config(small_dict(replicates=4, sweep=GRID_SWEEP))
    path = tmp_path_factory.mktemp("grid") / "grid.zarr"
    run_sweep(cfg, load_provinces(cfg), build_design(cfg), path, SerialExecutor())
    return path


@pytest.fixture(scope="module")
def sweep_cube(grid_store: Path) -> xr.Dataset:
    return open_cube(grid_store)


@pytest.fixture(scope="module")
def sobol_cube(tmp_path_factory) -> xr.Dataset:
    """A real Sobol sweep: N = 8 base samples of 2 parameters -> 8 (2 + 2) = 32 points,
    2 strategies x 2 replicates."""
    data = small_dict(replicates=2, sweep={
        "design": "sobol", "points": 8, "block_size": 2,
        "parameters": {SEV: {"low": 0.05, "high": 0.3}, DET: {"low": 0.02, "high": 0.1}}})
    data["strategies"] = {"big_bang": {}, "phased": data["strategies"]["phased"]}
    cfg = make_config(data)
    path = tmp_path_factory.mktemp("sobol") / "sobol.zarr"
    run_sweep(cfg, load_provinces(cfg), build_design(cfg), path, SerialExecutor())
    return open_cube(path)


@pytest.fixture(scope="module")
def cli(tmp_path_factory, single_cube, grid_store):
    """Every command-line run of this module, started together. Returns (folder, results)."""
    folder = tmp_path_factory.mktemp("cli")
    single = write_cube(single_cube, folder / "single.zarr")
    known = write_cube(known_cube(), folder / "known.zarr")
    commands = {
        "csv": ("compare", known, "--format", "csv"),
        "json": ("compare", known, "--format", "json"),
        "table": ("compare", known, "--format", "table"),
        "plot": ("plot", single, "--kind", "coverage", "-o", folder / "coverage.png"),
        "phase": ("plot", grid_store, "--kind", "phase", "-o", folder / "phase.svg"),
        "bad_baseline": ("compare", single, "--baseline", "nobody"),
        "bad_metric": ("compare", single, "--metric", "bogus"),
        "bad_phase": ("plot", single, "--kind", "phase", "-o", folder / "phase_single.png"),
        "bad_format": ("plot", single, "--kind", "coverage", "-o", folder / "f.xyz"),
        "bad_sensitivity": ("sensitivity", single),
    }
    return folder, run_together(commands, folder)


# ------------------------------------------------------------------------------ 1. compare
def test_compare_known_cube_exact_differences_counts_and_intervals():
    cube = known_cube()
    res = compare(cube)
    t95 = {k: stats.t.ppf(0.975, k) for k in (2, 3, 4)}
    z = stats.norm.ppf(0.975)

    # the sweep dimension is kept, in front, with its values
    for name in ("diff_t_full", "low_t_full", "pairs_t_full", "stable_first"):
        assert res[name].dims == (SEV, "strategy")
    np.testing.assert_array_equal(res[SEV].values, [0.1, 0.2])
    assert [str(s) for s in res["strategy"].values] == ["big_bang", "phased", "dual_track"]
    assert res["diff_t_full"].attrs["units"] == "months"
    assert res.attrs["baseline"] == "big_bang" and res.attrs["replicates"] == 5
    assert res.attrs["source_config_sha256"] == cube.attrs["config_sha256"]
    assert json.loads(res.attrs["design_dims"]) == [SEV]

    def at(var: str, point: float, strategy: str) -> float:
        return float(res[var].sel({SEV: point, "strategy": strategy}))

    # point 0.1, t_full: phased - big_bang = 1, 2, 3, 4 (+ a pair the baseline never reached)
    half = t95[3] * np.std([1, 2, 3, 4], ddof=1) / 2.0
    assert at("diff_t_full", 0.1, "phased") == pytest.approx(2.5, abs=1e-12)
    assert at("low_t_full", 0.1, "phased") == pytest.approx(2.5 - half, abs=1e-12)
    assert at("high_t_full", 0.1, "phased") == pytest.approx(2.5 + half, abs=1e-12)
    assert (at("pairs_t_full", 0.1, "phased"), at("excluded_t_full", 0.1, "phased"),
            at("never_t_full", 0.1, "phased")) == (4, 1, 0)
    # dual_track never reached full coverage: no pairs, no mean, five 'never'
    assert math.isnan(at("diff_t_full", 0.1, "dual_track"))
    assert math.isnan(at("low_t_full", 0.1, "dual_track"))
    assert (at("pairs_t_full", 0.1, "dual_track"), at("excluded_t_full", 0.1, "dual_track"),
            at("never_t_full", 0.1, "dual_track")) == (0, 5, 5)
    # t_stable at 0.1: pairs are replicates 0, 1, 3: -10, +5, -20
    assert at("diff_t_stable", 0.1, "phased") == pytest.approx(-25 / 3, abs=1e-12)
    assert (at("pairs_t_stable", 0.1, "phased"), at("excluded_t_stable", 0.1, "phased"),
            at("never_t_stable", 0.1, "phased")) == (3, 2, 1)
    # net benefit at 0.1: a constant -4, so a zero-width interval
    for var in ("diff", "low", "high"):
        assert at(f"{var}_net_benefit", 0.1, "phased") == pytest.approx(-4.0, abs=1e-12)
    # point 0.2: a constant +10 in t_full; dual_track over 3 pairs: -10, +10, +30
    for var in ("diff", "low", "high"):
        assert at(f"{var}_t_full", 0.2, "phased") == pytest.approx(10.0, abs=1e-12)
    half = t95[2] * np.std([-10, 10, 30], ddof=1) / math.sqrt(3)
    assert at("diff_t_full", 0.2, "dual_track") == pytest.approx(10.0, abs=1e-12)
    assert at("high_t_full", 0.2, "dual_track") == pytest.approx(10.0 + half, abs=1e-12)
    assert (at("pairs_t_full", 0.2, "dual_track"), at("excluded_t_full", 0.2, "dual_track"),
            at("never_t_full", 0.2, "dual_track")) == (3, 2, 2)
    # one pair only: a mean, but no interval
    assert at("diff_net_benefit", 0.2, "dual_track") == pytest.approx(2.0, abs=1e-12)
    assert math.isnan(at("low_net_benefit", 0.2, "dual_track"))
    assert at("pairs_net_benefit", 0.2, "dual_track") == 1

    # the baseline against itself: difference exactly 0, zero width, nothing first
    for m in DEFAULT_METRICS:
        for p in (0.1, 0.2):
            if at(f"pairs_{m}", p, "big_bang") > 0:
                assert at(f"diff_{m}", p, "big_bang") == 0.0
                assert at(f"low_{m}", p, "big_bang") == at(f"high_{m}", p, "big_bang") == 0.0
    assert (at("never_t_full", 0.1, "big_bang"), at("never_t_stable", 0.2, "big_bang")) == (1, 5)
    np.testing.assert_array_equal(res["stable_first"].sel(strategy="big_bang").values, [0, 0])

    # every cell against the scalar reference, pair by pair
    for p in (0.1, 0.2):
        for s in ("big_bang", "phased", "dual_track"):
            for m in DEFAULT_METRICS:
                mean, low, high, pairs, excluded = paired_reference(
                    cube[m].sel({SEV: p, "strategy": s}).values,
                    cube[m].sel({SEV: p, "strategy": "big_bang"}).values)
                got = (at(f"diff_{m}", p, s), at(f"low_{m}", p, s), at(f"high_{m}", p, s))
                assert all(_close(g, r) for g, r in zip(got, (mean, low, high), strict=True)), \
                    (p, s, m, got, (mean, low, high))
                assert (at(f"pairs_{m}", p, s), at(f"excluded_{m}", p, s)) == (pairs, excluded)

    # stable first: phased at 0.1 wins replicates 0 (60 < 70), 2 (100 < never), 3 (70 < 90),
    # not 1 (85 > 80) nor 4 (never vs never); at 0.2 it wins all five against 'never'
    assert at("stable_first", 0.1, "phased") == pytest.approx(3 / 5)
    centre = (0.6 + z * z / 10) / (1 + z * z / 5)
    spread = z * math.sqrt(0.6 * 0.4 / 5 + z * z / 100) / (1 + z * z / 5)
    assert at("stable_first_low", 0.1, "phased") == pytest.approx(centre - spread, abs=1e-12)
    assert at("stable_first_high", 0.1, "phased") == pytest.approx(centre + spread, abs=1e-12)
    # 0% share: the low bound is exactly 0; 100%: the high bound exactly 1
    assert at("stable_first", 0.1, "dual_track") == 0.0
    assert at("stable_first_low", 0.1, "dual_track") == 0.0
    assert at("stable_first_high", 0.1, "dual_track") == pytest.approx(
        (z * z / 5) / (1 + z * z / 5), abs=1e-12)
    assert at("stable_first", 0.2, "phased") == 1.0
    assert at("stable_first_high", 0.2, "phased") == 1.0
    assert at("stable_first_low", 0.2, "phased") == pytest.approx(1 / (1 + z * z / 5), abs=1e-12)


def test_compare_other_baseline_and_confidence():
    """Swapping the baseline negates the differences; the confidence sets the t quantile."""
    cube = known_cube()
    a = compare(cube, "big_bang")
    b = compare(cube, "phased", confidence=0.8)
    for m in DEFAULT_METRICS:
        np.testing.assert_allclose(b[f"diff_{m}"].sel(strategy="big_bang").values,
                                   -a[f"diff_{m}"].sel(strategy="phased").values, atol=1e-12)
    diffs = np.array([1.0, 2.0, 3.0, 4.0])          # phased - big_bang in t_full at 0.1
    half = stats.t.ppf(0.9, 3) * diffs.std(ddof=1) / 2.0
    got = b["high_t_full"].sel({SEV: 0.1, "strategy": "big_bang"})
    assert float(got) == pytest.approx(-2.5 + half, abs=1e-12)
    assert b.attrs["confidence"] == 0.8 and "80%" in b["low_t_full"].attrs["long_name"]


def test_compare_rejects_bad_arguments():
    cube = known_cube()
    with pytest.raises(RolloutError, match="baseline 'nobody' is not a strategy"):
        compare(cube, "nobody")
    with pytest.raises(RolloutError, match="metric 'bogus' is not a per-replicate"):
        compare(cube, metrics=("bogus",))
    with pytest.raises(RolloutError, match="confidence must be between 0 and 1"):
        compare(cube, confidence=1.0)


def test_wilson_edges_are_exact_and_match_the_formula():
    """0 of n has low bound exactly 0 and n of n high bound exactly 1 for every n (the plain
    formula is off by ~1e-17 for most n, e.g. n = 3, 10, 21)."""
    for n in range(1, 60):
        low, high = wilson(np.array([0, n]), n, 0.95)
        assert (low[0], high[1]) == (0.0, 1.0), n
        assert 0.0 < high[0] < 1.0 and 0.0 < low[1] < 1.0
    low, high = wilson(np.array([0, 1, 7, 20]), 20, 0.95)
    for k, lo, hi in zip([0, 1, 7, 20], low, high, strict=True):
        assert (lo, hi) == pytest.approx(wilson_by_hand(k, 20), abs=1e-12)


# ------------------------------------------------------------------------------ 2. coverage
def test_t_intervals_cover_a_known_mean_at_the_nominal_rate():
    """Seed 20240601. One cube with a sweep dimension of 2000 points, 30 replicates each: phased
    = big_bang + N(2.0, 4^2), dual_track = big_bang + N(-1.0, 1^2), replicate by replicate.
    The vectorised 95% intervals (one per point) cover the true mean in 0.93-0.97 of the points
    (binomial sd of the rate ~0.005, so +-4 sd), and the 80% ones in 0.77-0.83 (+-3.4 sd)."""
    rng = np.random.default_rng(20240601)
    points, reps = 2000, 30
    base = rng.normal(50.0, 10.0, (points, reps))
    data = np.stack([base, base + rng.normal(2.0, 4.0, (points, reps)),
                     base + rng.normal(-1.0, 1.0, (points, reps))], axis=1)
    cube = hand_cube({"net_benefit": data}, ["big_bang", "phased", "dual_track"],
                     {"x": np.arange(points, dtype=float)})
    for confidence, lo, hi in ((0.95, 0.93, 0.97), (0.80, 0.77, 0.83)):
        res = compare(cube, metrics=("net_benefit",), confidence=confidence)
        for strategy, truth in (("phased", 2.0), ("dual_track", -1.0)):
            low = res["low_net_benefit"].sel(strategy=strategy).values
            high = res["high_net_benefit"].sel(strategy=strategy).values
            rate = np.mean((low <= truth) & (truth <= high))
            assert lo <= rate <= hi, (confidence, strategy, rate)
    # the vectorised path agrees with the scalar reference at a few points
    res = compare(cube, metrics=("net_benefit",))
    for i in (0, 777, 1999):
        mean, low, high, _, _ = paired_reference(data[i, 1], data[i, 0])
        got = res.sel(x=float(i), strategy="phased")
        assert (float(got["diff_net_benefit"]), float(got["low_net_benefit"]),
                float(got["high_net_benefit"])) == pytest.approx((mean, low, high), rel=1e-10)


# ------------------------------------------------------------------------------ 3. lazy
class _LargestResult(Callback):
    """Records the largest array any dask task produced (local schedulers only)."""

    def __init__(self):
        super().__init__()
        self.largest = 0
        self.tasks = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.tasks += 1
        self.largest = max(self.largest, int(getattr(result, "nbytes", 0)))


def _big_lazy_cube() -> tuple[xr.Dataset, int]:
    """16 x 20 design points x 3 strategies x 10,000 replicates of 4 float64 metrics (307 MB),
    drawn chunk by chunk by dask.array.random with seed 12345, chunks of 4 x 20 points x 3
    strategies x 1,000 replicates (1.9 MB); 5% of the times are NaN (never reached).
    Returns the cube and the bytes of one chunk. The same call gives the same numbers."""
    shape, chunks = (16, 20, 3, 10_000), (4, 20, 3, 1_000)
    rs = da.random.RandomState(12345)
    offset = np.array([0.0, 2.0, -1.0]).reshape(1, 1, 3, 1)     # true differences 0, +2, -1
    data = {}
    for m in DEFAULT_METRICS:
        x = rs.normal(40.0, 5.0, size=shape, chunks=chunks) + offset
        if m.startswith("t_"):
            x = da.where(rs.random_sample(shape, chunks=chunks) < 0.05, np.nan, x)
        data[m] = x
    dims = ("a", "b", "strategy", "replicate")
    cube = xr.Dataset({m: (dims, x, {"units": UNITS[m]}) for m, x in data.items()},
                      coords={"a": np.linspace(0.0, 1.0, 16), "b": np.arange(20),
                              "strategy": ["big_bang", "phased", "dual_track"],
                              "replicate": np.arange(10_000)},
                      attrs={"design": json.dumps({"kind": "grid", "dims": ["a", "b"]}),
                             "config": json.dumps({"time": {"horizon_months": 120}}),
                             "config_sha256": _sha(json.dumps({"time": {"horizon_months": 120}}))})
    return cube, int(np.prod(chunks)) * 8


def test_compare_is_lazy_on_a_big_dask_cube():
    """compare() reduces a dask-backed cube chunk by chunk. Two independent checks:

    * a dask callback sees every task's result: none is larger than one input chunk, so nothing
      (not .values, not np.asarray, not a concatenation) ever materialises a whole variable;
    * tracemalloc (numpy reports its buffers to it, from every thread) shows the peak memory
      allocated during compare() stays below 25% of the cube's 307 MB (measured 8-12%: a few
      chunks per thread plus the graph); loading any one whole variable would take 77 MB, the
      cube 307 MB. The threaded scheduler is pinned to 2 threads, so the bound does not depend
      on the machine's core count (every thread holds a few chunks).

    Then the numbers equal compare() of the same data loaded into numpy (rtol 1e-12), checked on
    two slices of the design (compare is pointwise in the design, so a slice of the result must
    equal the result of the slice; loading a slice keeps this test's own memory small)."""
    cube, chunk_bytes = _big_lazy_cube()
    assert cube.nbytes > 300e6 and all(v.chunks for v in cube.data_vars.values())
    watch = _LargestResult()
    with dask.config.set(scheduler="threads", num_workers=2), watch:
        tracemalloc.start()
        try:
            result = compare(cube)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert watch.tasks > 1000                       # it really ran chunk-wise on dask
    assert 0 < watch.largest <= chunk_bytes, (watch.largest, chunk_bytes)
    assert peak < 0.25 * cube.nbytes, (peak, cube.nbytes)
    assert all(not v.chunks for v in result.data_vars.values())      # computed, in memory

    assert result["pairs_t_full"].sum() < 16 * 20 * 3 * 10_000       # NaNs were left out
    phased = result["diff_net_benefit"].sel(strategy="phased")
    assert abs(float(phased.mean()) - 2.0) < 0.01                     # 320 x 10,000 pairs
    for sl in (slice(0, 4), slice(9, 11)):
        fresh, _ = _big_lazy_cube()
        loaded = fresh.isel(a=sl).load()
        assert not any(v.chunks for v in loaded.data_vars.values())
        ref = compare(loaded)
        for name in ref.data_vars:
            np.testing.assert_allclose(result[name].isel(a=sl).values, ref[name].values,
                                       rtol=1e-12, atol=0, err_msg=name)


# ------------------------------------------------------------------------------ 4. formats
def _expected_records() -> list[dict]:
    return to_records(compare(known_cube(), km=True), list(DEFAULT_METRICS))


def test_to_records_one_row_per_point_strategy_metric():
    res = compare(known_cube())
    records = to_records(res, list(DEFAULT_METRICS))
    assert len(records) == 2 * 3 * 4
    keys = {(r[SEV], r["strategy"], r["metric"]) for r in records}
    assert len(keys) == len(records)
    for r in records:
        cell = res.sel({SEV: r[SEV], "strategy": r["strategy"]})
        m = r["metric"]
        assert r["baseline"] == "big_bang"
        assert _close(r["mean_difference"], float(cell[f"diff_{m}"]))
        assert _close(r["low"], float(cell[f"low_{m}"]))
        assert _close(r["high"], float(cell[f"high_{m}"]))
        assert (r["pairs"], r["excluded"], r["never"]) == tuple(
            int(cell[f"{k}_{m}"]) for k in ("pairs", "excluded", "never"))
        assert _close(r["stable_first"], float(cell["stable_first"]))
    nan_row = next(r for r in records if r[SEV] == 0.1 and r["strategy"] == "dual_track"
                   and r["metric"] == "t_full")
    assert nan_row["mean_difference"] is None and nan_row["pairs"] == 0
    json.dumps(records)                              # plain Python values only
    single = to_records(compare(known_cube().isel({SEV: 0}).drop_vars(SEV)
                                .assign_attrs(design='{"kind": "single", "dims": []}')),
                        ["t_full"])
    assert [r["strategy"] for r in single] == ["big_bang", "phased", "dual_track"]


def test_cli_compare_csv_parses_back_to_the_same_numbers(cli):
    _, runs = cli
    proc = runs["csv"]
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    expected = _expected_records()
    assert len(rows) == len(expected) == 24
    assert {(float(r[SEV]), r["strategy"], r["metric"]) for r in rows} == {
        (e[SEV], e["strategy"], e["metric"]) for e in expected}
    for row, exp in zip(rows, expected, strict=True):
        for key, value in exp.items():
            got = row[key]
            if value is None:
                assert got == "", (key, row)
            elif isinstance(value, str):
                assert got == value
            else:
                assert _close(float(got), value), (key, got, value)


def test_cli_compare_json_parses_back_to_the_same_numbers(cli):
    _, runs = cli
    proc = runs["json"]
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    expected = _expected_records()
    assert len(rows) == len(expected) == 24
    for row, exp in zip(rows, expected, strict=True):
        assert row.keys() == exp.keys()
        for key, value in exp.items():
            if isinstance(value, str):
                assert row[key] == value
            else:
                assert _close(row[key], value), (key, row[key], value)


def test_cli_compare_table_lists_every_non_baseline_strategy(cli):
    _, runs = cli
    proc = runs["table"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == [SEV, "strategy"] and set(lines[1]) <= {"-", " "}
    body = [line.split() for line in lines[2:] if line.split() and line.split()[0] in
            ("0.1", "0.2")]
    assert sorted((cells[0], cells[1]) for cells in body) == [
        ("0.1", "dual_track"), ("0.1", "phased"), ("0.2", "dual_track"), ("0.2", "phased")]
    text = proc.stdout
    assert "+10.0 [+10.0, +10.0]" in text              # the constant t_full difference at 0.2
    assert "n/a" in text                                # dual_track never reached t_full at 0.1
    assert "against big_bang over 5 replicates" in text
    assert ("0.1, dual_track: t_full not reached by the horizon in 5 of 5 replicates "
            "(counted as 120") in text
    assert "n/a (0)" in text              # both reached: no pair at all
    assert format_table(compare(known_cube()), list(DEFAULT_METRICS)) == text.rstrip("\n")


# ------------------------------------------------------------------------------ 5. figures
def _caption(fig: Figure) -> str:
    return " ".join(t.get_text() for t in fig.texts)


def _check_axes(ax, units: str | None = None) -> None:
    assert ax.get_title().strip()
    assert ax.get_xlabel().strip()
    assert ax.get_ylabel().strip()
    if units is not None:
        assert f"({units}" in ax.get_ylabel()


def test_plot_coverage(single_cube):
    fig = plot_coverage(single_cube)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    _check_axes(ax)
    assert ax.get_xlabel() == "date (end of month)"          # calendar time, not months
    assert "(share of inpatient volume)" in ax.get_ylabel()
    strategies = [str(s) for s in single_cube["strategy"].values]
    assert len(ax.lines) == len(strategies)                 # one median line per strategy
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"{s} (median)" for s in strategies]
    styles = {line.get_linestyle() for line in ax.lines}
    assert len(styles) == len(strategies)                   # no line hides under another
    for line, s in zip(ax.lines, strategies, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), single_cube["time"].values)
        median = np.nanmedian(single_cube["national_coverage"].sel(strategy=s).values, axis=0)
        np.testing.assert_allclose(line.get_ydata(), median)
    caption = _caption(fig)
    assert single_cube.attrs["config_sha256"][:12] in caption
    assert f"seed {single_cube.attrs['seed']}" in caption and "3 replicates" in caption


def test_plot_harm(single_cube):
    fig = plot_harm(single_cube)
    assert len(fig.axes) == 2
    assert single_cube["harm"].attrs["units"] == "1"       # the numeraire, named on the axis
    n = single_cube.sizes["strategy"]
    for ax in fig.axes:
        _check_axes(ax, "benefit units")
        assert ax.get_xlabel() == "date (end of month)"
        assert len(ax.lines) == n and len(ax.get_legend().get_texts()) == n
        assert len({line.get_linestyle() for line in ax.lines}) == n
    harm = single_cube["harm"].sum("province").sel(strategy="phased").values
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), np.median(harm, axis=0))
    assert single_cube.attrs["config_sha256"][:12] in _caption(fig)


def test_plot_stages(single_cube):
    fig = plot_stages(single_cube, replicate=1)
    strategies = [str(s) for s in single_cube["strategy"].values]
    assert len(fig.axes) == len(strategies)                 # one panel per strategy
    for ax, s in zip(fig.axes, strategies, strict=True):
        assert s in ax.get_title() and "replicate 1" in ax.get_title()
        assert ax.get_xlabel() == "date (end of month)"
        assert ax.get_ylim()[0] > ax.get_ylim()[1]           # first province at the top
    # the y axis is shared: the first panel carries the label and the province names
    assert fig.axes[0].get_ylabel() == "province"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(
        single_cube["province"].values)
    grid = fig.axes[1].collections[0].get_array().reshape(
        single_cube.sizes["province"], single_cube.sizes["time"])
    np.testing.assert_array_equal(
        grid, single_cube["stage"].sel(strategy=strategies[1]).isel(replicate=1).values.T)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == \
        single_cube["stage"].attrs["flag_meanings"].split()
    assert single_cube.attrs["config_sha256"][:12] in _caption(fig)
    with pytest.raises(RolloutError, match="replicate 3"):
        plot_stages(single_cube, replicate=3)


def test_plot_versions(single_cube):
    fig = plot_versions(single_cube, strategy="phased")
    top, bottom = fig.axes
    assert "phased" in top.get_title()
    assert top.get_ylabel().strip() and bottom.get_ylabel() == "defects (count)"
    assert bottom.get_xlabel() == "date (end of month)"
    assert top.get_legend() is not None and bottom.get_legend() is not None
    assert len(bottom.lines) == 2 * len(top.lines) >= 2     # known and fixed per track drawn
    one = single_cube.sel(strategy="phased").isel(replicate=0)
    for line in top.lines:
        track = line.get_label().removesuffix(" version")
        np.testing.assert_array_equal(line.get_ydata(), one["version"].sel(track=track).values)
    assert single_cube.attrs["config_sha256"][:12] in _caption(fig)


def test_plot_phase(sweep_cube):
    fig = plot_phase(sweep_cube, strategy="phased")
    ax, colourbar = fig.axes
    _check_axes(ax)
    # design parameters have no units; the first two swept parameters in sorted path order
    assert (ax.get_xlabel(), ax.get_ylabel()) == (DET, SEV)
    assert "phased" in ax.get_title() and "big_bang" in ax.get_title()
    assert "phased" in colourbar.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 2
    # the map is the share of replicates where phased is stable strictly before big_bang
    t = sweep_cube["t_stable"].load().fillna(np.inf)
    share = (t.sel(strategy="phased") < t.sel(strategy="big_bang")).mean("replicate")
    mesh = ax.collections[0].get_array()
    np.testing.assert_allclose(np.asarray(mesh).reshape(2, 2),
                               share.transpose(SEV_C, DET_C).values)
    assert sweep_cube.attrs["config_sha256"][:12] in _caption(fig)
    # the grid on its own axes: one tick per swept value, labelled with it, nothing beyond
    for axis, name in ((ax.xaxis, DET_C), (ax.yaxis, SEV_C)):
        values = [float(v) for v in sweep_cube[name].values]
        assert [float(t.get_text()) for t in axis.get_ticklabels()] == pytest.approx(
            values, rel=1e-2)
    assert ax.get_xlim() == (-0.5, 1.5) and ax.get_ylim() == (-0.5, 1.5)


def test_plot_phase_draws_scattered_designs_as_points_with_their_intervals(sobol_cube):
    """A Sobol cube (32 points): every point is drawn at its own parameters (nothing
    triangulated), coloured by its own share; the binned surface pools replicates; the axes
    stop at the design's range."""
    fig = plot_phase(sobol_cube, strategy="phased")
    ax = fig.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections[-2:]])
    xs = np.asarray(sobol_cube[DET_C].values, float)
    ys = np.asarray(sobol_cube[SEV_C].values, float)
    assert sorted(map(tuple, np.round(points, 12))) == sorted(
        zip(np.round(xs, 12), np.round(ys, 12), strict=True))
    assert ax.get_xlim() == pytest.approx((xs.min(), xs.max()))
    assert ax.get_ylim() == pytest.approx((ys.min(), ys.max()))
    assert not any(type(c).__name__ == "TriContourSet" for c in ax.collections)
    assert len(ax.get_legend().get_texts()) == 3


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_save_writes_every_format(single_cube, tmp_path, suffix):
    fig = plot_coverage(single_cube)
    path = save(fig, tmp_path / "nested" / f"coverage{suffix}")
    assert path.is_file() and path.stat().st_size > 1000
    head = path.read_bytes()[:200]
    if suffix == ".png":
        pixels = imread(path)
        width, height = fig.get_size_inches() * 150
        assert pixels.shape[:2] == (round(height), round(width)) == (720, 1200)
    elif suffix == ".svg":
        assert b"<svg" in head
    else:
        assert head.startswith(b"%PDF")


def test_save_rejects_unknown_formats(single_cube, tmp_path):
    fig = plot_coverage(single_cube)
    with pytest.raises(RolloutError, match=r"unknown figure format '\.xyz'"):
        save(fig, tmp_path / "f.xyz")
    with pytest.raises(RolloutError, match=r"'\(none\)'"):
        save(fig, tmp_path / "noext")
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_writes_the_figures(cli):
    folder, runs = cli
    for key, name in (("plot", "coverage.png"), ("phase", "phase.svg")):
        proc = runs[key]
        assert proc.returncode == 0, proc.stderr
        assert (folder / name).is_file() and (folder / name).stat().st_size > 1000
        assert name in proc.stdout
    assert imread(folder / "coverage.png").shape[:2] == (720, 1200)


# ------------------------------------------------------------------------------ 6. at
def test_select_point_picks_the_design_point(sweep_cube):
    point, label = select_point(sweep_cube, {SEV: "0.30"})          # compared numerically
    assert float(point[SEV_C]) == 0.3 and float(point[DET_C]) == 0.02   # unnamed: first value
    assert label == f"{DET}=0.02, {SEV}=0.3"                        # dims in sorted order
    np.testing.assert_array_equal(point["t_full"].values,
                                  sweep_cube["t_full"].isel({SEV_C: 1, DET_C: 0}).values)
    point, label = select_point(sweep_cube, {DET: 0.1, SEV: 0.05})
    assert (float(point[SEV_C]), float(point[DET_C])) == (0.05, 0.1)
    np.testing.assert_array_equal(point["harm"].values,
                                  sweep_cube["harm"].isel({SEV_C: 0, DET_C: 1}).values)
    fig = plot_coverage(sweep_cube, at={SEV: 0.3})
    assert f"{SEV}=0.3" in _caption(fig)


def test_select_point_rejects_unknown_dims_and_values(sweep_cube, single_cube):
    with pytest.raises(RolloutError, match="defects.bogus: not a design dimension"):
        select_point(sweep_cube, {"defects.bogus": 1})
    with pytest.raises(RolloutError, match=rf"{SEV}=0.7: not one of its values"):
        select_point(sweep_cube, {SEV: 0.7})
    with pytest.raises(RolloutError, match="x: not a design dimension.*it has none"):
        select_point(single_cube, {"x": 1})
    point, label = select_point(single_cube, None)
    assert label == "" and point.sizes == single_cube.sizes


# ------------------------------------------------------------------------------ 7. sensitivity
def _grid_for_sensitivity() -> xr.Dataset:
    """5 x 4 grid (a, b), 6 replicates. net_benefit: phased = big_bang - 2a (b plays no part),
    dual_track = big_bang + b (a plays no part); integers, so the differences are exact."""
    a, b = np.arange(1.0, 6.0), np.arange(1.0, 5.0)
    base = np.random.default_rng(1).integers(0, 100, (5, 4, 6)).astype(float)
    net = np.stack([base, base - 2 * a[:, None, None], base + b[None, :, None]], axis=2)
    return hand_cube({"net_benefit": net}, ["big_bang", "phased", "dual_track"],
                     {"a": a, "b": b})


def test_spearman_finds_the_one_parameter_that_matters():
    cube = _grid_for_sensitivity()
    rows, used, left_out = sensitivity(cube, "net_benefit", strategy="phased")
    assert (used, left_out) == (20, 0)
    assert [r.parameter for r in rows] == ["a", "b"] and {r.method for r in rows} == {"spearman"}
    a, b = rows
    assert a.index == pytest.approx(-1.0, abs=1e-9) and a.high < 0
    assert b.index == pytest.approx(0.0, abs=1e-9) and b.low < 0 < b.high
    half = stats.norm.ppf(0.975) / math.sqrt(20 - 3)          # Fisher z interval of rho = 0
    # the naive interval (20 rows as independent) is Fisher's; the reported one resamples the
    # 20 grid points (each its own cluster here: no switches), seed 0
    assert (b.naive_low, b.naive_high) == pytest.approx((-math.tanh(half), math.tanh(half)),
                                                        abs=1e-9)
    assert "bootstrap over 20 design points" in b.interval
    rows, _, _ = sensitivity(cube, "net_benefit", strategy="dual_track")
    assert rows[0].parameter == "b" and rows[0].index == pytest.approx(1.0, abs=1e-9)
    assert rows[1].low < 0 < rows[1].high
    text = format_sensitivity(rows, "net_benefit", "dual_track", "big_bang", 20, 0)
    assert "Spearman rho" in text and "over 20 design points" in text

    cube["net_benefit"].loc[{"a": 3.0, "b": 2.0, "strategy": "phased"}] = np.nan
    rows, used, left_out = sensitivity(cube, "net_benefit", strategy="phased")
    assert (used, left_out) == (19, 1) and rows[0].index == pytest.approx(-1.0, abs=1e-9)


def test_sobol_indices_on_a_real_sobol_sweep(sobol_cube):
    assert json.loads(sobol_cube.attrs["design"]) == {"kind": "sobol", "dims": ["point"]}
    rows, used, left_out = sensitivity(sobol_cube, "net_benefit")
    assert (used, left_out) == (sobol_cube.sizes["point"], 0) == (32, 0)
    assert {r.parameter for r in rows} == {SEV, DET} and {r.method for r in rows} == {"sobol"}
    for r in rows:
        values = (r.index, r.low, r.high, r.total, r.total_low, r.total_high)
        assert all(v is not None and math.isfinite(v) for v in values), r
        assert r.low <= r.index <= r.high and r.total_low <= r.total <= r.total_high
    assert [r.total for r in rows] == sorted((r.total for r in rows), reverse=True)
    text = format_sensitivity(rows, "net_benefit", "phased", "big_bang", used, left_out)
    assert "first-order S1" in text and SEV in text and DET in text


def test_sensitivity_needs_swept_parameters(single_cube):
    with pytest.raises(RolloutError, match="needs a cube swept over parameters"):
        sensitivity(single_cube)
    scenarios = hand_cube({"net_benefit": np.ones((2, 2, 3))}, ["big_bang", "phased"],
                          {"scenario": np.array(["low", "high"], dtype=object)}, kind="scenarios")
    with pytest.raises(RolloutError, match="needs a cube swept over parameters"):
        sensitivity(scenarios)


# ------------------------------------------------------------------------------ 8. bad input
@pytest.mark.parametrize(("key", "message"), [
    ("bad_baseline", "baseline 'nobody' is not a strategy"),
    ("bad_metric", "metric 'bogus' is not a per-replicate variable"),
    ("bad_phase", "a phase plot needs a cube swept over at least two numeric parameters"),
    ("bad_format", "unknown figure format '.xyz'"),
    ("bad_sensitivity", "sensitivity needs a cube swept over parameters"),
])
def test_cli_bad_input_is_one_line_and_status_2(cli, key, message):
    folder, runs = cli
    proc = runs[key]
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rollout: error:"), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not (folder / "f.xyz").exists() and not (folder / "phase_single.png").exists()


# ----------------------------------------------------- bad plot options (bugs found here, fixed)
def test_plot_stages_rejects_an_unknown_strategy(single_cube):
    with pytest.raises(RolloutError, match="nobody"):
        plot_stages(single_cube, strategies=["nobody"])


def test_plot_versions_rejects_a_replicate_out_of_range(single_cube):
    with pytest.raises(RolloutError, match="replicate 99"):
        plot_versions(single_cube, replicate=99)


def _three_dim_cube() -> xr.Dataset:
    rng = np.random.default_rng(0)
    return hand_cube({"t_stable": rng.uniform(10, 20, (2, 2, 2, 2, 5))}, ["big_bang", "phased"],
                     {"a": [1.0, 2.0], "b": [1.0, 2.0], "c": [1.0, 2.0]})


def test_plot_phase_fixes_a_third_dimension_with_at():
    fig = plot_phase(_three_dim_cube(), x="a", y="b", at={"c": 2.0})
    assert "c=2.0" in _caption(fig)


def test_plot_phase_rejects_an_unknown_at_value():
    with pytest.raises(RolloutError, match="c=99"):
        plot_phase(_three_dim_cube(), x="a", y="b", at={"c": 99})


def test_plot_phase_rejects_an_unknown_at_dimension(sweep_cube):
    with pytest.raises(RolloutError, match="bogus"):
        plot_phase(sweep_cube, at={"bogus": 1})


def test_design_summary_counts_points_worked_out_by_hand() -> None:
    """known_cube by hand, times restricted to the horizon 120 (never = 120). phased: t_full
    later at point 2 only (point 1: restricted diffs 1, 2, 3, 4 and 80 - 120 = -40, mean -6, CI
    across 0; point 2: 10 exactly); stable first in 3/5 (Wilson low < 0.5) and 5/5 (Wilson low
    0.566); net benefit -4 exactly (lower) then +2.2 with CI [-1.6, 6.0] (neither), so 'both'
    holds at point 2 only; restricted t_stable diffs mean -9 and -117, median -63. dual_track:
    later at point 1 (never against 30-60 and one never: diffs 90, 80, 70, 60, 0, mean 60, CI
    low 16.1) but not at point 2 (mean 46, CI low -17.7), never stable first, net benefit
    differences 0 and one pair (no interval)."""
    rows = {r["strategy"]: r for r in design_summary(compare(known_cube(), "big_bang"))}
    assert set(rows) == {"phased", "dual_track"}
    phased = rows["phased"]
    assert (phased["points"], phased["full_later"], phased["stable_first_majority"],
            phased["stable_first_significant"], phased["net_benefit_higher"],
            phased["net_benefit_lower"], phased["slower_is_faster"]) == (2, 1, 2, 1, 0, 1, 1)
    assert phased["mean_stable_first"] == pytest.approx(0.8, abs=1e-12)
    assert phased["median_diff_t_stable"] == pytest.approx(-63.0, abs=1e-12)
    assert phased["median_diff_net_benefit"] == pytest.approx(-0.9, abs=1e-12)
    dual = rows["dual_track"]
    assert (dual["full_later"], dual["stable_first_majority"], dual["net_benefit_higher"],
            dual["net_benefit_lower"], dual["slower_is_faster"]) == (1, 0, 0, 0, 0)
    assert dual["mean_stable_first"] == 0.0


def test_design_summary_needs_the_three_metrics() -> None:
    with pytest.raises(RolloutError, match="t_full, t_stable and net_benefit"):
        design_summary(compare(known_cube(), "big_bang", metrics=("t_full", "harm_total")))


def test_sensitivity_figure_draws_each_strategys_rank_correlations() -> None:
    """The bars are the Spearman rho of the table: phased -1 on a and 0 on b, dual_track 0 on
    a and +1 on b (the hand-built grid above), with the 95% interval as error bars."""
    from rollout.analysis.figures import plot_sensitivity

    fig = plot_sensitivity(_grid_for_sensitivity(), "net_benefit")
    ax = fig.axes[0]
    bars = [patch for patch in ax.patches]
    assert len(bars) == 4                                      # 2 parameters x 2 strategies
    widths = [round(bar.get_width(), 9) for bar in bars]
    assert widths[:2] == [-1.0, 0.0] and widths[2:] == [0.0, 1.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert "Spearman" in ax.get_xlabel() and "net_benefit" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["phased (over 20 points)", "dual_track (over 20 points)"]
    with pytest.raises(RolloutError, match="not in the cube"):
        plot_sensitivity(_grid_for_sensitivity(), strategies=["nobody"])


def test_records_of_a_point_design_carry_each_points_parameter_values() -> None:
    """For LHS and Sobol designs the CSV/JSON rows name the parameter values of their point,
    not only its index, so a table can be read without the cube."""
    cube = hand_cube({"net_benefit": np.arange(12.0).reshape(3, 2, 2)}, ["big_bang", "phased"],
                     {"point": [0, 1, 2]}, kind="lhs")
    cube = cube.assign_coords({SEV: ("point", [0.1, 0.2, 0.4])})
    rows = to_records(compare(cube, "big_bang", metrics=("net_benefit",)), ["net_benefit"])
    assert [(r["point"], r[SEV], r["strategy"]) for r in rows] == [
        (p, v, s) for p, v in zip([0, 1, 2], [0.1, 0.2, 0.4], strict=True)
        for s in ("big_bang", "phased")]


def test_stages_with_one_strategy_keep_legend_and_caption_apart(single_cube):
    """One panel: the stage legend lies inside the figure, and neither it nor the caption
    overlaps the other (they used to be clipped and overprinted); the province order does not
    depend on the number of panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    one = plot_stages(single_cube, strategies=["phased"])
    two = plot_stages(single_cube, strategies=["phased", "big_bang"])
    for fig in (one, two):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        page = fig.bbox
        assert legend.x0 >= page.x0 - 1 and legend.x1 <= page.x1 + 1
        assert legend.y0 >= page.y0 - 1 and legend.y1 <= page.y1 + 1
        caption = fig.texts[-1].get_window_extent(renderer)
        assert not legend.overlaps(caption)
    labels = [[t.get_text() for t in fig.axes[0].get_yticklabels()] for fig in (one, two)]
    assert labels[0] == labels[1] == list(single_cube["province"].values)
    assert one.axes[0].get_ylim() == two.axes[0].get_ylim()


def test_plot_phase_takes_config_fields_and_keeps_log_axes(sweep_cube):
    """--at and --x/--y may name the config field (defects.severity_median) of a cube that
    stores defects__severity_median; messages name config fields; a parameter swept with
    log = true is drawn on a log axis whichever spelling the cube uses."""
    from rollout.analysis.phase_map import _log_parameters

    plot_phase(sweep_cube, strategy="phased", x=DET, y=SEV, at={SEV: 0.05})
    with pytest.raises(RolloutError, match=r"--at nope\.x: not a design dimension of the cube "
                                           r"\(defects\.detectability_median, "):
        plot_phase(sweep_cube, strategy="phased", at={"nope.x": 1})
    logged = sweep_cube.assign_attrs(config=json.dumps(
        {"sweep": {"parameters": {SEV: {"low": 0.05, "high": 0.3, "log": True}}}}))
    assert _log_parameters(logged) == {SEV, SEV_C}


def test_the_summary_records_hold_the_decided_counts_and_the_pooled_differences(
        grid_store: Path, tmp_path: Path) -> None:
    """compare --summary --format json|csv: one record per strategy with the decided counts of
    every claim and the pooled differences of the table (issue 22 left them to the table)."""
    import csv
    import io

    from rollout.analysis.decided import decided_summary
    from rollout.analysis.pooled import QUANTITY_KEYS, pooled_differences

    cube = open_cube(grid_store)
    result = compare(cube, "big_bang", metrics=("t_full", "t_stable", "net_benefit"))
    out = {}
    for fmt in ("json", "csv"):
        proc = subprocess.run([sys.executable, "-m", "rollout.cli", "compare", str(grid_store),
                               "--summary", "--format", fmt], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        out[fmt] = proc.stdout
    records = {r["strategy"]: r for r in json.loads(out["json"])}
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert [r["strategy"] for r in rows] == list(records)
    decided = decided_summary(result)
    assert decided
    for d in decided:
        for key in ("significant_for", "significant_against", "undecided", "point_estimate"):
            assert records[d["strategy"]][f"{d['claim']}_{key}"] == d[key]
    pooled, how = pooled_differences(cube, "big_bang", 0.95)
    for p in pooled:
        name = QUANTITY_KEYS[p["quantity"]]
        record = records[p["strategy"]]
        assert record[f"pooled_{name}_mean"] == pytest.approx(p["mean"], rel=1e-12)
        assert record[f"pooled_{name}_low"] == pytest.approx(p["low"], rel=1e-12)
        assert record["pooled_clustering"] == how
