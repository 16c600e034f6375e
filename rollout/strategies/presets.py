"""The named rollout designs, each a set of values for the strategy primitives.

A strategy table in a config starts from one of these (``preset``, by default its own name) and
overrides any primitive. The resolved config stores every primitive, so a run records exactly
which design it simulated.
"""

from __future__ import annotations

import copy
from typing import Any

#: Primitive values shared by every preset unless it says otherwise.
_COMMON: dict[str, Any] = {
    "track": "DRG",
    "pilots": [],
    "selection": "representative",
    "pilot_shadow_months": 6.0,
    "pilot_shadow_cv": 0.0,
    "pilot_paying_months": 12.0,
    "pilot_quorum": 0.8,
    "evaluation_months": 6.0,
    "recalibration_gate": True,
    "evidence_threshold": None,
    "evidence_review_months": 1.0,
    "track_choice": "fixed",
    "waves": [0.4, 0.3, 0.3],
    "wave_interval_months": 12.0,
    "wave_dates": None,
    "wave_lead_months": 0.0,
    "wave_date_scale": 1.0,
    "wave_order": "capacity",
    "wave_shadow_months": 0.0,
    "wave_shadow_cv": 0.0,
    "pinned_releases": None,
    "release_policy": None,
}

_DRG_PILOTS = {"track": "DRG", "count": 30, "max_per_province": 2, "start": None,
               "shadow_from": None}
_DIP_PILOTS = {"track": "DIP", "count": 71, "max_per_province": 3, "start": None,
               "shadow_from": None}

PRESETS: dict[str, dict[str, Any]] = {
    "big_bang": {
        **_COMMON,
        "pilot_shadow_months": 0.0,
        "pilot_paying_months": 0.0,
        "evaluation_months": 0.0,
        "recalibration_gate": False,
        "waves": [1.0],
        "wave_interval_months": 0.0,
    },
    # Big bang with each region on the track that suits its capacity tier (track_fit; issue 20):
    # "pilot, or switch everyone at once to the track that suits them".
    "big_bang_matched": {
        **_COMMON,
        "pilot_shadow_months": 0.0,
        "pilot_paying_months": 0.0,
        "evaluation_months": 0.0,
        "recalibration_gate": False,
        "track_choice": "fit",
        "waves": [1.0],
        "wave_interval_months": 0.0,
    },
    # The piloting presets prepare each wave's regions ahead of it, by the lead China's regions
    # took before their wave (historical calibration, model v2: 7.3 months, 90% 0.9-16.2).
    "phased": {**_COMMON, "pilots": [_DRG_PILOTS], "wave_lead_months": 7.3},
    "dual_track": {**_COMMON, "pilots": [_DRG_PILOTS, _DIP_PILOTS], "track_choice": "evidence",
                   "wave_lead_months": 7.3},
    "adaptive": {**_COMMON, "pilots": [_DRG_PILOTS], "evidence_threshold": 1.0,
                 "wave_interval_months": 6.0, "wave_lead_months": 7.3},
    "historical": {
        **_COMMON,
        "pilots": [
            {**_DRG_PILOTS, "start": "2019-05", "shadow_from": "2021-03"},
            {**_DIP_PILOTS, "start": "2020-11"},
        ],
        "pilot_shadow_months": 3.0,
        "pilot_paying_months": 0.0,
        "evaluation_months": 0.0,
        "recalibration_gate": False,
        "track_choice": "evidence",
        "wave_dates": ["2022-01", "2023-01", "2024-01"],
        "wave_lead_months": 6.0,   # to pay within the wave's year; a calibration target
        "wave_interval_months": 0.0,
        "pinned_releases": {
            "DRG": ["2020-06", "2021-05", "2024-07"],
            "DIP": ["2020-11", "2024-07"],
        },
        # the calendar's versions, then on demand: the centre did not stop correcting the
        # rules after 2.0 (model v2; before, nothing was released after 2024-07)
        "release_policy": "pinned_then_on_demand",
    },
}


def preset(name: str) -> dict[str, Any]:
    """A deep copy of a preset's primitive values (KeyError if there is no such preset)."""
    return copy.deepcopy(PRESETS[name])
