"""What each operating unit is exposed to: defects in force, their exploitation, and the harm
and detection hazard they carry (MODEL.md sections 4 and 6).

A unit holds one ``Pair`` per defect that manifests in its context (tracks.py). A defect is in
force in a unit that operates (shadow or paying) under a version that holds it, unless patched
locally. While a unit pays under a defect, exploitation learns towards 1 with time constant
``tau_learn``; once the defect is out of force it decays with ``tau_unlearn`` (an instant jump
when the constant is 0). Harm rate = sum over pairs of severity x volume x exploitation while
paying, so between events it is ``a + sum_j b_j exp(-x / tau_j)`` and is integrated exactly
(exploitation.py). Detection hazard of an in-force pair = detectability x capacity x the unit's
share of its region's volume (1 for a region; hospitals split their region's hazard) x state
factor (shadow ``operation.shadow_detection_factor``, paying 1) x the province's stage factor.

A unit's change always goes: mutate (state, version, phase, patch), then ``refresh``: integrate
the old segment up to now and set the new rates, in one pass over the unit's pairs; detection and
suspension then schedule what follows. ``close_all`` adds the last segment's harm at the horizon.
"""

from __future__ import annotations

import math

import numpy as np

from .exploitation import pending_harm, rate_integral
from .states import PAYING, SHADOW


