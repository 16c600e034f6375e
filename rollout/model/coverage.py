"""Benefit and coverage (MODEL.md section 9): what paying units bring, province and nation.

A paying unit brings benefit at ``benefit_rate`` per unit of volume per month; each province's
benefit is piecewise linear between changes of its paying volume, and integrated exactly (with
continuous discounting nationally when a discount rate is set). National coverage is the paying
share of volume; ``t_full`` is the first time it reaches the coverage threshold and
``t_cov_rise`` the last time it rose to it (``nan`` while below).
"""

from __future__ import annotations

import math


class Coverage:
    """Paying volume and benefit by province, and national coverage, at exact times."""

    def __init__(self, sim):
        cfg = sim.config
        n_prov = len(sim.world.provinces)
        self.clock = sim.clock
        self.benefit_rate = cfg.operation.benefit_rate
        self.discount = cfg.outcomes.discount_rate / 12.0   # per month, continuous
        self.threshold = cfg.outcomes.coverage_threshold - 1e-12  # rounding of 'all paying'
        self.pay_weight = [0.0] * n_prov
        self.benefit_cum = [0.0] * n_prov
        self.benefit_t = [0.0] * n_prov
        self.national_weight = 0.0
        self.benefit_disc = 0.0
        self._disc_t = 0.0
        self.t_full = math.nan
        self.t_cov_rise = math.nan

    def wire(self, sim) -> None:
        self._recorder = sim.recorder

    def pay_change(self, p: int, delta: float) -> None:
        """Province p's paying volume changes by ``delta`` now."""
        now = self.clock.env._now
        self.benefit_cum[p] += self.benefit_rate * self.pay_weight[p] * (now - self.benefit_t[p])
        self.benefit_t[p] = now
        self.pay_weight[p] += delta
        self._recorder.benefit(now, p, self.benefit_cum[p], now, self.pay_weight[p])
        self.national_change(delta)

    def national_change(self, delta: float) -> None:
        """Integrate discounted national benefit up to now, then change paying volume."""
        now = self.clock.env._now
        if self.discount > 0.0 and now > self._disc_t:
            r = self.discount
            self.benefit_disc += self.benefit_rate * self.national_weight \
                * math.exp(-r * self._disc_t) * -math.expm1(-r * (now - self._disc_t)) / r
            self._disc_t = now
        before = self.national_weight >= self.threshold
        self.national_weight += delta
        after = self.national_weight >= self.threshold
        if after and not before:
            self.t_cov_rise = now
            if math.isnan(self.t_full):
                self.t_full = now
        elif before and not after:
            self.t_cov_rise = math.nan
        if delta:
            self._recorder.national(now, self.national_weight)

    def benefit_total(self, horizon: float) -> float:
        """Undiscounted benefit of every province up to the horizon."""
        return float(sum(
            self.benefit_cum[p] + self.benefit_rate * self.pay_weight[p]
            * (horizon - self.benefit_t[p]) for p in range(len(self.pay_weight))))
