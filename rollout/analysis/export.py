"""Tidy tables from a cube, for pandas, R or a spreadsheet: ``rollout export``.

``ds.to_dataframe()`` broadcasts every variable over every dimension (each run's t_full repeated
over every month and province). Here each table has its own grain:

- ``summary``: one row per run (design point x strategy x replicate), the design parameters as
  columns, every per-run variable; a time never reached is +inf, with a ``*_reached`` column;
  then the outcomes of issue 21 (run_outcomes.py): t_overtake (computed for an older cube),
  t_stable at each threshold, the floor ratio and net benefit at each horizon and rate;
- ``series``: one row per run, month and province (or track), the series as columns, the month
  as a calendar date;
- ``events``: the decoded event log (single runs with ``output.event_log``), kinds, strategies,
  provinces and tracks by name.

Tables are written in pieces (one design point at a time), so a sweep's series never has to fit
in memory; Parquet is written with pyarrow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import RolloutError
from .compare import design_dims
from .design_table import design_frame
from .run_outcomes import run_columns

WHATS = ("summary", "series", "events")
FORMATS = ("parquet", "csv")
TIMES = ("t_full", "t_stable", "t_overtake")


def summary_variables(cube: xr.Dataset) -> list[str]:
    """Per-run variables: dims (design..., strategy, replicate) and nothing more."""
    dims = set(design_dims(cube)) | {"strategy", "replicate"}
    return [n for n, v in cube.data_vars.items()
            if set(v.dims) == dims and n not in ("block_done", "block_checksum")]


def series_groups(cube: xr.Dataset) -> dict[str, list[str]]:
    """Series variables by the dimension they have besides time (province, track, or none:
    national series such as trust)."""
    groups: dict[str, list[str]] = {}
    for name, var in cube.data_vars.items():
        if "time" in var.dims and "replicate" in var.dims:
            extra = var.dims[var.dims.index("time") + 1:]
            groups.setdefault(extra[0] if extra else "", []).append(name)
    return groups


def _labels(values: np.ndarray) -> np.ndarray:
    """Labels as Python strings (a store may hand back numpy's StringDType or bytes)."""
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in
                     np.asarray(values).tolist()], dtype=object)


def _points(cube: xr.Dataset) -> tuple[pd.DataFrame, list[str], list[tuple[int, ...]]]:
    dims = design_dims(cube)
    if not dims:
        return pd.DataFrame(index=[0]), [], [()]
    frame, dims = design_frame(cube)
    shape = [cube.sizes[d] for d in dims]
    return frame, dims, list(np.ndindex(*shape))


def _base(cube: xr.Dataset, frame: pd.DataFrame, p: int, n: int) -> dict[str, np.ndarray]:
    """Columns naming the run: the design parameters of point p, repeated n times."""
    return {name: np.repeat(frame[name].to_numpy()[p:p + 1], n) for name in frame.columns}


def summary_pieces(cube: xr.Dataset) -> Iterator[pd.DataFrame]:
    frame, dims, index = _points(cube)
    names = summary_variables(cube)
    strategies = _labels(cube["strategy"].values)
    replicates = np.asarray(cube["replicate"].values)
    for p, idx in enumerate(index):
        at = cube.isel(dict(zip(dims, idx, strict=True)))[names].load()
        s, r = np.meshgrid(np.arange(len(strategies)), np.arange(len(replicates)),
                           indexing="ij")
        n = s.size
        columns = _base(cube, frame, p, n) if dims else {}
        columns.update(strategy=strategies[s.ravel()], replicate=replicates[r.ravel()])
        for name in names:
            values = at[name].transpose("strategy", "replicate").values.ravel()
            columns[name] = values
            if name in TIMES:
                columns[f"{name}_reached"] = np.isfinite(values)
        for name, values in run_columns(cube.isel(dict(zip(dims, idx, strict=True))),
                                        cube).items():
            columns[name] = values
            if name == "t_overtake":
                columns[f"{name}_reached"] = np.isfinite(values)
        yield pd.DataFrame(columns)


def series_pieces(cube: xr.Dataset) -> Iterator[pd.DataFrame]:
    """Pieces with one set of columns (one file, one schema): a series without a province
    (or track) has it missing, and every value column is float64 (missing where the row's
    grain does not apply)."""
    groups = series_groups(cube)
    labels = [g for g in groups if g]
    coded = [n for names in groups.values() for n in names
             if "flag_meanings" in cube[n].attrs]
    labels += coded
    values = [n for names in groups.values() for n in names if n not in coded]
    for piece in _series_pieces(cube, groups):
        for label in labels:      # typed as strings even when all missing (one schema)
            piece[label] = (piece[label] if label in piece else None)
            piece[label] = piece[label].astype("string")
        for name in values:
            piece[name] = piece[name].astype(float) if name in piece else np.nan
        design = [c for c in piece.columns if c not in (*labels, *values, "strategy",
                                                        "replicate", "month")]
        yield piece[[*design, "strategy", "replicate", "month", *labels, *values]]


