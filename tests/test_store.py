"""The result cube store, in process: round trips, chunking, atomic writes, opening, event log."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from conftest import make_config, small_dict

from rollout.config import KIND_NAMES
from rollout.data import load_provinces
from rollout.errors import RolloutError
from rollout.experiment.cube import EVENT_COLUMNS, build_cube, open_cube, write_cube
from rollout.experiment.runner import run_experiment
from rollout.model.simulation import EVENT_KINDS

REPLICATES = 2
SUFFIX = {"zarr": ".zarr", "netcdf": ".nc"}
WRITER = {"zarr": "to_zarr", "netcdf": "to_netcdf"}


def _cube(**extra: object) -> xr.Dataset:
    config = make_config(small_dict(replicates=REPLICATES, **extra))
    provinces = load_provinces(config)
    return build_cube(config, provinces, run_experiment(config, provinces))


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    return _cube()


@pytest.fixture(scope="module")
def event_cube() -> xr.Dataset:
    return _cube(output={"event_log": True})


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _read(path: Path) -> xr.Dataset:
    with open_cube(path) as ds:
        return ds.load()


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_round_trip_is_exact(cube: xr.Dataset, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"cube{SUFFIX[fmt]}"
    assert write_cube(cube, path, fmt) == path
    assert path.is_dir() if fmt == "zarr" else path.is_file()
    loaded = _read(path)
    xr.testing.assert_identical(loaded, cube)
    for name in ("stage", "coverage", "releases", "t_full"):
        assert loaded[name].dtype == cube[name].dtype, name


@pytest.mark.parametrize("chunk_replicates", [1, 64])
def test_zarr_chunks_along_replicate(cube: xr.Dataset, chunk_replicates: int,
                                     tmp_path: Path) -> None:
    path = tmp_path / "cube.zarr"
    write_cube(cube, path, "zarr", chunk_replicates=chunk_replicates)
    expected = min(chunk_replicates, REPLICATES)
    group = zarr.open_group(str(path), mode="r")
    with_replicate = [n for n, v in cube.data_vars.items() if "replicate" in v.dims]
    assert len(with_replicate) >= 17
    with xr.open_zarr(path) as reopened:
        for name in with_replicate:
            dims = cube[name].dims
            chunks = group[name].chunks
            want = tuple(expected if d == "replicate" else cube.sizes[d] for d in dims)
            assert chunks == want, (name, chunks, want)
            assert tuple(reopened[name].encoding["chunks"]) == want, name


# ------------------------------------------------------------------------------ atomic writes
def _failing_writer(monkeypatch: pytest.MonkeyPatch, fmt: str, error: BaseException
                    ) -> list[Path]:
    """Make the writer write its whole output, check it is there, then fail."""
    original = getattr(xr.Dataset, WRITER[fmt])
    written: list[Path] = []

    def write_then_fail(self: xr.Dataset, target: object, *args: object, **kw: object) -> None:
        original(self, target, *args, **kw)
        assert Path(str(target)).exists()
        written.append(Path(str(target)))
        raise error

    monkeypatch.setattr(xr.Dataset, WRITER[fmt], write_then_fail)
    return written


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_failed_write_leaves_nothing(cube: xr.Dataset, fmt: str, error: BaseException,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    path = folder / f"cube{SUFFIX[fmt]}"
    written = _failing_writer(monkeypatch, fmt, error)
    with pytest.raises(type(error)):
        write_cube(cube, path, fmt)
    assert len(written) == 1 and written[0].parent == folder   # it was written aside
    assert not path.exists()
    assert os.listdir(folder) == []


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_failed_overwrite_keeps_the_old_cube(cube: xr.Dataset, fmt: str, error: BaseException,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    path = folder / f"cube{SUFFIX[fmt]}"
    write_cube(cube, path, fmt)
    newer = cube.assign_attrs(seed="12345")        # a different cube
    _failing_writer(monkeypatch, fmt, error)
    with pytest.raises(type(error)):
        write_cube(newer, path, fmt, overwrite=True)
    assert os.listdir(folder) == [path.name]
    xr.testing.assert_identical(_read(path), cube)


@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_failure_while_swapping_keeps_the_old_cube(cube: xr.Dataset, fmt: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    path = folder / f"cube{SUFFIX[fmt]}"
    write_cube(cube, path, fmt)
    real_replace = os.replace

    def replace(src: object, dst: object, **kw: object) -> None:
        if str(dst) == str(path) and ".partial-" in str(src):   # the new cube moving in
            raise KeyboardInterrupt
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_cube(cube.assign_attrs(seed="12345"), path, fmt, overwrite=True)
    monkeypatch.undo()
    assert os.listdir(folder) == [path.name]
    xr.testing.assert_identical(_read(path), cube)


def test_overwrite_never_replaces_what_is_not_a_cube(cube: xr.Dataset, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    precious = folder / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(RolloutError, match="is not a rollout cube; refusing"):
        write_cube(cube, precious, "zarr", overwrite=True)
    assert (precious / "chapter1.tex").read_text() == "years of work"
    plain = folder / "notes.nc"
    plain.write_text("not netcdf")
    with pytest.raises(RolloutError, match="is not a rollout cube; refusing"):
        write_cube(cube, plain, "netcdf", overwrite=True)
    assert plain.read_text() == "not netcdf"


def test_failed_write_removes_the_folders_it_created(cube: xr.Dataset, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", explode)
    with pytest.raises(OSError, match="disk full"):
        write_cube(cube, tmp_path / "new" / "deeper" / "cube.zarr", "zarr")
    assert os.listdir(tmp_path) == []


def test_existing_target_is_refused_without_overwrite(cube: xr.Dataset, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    path = folder / "cube.zarr"
    path.mkdir()
    (path / "sentinel").write_text("mine")
    with pytest.raises(RolloutError, match="already exists"):
        write_cube(cube, path, "zarr")
    assert (path / "sentinel").read_text() == "mine"
    assert os.listdir(folder) == ["cube.zarr"]


def test_overwrite_replaces(cube: xr.Dataset, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    path = folder / "cube.zarr"
    write_cube(cube, path, "zarr")
    newer = cube.assign_attrs(seed="12345")
    write_cube(newer, path, "zarr", overwrite=True)
    assert os.listdir(folder) == ["cube.zarr"]
    assert _read(path).attrs["seed"] == "12345"


def test_overwrite_deletes_only_what_rollout_wrote(cube: xr.Dataset, tmp_path: Path) -> None:
    """A cube folder someone put a file into, a folder of files that merely carries the cube
    attribute, and a cube whose stored config was edited are none of them replaced."""
    folder = _folder(tmp_path)
    added = folder / "added.zarr"
    write_cube(cube, added, "zarr")
    (added / "notes.txt").write_text("mine")
    forged = folder / "forged.zarr"
    forged.mkdir()
    (forged / ".zattrs").write_text(json.dumps({"rollout_cube": "1"}))
    (forged / "thesis.tex").write_text("mine")
    edited = folder / "edited.zarr"
    write_cube(cube, edited, "zarr")
    attrs = json.loads((edited / ".zattrs").read_text())
    attrs["config"] = attrs["config"].replace('"seed":7', '"seed":8')
    (edited / ".zattrs").write_text(json.dumps(attrs))
    for path in (added, forged, edited):
        with pytest.raises(RolloutError, match="is not a rollout cube; refusing to replace it"):
            write_cube(cube, path, "zarr", overwrite=True)
    assert (added / "notes.txt").read_text() == "mine"
    assert (forged / "thesis.tex").read_text() == "mine"
    assert json.loads((edited / ".zattrs").read_text()) == attrs


def test_unknown_format_writes_nothing(cube: xr.Dataset, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(RolloutError, match="unknown format"):
        write_cube(cube, folder / "cube.csv", "csv")
    assert os.listdir(folder) == []


# ------------------------------------------------------------------------------ open_cube
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_open_refuses_a_dataset_that_is_not_a_cube(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"other{SUFFIX[fmt]}"
    other = xr.Dataset({"a": ("x", np.arange(3.0))}, attrs={"title": "something else"})
    if fmt == "zarr":
        other.to_zarr(path, zarr_format=2, consolidated=True)
    else:
        other.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(RolloutError, match="not a rollout cube") as info:
        open_cube(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("what", ["missing", "text_file", "empty_folder"])
def test_open_refuses_what_cannot_be_read(what: str, tmp_path: Path) -> None:
    path = tmp_path / "thing"
    if what == "text_file":
        path.write_text("hello, not a cube\n")
    elif what == "empty_folder":
        path.mkdir()
    with pytest.raises(RolloutError) as info:
        open_cube(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("complete", ["false", None])
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_incomplete_cube_opens_with_a_warning(cube: xr.Dataset, fmt: str, complete: str | None,
                                              tmp_path: Path) -> None:
    ds = cube.copy()
    if complete is None:
        del ds.attrs["complete"]
    else:
        ds.attrs["complete"] = complete
    path = tmp_path / f"cube{SUFFIX[fmt]}"
    write_cube(ds, path, fmt)
    with pytest.warns(UserWarning, match="incomplete"):
        opened = open_cube(path)
    with opened:
        assert opened.attrs.get("complete") == complete
        xr.testing.assert_equal(opened.load(), cube)


# ------------------------------------------------------------------------------ event log
def test_event_log_variables(event_cube: xr.Dataset, tmp_path: Path) -> None:
    """The event table: one dimension, names where names exist (fixed-width text, read back as
    str), integers with -1 below valid_min where a column does not apply."""
    path = tmp_path / "events.zarr"
    write_cube(event_cube, path)
    ds = _read(path)
    names = {f"event_{c}" for c in EVENT_COLUMNS}
    assert names <= set(ds.data_vars)
    assert ds.sizes["event"] > 0
    for name in names:
        assert ds[name].dims == ("event",)
        assert ds[name].attrs.get("long_name"), name
    for name in ("unit", "defect", "version"):
        var = ds[f"event_{name}"]
        assert var.dtype == np.int32 and var.attrs["valid_min"] == 0 and var.attrs["units"] == "1"
    replicate = ds["event_replicate"]
    assert replicate.dtype == np.int32 and "valid_min" not in replicate.attrs
    kinds = {str(k) for k in ds["event_kind"].values}
    assert kinds <= set(EVENT_KINDS) and {"start", "pay", "release", "fix"} <= kinds
    assert {str(x) for x in ds["event_strategy"].values} == {str(x) for x in
                                                             ds["strategy"].values}
    assert {str(x) for x in ds["event_track"].values} <= {"", *map(str, ds["track"].values)}
    replicate = ds["event_replicate"].values
    assert set(np.unique(replicate)) <= set(range(ds.sizes["replicate"]))
    strategy = np.array([str(x) for x in ds["event_strategy"].values])
    times = ds["event_time"].values
    assert ((times >= 0.0) & (times <= ds["month"].values[-1])).all()
    for s in map(str, ds["strategy"].values):   # each run's log is in time order
        for r in range(ds.sizes["replicate"]):
            run = times[(strategy == s) & (replicate == r)]
            assert run.size > 0 and (np.diff(run) >= 0.0).all(), (s, r)
    raw = zarr.open_group(path, mode="r")       # fixed-width bytes, not Python objects
    assert raw["event_kind"].dtype.kind == "S" and raw["strategy"].dtype.kind == "S"


def _events(ds: xr.Dataset) -> dict[str, np.ndarray]:
    return {c: (np.array([str(x) for x in ds[f"event_{c}"].values])
                if ds[f"event_{c}"].dtype.kind in "OUS" else ds[f"event_{c}"].values)
            for c in EVENT_COLUMNS}


def test_release_events_match_the_release_count(event_cube: xr.Dataset) -> None:
    """Big bang uses one track (the first); its release events are its releases."""
    ds = event_cube
    ev = _events(ds)
    releases = ds["releases"].sel(strategy="big_bang").values
    assert releases.sum() > 0, "no release in the sample: the check would be vacuous"
    track = str(ds["track"].values[0])
    for r in range(ds.sizes["replicate"]):
        mask = (ev["strategy"] == "big_bang") & (ev["replicate"] == r) & \
            (ev["kind"] == "release") & (ev["track"] == track)
        assert int(mask.sum()) == int(releases[r]), r


def test_the_event_log_is_an_audit_trail() -> None:
    """Each run's fix events are its releases' fixes: one per fixed defect (defects_fixed),
    each at a release time of its track with the version that release made, each defect fixed
    at most once and reported before it was fixed; every suspension (as many as the summary
    counts) is followed by the defects behind it, of its unit at its time; every defect row
    names its kind; phase rows carry a phase and no version. Severity 0.3 so that regions are
    suspended (about 150 times in these runs)."""
    ds = _cube(output={"event_log": True}, defects={"severity_median": 0.3})
    ev = _events(ds)
    fixed = ds["defects_fixed"]
    checked_fix = checked_cause = 0
    for s in map(str, ds["strategy"].values):
        for r in range(ds.sizes["replicate"]):
            run = (ev["strategy"] == s) & (ev["replicate"] == r)
            fix = run & (ev["kind"] == "fix")
            assert int(fix.sum()) == int(fixed.sel(strategy=s).values[r]), (s, r)
            releases = {(t, tr, v) for t, tr, v in zip(
                ev["time"][run & (ev["kind"] == "release")],
                ev["track"][run & (ev["kind"] == "release")],
                ev["version"][run & (ev["kind"] == "release")], strict=True)}
            pairs = list(zip(ev["track"][fix], ev["defect"][fix], strict=True))
            assert len(pairs) == len(set(pairs)), "a defect fixed twice"
            for t, tr, d, v in zip(ev["time"][fix], ev["track"][fix], ev["defect"][fix],
                                   ev["version"][fix], strict=True):
                assert (t, tr, v) in releases
                reported = run & (ev["kind"] == "report") & (ev["track"] == tr) & \
                    (ev["defect"] == d)
                assert reported.any() and ev["time"][reported].min() <= t
                checked_fix += 1
            suspends = np.flatnonzero(run & (ev["kind"] == "suspend"))
            assert len(suspends) == int(ds["suspensions"].sel(strategy=s).values[r])
            for i in suspends:
                after = np.arange(i + 1, len(ev["kind"]))
                causes = after[np.cumprod(np.isin(ev["kind"][after],
                                                  ["cause", "cause_entrenched"])) == 1]
                assert len(causes) >= 1, "a suspension without its defects"
                assert (ev["unit"][causes] == ev["unit"][i]).all()
                assert (ev["time"][causes] == ev["time"][i]).all()
                checked_cause += 1
    assert checked_fix > 0 and checked_cause > 0, (checked_fix, checked_cause)
    introduce = ev["kind"] == "introduce"       # new defects come with a release, in its version
    release = ev["kind"] == "release"
    made = set(zip(ev["strategy"][release], ev["replicate"][release], ev["time"][release],
                   ev["track"][release], ev["version"][release], strict=True))
    assert introduce.any() and all(key in made for key in zip(
        ev["strategy"][introduce], ev["replicate"][introduce], ev["time"][introduce],
        ev["track"][introduce], ev["version"][introduce], strict=True))
    for kind in ("cause", "cause_entrenched"):  # a defect is one or the other in a suspension
        rows = ev["kind"] == kind
        assert rows.any() or kind == "cause_entrenched"
    both = set(zip(ev["strategy"][ev["kind"] == "cause"], ev["replicate"][ev["kind"] == "cause"],
                   ev["time"][ev["kind"] == "cause"], ev["unit"][ev["kind"] == "cause"],
                   ev["defect"][ev["kind"] == "cause"], strict=True)) & set(zip(
        *(ev[c][ev["kind"] == "cause_entrenched"] for c in ("strategy", "replicate", "time",
                                                            "unit", "defect")), strict=True))
    assert not both
    has_defect = ev["defect"] >= 0
    assert (ev["defect_kind"][has_defect] != "").all()
    assert (ev["defect_kind"][~has_defect] == "").all()
    assert set(ev["defect_kind"][has_defect]) <= set(KIND_NAMES)
    phase = ev["kind"] == "phase"
    assert phase.any() and (ev["phase"][phase] != "").all()
    assert (ev["version"][phase] == -1).all() and (ev["phase"][~phase] == "").all()


def test_event_log_does_not_change_results(cube: xr.Dataset, event_cube: xr.Dataset) -> None:
    """Recording every event turns off the skipping of irrelevant detections: same results."""
    event_names = {f"event_{c}" for c in EVENT_COLUMNS}
    assert set(event_cube.data_vars) - set(cube.data_vars) == event_names
    assert "event" not in cube.dims
    with_log = event_cube.drop_vars(sorted(event_names))
    with_log.attrs, without = {}, cube.copy()
    without.attrs = {}
    xr.testing.assert_identical(with_log, without)
    config_with, config_without = (json.loads(ds.attrs["config"]) for ds in (event_cube, cube))
    assert config_with.pop("output") == {"event_log": True}
    assert config_without.pop("output") == {"event_log": False}
    assert config_with == config_without


def test_checksums_are_streamed_slab_by_slab_with_the_whole_arrays_digest(monkeypatch) -> None:
    """A variable is hashed in slabs along its first axis (a sweep's series can be gigabytes):
    the digest equals block_checksum of the whole array, for slabs of a few bytes too."""
    from rollout.experiment import integrity

    rng = np.random.default_rng(3)
    arrays = {"a": rng.random((7, 5, 3)), "b": rng.integers(-5, 5, (1000, 3)).astype(np.int16),
              "c": np.array(2.5), "d": np.zeros((0, 4))}
    ds = xr.Dataset({k: (tuple(f"{k}{i}" for i in range(v.ndim)), v) for k, v in arrays.items()})
    monkeypatch.setattr(integrity, "SLAB_BYTES", 17)
    streamed = integrity.variable_checksums(ds)
    assert streamed == {k: f"{integrity.block_checksum({k: v}):016x}" for k, v in arrays.items()}
