"""A track's national rule set within one run: versions, defects and the (unit, defect) pairs.

A version v holds defect d when ``introduced[d] <= v < fixed[d]``, so versions need no sets of
their own. Each unit running the track keeps a list of ``Pair`` objects, one per defect that
manifests in its context: a unit has a handful, so plain Python beats numpy row operations here.
"""

from __future__ import annotations

import math

from .defects import N_CONTEXTS, DefectTraits
from .world import LUCK_BLOCK, World

NEVER = 2**31 - 1


class Pair:
    """One (unit, defect) pair: integrated hazard, next relevant detection, exploitation."""

    __slots__ = ("d", "h", "s", "tau_learn", "tau_unlearn", "j_learn", "j_unlearn", "introduced",
                 "lam", "thr", "k", "luck", "patched", "e", "mode", "rate", "paying_inforce",
                 "res", "res_taken", "j_res", "t_began")

    def __init__(self, d: int, traits: tuple, threshold: float):
        self.d = d
        (self.h, self.s, self.tau_learn, self.tau_unlearn, self.j_learn, self.j_unlearn,
         self.introduced) = traits     # TrackState.pair_traits[d]
        self.lam = 0.0          # integrated hazard up to the unit's last update
        self.thr = threshold    # cumulative threshold of detection k
        self.k = 0              # index of the next detection to happen
        self.luck: list[list] = []  # blocks of [threshold, report u, delay, patch u] per
        # detection, fetched when first needed: most pairs are never detected
        self.patched = False
        self.e = 0.0            # exploitation at the unit's last update
        self.mode = 0           # 0 idle, 1 learning (paying under it), 2 decaying
        self.rate = 0.0         # detection hazard now
        self.paying_inforce = False
        self.res = 0.0          # entrenched residue at the last update (entrenchment.py)
        self.res_taken = False  # the residue has been split off (once, at the fix or patch)
        self.j_res = 0          # index of the residue's time constant (0: it never decays)
        self.t_began = -1.0     # when it last began paying in force (entrenchment's imitation)


class TrackState:
    """Defects and versions of one track in one run."""

    def __init__(self, index: int, name: str, world: World, taus: tuple[float, ...]):
        self.index = index
        self.name = name
        self.world = world
        self.taus = taus
        self.version = 1
        self.release_times: list[float] = [0.0]
        self.work_starts: list[float] = [0.0]   # work start of the release that made version v
        self.working = False
        self.pinned = False
        self.attempts = 0            # work periods on on-demand versions so far
        self.n_known = 0             # defects known to the centre so far
        self.n_fixed = 0             # defects fixed by a release so far
        self.exposure_snapshots: list[tuple] = []  # evidence exposure at each release
        self.keys: list[tuple[int, int]] = []
        self.traits: list[DefectTraits] = []
        self.h: list[float] = []
        self.s: list[float] = []
        self.tau_learn: list[float] = []
        self.tau_unlearn: list[float] = []
        self.j_learn: list[int] = []
        self.j_unlearn: list[int] = []
        self.introduced: list[int] = []
        self.fixed: list[int] = []
        self.known_at: list[float] = []
        self.pending_report: list[float] = []
        self.first_detected: list[float] = []
        self.pair_traits: list[tuple] = []   # what every pair of defect d copies
        self.by_context: list[list[int]] = [[] for _ in range(N_CONTEXTS)]  # defects manifesting
        for traits in world.initial_defects[index]:
            self.add_defect(traits, version=1)

    @property
    def n(self) -> int:
        return len(self.keys)

    def _tau_index(self, tau: float) -> int:
        # slot 0 is the dummy (its 1.0 may equal a real tau of one month): search after it
        return 1 + self.taus[1:].index(tau) if tau > 0.0 else 0

    def add_defect(self, traits: DefectTraits, version: int) -> int:
        """Append a defect that first appears in ``version``; return its slot."""
        self.keys.append(traits.key)
        self.traits.append(traits)
        self.h.append(traits.detectability)
        self.s.append(traits.severity)
        self.tau_learn.append(traits.tau_learn)
        self.tau_unlearn.append(traits.tau_unlearn)
        self.j_learn.append(self._tau_index(traits.tau_learn))
        self.j_unlearn.append(self._tau_index(traits.tau_unlearn))
        self.introduced.append(version)
        self.fixed.append(NEVER)
        self.known_at.append(math.inf)
        self.pending_report.append(math.inf)
        self.first_detected.append(math.inf)
        d = len(self.keys) - 1
        for c in traits.contexts.nonzero()[0].tolist():
            self.by_context[c].append(d)
        self.pair_traits.append((self.h[d], self.s[d], self.tau_learn[d], self.tau_unlearn[d],
                                 self.j_learn[d], self.j_unlearn[d], version))
        return d

    def new_pair(self, d: int, unit: int) -> Pair:
        return Pair(d, self.pair_traits[d],
                    self.world.first_thresholds(self.index, self.keys[d])[unit])

    def detection(self, pair: Pair, unit: int, k: int) -> list[float]:
        """[threshold, report u, delay, patch u] of the k-th (0-based) detection of a pair."""
        block, col = divmod(k, LUCK_BLOCK)
        luck = pair.luck
        while block >= len(luck):
            luck.append(self.world.pair_luck(self.index, self.keys[pair.d], unit, len(luck)))
        return luck[block][col]

    def reported_by_cohort(self) -> list[int]:
        """Defects known to the centre, counted by the version that introduced them."""
        counts = [0] * len(self.release_times)
        for d in range(self.n):
            if self.known_at[d] < math.inf:
                counts[self.introduced[d] - 1] += 1
        return counts

    def known_uncorrected(self) -> list[int]:
        """Slots known to the centre and still held by the latest version."""
        return [d for d in range(self.n)
                if self.known_at[d] < math.inf and self.fixed[d] == NEVER]


def distinct_taus(config) -> tuple[float, ...]:
    """Distinct positive time constants of all defect kinds, after a dummy first entry.

    Index 0 stands for 'no exponential term' (an instant jump) and carries tau = 1 with a zero
    coefficient, so code summing over time constants needs no special case.
    """
    from .mechanisms.entrenchment import entrenchment_taus

    values = set()
    for kind in config.defects.kinds.as_list():
        values.update(t for t in (kind.tau_learn, kind.tau_unlearn) if t > 0.0)
    values.update(entrenchment_taus(config))
    return (1.0, *sorted(values))
