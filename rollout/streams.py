"""Random streams keyed by what they describe, never by the order in which events happen.

Every draw in a run comes from ``stream(seed, replicate, purpose, *ids)``: a PCG64 generator whose
seed sequence is derived from the run seed and a key made of the replicate number, a purpose
name (hashed to a stable integer) and integer identifiers (track, release, defect, unit, ...).
Two strategies that ask for the same key get the same numbers (common random numbers), whatever
else they did before.
"""

from __future__ import annotations

import zlib

import numpy as np


def purpose_code(name: str) -> int:
    """A stable 32-bit code for a purpose name (crc32 does not depend on PYTHONHASHSEED)."""
    return zlib.crc32(name.encode("utf-8"))


def stream(seed: int, replicate: int, purpose: str, *ids: int) -> np.random.Generator:
    """The generator for one keyed purpose within one replicate."""
    key = (int(replicate), purpose_code(purpose), *(int(i) for i in ids))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
