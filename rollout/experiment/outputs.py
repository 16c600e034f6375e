"""Where a cube may be written: its format, its default path, and the checks made before any
work (an existing output is replaced only when asked, and only if it is a rollout cube; the
folder must be writable). Light on imports, so bad output arguments fail fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import RolloutConfig
from ..errors import RolloutError


def cube_format(out: str | Path | None, fmt: str | None) -> str:
    """The cube format: as given, else from the output's extension (.nc: NetCDF); a format
    that contradicts the extension is an error."""
    suffix = Path(out).suffix.lower() if out else ""
    implied = "netcdf" if suffix in (".nc", ".nc4", ".netcdf") else \
        "zarr" if suffix == ".zarr" else None
    if fmt is not None and implied is not None and fmt != implied:
        raise RolloutError(f"{out}: the extension says {implied}, the format asked is {fmt}")
    return fmt or implied or "zarr"


def default_output(config: RolloutConfig, fmt: str, folder: str | Path = "results") -> Path:
    return Path(folder) / f"{config.name}.{'zarr' if fmt == 'zarr' else 'nc'}"


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an existing output unless overwriting, and never overwrite what is not a cube."""
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise RolloutError(f"{path}: output already exists (use --overwrite to replace it)")
        if not safe_to_delete(path):
            raise RolloutError(f"{path}: exists and is not a rollout cube; refusing to replace it")
    check_writable(path)


def check_writable(path: Path) -> None:
    """Refuse, before any work, an output whose folder cannot be made or written: the nearest
    existing ancestor must be a folder this process may write into."""
    parent = path.parent if str(path.parent) else Path(".")
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RolloutError(f"{path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RolloutError(f"{path}: the folder {ancestor} is not writable")


_ZARR_FILES = {".zattrs", ".zgroup", ".zmetadata", "zarr.json"}


def safe_to_delete(path: Path) -> bool:
    """Whether ``--overwrite`` may delete ``path``: a cube (``is_cube``) whose folder holds
    nothing but Zarr metadata and arrays (and Zarr's own temporary files, or an OS's folder
    junk), so that a folder of someone's files that merely carries the attribute survives."""
    return is_cube(path) and (not path.is_dir() or _only_zarr_entries(path))


def is_cube(path: Path) -> bool:
    """Whether ``path`` holds something this package wrote (a cube, complete or not): its
    attributes name it a rollout cube with a config matching its hash."""
    try:
        if path.is_symlink():
            return False
        if path.is_dir():
            meta = path / ".zattrs"
            if meta.is_file():
                attrs = json.loads(meta.read_text())
            else:
                meta = path / "zarr.json"
                attrs = json.loads(meta.read_text()).get("attributes", {}) if meta.is_file() \
                    else {}
            if not isinstance(attrs, dict) or "rollout_cube" not in attrs:
                return False
            return _hash_matches(attrs)
        if path.is_file():
            import h5py

            with h5py.File(path, "r") as handle:
                attrs = {k: (v.decode() if isinstance(v, bytes) else v)
                         for k, v in handle.attrs.items()}
            return "rollout_cube" in attrs and _hash_matches(attrs)
    except (OSError, ValueError, AttributeError):
        return False
    return False


_JUNK = (".DS_Store", "Thumbs.db", "desktop.ini")


def _only_zarr_entries(path: Path) -> bool:
    for entry in path.iterdir():
        if entry.is_symlink():
            return False
        if entry.name in _JUNK or (entry.name.endswith(".partial") and entry.is_file()):
            continue
        if entry.is_dir():
            if (entry / ".zgroup").is_file():           # a sweep's bookkeeping (blocks.py)
                if entry.name != "blocks" or not _only_zarr_entries(entry):
                    return False
            elif not any((entry / name).is_file() for name in (".zarray", "zarr.json")):
                return False
        elif entry.name not in _ZARR_FILES:
            return False
    return True


def _hash_matches(attrs: dict) -> bool:
    from .opening import stored_config_json

    try:
        stored_config_json(attrs)
    except ValueError:
        return False
    return True
