"""The Python API (rollout/api.py): the same cubes and the same one-line errors as the CLI, and
an import that costs what xarray costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from conftest import small_dict

import rollout
from rollout.errors import ConfigError, RolloutError


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    path = folder / "small.toml"
    path.write_text(tomli_w.dumps(small_dict(replicates=3)), encoding="utf-8")
    return path


def test_run_in_memory_equals_the_cli_cube(small_config: Path, tmp_path: Path):
    """rollout.run(path) and `rollout run path` give the same variables, bit for bit, and the
    same config hash (the API resolves the config exactly as the CLI does)."""
    ds = rollout.run(small_config)
    out = tmp_path / "cli.zarr"
    proc = subprocess.run([sys.executable, "-m", "rollout.cli", "run", str(small_config), "-o",
                           str(out), "-w", "1", "-q"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    cli = rollout.open_cube(out).load()
    assert ds.attrs["config_sha256"] == cli.attrs["config_sha256"]
    assert set(ds.data_vars) == set(cli.data_vars)
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, cli[name].values, err_msg=name)


def test_run_with_overrides_to_a_path_and_refusing_to_overwrite(small_config: Path,
                                                                 tmp_path: Path):
    cfg = rollout.load_config(small_config, set={"defects.mean_count": 0.0}, replicates=2)
    assert cfg.replicates == 2 and cfg.defects.mean_count == 0.0
    out = tmp_path / "run.zarr"
    ds = rollout.run(cfg, out=out)
    assert ds.sizes["replicate"] == 2 and int(ds["defects_detected"].sum()) == 0
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(RolloutError, match="exists"):
        rollout.run(cfg, out=out)
    assert sorted(p.name for p in out.iterdir()) == before


def test_errors_are_the_cli_one_liners_as_exceptions(small_config: Path):
    with pytest.raises(ConfigError) as err:
        rollout.load_config(small_config, set={"defects.severity_median": -1})
    message = str(err.value)
    assert str(small_config) in message and "defects.severity_median" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="rollout.sweep"):
        rollout.run(small_config, set={"sweep": {"parameters": {"defects.mean_count": [1, 2]}}})


def test_sweep_from_python(small_config: Path, tmp_path: Path):
    ds = rollout.sweep(small_config, out=tmp_path / "sw.zarr", replicates=2, serial=True,
                       sets={"defects.mean_count": [0.0, 12.0]})
    assert ds.sizes["defects__mean_count"] == 2 and ds.attrs["complete"] == "true"
    none = ds["defects_detected"].sel(defects__mean_count=0.0)
    assert int(none.sum()) == 0 and int(ds["defects_detected"].sum()) > 0


def test_import_and_open_cube_do_not_import_the_simulator(small_config: Path, tmp_path: Path):
    out = tmp_path / "c.zarr"
    rollout.run(small_config, out=out, replicates=1)
    code = ("import sys, rollout; ds = rollout.open_cube(sys.argv[1]); "
            "heavy = [m for m in ('simpy', 'rollout.model.simulation', 'distributed', "
            "'rollout.experiment.cube', 'scipy.stats') if m in sys.modules]; "
            "print(','.join(heavy) or 'none'); print(ds.sizes['strategy'])")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["none", "4"]


def test_load_config_on_a_loaded_config_validates_again(small_config: Path):
    cfg = rollout.load_config(small_config)
    again = rollout.load_config(cfg, set={"adoption.steering": 0.2})
    assert again.adoption.steering == 0.2 and cfg.adoption.steering != 0.2
    with pytest.raises(ConfigError, match="adoption.steering"):
        rollout.load_config(cfg, set={"adoption.steering": 2.0})


def test_an_output_under_a_file_is_refused_before_any_work(small_config: Path, tmp_path: Path):
    """`rollout run -o` and `rollout plot -o` into a path whose ancestor is a file: one line on
    stderr naming it, exit 2, nothing written (found before the simulation, not after it)."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    for args in (["run", str(small_config), "-o", str(blocker / "sub" / "x.zarr"), "-q"],
                 ["plot", str(small_config), "-k", "coverage", "-o",
                  str(blocker / "fig.png")]):
        proc = subprocess.run([sys.executable, "-m", "rollout.cli", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{blocker} is not a folder" in lines[0], lines
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_cli_run_takes_set_and_picks_netcdf_from_the_extension(small_config: Path,
                                                                tmp_path: Path):
    """`rollout run --set NAME=VALUE -o x.nc`: a NetCDF file (not a Zarr folder named .nc)
    whose stored config has the value; a --format that contradicts the extension, or a list
    value, is one line and exit 2."""
    import json

    out = tmp_path / "x.nc"
    cmd = [sys.executable, "-m", "rollout.cli", "run", str(small_config), "-n", "1", "-w", "1",
           "-q", "--set", "regions.units_per_region=2", "--set", "adoption.steering=0.25",
           "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.read_bytes()[:4] == b"\x89HDF"
    stored = json.loads(rollout.open_cube(out).attrs["config"])
    assert stored["regions"]["units_per_region"] == 2
    assert stored["adoption"]["steering"] == 0.25
    for extra in (["--format", "zarr", "-o", str(tmp_path / "y.nc")],
                  ["--set", "adoption.steering", "-o", str(tmp_path / "z.zarr")]):
        bad = subprocess.run([*cmd[:9], *extra], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not (tmp_path / "y.nc").exists() and not (tmp_path / "z.zarr").exists()


def test_a_loaded_config_reads_its_own_table_wherever_it_is_run(tmp_path: Path, monkeypatch):
    """A config next to its own province table (Beijing with 3 regions, not the repository's
    1): loaded from Python and run from another folder, it reads its own table (the cube's
    data sha256 is that file's); rollout.run with out='x.nc' writes NetCDF; a .nc sweep store
    and a field given twice are refused."""
    import hashlib

    from conftest import DATA

    folder = tmp_path / "cfg"
    (folder / "data").mkdir(parents=True)
    table = folder / "data" / "provinces.csv"
    lines = DATA.read_text(encoding="utf-8").splitlines()
    lines = [lines[0]] + [line.replace(",Beijing,21893095,1,", ",Beijing,21893095,3,")
                          for line in lines[1:]]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert table.read_text() != DATA.read_text()
    data = small_dict(replicates=1)
    data["regions"] = {"data": "data/provinces.csv", "provinces": ["Beijing"]}
    data["strategies"] = {"big_bang": {}}
    path = folder / "c.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    cfg = rollout.load_config(path)
    assert Path(cfg.regions.data) == table.resolve()
    monkeypatch.chdir(tmp_path)
    ds = rollout.run(cfg, out=tmp_path / "x.nc")
    assert (tmp_path / "x.nc").read_bytes()[:4] == b"\x89HDF"
    assert ds.attrs["data_sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    with pytest.raises(RolloutError, match="Zarr"):
        rollout.sweep(cfg, out=tmp_path / "s.nc", sets={"adoption.steering": [0.1, 0.2]})
    with pytest.raises(ConfigError, match="given twice"):
        rollout.run(path, replicates=2, set={"replicates": 3})