class Exposure:
    """Pairs, exploitation, harm integrals and detection rates of every unit."""

    def __init__(self, sim):
        n = sim.units.n
        op = sim.config.operation
        self.clock = sim.clock
        self.taus = sim.taus
        self.pairs: list[list] = [[] for _ in range(n)]
        self.exposed = [False] * n       # has a pair in force or decaying
        self.mult = [0.0] * n            # capacity x state factor x stage factor
        self.t_last = [0.0] * n
        self.harm_a = [0.0] * n
        self.harm_b = [[0.0] * len(self.taus) for _ in range(n)]
        self.harm_cum = [0.0] * n
        self.harm_disc = [0.0] * n
        self.discount = sim.config.outcomes.discount_rate / 12.0
        self.state_factor = [0.0, 0.0, op.shadow_detection_factor, 1.0,
                             op.shadow_detection_factor]
        # paying units per (track, defect) in force, and distinct defects in force, per province
        n_prov = len(sim.world.provinces)
        self.inforce_count: list[dict[tuple[int, int], int]] = [{} for _ in range(n_prov)]
        self.defects_active = [0] * n_prov
        self.entrench = None             # entrenchment.py, when on

    def wire(self, sim) -> None:
        u = sim.units
        self._state, self._capacity, self._context = u.state, u.detection_capacity, u.context
        self._province, self._track, self._version, self._weight = \
            u.province, u.track, u.version, u.weight
        self._stage_factor = sim.provinces.stage_factor
        self._tracks = sim.centre.tracks
        self._evidence = sim.evidence
        self._detect = sim.detection.detect
        self._det_token = sim.detection.token
        self._suspension = sim.suspension
        self._recorder = sim.recorder
        self._unit_log = sim.recorder.unit_log

    def _integrate_harm(self, u: int, dt: float, t0: float) -> None:
        """Add unit u's harm (and discounted harm) over its segment [t0, t0 + dt]."""
        a, b = self.harm_a[u], self.harm_b[u]
        if a or any(b):
            self.harm_cum[u] += rate_integral(a, b, self.taus, dt)
            if self.discount > 0.0:
                self.harm_disc[u] += rate_integral(a, b, self.taus, dt, t0, self.discount)

    def close_all(self) -> None:
        """At the horizon: add every exposed unit's harm up to now (pairs are not needed any
        more)."""
        now = self.clock.env._now
        for u, exposed in enumerate(self.exposed):
            t0 = self.t_last[u]
            if exposed and now > t0:
                self._integrate_harm(u, now - t0, t0)

    def refresh(self, u: int) -> None:
        """Unit u changed (state, version, phase or a patch, already applied): integrate its
        old segment up to now, then set its rates for the new one and let detection and
        suspension schedule what follows. One pass over the unit's pairs does both (with each
        pair's fields read once into locals: this is the model's hottest loop)."""
        now = self.clock.env._now
        t0 = self.t_last[u]
        dt = now - t0
        keep = None
        if dt > 0.0:
            self.t_last[u] = now
            if self.exposed[u]:
                keep = [math.exp(-dt / tau) for tau in self.taus]
                self._integrate_harm(u, dt, t0)
        st = self._state[u]
        active = st >= SHADOW
        p = self._province[u]
        t = self._track[u]
        mult = self._capacity[u] * self.state_factor[st] * self._stage_factor[p] \
            if active else 0.0
        if mult != self.mult[u]:
            self._evidence.change(t, self._context[u], mult - self.mult[u])
            self.mult[u] = mult
        token = self._det_token[u] = self._det_token[u] + 1
        if t < 0:
            return
        fixed = self._tracks[t].fixed
        v = self._version[u]
        paying = st == PAYING
        w = self._weight[u]
        a = 0.0
        b = [0.0] * len(self.taus)
        exposed = False
        counts = self.inforce_count[p]
        ent = self.entrench
        pairs = self.pairs[u]
        dead = 0
        best_wait, best_pair = math.inf, None
        for pr in pairs:
            mode, e, res = pr.mode, pr.e, pr.res
            if keep is not None:       # the old segment, up to now
                rate = pr.rate
                if rate:
                    pr.lam += rate * dt
                if mode == 1:
                    if pr.tau_learn > 0.0:
                        e = 1.0 - (1.0 - e) * keep[pr.j_learn]
                elif mode == 2:
                    e *= keep[pr.j_unlearn]
                    if res and pr.j_res:
                        res *= keep[pr.j_res]
            d = pr.d
            fixed_d = fixed[d]
            inforce = active and pr.introduced <= v < fixed_d and not pr.patched
            if inforce and paying:
                sw = pr.s * w
                a += sw
                if pr.tau_learn > 0.0:
                    if ent is not None and mode != 1:     # an episode begins: imitation
                        pr.j_learn = ent.learn_index(
                            pr.tau_learn, ent.teachers(p, t, d, counts.get((t, d), 0), now))
                    b[pr.j_learn] -= sw * (1.0 - e)
                else:
                    e = 1.0
                mode = 1
            elif (e > 0.0 or res) and pr.tau_unlearn > 0.0:
                if ent is not None and not pr.res_taken and (fixed_d <= v or pr.patched):
                    pr.res_taken = True                   # the fix leaves a residue
                    res = ent.share * e
                    e -= res
                    pr.j_res = ent.residue_left(t, d, u)
                elif res and ent.enforced and pr.j_res != ent.j_enforced \
                        and (t, d) in ent.enforced:       # enforcement has begun against it
                    pr.j_res = ent.j_enforced
                if paying:
                    b[pr.j_unlearn] += pr.s * w * e
                    if res:
                        if pr.j_res:
                            b[pr.j_res] += pr.s * w * res
                        else:
                            a += pr.s * w * res
                mode = 2
            else:
                e = 0.0
                mode = 0
                if fixed_d <= v and not pr.paying_inforce:
                    dead += 1   # fixed in this unit's version, nothing left: never matters again
            pr.mode, pr.e, pr.res = mode, e, res
            if inforce and mult > 0.0:
                pr.rate = rate = pr.h * mult
                wait = (pr.thr - pr.lam) / rate
                if wait < best_wait:
                    best_wait, best_pair = wait, pr
            else:
                pr.rate = 0.0
            exposed = exposed or inforce or mode == 2
            flag = inforce and paying
            if flag != pr.paying_inforce:
                pr.paying_inforce = flag
                if ent is not None:
                    if flag:
                        ent.began(p, t, d, now)
                        pr.t_began = now
                    elif pr.t_began == now:     # began and left at this one instant
                        ent.unbegan(p, t, d, now)
                key = (t, d)
                now_count = counts.get(key, 0) + (1 if flag else -1)
                counts[key] = now_count
                if now_count == (1 if flag else 0):
                    self.defects_active[p] += 1 if flag else -1
                    self._recorder.active(now, p, self.defects_active[p])
        b[0] = 0.0
        if dead:
            self.pairs[u] = [pr for pr in pairs
                             if pr.mode or pr.paying_inforce or fixed[pr.d] > v]
        self.exposed[u] = exposed
        self.harm_a[u] = a
        self.harm_b[u] = b
        self._unit_log.append((now, u, self.harm_cum[u], a, *b))
        if best_pair is not None:
            self.clock.at(max(0.0, best_wait), self._detect, u, best_pair, token)
        if paying:
            self._suspension.check_paying(u, a, b)
        else:
            self._suspension.stop(u)

    def harm_to_date(self) -> np.ndarray:
        """Each unit's cumulative harm now, without advancing (for observed-harm evidence)."""
        cum, _ = pending_harm(np.array([self.clock.env._now]), np.array(self.t_last),
                              np.array(self.harm_cum), np.array(self.harm_a),
                              np.array(self.harm_b).T, np.array(self.taus))
        return cum[0]
