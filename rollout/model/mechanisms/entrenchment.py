"""Persistent entrenchment: gaming that outlives its fix, and gaming learnt from neighbours
(docs/model.md, "Entrenchment"; issue 11, mechanism 4).

Residue. When a gaming defect (one with an unlearning time, exposure.py) leaves force in a unit
by a fix or a local patch, a share rho = ``residue_share`` of the exploitation e it has then
becomes a residue that decays with time constant ``residue_months`` (0: never) instead of
``tau_unlearn``; the rest decays as before. While the unit pays, the pair's harm rate is
s x w x (e_0 (1 - rho) exp(-x / tau_unlearn) + rho e_0 exp(-x / tau_residue)), exactly
integrated like every other term.

Imitation. A unit that begins paying under a defect with a learning time (the gaming kinds) in
force learns it faster when other units of its province already pay under it in force: its
learning time constant for that episode is tau_learn / (1 + ``imitation`` x min(m,
``max_teachers``)), m those neighbours that began before that moment (units that begin at the
same instant do not teach each other, whatever the order in which their events are
processed). With imitation 0 and rho 0 nothing changes. The mechanism draws nothing.

Enforcement (``entrenchment.enforcement``; issue 20). A technical fix leaves the residue (the US
after the 2008 MS-DRG refinement); audits and sanctions remove it (the US after 1996). Once the
centre knows a gaming defect (its first report arrives at K_d), enforcement against it begins at
K_d + ``lag_months``: from then on every residue of that defect, left before or after, decays
with 1 / tau_enforced = 1 / ``residue_months`` + 1 / ``enforcement.months`` (1 / tau_enforced =
1 / ``enforcement.months`` for a residue that never decays on its own). No audit capacity is
modelled: every region's residue of the defect is enforced against at once (docs/model.md).
"""

from __future__ import annotations


def imitated_tau(tau_learn: float, teachers: int, imitation: float) -> float:
    """Learning time constant with ``teachers`` neighbours (the same float everywhere)."""
    return tau_learn / (1.0 + imitation * teachers)


def enforced_tau(residue_months: float, enforcement_months: float) -> float:
    """Time constant of a residue under enforcement (the two decay rates add)."""
    if residue_months <= 0.0:
        return enforcement_months
    return 1.0 / (1.0 / residue_months + 1.0 / enforcement_months)


def entrenchment_taus(config) -> set[float]:
    """Time constants the mechanism adds to the model's set (tracks.distinct_taus)."""
    cfg = config.entrenchment
    if not cfg.enabled:
        return set()
    out = {cfg.residue_months} if cfg.residue_months > 0.0 else set()
    if cfg.enforcement.enabled:
        out.add(enforced_tau(cfg.residue_months, cfg.enforcement.months))
    if cfg.imitation > 0.0:
        for kind in config.defects.kinds.as_list():
            if kind.tau_learn > 0.0:
                out.update(imitated_tau(kind.tau_learn, k, cfg.imitation)
                           for k in range(1, cfg.max_teachers + 1))
    return out


class Entrenchment:
    """What exposure.py asks when a gaming pair starts paying in force or leaves force."""

    def __init__(self, sim):
        cfg = sim.config.entrenchment
        self.on = cfg.enabled
        self.share = cfg.residue_share
        self.imitation = cfg.imitation
        self.max_teachers = cfg.max_teachers
        taus = sim.taus
        self._index = {tau: 1 + taus[1:].index(tau) for tau in taus[1:]}
        #: index of the residue's time constant, or 0 if the residue never decays
        self.j_residue = (self._index[cfg.residue_months]
                          if self.on and cfg.residue_months > 0.0 else 0)
        self._began_now: dict[tuple[int, int, int], tuple[float, int]] = {}
        enforcement = cfg.enforcement
        self.enforcing = self.on and enforcement.enabled
        self.lag = enforcement.lag_months
        #: index of the residue's time constant under enforcement
        self.j_enforced = (self._index[enforced_tau(cfg.residue_months, enforcement.months)]
                           if self.enforcing else 0)
        #: (track, defect) pairs enforcement has begun against
        self.enforced: set[tuple[int, int]] = set()
        #: units left a residue of each (track, defect)
        self.holders: dict[tuple[int, int], list[int]] = {}

    def wire(self, sim) -> None:
        if self.on:
            sim.exposure.entrench = self
        if self.enforcing:
            self.clock, self._sim = sim.clock, sim
            sim.signals.connect("known", self._known)

    def residue_left(self, track: int, defect: int, u: int) -> int:
        """Unit u is left a residue of the defect now: the index of its time constant (0: it
        never decays); enforcement will find it among the defect's holders."""
        if self.enforcing:
            self.holders.setdefault((track, defect), []).append(u)
            if (track, defect) in self.enforced:
                return self.j_enforced
        return self.j_residue

    def _known(self, track: int, defect: int) -> None:
        """The centre knows a defect now: enforcement against a gaming one begins after the
        lag."""
        if self._sim.centre.tracks[track].pair_traits[defect][3] > 0.0:    # tau_unlearn
            self.clock.at(self.lag, self._enforce, track, defect)

    def _enforce(self, track: int, defect: int) -> None:
        """From now on every residue of the defect decays at the enforced rate."""
        self.enforced.add((track, defect))
        sim = self._sim
        for u in self.holders.get((track, defect), ()):
            sim.exposure.refresh(u)
            sim.suspension.entrenched_changed(u)

    def began(self, p: int, track: int, defect: int, now: float) -> None:
        """A unit of province p began paying under (track, defect) in force now."""
        key = (p, track, defect)
        when, k = self._began_now.get(key, (None, 0))
        self._began_now[key] = (now, k + 1 if when == now else 1)

    def unbegan(self, p: int, track: int, defect: int, now: float) -> None:
        """A unit that began paying under it in force now stopped now: it is no longer among
        those that began now (so the teachers counted are never negative, e.g. when adoptions
        held back by a pause all happen at its end)."""
        key = (p, track, defect)
        when, k = self._began_now[key]
        if when == now:
            self._began_now[key] = (now, k - 1)

    def teachers(self, p: int, track: int, defect: int, paying: int, now: float) -> int:
        """Units of province p paying under the defect in force that began before now (those
        that began at this very moment teach nobody yet, whatever the order of the events)."""
        when, k = self._began_now.get((p, track, defect), (None, 0))
        return paying - k if when == now else paying

    def learn_index(self, tau_learn: float, neighbours: int) -> int:
        """Index (in the model's taus) of the learning time constant of an episode that starts
        with ``neighbours`` units of the province paying under the defect in force."""
        teachers = min(neighbours, self.max_teachers)
        return self._index[imitated_tau(tau_learn, teachers, self.imitation)]