def _series_pieces(cube: xr.Dataset, groups: dict[str, list[str]]) -> Iterator[pd.DataFrame]:
    frame, dims, index = _points(cube)
    strategies = _labels(cube["strategy"].values)
    for p, idx in enumerate(index):
        at = cube.isel(dict(zip(dims, idx, strict=True)))
        for last, names in groups.items():
            order = ("strategy", "replicate", "time") + ((last,) if last else ())
            arrays = {n: at[n].transpose(*order).values for n in names}
            shape = arrays[names[0]].shape
            grids = [g.ravel() for g in np.meshgrid(*[np.arange(k) for k in shape],
                                                    indexing="ij")]
            columns = _base(cube, frame, p, grids[0].size) if dims else {}
            columns.update(strategy=strategies[grids[0]],
                           replicate=np.asarray(cube["replicate"].values)[grids[1]],
                           month=np.asarray(cube["time"].values)[grids[2]])
            if last:
                columns[last] = _labels(cube[last].values)[grids[3]]
            for name in names:
                columns[name] = _decoded(cube[name], arrays[name].ravel())
            yield pd.DataFrame(columns)


def _decoded(var: xr.DataArray, codes: np.ndarray) -> np.ndarray:
    """A coded variable (CF flag_values/flag_meanings, such as stage) as its names."""
    if "flag_meanings" not in var.attrs:
        return codes
    names = np.array(var.attrs["flag_meanings"].split(), dtype=object)
    flags = np.asarray(var.attrs["flag_values"]).astype(np.int64)
    lookup = dict(zip(flags.tolist(), names, strict=True))
    return np.array([lookup.get(int(c)) for c in codes], dtype=object)


def event_pieces(cube: xr.Dataset) -> Iterator[pd.DataFrame]:
    """The event log, one row per event: names as text ("" in the cube, missing here), indices
    and versions as nullable integers (-1 in the cube, missing here)."""
    if "event_kind" not in cube:
        raise RolloutError("this cube has no event log (run with output.event_log = true)")
    ev = {name[len("event_"):]: cube[name] for name in cube.data_vars
          if name.startswith("event_")}
    coded = "flag_meanings" in ev["kind"].attrs      # cubes written before kinds had names

    def text(col: str) -> np.ndarray:
        values = np.asarray(ev[col].values)
        if coded and col in ("strategy", "province", "track"):   # indices into coordinates
            names = _labels(cube[col].values)
            out = np.full(values.shape, None, dtype=object)
            out[values >= 0] = names[values[values >= 0]]
            return out
        if coded and col == "kind":
            return _decoded(ev[col], values)
        out = _labels(values)
        out[out == ""] = None
        return out

    def nullable(col: str) -> pd.arrays.IntegerArray:
        """-1 (none) as a missing value, not a number a reader could average."""
        codes = np.asarray(ev[col].values)
        values = pd.array(codes.astype(np.int32), dtype="Int32")
        values[codes < 0] = pd.NA
        return values

    columns = {"strategy": text("strategy"),
               "replicate": np.asarray(ev["replicate"].values).astype(np.int64),
               "time_months": np.asarray(ev["time"].values),
               "kind": text("kind"), "province": text("province"), "unit": nullable("unit"),
               "track": text("track"), "defect": nullable("defect")}
    if "defect_kind" in ev:
        columns["defect_kind"] = text("defect_kind")
    columns["version"] = nullable("version")
    if "phase" in ev:
        columns["phase"] = text("phase")
    yield pd.DataFrame(columns)


PIECES = {"summary": summary_pieces, "series": series_pieces, "events": event_pieces}


def export(cube: xr.Dataset, what: str, out: Path, fmt: str) -> int:
    """Write the ``what`` table of ``cube`` to ``out`` (written aside, then moved into place);
    returns the number of rows."""
    if what not in PIECES:
        raise RolloutError(f"unknown table {what!r}; choose one of {', '.join(WHATS)}")
    if fmt not in FORMATS:
        raise RolloutError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    rows = 0
    try:
        with _writer(tmp, fmt) as write:
            for piece in PIECES[what](cube):
                write(piece)
                rows += len(piece)
        tmp.replace(out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return rows


@contextlib.contextmanager
def _writer(path: Path, fmt: str):
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            first = [True]

            def write(piece: pd.DataFrame) -> None:
                # 17 significant digits: every float64 reads back exactly
                piece.to_csv(handle, header=first[0], index=False, float_format="%.17g")
                first[0] = False
            yield write
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        def write(piece: pd.DataFrame) -> None:
            nonlocal writer
            table = pa.Table.from_pandas(piece, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
        yield write
    finally:
        if writer is not None:
            writer.close()
