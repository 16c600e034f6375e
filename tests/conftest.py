"""Shared helpers: small configs whose answers can be worked out by hand."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from rollout.config import RolloutConfig, check_against_data, validate_dict
from rollout.model.simulation import RunResult, Simulation
from rollout.model.world import World, build_world
from rollout.strategies.controller import run_strategy

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "rollout" / "bundled" / "provinces.csv"

#: A single plain defect kind (no learning) everywhere; other kinds get share 0.
PLAIN_ONLY = {name: {"share": 0.0} for name in (
    "weight_miscalibration", "upcoding", "cost_shifting", "patient_selection",
    "split_admissions")} | {"grouping_error": {"share": 1.0, "detectability_factor": 1.0}}


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge ``extra`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def small_dict(**extra: Any) -> dict:
    """Four provinces (13 + 11 + 4 + 5 regions would be too many: Beijing 1, Hebei 11, Hainan 4,
    Ningxia 5 = 21 regions), 60 months, all four designs scaled to fit."""
    base = {
        "name": "small",
        "seed": 7,
        "replicates": 4,
        "tracks": ["DRG", "DIP"],
        "time": {"start": "2019-01", "horizon_months": 60},
        "regions": {"data": str(DATA), "provinces": ["Beijing", "Hebei", "Hainan", "Ningxia"]},
        "strategies": {
            "big_bang": {},
            "phased": {"pilots": [{"track": "DRG", "count": 4, "max_per_province": 2}]},
            "dual_track": {"pilots": [{"track": "DRG", "count": 4, "max_per_province": 2},
                                      {"track": "DIP", "count": 4, "max_per_province": 2}]},
            "adaptive": {"pilots": [{"track": "DRG", "count": 4, "max_per_province": 2}]},
        },
    }
    return merge(base, extra)


def make_config(data: dict) -> RolloutConfig:
    config = validate_dict(data)
    check_against_data(config)
    return config


def one_region_dict(**extra: Any) -> dict:
    """Beijing only (one region, weight 1), capacity exactly 1, preparation ~instant, big bang,
    one plain universal defect with fixed traits, nothing learned or suspended unless asked."""
    base = {
        "name": "one_region",
        "seed": 11,
        "replicates": 1,
        "tracks": ["DRG"],
        "time": {"start": "2019-01", "horizon_months": 60},
        "regions": {"data": str(DATA), "provinces": ["Beijing"], "capacity_low": 1.0,
                    "capacity_high": 1.0, "capacity_noise": 0.0},
        "preparation": {"mean_months": 1e-6},
        "defects": {"fixed_count": 1, "universal_prob": 1.0, "severity_sigma": 0.0,
                    "detectability_sigma": 0.0, "kinds": PLAIN_ONLY},
        "learning": {"report_prob": 0.0, "local_patch_prob": 0.0},
        "suspension": {"enabled": False},
        "strategies": {"big_bang": {}},
    }
    return merge(base, extra)


def run_one(config: RolloutConfig, strategy: str = "big_bang", replicate: int = 0,
            record_events: bool = False, world: World | None = None
            ) -> tuple[RunResult, Simulation]:
    """Run one strategy in one replicate; return the result and the finished simulation."""
    from rollout.data import load_provinces

    if world is None:
        world = build_world(config, load_provinces(config), config.seed, replicate)
    sim = Simulation(config, world, config.strategies[strategy], record_events)
    return sim.run(run_strategy), sim


def event_times(result: RunResult, kind: str, unit: int | None = None) -> list[float]:
    """Times of logged events of one kind (optionally of one unit)."""
    from rollout.model.simulation import EVENT_KINDS

    code = EVENT_KINDS.index(kind)
    return [row[0] for row in result.events
            if row[1] == code and (unit is None or row[3] == unit)]


@pytest.fixture
def small_config() -> RolloutConfig:
    return make_config(small_dict())
