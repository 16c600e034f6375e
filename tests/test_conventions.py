"""Conventions other readers rely on: CF-1.10 compliance of the NetCDF output (IOOS compliance
checker), the Zarr store read by netCDF-C (a reader with no notion of Python objects),
fixed-width labels, compression, CF-valid names, and no bookkeeping in a sweep's root group;
and readers outside Python: R's ncdf4 on the NetCDF output, GDAL's multidimensional API
(``gdalmdiminfo``) on the Zarr store. R and GDAL are Debian packages (``r-base-core
r-cran-ncdf4 gdal-bin``, installed by ``.ci/run``); their tests skip, saying so, where the tools
are absent.

netCDF4 and the compliance checker run in their own processes: netCDF4 links its own HDF5,
which must not meet h5py's in one process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tomli_w
import xarray as xr
import zarr
from conftest import small_dict

pytestmark = pytest.mark.slow

CF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A single run with its event log, as Zarr and NetCDF; a 2-point sweep with a NetCDF copy.
    Severity 0.3 so the event log has suspensions and their causes."""
    folder = tmp_path_factory.mktemp("conventions")
    run = folder / "run.toml"
    run.write_text(tomli_w.dumps(small_dict(replicates=2, output={"event_log": True},
                                            defects={"severity_median": 0.3})))
    sweep = folder / "sweep.toml"
    sweep.write_text(tomli_w.dumps(small_dict(replicates=2, sweep={
        "parameters": {"adoption.steering": [0.2, 0.8]}, "block_size": 2})))
    _cli("run", run, "-o", folder / "run.zarr", "-q", cwd=folder)
    _cli("run", run, "-o", folder / "run.nc", "-q", cwd=folder)
    _cli("sweep", sweep, "-o", folder / "sweep.zarr", "--serial", "-q", "--netcdf",
         folder / "sweep.nc", cwd=folder)
    _cli("export", folder / "run.zarr", "--format", "netcdf", "-o", folder / "export.nc",
         cwd=folder)
    return {name: folder / name for name in ("run.zarr", "run.nc", "sweep.zarr", "sweep.nc",
                                             "export.nc")}


def _read_with_netcdf_c(code: str, path: Path) -> dict:
    """Run ``code`` (which prints JSON) on ``path`` in a process of its own (netCDF4's HDF5)."""
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _compliance(path: Path) -> dict:
    report = path.with_suffix(".cf.json")
    checker = Path(sys.executable).parent / "compliance-checker"
    subprocess.run([str(checker), "--test=cf:1.10", "-f", "json_new", "-o", str(report),
                    str(path)], capture_output=True, text=True, timeout=300)
    return next(iter(json.loads(report.read_text()).values()))["cf:1.10"]


@pytest.mark.parametrize("name", ["run.nc", "sweep.nc", "export.nc"])
def test_netcdf_output_passes_the_cf_compliance_checker(outputs: dict[str, Path],
                                                        name: str) -> None:
    """No failure: every unit parses with UDUNITS, flags have their variable's type, coordinate
    variables have no fill value. The one message left is the §2.4 recommendation to put
    dimensions other than space and time left of time (rollout keeps each run's series as time x
    province, the order its readers index)."""
    result = _compliance(outputs[name])      # export.nc: a copy of a Zarr store (attributes
    #                                          that came back through JSON typed again)
    assert result["high_count"] == 0, result["high_priorities"]
    messages = [m for group in ("medium_priorities", "low_priorities")
                for check in result[group] for m in check["msgs"]]
    others = [m for m in messages if "recommended order T, Z, Y, X" not in m]
    assert others == [], others
    assert result["scored_points"] >= result["possible_points"] - len(messages)


def test_the_zarr_store_reads_in_netcdf_c(outputs: dict[str, Path]) -> None:
    """netCDF-C's Zarr reader (through netCDF4) opens the store and reads labels as text and
    numbers as stored: labels are fixed-width bytes, not Python objects."""
    code = """
import json, sys, netCDF4
d = netCDF4.Dataset(f"file://{sys.argv[1]}#mode=zarr,file")
out = {name: [str(x) for x in d[name][:]] for name in ("strategy", "province", "track")}
out["event_kind"] = sorted({str(x) for x in d["event_kind"][:]})
out["t_full"] = [float(x) for x in d["t_full"][:].ravel()]
print(json.dumps(out))
"""
    path = outputs["run.zarr"]
    seen = _read_with_netcdf_c(code, path)
    with xr.open_zarr(path) as ds:
        for name in ("strategy", "province", "track"):
            assert seen[name] == [str(x) for x in ds[name].values], name
        assert seen["event_kind"] == sorted({str(x) for x in ds["event_kind"].values})
        np.testing.assert_array_equal(seen["t_full"], ds["t_full"].values.ravel())


def test_labels_are_fixed_width_utf8_and_read_back_as_text(outputs: dict[str, Path]) -> None:
    group = zarr.open_group(outputs["run.zarr"], mode="r")
    for name in ("strategy", "province", "track", "event_kind", "event_strategy"):
        assert group[name].dtype.kind == "S", name
        assert group[name].attrs["_Encoding"] == "utf-8", name
    with xr.open_zarr(outputs["run.zarr"]) as ds:
        assert all(isinstance(x, str) for x in ds["province"].values)
    with xr.open_dataset(outputs["run.nc"], engine="h5netcdf") as ds:
        assert all(isinstance(x, str) for x in ds["strategy"].values)


def test_netcdf_is_compressed(outputs: dict[str, Path]) -> None:
    with h5py.File(outputs["run.nc"], "r") as handle:
        for name in ("coverage", "harm", "stage", "t_full", "event_time"):
            assert handle[name].compression == "gzip" and handle[name].shuffle, name


