"""Where a report may be written, checked before any work, and the write itself.

The project's output rules (experiment/outputs.py): an existing output is replaced only with
``--overwrite``, and only if rollout wrote it (here: an HTML file carrying the report's
``generator`` mark, never a cube or someone's page); the folder must be writable; one writer at
a time (the output lock); the file appears whole or not at all (written aside, then renamed).
Light on imports, so a bad ``-o`` fails in a fraction of a second.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RolloutError
from ..experiment.outputs import check_writable, is_cube
from .html import GENERATOR

SUFFIXES = (".html", ".htm")


def default_path(cube: str | Path) -> Path:
    """The report beside its cube: ``results/national.zarr`` -> ``results/national.html``."""
    cube = Path(cube)
    return cube.with_name(cube.name.removesuffix(cube.suffix) + ".html")


def is_report(path: Path) -> bool:
    """Whether ``path`` is a file this command wrote (its head names the generator)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">'.encode() in head


def check_target(path: str | Path, overwrite: bool, cube: str | Path | None = None) -> Path:
    """Refuse, before any work, an output that is not an .html file, is the cube, exists
    without ``overwrite``, exists and is not a report, or lies in a folder that cannot be
    written."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RolloutError(f"{path}: a report is an HTML file (.html), not "
                           f"{path.suffix or 'a file without an extension'!r}")
    if cube is not None and path.resolve() == Path(cube).resolve():
        raise RolloutError(f"{path}: is the cube itself")
    if path.is_dir():
        raise RolloutError(f"{path}: is a folder")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise RolloutError(f"{path}: output already exists (use --overwrite to replace it)")
        if path.is_symlink() or is_cube(path) or not is_report(path):
            raise RolloutError(f"{path}: exists and is not a rollout report; refusing to "
                               "replace it")
    check_writable(path)
    return path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` as a hidden partial file, then rename it into place (a
    reader never sees half a page; a killed writer's partial file is removed by the next
    writer's lock, experiment/locking.py)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
