"""rollout export: tidy tables with their own grain, read back by pandas, equal to the cube."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
import xarray as xr
from conftest import small_dict

from rollout import open_cube
from rollout.model.states import EVENT_KINDS

SWEEP = {"parameters": {"adoption.steering": [0.2, 0.8]}, "block_size": 2}


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


@pytest.fixture(scope="module")
def cubes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    sweep = folder / "sweep.toml"
    sweep.write_text(tomli_w.dumps(small_dict(replicates=4, sweep=SWEEP)), encoding="utf-8")
    run = folder / "run.toml"
    run.write_text(tomli_w.dumps(small_dict(replicates=3, output={"event_log": True})),
                   encoding="utf-8")
    out = {"sweep": folder / "sweep.zarr", "run": folder / "run.nc"}
    assert _cli("sweep", sweep, "-o", out["sweep"], "--serial", "-q", cwd=folder).returncode == 0
    assert _cli("run", run, "-o", out["run"], "-w", "1", "-q", cwd=folder).returncode == 0
    return out


def _read(path: Path) -> pd.DataFrame:
    return (pd.read_parquet(path) if path.suffix == ".parquet"
            else pd.read_csv(path, float_precision="round_trip"))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_summary_is_one_row_per_run_with_the_design_as_columns(cubes: dict, fmt: str) -> None:
    path = cubes["sweep"]
    done = _cli("export", path, "--format", fmt, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    table = _read(path.with_name(f"sweep_summary.{fmt}"))
    ds = open_cube(path)
    assert len(table) == 2 * 4 * 4                    # points x strategies x replicates
    assert f"{len(table):,} rows" in done.stdout
    for _, row in table.sample(6, random_state=1).iterrows():
        cell = ds.sel({"adoption__steering": row["adoption.steering"],
                       "strategy": row["strategy"], "replicate": row["replicate"]})
        for name in ("t_full", "t_stable", "net_benefit", "suspensions"):
            assert row[name] == pytest.approx(float(cell[name]), rel=0, abs=0) or (
                np.isinf(row[name]) and np.isinf(float(cell[name])))
        assert row["t_stable_reached"] == bool(np.isfinite(float(cell["t_stable"])))
    # the same statistic as the cube's: a never-reached time is +inf, so medians agree
    assert table.groupby("strategy")["t_stable"].median()["phased"] == pytest.approx(
        float(np.median(ds["t_stable"].sel(strategy="phased").values)))


def test_series_is_long_with_calendar_months(cubes: dict) -> None:
    path = cubes["sweep"]
    assert _cli("export", path, "--what", "series", cwd=path.parent).returncode == 0
    table = pd.read_parquet(path.with_name("sweep_series.parquet"))
    ds = open_cube(path)
    by_province = table.dropna(subset=["province"]) if "province" in table else table
    expected = 2 * 4 * 4 * ds.sizes["time"] * ds.sizes["province"]
    assert len(by_province[by_province["coverage"].notna()]) == expected
    row = by_province[by_province["coverage"].notna()].iloc[1234]
    cell = ds["coverage"].sel({"adoption__steering": row["adoption.steering"],
                               "strategy": row["strategy"], "replicate": row["replicate"],
                               "time": row["month"], "province": row["province"]})
    assert row["coverage"] == float(cell)
    assert pd.Timestamp(table["month"].min()) == pd.Timestamp(ds["time"].values[0])


def test_events_are_decoded_with_missing_codes_as_missing(cubes: dict) -> None:
    """Names as text, -1 and "" (does not apply) as missing values, every column of the cube's
    event table present (defect kinds and phases included)."""
    path = cubes["run"]
    assert _cli("export", path, "--what", "events", cwd=path.parent).returncode == 0
    table = pd.read_parquet(path.with_name("run_events.parquet"))
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert len(table) == ds.sizes["event"]
    assert list(table.columns) == ["strategy", "replicate", "time_months", "kind", "province",
                                   "unit", "track", "defect", "defect_kind", "version",
                                   "phase"]
    assert set(table["kind"]) <= set(EVENT_KINDS)
    assert list(table["kind"]) == [str(k) for k in ds["event_kind"].values]
    assert set(table["strategy"]) == {str(s) for s in ds["strategy"].values}
    no_unit = ds["event_unit"].values < 0
    assert table["unit"].isna().to_numpy().tolist() == no_unit.tolist()
    no_phase = np.array([str(x) == "" for x in ds["event_phase"].values])
    assert no_phase.any() and not no_phase.all()
    assert table["phase"].isna().to_numpy().tolist() == no_phase.tolist()
    assert (table["defect_kind"].isna() == table["defect"].isna()).all()


def test_export_refuses_without_overwrite_and_a_cube_without_events(cubes: dict,
                                                                     tmp_path: Path) -> None:
    path = cubes["sweep"]
    target = tmp_path / "t.csv"
    target.write_text("mine")
    proc = _cli("export", path, "--format", "csv", "-o", target, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"rollout: error: {target}: exists; use --overwrite to replace it"]
    assert target.read_text() == "mine"
    proc = _cli("export", path, "--what", "events", "-o", tmp_path / "e.parquet", cwd=tmp_path)
    assert proc.returncode == 2 and "has no event log" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_sweep_exports_to_one_netcdf_file_equal_to_the_store(cubes: dict,
                                                                tmp_path: Path) -> None:
    """--format netcdf: the whole sweep cube, every variable equal to the store's, with its
    provenance; not over an existing file without --overwrite; --what is for tables."""
    store = cubes["sweep"]
    out = tmp_path / "sweep.nc"
    proc = _cli("export", store, "--format", "netcdf", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open_cube(store) as zs, xr.open_dataset(out, engine="h5netcdf") as nc:
        assert set(nc.data_vars) == set(zs.data_vars)
        for name in zs.data_vars:
            np.testing.assert_array_equal(nc[name].values, zs[name].values, err_msg=name)
        assert nc.attrs["config_sha256"] == zs.attrs["config_sha256"]
        assert nc.attrs["complete"] == "true"
    again = _cli("export", store, "--format", "netcdf", "-o", out, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    mixed = _cli("export", store, "--format", "netcdf", "--what", "series", "-o",
                 tmp_path / "x.nc", cwd=tmp_path)
    assert mixed.returncode == 2 and "--what picks a table" in mixed.stderr
    assert not (tmp_path / "x.nc").exists()
