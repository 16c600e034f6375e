"""The ``rollout`` command line, run for real as a subprocess.

One small run (the ``base`` fixture, shared by the module) is compared with runs that differ in one
option only: worker count, seed, format, replicates. Bad input must end as one line on stderr,
exit status 2, and nothing written.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import small_dict

from rollout.model.simulation import STAGES
from rollout.store import open_cube

REPLICATES = 4
STRATEGIES = list(small_dict()["strategies"])
SERIES = ("stage", "coverage", "harm", "benefit", "defects_active", "version")
SUMMARY = ("t_full", "t_stable", "harm_total", "benefit_total", "net_benefit", "suspensions",
           "defects_detected", "defects_fixed", "defects_remaining", "releases")


def rollout(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh interpreter (cwd in a temporary folder: nothing leaks)."""
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


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


@dataclass
class BaseRun:
    config: Path
    out: Path
    proc: subprocess.CompletedProcess
    cube: xr.Dataset      # loaded, without 'created'
    raw_attrs: dict       # all attributes, 'created' included


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> BaseRun:
    """``rollout run CFG --out base.zarr -q -w 1`` on the small config."""
    folder = tmp_path_factory.mktemp("base")
    config = write_config(folder / "small.toml", small_dict(replicates=REPLICATES))
    out = folder / "base.zarr"
    proc = rollout("run", config, "--out", out, "-q", "-w", "1", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    with open_cube(out) as ds:
        attrs = dict(ds.attrs)
    return BaseRun(config, out, proc, load(out), attrs)


# ------------------------------------------------------------------------------ end to end
def test_run_prints_headline_and_writes_zarr(base: BaseRun) -> None:
    assert "Traceback" not in base.proc.stderr + base.proc.stdout
    assert base.out.is_dir()
    assert (base.out / ".zmetadata").is_file()      # a consolidated Zarr store
    for name in STRATEGIES:
        assert name in base.proc.stdout
    assert "t_full" in base.proc.stdout
    assert str(base.out) in base.proc.stdout


def test_cube_dimensions_and_variables(base: BaseRun) -> None:
    ds = base.cube
    assert dict(ds.sizes) == {"strategy": len(STRATEGIES), "replicate": REPLICATES, "time": 60,
                              "province": 4, "track": 2}
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
    for name in SUMMARY:
        assert ds[name].dims == ("strategy", "replicate")
    for name, var in ds.data_vars.items():
        assert isinstance(var.attrs.get("units"), str), name
        assert var.attrs.get("long_name"), name
    stage = ds["stage"].attrs
    meanings = stage["flag_meanings"].split()
    assert meanings == list(STAGES)
    np.testing.assert_array_equal(np.asarray(stage["flag_values"]), np.arange(len(meanings)))


def test_cube_provenance(base: BaseRun) -> None:
    attrs = base.raw_attrs
    config = json.loads(attrs["config"])
    assert hashlib.sha256(attrs["config"].encode("utf-8")).hexdigest() == attrs["config_sha256"]
    assert attrs["seed"] == str(small_dict()["seed"]) == str(config["seed"])
    assert config["replicates"] == REPLICATES
    assert list(config["strategies"]) and set(config["strategies"]) == set(STRATEGIES)
    versions = json.loads(attrs["versions"])
    for package in ("numpy", "simpy", "xarray", "rollout"):
        assert versions.get(package), package
    created = dt.datetime.strptime(attrs["created"], "%Y-%m-%dT%H:%M:%SZ")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert dt.timedelta(0) <= now - created < dt.timedelta(hours=1)
    assert attrs["complete"] == "true"
    assert attrs["config_sha256"][:12] in base.proc.stdout


def test_cube_values_are_sane(base: BaseRun) -> None:
    ds = base.cube
    for name in ("coverage", "national_coverage"):
        values = ds[name].values
        assert np.isfinite(values).all(), name
        assert values.min() >= 0.0 and values.max() <= 1.0, name
    for name in ("harm", "benefit"):
        steps = ds[name].diff("time").values
        assert (steps >= -1e-12).all(), f"{name} decreases by {-steps.min()}"
    assert set(np.unique(ds["stage"].values)) <= set(range(len(STAGES)))


def test_t_full_agrees_with_national_coverage(base: BaseRun) -> None:
    ds = base.cube
    threshold = json.loads(base.raw_attrs["config"])["outcomes"]["coverage_threshold"]
    months = ds["month"].values
    horizon = months[-1]
    t_full = ds["t_full"].values
    national = ds["national_coverage"].values          # (strategy, replicate, time)
    checked_reached = checked_never = 0
    for s in range(ds.sizes["strategy"]):
        for r in range(ds.sizes["replicate"]):
            t, cov = t_full[s, r], national[s, r]
            reached = np.flatnonzero(cov >= threshold)
            if np.isnan(t):
                assert reached.size == 0, (s, r)
                assert (cov < threshold).all()
                checked_never += 1
            else:
                assert 0.0 <= t <= horizon, (s, r, t)
            if reached.size:
                assert np.isfinite(t), (s, r)
                assert t <= months[reached[0]], (s, r, t, months[reached[0]])
                checked_reached += 1
    assert checked_reached + checked_never > 0


def test_strategy_labels_match_their_designs(base: BaseRun) -> None:
    """Big bang has no pilots; phased starts with pilots (stage code of 'pilot')."""
    stage = base.cube["stage"]
    pilot = list(STAGES).index("pilot")
    assert not (stage.sel(strategy="big_bang").values == pilot).any()
    assert (stage.sel(strategy="phased").values == pilot).any()


# ------------------------------------------------------------------------------ determinism
def test_two_workers_give_the_identical_cube(base: BaseRun, tmp_path: Path) -> None:
    config = write_config(tmp_path / "small.toml", small_dict(replicates=REPLICATES))
    out = tmp_path / "two.zarr"
    proc = rollout("run", config, "--out", out, "-q", "-w", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "on 2 workers" in proc.stdout
    xr.testing.assert_identical(load(out), base.cube)


def test_seed_option_changes_results(base: BaseRun, tmp_path: Path) -> None:
    seed = small_dict()["seed"] + 1
    out = tmp_path / "seed.zarr"
    proc = rollout("run", base.config, "--out", out, "-q", "-w", "1", "--seed", seed,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    other = load(out)
    assert other.attrs["seed"] == str(seed)
    assert json.loads(other.attrs["config"])["seed"] == seed
    assert other.attrs["config_sha256"] != base.cube.attrs["config_sha256"]
    assert other.sizes == base.cube.sizes
    same_t_full = np.array_equal(other["t_full"].values, base.cube["t_full"].values,
                                 equal_nan=True)
    same_harm = np.array_equal(other["harm_total"].values, base.cube["harm_total"].values)
    assert not (same_t_full and same_harm)


def test_netcdf_has_the_same_values_as_zarr(base: BaseRun, tmp_path: Path) -> None:
    out = tmp_path / "cube.nc"
    proc = rollout("run", base.config, "--format", "netcdf", "--out", out, "-q", "-w", "1",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    with out.open("rb") as fh:
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"    # NetCDF-4 is HDF5
    xr.testing.assert_identical(load(out), base.cube)


# ------------------------------------------------------------------------------ validate, info
def test_validate_prints_toml_that_validates_to_the_same_hash(base: BaseRun,
                                                              tmp_path: Path) -> None:
    first = rollout("validate", base.config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    head = first.stdout.splitlines()[0]
    match = re.search(r"sha256 ([0-9a-f]{64})", head)
    assert match, head
    digest = match.group(1)
    assert digest == base.cube.attrs["config_sha256"]   # the same config the cube recorded
    resolved = tomllib.loads(first.stdout)              # the header is a TOML comment
    assert resolved["defects"]["mean_count"] == 12.0     # a default filled in
    assert set(resolved["strategies"]) == set(STRATEGIES)

    again = write_config(tmp_path / "resolved.toml", resolved)
    second = rollout("validate", again, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"sha256 {digest}" in second.stdout.splitlines()[0]
    assert tomllib.loads(second.stdout) == resolved


def test_info_describes_the_cube(base: BaseRun, tmp_path: Path) -> None:
    proc = rollout("info", base.out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for dim, size in base.cube.sizes.items():
        assert f"{dim}={size}" in text
    assert "config" in text and base.cube.attrs["config_sha256"] in text
    assert "seed" in text and base.cube.attrs["seed"] in text
    for name in STRATEGIES:
        assert name in text


# ------------------------------------------------------------------------------ bad input
def _config(tmp_path: Path, **extra: object) -> Path:
    return write_config(tmp_path / "bad.toml", small_dict(replicates=3, **extra))


def _missing(tmp_path: Path) -> tuple[Path, list[str]]:
    return tmp_path / "absent.toml", []


def _syntax(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "syntax.toml"
    path.write_text('name = "x"\nseed = \n[time\n', encoding="utf-8")
    return path, []


def _unknown_top(tmp_path: Path) -> tuple[Path, list[str]]:
    return _config(tmp_path, frobnicate=1), ["frobnicate"]


def _unknown_nested(tmp_path: Path) -> tuple[Path, list[str]]:
    return _config(tmp_path, defects={"foo": 1}), ["defects.foo"]


def _out_of_range(tmp_path: Path) -> tuple[Path, list[str]]:
    return _config(tmp_path, defects={"mean_count": -1}), ["defects.mean_count"]


def _unknown_strategy(tmp_path: Path) -> tuple[Path, list[str]]:
    return _config(tmp_path, strategies={"slowly": {}}), ["strategies.slowly"]


def _unknown_province(tmp_path: Path) -> tuple[Path, list[str]]:
    return (_config(tmp_path, regions={"provinces": ["Beijing", "Atlantis"]}),
            ["regions.provinces", "Atlantis"])


CONFIG_ERRORS = {
    "missing_file": _missing,
    "toml_syntax": _syntax,
    "unknown_top_level_key": _unknown_top,
    "unknown_nested_key": _unknown_nested,
    "value_out_of_range": _out_of_range,
    "unknown_strategy": _unknown_strategy,
    "unknown_province": _unknown_province,
}


def assert_user_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit 2, one line on stderr, no traceback, nothing on stdout; returns the line."""
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.strip() and line.startswith("rollout: error:"), line
    assert proc.stdout == ""
    for item in expected:
        assert item in line, (item, line)
    return line


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_bad_config_is_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    config, fields = CONFIG_ERRORS[case](tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("not ours")
    before = tree(folder)
    out = folder / "cube.zarr"
    proc = rollout("run", str(config), "--out", out, "-w", "1", cwd=tmp_path)
    line = assert_user_error(proc, str(config))
    # the field is named in the message itself, not just somewhere in the file path
    problem = line.split(str(config), 1)[1]
    for field in fields:
        assert field in problem, (field, line)
    assert not out.exists()
    assert tree(folder) == before


def test_existing_output_is_refused_and_left_alone(base: BaseRun, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cube.zarr"
    shutil.copytree(base.out, out)
    (out / "sentinel").write_text("still here")
    before = tree(folder)
    proc = rollout("run", base.config, "--out", out, "-w", "1", cwd=tmp_path)
    assert_user_error(proc, str(out))
    assert (out / "sentinel").read_text() == "still here"
    assert tree(folder) == before
    xr.testing.assert_identical(load(out), base.cube)


def test_zero_replicates_is_refused(base: BaseRun, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cube.zarr"
    proc = rollout("run", base.config, "--out", out, "--replicates", "0", "-w", "1",
                   cwd=tmp_path)
    assert_user_error(proc, "--replicates")
    assert not out.exists()
    assert tree(folder) == set()


@pytest.mark.parametrize("what", ["plain_folder", "missing"])
def test_info_on_something_that_is_not_a_cube(what: str, tmp_path: Path) -> None:
    target = tmp_path / "not_a_cube"
    if what == "plain_folder":
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    before = tree(tmp_path)
    proc = rollout("info", target, cwd=tmp_path)
    assert_user_error(proc, str(target))
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------ overwrite
def test_overwrite_replaces_an_existing_cube(base: BaseRun, tmp_path: Path) -> None:
    """Also: --replicates changes the replicate dimension, and the replicates the two runs
    share are the same worlds (streams are per replicate)."""
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cube.zarr"
    shutil.copytree(base.out, out)
    (out / "sentinel").write_text("old")
    more = REPLICATES + 2
    proc = rollout("run", base.config, "--out", out, "--overwrite", "--replicates", more,
                   "-q", "-w", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "sentinel").exists()
    assert sorted(os.listdir(folder)) == ["cube.zarr"]        # no partial or old copy beside it
    new = load(out)
    assert new.sizes["replicate"] == more
    assert new.attrs["replicates"] == str(more)
    assert json.loads(new.attrs["config"])["replicates"] == more
    xr.testing.assert_equal(new.isel(replicate=slice(0, REPLICATES)), base.cube)
