"""A track's national rule set within one run: versions, defects and the (unit, defect) pairs.

A version v holds defect d when ``introduced[d] <= v < fixed[d]``, so versions need no sets of
their own. Pair matrices are (units x defect slots); slots are appended as releases bring new
defects, and the matrices grow by doubling.
"""

from __future__ import annotations

import math

import numpy as np

from .world import LUCK_BLOCK, DefectTraits, World

NEVER = np.iinfo(np.int32).max


class TrackState:
    """Defects, versions and pair state of one track in one run."""

    def __init__(self, index: int, name: str, world: World, taus: np.ndarray, capacity: int = 32):
        self.index = index
        self.name = name
        self.world = world
        self.taus = taus
        self.version = 1
        self.release_times: list[float] = [0.0]
        self.work_starts: list[float] = [0.0]   # work start of the release that made version v
        self.working = False
        self.pinned = False
        self.exposure_snapshots: list[np.ndarray] = []  # evidence exposure at each release
        self.n = 0
        n_units = world.n_units
        cap = max(capacity, len(world.initial_defects[index]) + 8)
        self.keys: list[tuple[int, int]] = []
        self.traits: list[DefectTraits] = []
        self.h = np.zeros(cap)
        self.s = np.zeros(cap)
        self.tau_learn = np.zeros(cap)
        self.tau_unlearn = np.zeros(cap)
        self.j_learn = np.zeros(cap, np.intp)
        self.j_unlearn = np.zeros(cap, np.intp)
        self.introduced = np.full(cap, NEVER, np.int32)
        self.fixed = np.full(cap, NEVER, np.int32)
        self.known_at = np.full(cap, np.inf)
        self.pending_report = np.full(cap, np.inf)
        self.first_detected = np.full(cap, np.inf)
        self.manifest = np.zeros((n_units, cap), bool)   # by the unit's context
        self.lam = np.zeros((n_units, cap))              # integrated hazard at unit's t_last
        self.thr = np.zeros((n_units, cap))              # cumulative threshold of next detection
        self.ndet = np.zeros((n_units, cap), np.int32)
        self.patched = np.zeros((n_units, cap), bool)
        self.e = np.zeros((n_units, cap))                # exploitation at unit's t_last
        self.mode = np.zeros((n_units, cap), np.int8)    # 0 idle, 1 learning, 2 decaying
        self.rate = np.zeros((n_units, cap))             # current detection hazard
        self.inforce = np.zeros((n_units, cap), bool)
        for traits in world.initial_defects[index]:
            self.add_defect(traits, version=1)

    @property
    def capacity(self) -> int:
        return len(self.h)

    def _grow(self) -> None:
        extra = self.capacity
        for name in ("h", "s", "tau_learn", "tau_unlearn", "j_learn", "j_unlearn"):
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.zeros(extra, arr.dtype)]))
        for name, fill in (("introduced", NEVER), ("fixed", NEVER), ("known_at", np.inf),
                           ("pending_report", np.inf), ("first_detected", np.inf)):
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.full(extra, fill, arr.dtype)]))
        for name in ("manifest", "lam", "thr", "ndet", "patched", "e", "mode", "rate", "inforce"):
            arr = getattr(self, name)
            pad = np.zeros((arr.shape[0], extra), arr.dtype)
            setattr(self, name, np.concatenate([arr, pad], axis=1))

    def _tau_index(self, tau: float) -> int:
        if tau <= 0.0:
            return 0
        return int(np.flatnonzero(self.taus == tau)[0])

    def add_defect(self, traits: DefectTraits, version: int) -> int:
        """Append a defect that first appears in ``version``; return its slot."""
        if self.n == self.capacity:
            self._grow()
        d = self.n
        self.n += 1
        self.keys.append(traits.key)
        self.traits.append(traits)
        self.h[d] = traits.detectability
        self.s[d] = traits.severity
        self.tau_learn[d] = traits.tau_learn
        self.tau_unlearn[d] = traits.tau_unlearn
        self.j_learn[d] = self._tau_index(traits.tau_learn)
        self.j_unlearn[d] = self._tau_index(traits.tau_unlearn)
        self.introduced[d] = version
        self.manifest[:, d] = traits.contexts[self.world.context]
        self.thr[:, d] = self.world.luck(self.index, traits.key, 0)[:, 0, 0]
        return d

    def detection_luck(self, unit: int, d: int, k: int) -> np.ndarray:
        """[threshold, report u, delay, patch u] of the k-th (0-based) detection of a pair."""
        block, col = divmod(k, LUCK_BLOCK)
        return self.world.luck(self.index, self.keys[d], block)[unit, col]

    def holds(self, version: int) -> np.ndarray:
        """Bool mask over slots [0, n): which defects a version holds."""
        n = self.n
        return (self.introduced[:n] <= version) & (version < self.fixed[:n])

    def known_uncorrected(self) -> np.ndarray:
        """Slots known to the centre and still held by the latest version."""
        n = self.n
        return np.flatnonzero(np.isfinite(self.known_at[:n]) & (self.fixed[:n] == NEVER))


def distinct_taus(config) -> np.ndarray:
    """Distinct positive time constants of all defect kinds, with a dummy first entry.

    Index 0 stands for 'no exponential term' (an instant jump) and carries tau = 1 with a zero
    coefficient, so vectorised code needs no special case.
    """
    values = set()
    for kind in config.defects.kinds.as_list():
        values.update(t for t in (kind.tau_learn, kind.tau_unlearn) if t > 0.0)
    return np.array([1.0] + sorted(values))


def expm_decay(dt: float, taus: np.ndarray) -> np.ndarray:
    """exp(-dt / tau) per time constant (entry 0 is the dummy and stays irrelevant)."""
    return np.exp(-dt / taus) if dt > 0.0 else np.ones_like(taus)


__all__ = ["TrackState", "distinct_taus", "expm_decay", "NEVER", "math"]
