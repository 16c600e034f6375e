"""Packaging: a built wheel, installed (not editable), runs configs from anywhere; the lowest
versions CI tests are the floors pyproject.toml declares.

The wheel is built from a copy of the package's sources (so the build writes nothing into the
checkout), installed into a fresh virtual environment that borrows the *running* environment's
dependencies, and run from a folder outside the repository with ``PYTHONPATH`` unset: the
``rollout`` imported there is the installed wheel's, not the source tree or an editable install.

Why not ``venv --system-site-packages``: made from inside a virtual environment (CI's, a user's),
that borrows the *base* interpreter's packages, not the running venv's, so the test passed only
where the base Python had the dependencies installed by hand (issue 24). The new venv instead gets
a ``.pth`` file naming the running environment's site-packages folders, as plain paths: their own
``.pth`` files (the editable install of this checkout among them) are not processed, so the
checkout's ``rollout`` cannot leak in, and nothing of the base interpreter is visible."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import DATA, REPO

#: A small config that names the bundled table: it lives in a folder of its own.
ELSEWHERE = """\
name = "elsewhere"
replicates = 2

[regions]
data = "bundled:provinces.csv"
provinces = ["Beijing", "Hebei", "Hainan", "Ningxia"]

[strategies.big_bang]
"""


def _run(argv: list, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def _running_site_packages() -> list[str]:
    """The folders the running interpreter imports installed packages from (a venv's own, or
    the base's when run outside a venv), in its order."""
    folders = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(str(Path(f).resolve()) for f in folders))


def _base_site_packages() -> list[str]:
    """The base interpreter's site-packages folders (those of sys.base_prefix)."""
    scheme = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    return [scheme["purelib"], scheme["platlib"]]


def _borrow_running_site_packages(python: Path, cwd: Path, env: dict[str, str]) -> None:
    """Let a fresh venv import this environment's dependencies and nothing of the base
    interpreter's: a .pth of plain folder names, appended after the venv's own site-packages."""
    own = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd, env).stdout.strip()
    (Path(own) / "_rollout_test_borrowed.pth").write_text(
        "".join(f"{folder}\n" for folder in _running_site_packages()), encoding="utf-8")


def test_the_lowest_versions_ci_tests_are_the_declared_floors():
    """Every dependency has a floor, and .ci/lowest.txt pins each at it (and pins nothing
    else but what an extra pins with it)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?>=([0-9.]+)", requirement)
        assert match, f"{requirement}: not NAME>=FLOOR"
        floors[match[1].lower()] = match[3]
    pins = {}
    for line in (REPO / ".ci" / "lowest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    assert {n: v for n, v in pins.items() if n != "distributed"} == floors
    assert pins["distributed"] == pins["dask"]


@pytest.mark.slow
def test_an_installed_wheel_runs_a_config_from_anywhere_and_the_shipped_ones(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    source = tmp_path / "source"
    shutil.copytree(REPO / "rollout", source / "rollout",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--quiet", "-w", wheels],
         tmp_path, env)
    (wheel,) = wheels.glob("rollout-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("rollout/bundled/provinces.csv") == DATA.read_bytes()
    assert "rollout/bundled/SOURCES.md" in names
    assert not any(n.startswith(("tests/", "configs/")) for n in names), sorted(names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    python, rollout = venv / "bin" / "python", venv / "bin" / "rollout"
    _borrow_running_site_packages(python, tmp_path, env)
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
          "--force-reinstall", wheel], tmp_path, env)

    away = tmp_path / "away"
    away.mkdir()
    where = _run([python, "-c", "import rollout; print(rollout.__file__)"], away, env)
    installed = Path(where.stdout.strip()).resolve()
    # nothing of the base interpreter's site-packages is on the new venv's path (when this runs
    # in a venv: what --system-site-packages used to borrow)
    seen = _run([python, "-c", "import sys; print('\\n'.join(sys.path))"], away, env)
    base = {str(Path(f).resolve()) for f in _base_site_packages()} - set(_running_site_packages())
    assert not base & {str(Path(f).resolve()) for f in seen.stdout.split()}, seen.stdout
    assert installed.is_relative_to(venv.resolve()), installed
    assert not installed.is_relative_to(REPO), installed

    (away / "elsewhere.toml").write_text(ELSEWHERE, encoding="utf-8")
    _run([rollout, "run", "elsewhere.toml", "-w", "1", "-q", "-o", "elsewhere.zarr"], away, env)
    shipped = away / "national.zarr"
    _run([rollout, "run", REPO / "configs" / "national.toml", "-n", "2", "-w", "1", "-q", "-o",
          shipped], away, env)
    sha256 = hashlib.sha256(DATA.read_bytes()).hexdigest()
    for cube in ("elsewhere.zarr", "national.zarr"):
        attrs = _run([python, "-c", "import sys, xarray as xr; ds = xr.open_zarr(sys.argv[1]); "
                      "print(ds.attrs['data_file'], ds.attrs['data_sha256'], "
                      "ds.attrs['complete'], ds.sizes['replicate'])", cube], away, env)
        assert attrs.stdout.split() == ["provinces.csv", sha256, "true", "2"], attrs.stdout
    # the installed package finds the table by the hash the cube records
    checked = _run([rollout, "verify", "elsewhere.zarr", "-k", "1"], away, env)
    assert "match bit for bit" in checked.stdout
