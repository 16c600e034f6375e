"""The result cube: its schema, provenance, atomic writes to Zarr or NetCDF, and opening it.

A cube is an xarray Dataset with dimensions strategy, replicate, time, province and track
(MODEL.md section 9). Every variable carries CF-style ``units`` and ``long_name``; the attributes
record the resolved configuration (canonical JSON), its sha256, the seed, the data file's sha256
and the versions of the package and its main dependencies. A cube is built aside and moved into
place, so a path that exists holds a complete cube.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from ..calendar import grid_dates
from ..config import KIND_NAMES, RolloutConfig
from ..data import Provinces
from ..errors import RolloutError
from ..model.simulation import EVENT_KINDS, STAGES, mechanism_series
from .crossover import overtake_from_series
from .integrity import variable_checksums
from .locking import output_lock
from .names import stored_name
from .opening import open_cube  # noqa: F401  (re-exported: the cube's reader lives apart)
from .outputs import (  # noqa: F401  (re-exported: where outputs are checked)
    check_output,
    check_writable,
    cube_format,
    default_output,
    is_cube,
    safe_to_delete,
)
from .runner import ExperimentResult, strategy_names

CUBE_SCHEMA = "1"
FORMATS = ("zarr", "netcdf")

_SERIES = {
    "stage": ("1", "stage of the province in the rollout"),
    "coverage": ("1", "share of the province's inpatient volume paid under the new rules"),
    "harm": ("1", "cumulative harm from defects and entrenched gaming, in benefit units"),
    "benefit": ("1", "cumulative benefit of the reform, in benefit units"),
    "defects_active": ("1", "distinct uncorrected defects in force in paying regions"),
    "version": ("1", "latest released rule-set version of the track"),
    "known_defects": ("1", "defects of the track known to the centre so far"),
    "fixed_defects": ("1", "defects of the track fixed by a release so far"),
}
_SUMMARY = {
    "t_full": ("months", "first time national coverage reaches the coverage threshold"),
    "t_stable": ("months", "first time from which coverage stays at or above the threshold and "
                           "the harm rate stays below the stable share of the benefit rate"),
    "harm_total": ("1", "harm over the horizon, in benefit units"),
    "benefit_total": ("1", "benefit over the horizon, in benefit units"),
    "net_benefit": ("1", "benefit minus harm over the horizon (discounted if a rate is set), "
                         "in benefit units"),
    "suspensions": ("1", "suspensions of regions"),
    "defects_detected": ("1", "distinct defects detected at least once"),
    "defects_fixed": ("1", "distinct defects fixed by a release"),
    "defects_remaining": ("1", "defects held by the latest version at the horizon"),
    "releases": ("1", "rule-set releases after version 1"),
    "end_harm_rate": ("1/months", "national harm rate at the horizon, in benefit units a month"),
    "end_benefit_rate": ("1/months", "national benefit rate at the horizon, in benefit units a "
                                     "month"),
}
#: Outcomes with more than one value per run, or that pair a run with the baseline's
#: (docs/model.md section 6, "Outcomes beyond the horizon").
_OUTCOMES = {
    "t_stable_at": (("strategy", "replicate", "stable_threshold"), "months",
                    "t_stable at each harm threshold of outcomes.stable_harm_shares"),
    "t_overtake": (("strategy", "replicate"), "months",
                   "first grid time from which cumulative national net benefit stays at or above "
                   "the baseline's (same replicate) to the horizon"),
}
#: What a benefit unit is, for the comment of every harm and benefit variable.
BENEFIT_UNIT = ("benefit units (the numeraire, dimensionless): operation.benefit_rate units per "
                "unit of inpatient volume per month paid under correct rules, national volume "
                "weights summing to 1; at the default rate of 1 a unit is one month of the whole "
                "nation's benefit. Harm is counted in the same units")
_BENEFIT_VARS = ("harm", "benefit", "harm_total", "benefit_total", "net_benefit")
_INT_SUMMARY = ("suspensions", "defects_detected", "defects_fixed", "defects_remaining",
                "releases")


def package_versions() -> dict[str, str]:
    """Versions of rollout and the libraries that shape its numbers."""
    out = {}
    for name in ("rollout", "numpy", "scipy", "simpy", "xarray", "zarr", "pydantic"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "unknown"
    return out


def base_coords(config: RolloutConfig, provinces: Provinces) -> dict:
    """Coordinates every cube has: strategy, replicate, time (+ month), province, track."""
    months = grid_months(config)
    dates = grid_dates(config.time.start, config.time.horizon_months, config.time.step_months)
    return {
        "strategy": ("strategy", np.array(strategy_names(config), dtype=object),
                     {"long_name": "rollout design (strategy)"}),
        "replicate": ("replicate", np.arange(config.replicates),
                      {"long_name": "replicate world (common random numbers across strategies)"}),
        "time": ("time", dates, {"long_name": "end of month (grid point)",
                                 "standard_name": "time", "axis": "T"}),
        "month": ("time", months, {"units": "months",
                                   "long_name": f"months since {config.time.start}-01"}),
        "province": ("province", np.array(provinces.name, dtype=object),
                     {"long_name": "province"}),
        "province_code": ("province", provinces.code, {"long_name": "GB/T 2260 code"}),
        "province_volume": ("province", volume_share(provinces), {
            "units": "1", "long_name": "province share of national inpatient volume"}),
        "track": ("track", np.array(config.tracks, dtype=object),
                  {"long_name": "payment rule track"}),
        "stable_threshold": ("stable_threshold",
                             np.array(config.outcomes.stable_harm_shares, dtype=float),
                             {"units": "1", "long_name": "harm threshold of t_stable_at, as a "
                                                         "share of the benefit rate"}),
    }


def volume_share(provinces: Provinces) -> np.ndarray:
    return provinces.population / provinces.population.sum()


def variable_specs(config: RolloutConfig) -> dict[str, tuple[tuple[str, ...], np.dtype, dict]]:
    """name -> (dims, dtype, attrs) of every result variable (without design dimensions)."""
    specs = {}
    for name, (units, long_name) in _SERIES.items():
        per_track = name in ("version", "known_defects", "fixed_defects")
        dims = ("strategy", "replicate", "time", "track" if per_track else "province")
        dtype = {"stage": np.int8, "defects_active": np.int16, "version": np.int16,
                 "known_defects": np.int16, "fixed_defects": np.int16}.get(name, np.float64)
        specs[name] = (dims, np.dtype(dtype), {"units": units, "long_name": long_name})
    specs["stage"][2].update({"flag_values": np.arange(len(STAGES), dtype=np.int8),
                              "flag_meanings": " ".join(STAGES)})
    specs["national_coverage"] = (("strategy", "replicate", "time"), np.dtype(np.float64), {
        "units": "1", "long_name": "share of national inpatient volume paid under the new rules"})
    for name, spec in mechanism_series().items():
        dims = ("strategy", "replicate", "time") + (("province",) if spec.per == "province"
                                                     else ())
        attrs = {"units": spec.units, "long_name": spec.long_name}
        if spec.comment:
            attrs["comment"] = spec.comment
        specs[name] = (dims, np.dtype(spec.dtype), attrs)
    for name, (units, long_name) in _SUMMARY.items():
        attrs = {"units": units, "long_name": long_name}
        if name in ("t_full", "t_stable"):
            attrs["comment"] = (f"months since {config.time.start}-01; inf: never reached "
                                f"within the horizon ({config.time.horizon_months} months), a "
                                "right-censored time, so the median of plain tools is right")
        dtype = np.int32 if name in _INT_SUMMARY else np.float64
        specs[name] = (("strategy", "replicate"), np.dtype(dtype), attrs)
    never = (f"inf: never reached within the horizon ({config.time.horizon_months} months), "
             "a right-censored time")
    for name, (dims, units, long_name) in _OUTCOMES.items():
        specs[name] = (dims, np.dtype(np.float64), {
            "units": units, "long_name": long_name,
            "comment": f"months since {config.time.start}-01; {never}"})
    specs["t_overtake"][2].update(baseline=config.analysis.baseline, comment=(
        f"months since {config.time.start}-01, at the sampling grid's resolution; 0: never "
        f"below the baseline ({config.analysis.baseline}); inf: below it at the horizon"))
    for name in _BENEFIT_VARS:
        specs[name][2]["comment"] = BENEFIT_UNIT
    return specs


def grid_months(config: RolloutConfig) -> np.ndarray:
    """The sampling grid in months since the start (the cube's ``month``)."""
    return np.arange(config.time.step_months, config.time.horizon_months + 1,
                     config.time.step_months, dtype=float)


def block_values(series: dict[str, np.ndarray], summary: dict[str, np.ndarray],
                 share: np.ndarray, config: RolloutConfig | None = None,
                 names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of every result variable for a set of replicates (strategy, replicate, ...);
    ``t_overtake``, which pairs each strategy with the baseline, needs ``config`` (and the
    strategies' order, ``names``, when the config came through canonical JSON, which sorts
    them)."""
    values = dict(series)
    values["national_coverage"] = (series["coverage"] * share).sum(axis=-1)
    values.update(summary)
    for name in ("t_full", "t_stable", "t_stable_at"):   # never reached within the horizon:
        if name in values:                                # +inf, so plain medians agree
            values[name] = np.where(np.isnan(values[name]), np.inf, values[name])
    if config is not None:
        baseline = (names or strategy_names(config)).index(config.analysis.baseline)
        values["t_overtake"] = overtake_from_series(series["benefit"], series["harm"],
                                                    grid_months(config), baseline)
    return values


def stored_values(config: RolloutConfig, series: dict[str, np.ndarray],
                  summary: dict[str, np.ndarray], share: np.ndarray,
                  names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every result variable already in its stored dtype. Sweep workers send these, so the
    payload is as small as the cube's own arrays (stage is int8, counts int16) and the single
    writer only writes."""
    values = block_values(series, summary, share, config, names)
    return {name: np.ascontiguousarray(values[name].astype(dtype, copy=False))
            for name, (_, dtype, _) in variable_specs(config).items()}


def provenance(config: RolloutConfig, provinces: Provinces, complete: bool) -> dict[str, str]:
    """Global attributes: what was simulated, with what, when."""
    return {
        "title": f"rollout result cube: {config.name}",
        "rollout_cube": CUBE_SCHEMA,
        "config_name": config.name,
        "config": config.canonical_json(),
        "config_sha256": config.config_hash(),
        "seed": str(config.seed),
        "replicates": str(config.replicates),
        "data_file": Path(provinces.path).name,
        "data_sha256": provinces.sha256,
        "versions": json.dumps(package_versions(), sort_keys=True),
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": "true" if complete else "false",
        "Conventions": "CF-1.10",
        # the time is in 'created': two runs of one config give identical cubes
        "history": f"rollout {package_versions()['rollout']}: simulated config {config.name} "
                   f"(sha256 {config.config_hash()[:12]}, seed {config.seed})",
    }


def build_cube(config: RolloutConfig, provinces: Provinces, result: ExperimentResult) -> xr.Dataset:
    """Assemble the cube of a config run (in memory)."""
    values = block_values(result.series, result.summary, volume_share(provinces), config)
    data_vars = {name: (dims, values[name].astype(dtype, copy=False), attrs)
                 for name, (dims, dtype, attrs) in variable_specs(config).items()}
    if config.output.event_log:
        data_vars.update(_event_vars(config, strategy_names(config), provinces, result.events))
    ds = xr.Dataset(data_vars, coords=base_coords(config, provinces),
                    attrs=provenance(config, provinces, complete=True))
    return ds.assign_attrs(checksums=json.dumps(variable_checksums(ds), sort_keys=True))


#: The event table's columns (docs/model.md section 6, "The event log"): name -> description.
EVENT_COLUMNS = {
    "strategy": "strategy of the run",
    "replicate": "replicate of the run",
    "time": "time of the event",
    "kind": "what happened",
    "province": "province of the unit (or of a phase change)",
    "unit": "region (or hospital) index",
    "track": "payment rule track",
    "defect": "defect index within its track",
    "defect_kind": "kind of the defect",
    "version": "rule-set version (released, fixed in, adopted, or run by the unit)",
    "phase": "phase a strategy set the province to",
}


def _event_vars(config: RolloutConfig, strategies: list[str], provinces: Provinces,
                events: list[tuple]) -> dict:
    """The event log as a table along ``event``: names for what has names (kinds, labels),
    integers for indices and versions, with -1 (integers) or "" (names) where a column does not
    apply. -1 lies below ``valid_min``, so CF readers mask it."""
    rows = np.array(events, dtype=float).reshape(-1, 11)
    index = {c: i for i, c in enumerate(("strategy", "replicate", "time", "kind", "province",
                                         "unit", "track", "defect", "version", "defect_kind",
                                         "phase"))}
    names = {"strategy": strategies, "kind": EVENT_KINDS, "province": list(provinces.name),
             "track": list(config.tracks), "defect_kind": list(KIND_NAMES), "phase": STAGES}
    out = {}
    for col, description in EVENT_COLUMNS.items():
        values = rows[:, index[col]]
        attrs = {"long_name": f"event log: {description}"}
        if col == "time":
            attrs["units"] = "months"
            attrs["comment"] = f"months since {config.time.start}-01"
        elif col in names:
            labels = np.array(["", *names[col]], dtype=str)
            values = labels[values.astype(np.int64) + 1]
            attrs["comment"] = '"": does not apply to this kind of event'
        elif col == "replicate":
            values = values.astype(np.int32)
            attrs["units"] = "1"
        else:
            values = values.astype(np.int32)
            attrs.update(units="1", valid_min=np.int32(0),
                         comment="-1: does not apply to this kind of event")
        out[f"event_{col}"] = (("event",), values, attrs)
    out["event_kind"][2]["comment"] = "one of: " + " ".join(EVENT_KINDS) + \
        " (docs/model.md section 6, The event log)"
    return out


_RUN_DIMS = ("strategy", "replicate", "time", "province", "track", "stable_threshold")


def write_netcdf_copy(ds: xr.Dataset, path: str | Path, overwrite: bool = False) -> Path:
    """A finished cube (a sweep's Zarr store, say) as one compressed NetCDF file, with the
    cube's attributes; the store's own encodings (Zarr codecs and chunks) are not carried."""
    ds = ds.drop_encoding()
    # a store written before the bookkeeping moved to its subgroup and names became CF-valid
    ds = ds.drop_vars([n for n in ("block_done", "block_checksum") if n in ds])
    dotted = {n: stored_name(n) for n in ds.variables if "." in str(n)}
    if dotted:
        ds = ds.rename(dotted)
        for old, new in dotted.items():
            ds[new].attrs.setdefault("config_field", old)
        design = json.loads(ds.attrs.get("design", '{"dims": []}'))
        design["dims"] = [stored_name(d) for d in design["dims"]]
        ds.attrs["design"] = json.dumps(design)
    for name in [n for n, v in ds.variables.items() if v.dtype.kind == "O"]:
        # labels read back from fixed-width bytes are Python strings: fixed-width again (the
        # label and event-log columns are small), so the writer need not guess their type
        var = ds[name]
        ds[name] = var.copy(data=np.asarray(var.values, dtype=str))
    for var in ds.variables.values():   # Zarr keeps attributes as JSON: int64 on the way back
        for key in ("flag_values", "valid_min", "valid_max"):
            if key in var.attrs and var.dtype.kind in "iuf":
                var.attrs[key] = np.asarray(var.attrs[key], dtype=var.dtype)
    return write_cube(ds, path, fmt="netcdf", overwrite=overwrite)


def reader_encoding(ds: xr.Dataset) -> dict[str, dict]:
    """What other readers need of every store: labels (strategy, province, track, any string
    variable) as fixed-width UTF-8 bytes with ``_Encoding = "utf-8"``, which netCDF-C's Zarr
    reader and GDAL read and xarray reads back as str (left to xarray they would be
    Python-object strings, Zarr's vlen-utf8 codec, that only Python readers understand); and
    numeric coordinates without a fill value (CF: a coordinate variable has none)."""
    enc: dict[str, dict] = {name: {"dtype": "S1"} for name, var in ds.variables.items()
                            if var.dtype.kind in "OUT"}
    for name in ds.coords:
        if ds[name].dtype.kind in "fiu":
            enc.setdefault(name, {})["_FillValue"] = None
    return enc


def _encoding(ds: xr.Dataset, chunk_replicates: int, fmt: str) -> dict:
    enc = reader_encoding(ds)
    for name, var in ds.data_vars.items():
        if var.dtype.kind in "OUTS":
            continue
        spec = enc.setdefault(name, {})
        if "replicate" in var.dims:     # a design point's block of replicates per chunk
            spec["chunks" if fmt == "zarr" else "chunksizes"] = tuple(
                min(chunk_replicates, ds.sizes[d]) if d == "replicate" else
                ds.sizes[d] if d in _RUN_DIMS else 1 for d in var.dims)
        if fmt == "netcdf":                      # Zarr compresses by default (Blosc/LZ4)
            spec.update(zlib=True, complevel=4, shuffle=True)
    return enc


def write_cube(ds: xr.Dataset, path: str | Path, fmt: str = "zarr", overwrite: bool = False,
               chunk_replicates: int = 64, lock: bool = True) -> Path:
    """Write a cube aside, then move it into place (replacing an old one only if asked).

    The working copy says ``complete = "false"`` until everything else is written, so a copy
    left by a kill is never taken for a cube. ``lock``: take the output's lock here (pass False
    when the caller holds it already, as a run does from its first check to its write)."""
    path = Path(path)
    with output_lock(path) if lock else contextlib.nullcontext():
        check_output(path, overwrite)
        made = [p for p in reversed(path.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        trash = path.with_name(f".{path.name}.old-{os.getpid()}")
        _remove(tmp)
        complete = ds.attrs.get("complete")
        working = ds.assign_attrs(checksums=json.dumps(variable_checksums(ds), sort_keys=True))
        if complete is not None:
            working = working.assign_attrs(complete="false")
        try:
            if fmt == "zarr":
                # Zarr format 2 with consolidated metadata: every Zarr reader understands it.
                working.to_zarr(tmp, mode="w", encoding=_encoding(ds, chunk_replicates, fmt),
                                consolidated=True, zarr_format=2)
            elif fmt == "netcdf":
                working.to_netcdf(tmp, engine="h5netcdf",
                                  encoding=_encoding(ds, chunk_replicates, fmt))
            else:
                raise RolloutError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
            if complete is not None:
                _set_complete(tmp, fmt, complete)
            if path.exists():
                os.replace(path, trash)
            os.replace(tmp, path)
        except BaseException:
            _remove(tmp)
            if trash.exists() and not path.exists():
                os.replace(trash, path)          # put the old cube back where it was
            for folder in reversed(made):        # folders this write created, if still empty
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise
        _remove(trash)
        return path


def _set_complete(path: Path, fmt: str, value: str) -> None:
    """The last attribute written: a copy without it is a cube still being written."""
    if fmt == "zarr":
        group = zarr.open_group(path, mode="r+", zarr_format=2)
        group.attrs["complete"] = value
        zarr.consolidate_metadata(str(path))
    else:
        import h5py

        with h5py.File(path, "a") as handle:
            handle.attrs["complete"] = value


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def describe(ds: xr.Dataset, path: str | Path) -> str:
    """A human summary: dimensions, variables, provenance, completeness."""
    versions = json.loads(ds.attrs.get("versions", "{}"))
    lines = [f"cube      {path}",
             f"name      {ds.attrs.get('config_name')}",
             f"complete  {ds.attrs.get('complete') == 'true'}",
             "dims      " + ", ".join(f"{k}={v}" for k, v in ds.sizes.items()),
             f"strategy  {', '.join(map(str, ds['strategy'].values))}",
             f"time      {str(ds['time'].values[0])[:10]} .. {str(ds['time'].values[-1])[:10]}",
             f"seed      {ds.attrs.get('seed')}",
             f"config    sha256 {ds.attrs.get('config_sha256')}",
             f"data      {ds.attrs.get('data_file')} sha256 {ds.attrs.get('data_sha256')}",
             f"created   {ds.attrs.get('created')}",
             "versions  " + ", ".join(f"{k} {v}" for k, v in versions.items()),
             "variables"]
    for name, var in ds.data_vars.items():
        lines.append(f"  {name:<18} ({', '.join(var.dims)})  [{var.attrs.get('units', '')}]  "
                     f"{var.attrs.get('long_name', '')}")
    return "\n".join(lines)
