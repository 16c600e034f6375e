"""What the centre can infer about defects it has not found (the adaptive strategy's gate).

The centre holds a stated belief (``centre.belief``), not the run's generating law: a track's
initial defects number N ~ Poisson(L), L ~ Gamma(k, mean mu) (negative binomial), each with
detectability h ~ lognormal(median, sigma); a release brings Poisson defects of mean nu likewise.
A defect escapes every *arrived* report with probability

    P = E_h[ u exp(-h p sum_c Z_c) + (1 - u) prod_c (1 - m + m exp(-h p Z_c)) ],

p the report probability, u the universal share, m the per-context share, and Z_c the exposure
in context c discounted for reports still on their way: a detection at s has arrived by t with
probability 1 - exp(-(t - s) / d) (d the mean report delay), so Z_c(t) is the integral of
x_c(s) (1 - exp(-(t - s) / d)) ds = X_c(t) - Y_c(t), X_c the exposure (capacity- and
state-weighted months of operation) and Y_c its exponentially weighted recent part. Given the
K defects of a cohort reported so far, L | K ~ Gamma(k + K, k / mu + 1 - P) (Poisson thinning),
so the cohort's expected number undetected is P (k + K) / (k / mu + 1 - P). Only observable
quantities enter: the belief, the exposure the centre has seen and the defects reported to it.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import RolloutConfig
from .defects import N_CONTEXTS

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def detectability_nodes(config: RolloutConfig) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights of the centre's prior of detectability h (lognormal)."""
    b = config.centre.belief
    return b.detectability_median * np.exp(b.detectability_sigma * _NODES), _WEIGHTS


def escape_probability(config: RolloutConfig, exposure_by_context: np.ndarray) -> float:
    """Probability that one defect drawn from the belief has no report arrived yet, given the
    delay-discounted exposure per context."""
    h, w = detectability_nodes(config)
    p = config.learning.report_prob
    u, m = config.defects.universal_prob, config.defects.context_prob
    x = np.asarray(exposure_by_context, float)
    univ = np.exp(-h * p * x.sum())
    per_ctx = np.prod(1.0 - m + m * np.exp(-np.outer(h * p, x)), axis=1)
    return float(np.dot(w, u * univ + (1.0 - u) * per_ctx))


def expected_undetected_cohort(mean: float, shape: float, escape: float, reported: int) -> float:
    """Expected defects of a cohort not reported yet, given ``reported`` of them were: the
    negative-binomial posterior mean P (k + K) / (k / mu + 1 - P)."""
    if mean <= 0.0:
        return 0.0
    return escape * (shape + reported) / (shape / mean + 1.0 - escape)


class EvidenceExposure:
    """Detection-weighted months of operation per (track, context), integrated exactly, and its
    part whose reports may still be on their way (exponentially weighted by the report delay)."""

    def __init__(self, sim):
        self.clock = sim.clock
        n_tracks = len(sim.config.tracks)
        self.delay = sim.config.learning.report_delay_mean
        self._x = [[0.0] * N_CONTEXTS for _ in range(n_tracks)]   # integral up to _t
        self._y = [[0.0] * N_CONTEXTS for _ in range(n_tracks)]   # recent part at _t
        self._m = [[0.0] * N_CONTEXTS for _ in range(n_tracks)]   # current rate
        self._t = 0.0

    def wire(self, sim) -> None:
        pass

    def change(self, t: int, c: int, delta: float) -> None:
        """The rate of track t in context c changes by ``delta`` now."""
        now = self.clock.env._now
        if now > self._t:
            dt = now - self._t
            keep = math.exp(-dt / self.delay)
            for x_row, y_row, m_row in zip(self._x, self._y, self._m, strict=True):
                for i, m in enumerate(m_row):
                    if m:
                        x_row[i] += m * dt
                    if m or y_row[i]:
                        y_row[i] = y_row[i] * keep + m * self.delay * (1.0 - keep)
            self._t = now
        if t >= 0:
            self._m[t][c] += delta

    def by_context(self, track: int) -> np.ndarray:
        """Exposure of a track per context, up to now."""
        dt = self.clock.env._now - self._t
        return np.array([x + m * dt for x, m in zip(self._x[track], self._m[track], strict=True)])

    def recent_by_context(self, track: int) -> np.ndarray:
        """The part of that exposure whose reports may still be on their way (Y_c)."""
        dt = self.clock.env._now - self._t
        keep = math.exp(-dt / self.delay)
        return np.array([y * keep + m * self.delay * (1.0 - keep)
                         for y, m in zip(self._y[track], self._m[track], strict=True)])

    def snapshot(self, track: int) -> tuple[float, np.ndarray, np.ndarray]:
        """(time, exposure, recent part) of a track now: where a release's defects start."""
        return self.clock.env._now, self.by_context(track), self.recent_by_context(track)

    def since(self, track: int, snap: tuple[float, np.ndarray, np.ndarray]) -> np.ndarray:
        """Delay-discounted exposure per context since a snapshot: (X - X_r) - (Y - Y_r e^-...)."""
        t_r, x_r, y_r = snap
        keep = math.exp(-(self.clock.env._now - t_r) / self.delay)
        return (self.by_context(track) - x_r) - (self.recent_by_context(track) - y_r * keep)


def expected_undetected(config: RolloutConfig, evidence: EvidenceExposure, track: int,
                        snapshots: list[tuple], reported: list[int]) -> float:
    """The centre's expected number of defects not yet reported on a track: its initial cohort
    and each release's, given how many of each were reported (``reported[0]`` initial, then one
    per release) and the delay-discounted exposure each has had."""
    b = config.centre.belief
    start = (0.0, np.zeros(N_CONTEXTS), np.zeros(N_CONTEXTS))
    cohorts = [(b.defect_count_mean, start)] + [(b.new_defects_mean, s) for s in snapshots]
    total = 0.0
    for (mean, snap), k in zip(cohorts, reported, strict=True):
        escape = escape_probability(config, evidence.since(track, snap))
        total += expected_undetected_cohort(mean, b.defect_count_shape, escape, k)
    return total