@pytest.mark.parametrize("name", ["run.zarr", "sweep.zarr", "sweep.nc"])
def test_names_are_cf_valid_and_sweeps_hide_their_bookkeeping(outputs: dict[str, Path],
                                                              name: str) -> None:
    """Every dimension and variable name is a CF name (letters, digits, underscores); a sweep's
    root group holds results only (its block flags live in the subgroup ``blocks``), and its
    design coordinate names its config field."""
    path = outputs[name]
    with (xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)) as ds:
        bad = [n for n in [*ds.dims, *ds.variables] if not CF_NAME.fullmatch(str(n))]
        assert bad == []
        assert "block" not in ds.dims
        assert not {"block_done", "block_checksum"} & set(ds.variables)
        if name.startswith("sweep"):
            assert ds["adoption__steering"].attrs["config_field"] == "adoption.steering"
            assert json.loads(ds.attrs["design"])["dims"] == ["adoption__steering"]
    if name == "sweep.zarr":
        flags = zarr.open_group(path, mode="r")["blocks/block_done"]
        assert flags.shape == (2, 1) and (flags[...] == 1).all()


def test_the_sweep_store_reads_in_netcdf_c_and_its_netcdf_copy_verifies(
        outputs: dict[str, Path]) -> None:
    """netCDF-C opens a sweep's store (its bookkeeping subgroup is a group it skips over), and
    rollout verify recomputes blocks of the sweep's NetCDF copy (which carries no flags: a
    finished sweep's blocks are all written)."""
    code = """
import json, sys, netCDF4
d = netCDF4.Dataset(f"file://{sys.argv[1]}#mode=zarr,file")
print(json.dumps({"strategy": [str(x) for x in d["strategy"][:]],
                  "steering": [float(x) for x in d["adoption__steering"][:]],
                  "groups": sorted(d.groups)}))
"""
    path = outputs["sweep.zarr"]
    seen = _read_with_netcdf_c(code, path)
    with xr.open_zarr(path) as ds:
        assert seen["strategy"] == [str(x) for x in ds["strategy"].values]
        assert seen["steering"] == [float(x) for x in ds["adoption__steering"].values]
    assert seen["groups"] == ["blocks"]
    verified = _cli("verify", outputs["sweep.nc"], "--sample", 2, cwd=path.parent)
    assert "all 2 recomputed blocks match bit for bit" in verified.stdout


def _outside_tool(program: str, package: str) -> str:
    """The path of a reader outside Python, or skip: installed by .ci/run, maybe not here."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian: apt-get install {package}; "
                    ".ci/run installs it)")
    return path


R_MEDIANS = """
library(ncdf4)
nc <- nc_open(commandArgs(trailingOnly = TRUE)[1])
strategy <- ncvar_get(nc, "strategy")
for (name in c("t_full", "t_stable", "net_benefit")) {
  values <- ncvar_get(nc, name)          # R's order: replicate x strategy
  medians <- apply(values, 2, median)
  for (i in seq_along(strategy)) cat(name, strategy[i], format(medians[i], digits = 17), "\\n")
}
nc_close(nc)
"""


def test_r_ncdf4_reads_the_netcdf_and_gets_the_headline_medians(outputs: dict[str, Path]
                                                                 ) -> None:
    """R's ncdf4, on a run's NetCDF file, reads the strategy labels as text and computes, with
    plain ``median`` over replicates, the same per-strategy medians of t_full, t_stable and
    net_benefit as xarray and the headline table (a time never reached is stored as +inf, which
    R reads as Inf)."""
    rscript = _outside_tool("Rscript", "r-base-core r-cran-ncdf4")
    probe = subprocess.run([rscript, "-e", "library(ncdf4)"], capture_output=True, text=True,
                           timeout=120)
    if probe.returncode != 0:
        pytest.skip("R's ncdf4 is not installed (Debian: apt-get install r-cran-ncdf4)")
    path = outputs["run.nc"]
    script = path.with_suffix(".R")
    script.write_text(R_MEDIANS)
    proc = subprocess.run([rscript, str(script), str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = {(name, strategy): float(value)
            for name, strategy, value in (line.split() for line in proc.stdout.splitlines())}
    from rollout.analysis import METRICS, headline

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        strategies = [str(s) for s in ds["strategy"].values]
        assert {s for _, s in seen} == set(strategies)
        rows = {row.strategy: row for row in headline(ds)}
        for name in METRICS:
            plain = ds[name].median("replicate")
            for s in strategies:
                assert seen[name, s] == pytest.approx(float(plain.sel(strategy=s)),
                                                      rel=1e-12), (name, s)
                assert seen[name, s] == pytest.approx(rows[s].medians[name], rel=1e-12), \
                    (name, s)


@pytest.mark.parametrize("name", ["run.zarr", "sweep.zarr"])
def test_gdal_lists_the_strategy_labels_of_the_zarr_store(outputs: dict[str, Path],
                                                          name: str) -> None:
    """GDAL's multidimensional Zarr driver (``gdalmdiminfo -detailed``, JSON) lists the store's
    arrays, and the values of the label coordinates are the strategy (and province, track)
    names as text, as xarray reads them."""
    gdalmdiminfo = _outside_tool("gdalmdiminfo", "gdal-bin")
    path = outputs[name]
    proc = subprocess.run([gdalmdiminfo, "-detailed", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    arrays = json.loads(proc.stdout)["arrays"]
    with xr.open_zarr(path) as ds:
        for label in ("strategy", "province", "track"):
            assert arrays[label]["datatype"] == "String", label
            assert arrays[label]["values"] == [str(x) for x in ds[label].values], label
        assert {"t_full", "net_benefit", "national_coverage"} <= set(arrays)
