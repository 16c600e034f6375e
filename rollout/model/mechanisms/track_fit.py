"""Track fit to context: DRG and DIP prepare and err differently by a region's capacity
(docs/model.md, "Track fit"; issue 11, mechanism 5).

A region is in the low tier if its capacity is below ``track_fit.tier_capacity``, else in the
high tier. A unit starting on track T has its preparation work multiplied by T's
``preparation_low`` or ``preparation_high`` and the severity of every defect of T it carries by
``severity_low`` or ``severity_high`` (``track_fit.tracks``; tracks not named: 1). DIP, built from
local historical cases, is simpler to prepare and more forgiving where coding is weak; DRG is more
precise where capacity is high. So a province's choice of track (dual track) can matter, and a
design may put each region on the track that suits it (``track_choice = "fit"``, any preset:
``fitting_tracks``; issue 20).
"""

from __future__ import annotations

import numpy as np


class TrackFit:
    """Preparation and severity factors by track and capacity tier."""

    def __init__(self, sim):
        cfg = sim.config.track_fit
        self.on = cfg.enabled
        self.low = (sim.world.capacity < cfg.tier_capacity).tolist()
        laws = [cfg.tracks.get(name) for name in sim.config.tracks]
        self.preparation = [(1.0, 1.0) if law is None else
                            (law.preparation_high, law.preparation_low) for law in laws]
        self.severity = [(1.0, 1.0) if law is None else
                         (law.severity_high, law.severity_low) for law in laws]

    def wire(self, sim) -> None:
        if self.on:
            self._track = sim.units.track
            sim.lifecycle.preparation_factors.append(self.preparation_factor)
            sim.detection.severity_factors.append(self.severity_factor)

    def preparation_factor(self, u: int) -> float:
        return self.preparation[self._track[u]][self.low[u]]

    def severity_factor(self, u: int, track: int) -> float:
        return self.severity[track][self.low[u]]


def fitting_tracks(config, capacity: np.ndarray, default: int) -> np.ndarray:
    """The track that suits each unit's capacity tier (``track_choice = "fit"``): the lowest
    severity factor for its tier (the track that errs least there), then the lowest preparation
    factor, then ``default`` (the strategy's own track), then the first. With track fit off no
    track suits better than another: every unit gets ``default``."""
    cfg = config.track_fit
    if not cfg.enabled:
        return np.full(len(capacity), default)
    names = config.tracks
    laws = [cfg.tracks.get(name) for name in names]

    def best(low: bool) -> int:
        def key(t: int) -> tuple[float, float, bool, int]:
            law = laws[t]
            sev = 1.0 if law is None else (law.severity_low if low else law.severity_high)
            prep = 1.0 if law is None else (law.preparation_low if low else law.preparation_high)
            return sev, prep, t != default, t
        return min(range(len(names)), key=key)

    return np.where(capacity < cfg.tier_capacity, best(True), best(False))
