"""The ``rollout`` command line, run for real as subprocesses.

One small run (``base``) is compared with runs that differ in one option only: worker count, seed,
format, replicates. Bad input must end as one line on stderr, exit status 2, and nothing written.

Each CLI start costs ~1.5 s of imports, so independent runs are started together (``Batch``) by
module-scoped fixtures and the tests read their results; every run has its own temporary folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import small_dict

from rollout import open_cube
from rollout.model.simulation import STAGES, mechanism_series

REPLICATES = 4
STRATEGIES = list(small_dict()["strategies"])
SERIES = ("stage", "coverage", "harm", "benefit", "defects_active", "version")
SUMMARY = ("t_full", "t_stable", "harm_total", "benefit_total", "net_benefit", "suspensions",
           "defects_detected", "defects_fixed", "defects_remaining", "releases")


def _command(args: tuple[object, ...]) -> list[str]:
    return [sys.executable, "-m", "rollout.cli", *map(str, args)]


def rollout(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh interpreter (cwd in a temporary folder: nothing leaks)."""
    return subprocess.run(_command(args), cwd=cwd, capture_output=True, text=True, timeout=180)


class Batch:
    """Independent CLI runs started at once and collected together."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}

    def start(self, key: str, *args: object, cwd: Path) -> None:
        self._procs[key] = subprocess.Popen(_command(args), cwd=cwd, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)

    def results(self) -> dict[str, subprocess.CompletedProcess]:
        out = {}
        try:
            for key, proc in self._procs.items():
                stdout, stderr = proc.communicate(timeout=180)
                out[key] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        finally:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return out


def write_config(path: Path, data: dict) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (hidden ones included), relative to it."""
    out = set()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(root, name), folder))
    return out


def load(path: Path) -> xr.Dataset:
    """Open a cube, read it into memory and drop the one attribute that differs run to run."""
    with open_cube(path) as ds:
        loaded = ds.load()
    loaded.attrs.pop("created")
    return loaded


# ------------------------------------------------------------------------------ the runs
@dataclass
class Runs:
    config: Path                                   # small config, REPLICATES replicates, seed 7
    out: dict[str, Path]                           # run key -> output path
    proc: dict[str, subprocess.CompletedProcess]

    def cube(self, key: str) -> xr.Dataset:
        assert self.proc[key].returncode == 0, self.proc[key].stderr
        return load(self.out[key])


