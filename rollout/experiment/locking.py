"""One writer per output: an exclusive lock held while a command writes a cube or a file.

Two commands writing one path at once (two sweeps started together, two runs to one ``-o``)
would interleave or silently replace each other. Each writer takes an advisory ``flock`` on a
hidden ``.NAME.lock`` beside the output for as long as it writes; the kernel drops the lock when
the process dies, however it dies, so a killed writer never leaves a path locked. While a process
holds the lock, no other writer of that path is alive, so the hidden leftovers of earlier writers
(``.NAME.partial-PID`` and the like, from a kill mid-write) are stale and are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import RolloutError

#: Hidden siblings ``.NAME.KIND-PID`` a writer of NAME leaves while it works (removed when it
#: finishes).
LEFTOVER_KINDS = ("partial", "old", "layout")


@contextlib.contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of output ``path`` (creating its folder if needed; folders made
    here are removed again if they are still empty when the lock is released)."""
    path = Path(path)
    made = [p for p in reversed(path.parents) if not p.exists()]
    lock = path.with_name(f".{path.name}.lock")
    fd = _acquire(lock, path, made)
    try:
        remove_leftovers(path)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)
        _remove_empty(made)


#: attempts to create the lock file while its folder keeps vanishing (another writer removing
#: the new folder just now) before giving up: a folder where no file can be created (/proc)
#: answers "not found" every time, and used to loop forever
LOCK_ATTEMPTS = 100


def _acquire(lock: Path, path: Path, made: list[Path]) -> int:
    for _ in range(LOCK_ATTEMPTS):
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:     # another writer removed the new folder just now
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            _remove_empty(made)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RolloutError(f"{path}: another rollout process{who} is writing it; wait for "
                               "it to finish or choose another output") from None
        # the previous holder unlinks the lock file as it lets go: make sure the file locked is
        # still the one at the path, or two processes could each hold a lock on a different file
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)
    _remove_empty(made)
    raise RolloutError(f"{path}: cannot create a lock file in {lock.parent} (tried "
                       f"{LOCK_ATTEMPTS} times); choose another output folder")


def remove_leftovers(path: Path) -> None:
    """Remove the hidden working copies earlier writers of ``path`` left behind (call only
    while holding its lock: no other writer of it is alive then). A previous output that a
    writer had moved aside, and was killed before replacing, is moved back instead."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.({'|'.join(LEFTOVER_KINDS)})-\d+")
    leftovers = sorted((entry for entry in path.parent.iterdir()
                        if pattern.fullmatch(entry.name)), key=lambda e: e.stat().st_mtime)
    for entry in leftovers:
        if (entry.name.startswith(f".{path.name}.old-") and not path.exists()
                and not path.is_symlink()):
            os.replace(entry, path)          # the only copy of the previous output
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
