"""What the centre can infer about defects it has not found (the adaptive strategy's gate).

With a Poisson(mu) prior on the number of defects and exposure X_c (capacity- and
state-weighted months of operation under the track) in each context c, a defect escapes
reported detection with probability

    P_esc = E_h[ u exp(-h p sum_c X_c) + (1 - u) prod_c (1 - m + m exp(-h p X_c)) ],

where h is its detectability (lognormal, mixed over defect kinds), p the report probability,
u the universal share and m the per-context share. By Poisson thinning the undetected defects are
Poisson(mu P_esc), whatever was found: the expected number undetected is mu P_esc. Only
observable quantities enter: the centre's priors and the exposure it has seen, never the truth.

``EvidenceExposure`` integrates X_c exactly: each operating unit adds its detection multiplier
(capacity x state factor x stage factor, exposure.py) to its track's and context's rate.
"""

from __future__ import annotations

import numpy as np

from ..config import RolloutConfig
from .world import N_CONTEXTS

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def detectability_nodes(config: RolloutConfig) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights of the prior of detectability h (kinds x lognormal)."""
    d = config.defects
    kinds = d.kinds.as_list()
    shares = np.array([k.share for k in kinds], float)
    shares = shares / shares.sum()
    factors = np.array([k.detectability_factor for k in kinds])
    h = d.detectability_median * factors[:, None] * np.exp(d.detectability_sigma * _NODES)[None, :]
    w = shares[:, None] * _WEIGHTS[None, :]
    return h.ravel(), w.ravel()


def escape_probability(config: RolloutConfig, exposure_by_context: np.ndarray) -> float:
    """Probability that one defect drawn from the prior has not been reported yet."""
    h, w = detectability_nodes(config)
    p = config.learning.report_prob
    u, m = config.defects.universal_prob, config.defects.context_prob
    x = np.asarray(exposure_by_context, float)
    univ = np.exp(-h * p * x.sum())
    per_ctx = np.prod(1.0 - m + m * np.exp(-np.outer(h * p, x)), axis=1)
    return float(np.dot(w, u * univ + (1.0 - u) * per_ctx))


class EvidenceExposure:
    """Detection-weighted months of operation per (track, context), integrated exactly."""

    def __init__(self, sim):
        self.clock = sim.clock
        n_tracks = len(sim.config.tracks)
        self._x = [[0.0] * N_CONTEXTS for _ in range(n_tracks)]   # integral up to _t
        self._m = [[0.0] * N_CONTEXTS for _ in range(n_tracks)]   # current rate
        self._t = 0.0

    def wire(self, sim) -> None:
        pass

    def change(self, t: int, c: int, delta: float) -> None:
        """The rate of track t in context c changes by ``delta`` now."""
        now = self.clock.env._now
        if now > self._t:
            dt = now - self._t
            for x_row, m_row in zip(self._x, self._m, strict=True):
                for i, m in enumerate(m_row):
                    if m:
                        x_row[i] += m * dt
            self._t = now
        if t >= 0:
            self._m[t][c] += delta

    def by_context(self, track: int) -> np.ndarray:
        """Exposure of a track per context, up to now."""
        dt = self.clock.env._now - self._t
        return np.array([x + m * dt for x, m in zip(self._x[track], self._m[track], strict=True)])


def expected_undetected(config: RolloutConfig, exposure_now: np.ndarray,
                        snapshots: list[np.ndarray]) -> float:
    """The centre's expected number of defects not yet reported on a track: the initial ones,
    and those each release introduced (exposure counted from that release on)."""
    mu = config.defects.fixed_count if config.defects.fixed_count is not None \
        else config.defects.mean_count
    total = mu * escape_probability(config, exposure_now)
    for snap in snapshots:
        total += config.centre.new_defects_mean * escape_probability(config, exposure_now - snap)
    return total