OTHER_SEED = small_dict()["seed"] + 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The base run and its variants: -w 2, --seed, --format netcdf (same config file)."""
    folder = tmp_path_factory.mktemp("runs")
    config = write_config(folder / "small.toml", small_dict(replicates=REPLICATES))
    variants = {
        "base": ("base.zarr", ["-w", "1"]),
        "two_workers": ("two.zarr", ["-w", "2"]),
        "seed": ("seed.zarr", ["-w", "1", "--seed", OTHER_SEED]),
        "netcdf": ("cube.nc", ["-w", "1", "--format", "netcdf"]),
    }
    batch = Batch()
    out = {}
    for key, (name, options) in variants.items():
        cwd = folder / key
        cwd.mkdir()
        out[key] = cwd / name
        batch.start(key, "run", config, "--out", out[key], "-q", *options, cwd=cwd)
    return Runs(config, out, batch.results())


@pytest.fixture(scope="module")
def base(runs: Runs) -> xr.Dataset:
    return runs.cube("base")


# ------------------------------------------------------------------------------ end to end
def test_run_prints_headline_and_writes_zarr(runs: Runs) -> None:
    proc, out = runs.proc["base"], runs.out["base"]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert out.is_dir()
    assert (out / ".zmetadata").is_file()      # a consolidated Zarr store
    for name in STRATEGIES:
        assert name in proc.stdout
    assert "t_full" in proc.stdout
    assert str(out) in proc.stdout
    assert sorted(os.listdir(out.parent)) == [out.name]   # nothing else in its folder


def test_cube_dimensions_and_variables(base: xr.Dataset) -> None:
    ds = base
    assert dict(ds.sizes) == {"strategy": len(STRATEGIES), "replicate": REPLICATES, "time": 60,
                              "province": 4, "track": 2, "stable_threshold": 4}   # issue 21
    assert ds["t_stable_at"].dims == ("strategy", "replicate", "stable_threshold")
    assert ds["t_overtake"].dims == ("strategy", "replicate")
    assert [str(s) for s in ds["strategy"].values] == STRATEGIES
    assert [str(t) for t in ds["track"].values] == ["DRG", "DIP"]
    assert sorted(str(p) for p in ds["province"].values) == \
        sorted(["Beijing", "Hebei", "Hainan", "Ningxia"])
    np.testing.assert_array_equal(ds["month"].values, np.arange(1, 61))
    for name in (*SERIES, "national_coverage", *SUMMARY):
        assert name in ds.data_vars, name
    for name in SERIES:
        last = "track" if name == "version" else "province"
        assert ds[name].dims == ("strategy", "replicate", "time", last)
    assert ds["national_coverage"].dims == ("strategy", "replicate", "time")
    for name, spec in mechanism_series().items():
        extra = ("province",) if spec.per == "province" else ()
        assert ds[name].dims == ("strategy", "replicate", "time", *extra), name
    for name in SUMMARY:
        assert ds[name].dims == ("strategy", "replicate")
    for name, var in ds.data_vars.items():
        assert isinstance(var.attrs.get("units"), str), name
        assert var.attrs.get("long_name"), name
    for name in ("strategy", "replicate", "time", "province", "track"):   # CF: labelled axes
        assert ds[name].attrs.get("long_name"), name
    assert ds["time"].attrs["standard_name"] == "time" and ds["time"].attrs["axis"] == "T"
    assert ds.attrs["history"].startswith("rollout ") and ds.attrs["Conventions"] == "CF-1.10"
    stage = ds["stage"].attrs
    meanings = stage["flag_meanings"].split()
    assert meanings == list(STAGES)
    np.testing.assert_array_equal(np.asarray(stage["flag_values"]), np.arange(len(meanings)))


def test_cube_provenance(runs: Runs) -> None:
    assert runs.proc["base"].returncode == 0, runs.proc["base"].stderr
    with open_cube(runs.out["base"]) as ds:
        attrs = dict(ds.attrs)
    config = json.loads(attrs["config"])
    assert hashlib.sha256(attrs["config"].encode("utf-8")).hexdigest() == attrs["config_sha256"]
    assert attrs["seed"] == str(small_dict()["seed"]) == str(config["seed"])
    assert config["replicates"] == REPLICATES
    assert set(config["strategies"]) == set(STRATEGIES)
    versions = json.loads(attrs["versions"])
    for package in ("numpy", "simpy", "xarray", "rollout"):
        assert versions.get(package), package
    created = dt.datetime.strptime(attrs["created"], "%Y-%m-%dT%H:%M:%SZ")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert dt.timedelta(0) <= now - created < dt.timedelta(hours=1)
    assert attrs["complete"] == "true"
    assert attrs["config_sha256"][:12] in runs.proc["base"].stdout


def test_cube_values_are_sane(base: xr.Dataset) -> None:
    for name in ("coverage", "national_coverage"):
        values = base[name].values
        assert np.isfinite(values).all(), name
        assert values.min() >= 0.0 and values.max() <= 1.0, name
    for name in ("harm", "benefit"):
        steps = base[name].diff("time").values
        assert (steps >= -1e-12).all(), f"{name} decreases by {-steps.min()}"
    assert set(np.unique(base["stage"].values)) <= set(range(len(STAGES)))


def test_t_full_agrees_with_national_coverage(base: xr.Dataset) -> None:
    threshold = json.loads(base.attrs["config"])["outcomes"]["coverage_threshold"]
    months = base["month"].values
    t_full = base["t_full"].values
    national = base["national_coverage"].values          # (strategy, replicate, time)
    for s in range(base.sizes["strategy"]):
        for r in range(base.sizes["replicate"]):
            t, cov = t_full[s, r], national[s, r]
            reached = np.flatnonzero(cov >= threshold)
            if np.isinf(t):                                  # never: +inf in the cube
                assert (cov < threshold).all(), (s, r)
            else:
                assert 0.0 <= t <= months[-1], (s, r, t)
            if reached.size:
                assert np.isfinite(t), (s, r)
                assert t <= months[reached[0]], (s, r, t, months[reached[0]])


def test_strategy_labels_match_their_designs(base: xr.Dataset) -> None:
    """Big bang has no pilots; phased starts with pilots (stage code of 'pilot')."""
    pilot = list(STAGES).index("pilot")
    assert not (base["stage"].sel(strategy="big_bang").values == pilot).any()
    assert (base["stage"].sel(strategy="phased").values == pilot).any()


# ------------------------------------------------------------------------------ determinism
def test_two_workers_give_the_identical_cube(runs: Runs, base: xr.Dataset) -> None:
    two = runs.cube("two_workers")
    assert "on 2 workers" in runs.proc["two_workers"].stdout
    xr.testing.assert_identical(two, base)


def test_seed_option_changes_results(runs: Runs, base: xr.Dataset) -> None:
    other = runs.cube("seed")
    assert other.attrs["seed"] == str(OTHER_SEED)
    assert json.loads(other.attrs["config"])["seed"] == OTHER_SEED
    assert other.attrs["config_sha256"] != base.attrs["config_sha256"]
    assert other.sizes == base.sizes
    same_t_full = np.array_equal(other["t_full"].values, base["t_full"].values, equal_nan=True)
    same_harm = np.array_equal(other["harm_total"].values, base["harm_total"].values)
    assert not (same_t_full and same_harm)


def test_netcdf_has_the_same_values_as_zarr(runs: Runs, base: xr.Dataset) -> None:
    out = runs.out["netcdf"]
    nc = runs.cube("netcdf")
    assert out.is_file()
    with out.open("rb") as fh:
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"    # NetCDF-4 is HDF5
    xr.testing.assert_identical(nc, base)


# ------------------------------------------------------------------------------ validate, info
def test_validate_prints_toml_that_validates_to_the_same_hash(runs: Runs, base: xr.Dataset,
                                                              tmp_path: Path) -> None:
    first = rollout("validate", runs.config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    head = first.stdout.splitlines()[0]
    match = re.search(r"sha256 ([0-9a-f]{64})", head)
    assert match, head
    digest = match.group(1)
    assert digest == base.attrs["config_sha256"]     # the config the cube recorded
    resolved = tomllib.loads(first.stdout)           # the header line is a TOML comment
    assert resolved["defects"]["mean_count"] == 12.0  # a default filled in
    assert set(resolved["strategies"]) == set(STRATEGIES)

    again = tmp_path / "resolved.toml"
    again.write_text(first.stdout, encoding="utf-8")
    second = rollout("validate", again, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"sha256 {digest}" in second.stdout.splitlines()[0]
    assert tomllib.loads(second.stdout) == resolved


def test_info_describes_the_cube(runs: Runs, base: xr.Dataset, tmp_path: Path) -> None:
    proc = rollout("info", runs.out["base"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for dim, size in base.sizes.items():
        assert f"{dim}={size}" in text
    assert "config" in text and base.attrs["config_sha256"] in text
    assert "seed" in text and base.attrs["seed"] in text
    for name in STRATEGIES:
        assert name in text


# ------------------------------------------------------------------------------ bad input
@dataclass
class BadCase:
    """A command that must fail: what it must name, and the folder that must stay as it was."""

    args: list[object]
    expected: list[str]               # must appear in the one stderr line
    fields: list[str]                 # must appear after the config path in that line
    watched: Path                     # folder whose contents must not change
    absent: Path | None = None        # must not exist afterwards
    before: set[str] | None = None
    config: Path | None = None


def _run_case(folder: Path, config: Path | None, fields: list[str], *options: object
              ) -> BadCase:
    watched = folder / "out"
    watched.mkdir()
    (watched / "keep.txt").write_text("not ours")
    out = watched / "cube.zarr"
    config = config or write_config(folder / "ok.toml", small_dict(replicates=3))
    return BadCase(["run", config, "--out", out, "-w", "1", *options], [str(config)], fields,
                   watched, absent=out, config=config)


def _config_error(*fields: str, **extra: object) -> Callable[[Path], BadCase]:
    """A small config with ``extra`` merged in, whose error message must name ``fields``."""
    def make(folder: Path) -> BadCase:
        config = write_config(folder / "bad.toml", small_dict(replicates=3, **extra))
        return _run_case(folder, config, list(fields))
    return make


def _missing_file(folder: Path) -> BadCase:
    return _run_case(folder, folder / "absent.toml", [])


def _toml_syntax(folder: Path) -> BadCase:
    config = folder / "syntax.toml"
    config.write_text('name = "x"\nseed = \n[time\n', encoding="utf-8")
    return _run_case(folder, config, [])


def _existing_output(folder: Path) -> BadCase:
    case = _run_case(folder, None, [])
    out = case.absent
    out.mkdir()
    (out / "sentinel").write_text("still here")
    case.absent, case.expected = None, [str(out)]
    return case


def _zero_replicates(folder: Path) -> BadCase:
    case = _run_case(folder, None, [], "--replicates", "0")
    case.expected = ["--replicates"]
    return case


def _info_not_a_cube(folder: Path) -> BadCase:
    target = folder / "not_a_cube"
    target.mkdir()
    (target / "notes.txt").write_text("hello")
    return BadCase(["info", target], [str(target)], [], folder)


BAD_CASES: dict[str, Callable[[Path], BadCase]] = {
    "missing_config_file": _missing_file,
    "toml_syntax_error": _toml_syntax,
    "unknown_top_level_key": _config_error("frobnicate", frobnicate=1),
    "unknown_nested_key": _config_error("defects.foo", defects={"foo": 1}),
    "value_out_of_range": _config_error("defects.mean_count", defects={"mean_count": -1}),
    "thresholds_out_of_order": _config_error("outcomes.stable_harm_shares", "increasing",
                                             outcomes={"stable_harm_shares": [0.1, 0.05]}),
    "unknown_strategy": _config_error("strategies.slowly", strategies={"slowly": {}}),
    "unknown_province": _config_error("regions.provinces", "Atlantis",
                                      regions={"provinces": ["Beijing", "Atlantis"]}),
    "output_exists": _existing_output,
    "zero_replicates": _zero_replicates,
    "info_not_a_cube": _info_not_a_cube,
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, tuple[BadCase, subprocess.CompletedProcess]]:
    batch = Batch()
    cases = {}
    for key, make in BAD_CASES.items():
        folder = tmp_path_factory.mktemp(key)
        case = make(folder)
        case.before = tree(case.watched)
        cases[key] = case
        batch.start(key, *case.args, cwd=folder)
    results = batch.results()
    return {key: (cases[key], results[key]) for key in cases}


@pytest.mark.parametrize("key", list(BAD_CASES))
def test_bad_input_is_one_line_and_writes_nothing(key: str, bad_runs: dict) -> None:
    case, proc = bad_runs[key]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.strip() and line.startswith("rollout: error:"), line
    assert proc.stdout == ""
    for item in case.expected:
        assert item in line, (item, line)
    if case.fields:
        # named in the message itself, not merely somewhere in the file's path
        problem = line.split(str(case.config), 1)[1]
        for field in case.fields:
            assert field in problem, (field, line)
    if case.absent is not None:
        assert not case.absent.exists()
    assert tree(case.watched) == case.before


def test_existing_output_keeps_its_contents(bad_runs: dict) -> None:
    case, proc = bad_runs["output_exists"]
    assert proc.returncode == 2
    assert (case.watched / "cube.zarr" / "sentinel").read_text() == "still here"


# ------------------------------------------------------------------------------ overwrite
def test_overwrite_replaces_a_cube_and_replicates_option_resizes(runs: Runs, base: xr.Dataset,
                                                                 tmp_path: Path) -> None:
    """Also: --replicates changes the replicate dimension, and the replicates the two runs
    share are the same worlds (random streams are per replicate)."""
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cube.zarr"
    shutil.copytree(runs.out["base"], out)
    more = REPLICATES + 2
    proc = rollout("run", runs.config, "--out", out, "--overwrite", "--replicates", more,
                   "-q", "-w", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(folder)) == ["cube.zarr"]     # no partial or old copy beside it
    new = load(out)
    assert new.sizes["replicate"] == more
    assert new.attrs["replicates"] == str(more)
    assert json.loads(new.attrs["config"])["replicates"] == more
    xr.testing.assert_equal(new.isel(replicate=slice(0, REPLICATES)), base)
