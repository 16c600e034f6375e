"""The model's component structure: each mechanism on its own, the extension points a new
mechanism uses, the strategies' interface, and the recorder's log reading against brute force.

Deterministic checks are exact unless stated; the stochastic one names its seed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config, one_region_dict, run_one, small_dict

from rollout.data import load_provinces
from rollout.model.core import Clock
from rollout.model.recorder import latest
from rollout.model.simulation import COMPONENTS, STRATEGY_INTERFACE, Simulation
from rollout.model.world import build_world
from rollout.strategies.controller import run_strategy

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ recorder
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_latest_log_entry_at_or_before_each_grid_time_matches_brute_force(seed):
    """Random logs (seed 1-3; ties in time, entries exactly on grid times, keys never logged):
    the index of the last entry of each key at or before each grid time equals a direct scan."""
    rng = np.random.default_rng(seed)
    grid = np.arange(1.0, 13.0)
    n_keys = 7
    times = np.sort(np.concatenate([rng.uniform(0, 14, 60), rng.integers(1, 13, 10)])).tolist()
    keys = rng.integers(0, n_keys - 1, len(times)).tolist()   # key 6 is never logged
    got = latest(times, keys, grid, n_keys)
    for i, g in enumerate(grid):
        for k in range(n_keys):
            hits = [j for j, (t, kk) in enumerate(zip(times, keys, strict=True))
                    if kk == k and t <= g]
            assert got[i, k] == (hits[-1] if hits else -1), (g, k)


# ------------------------------------------------------------------------------ clock
def test_clock_counts_processed_events_not_stale_or_unreached_ones():
    """Three calls scheduled (a fourth beyond the horizon is dropped), one marks itself stale,
    one is still queued at the end of the run: one event was processed."""
    clock = Clock(horizon=10.0)
    fired = []

    def work(name):
        fired.append((clock.now, name))

    def stale():
        clock.stale += 1

    clock.at(2.0, work, "a")
    clock.at(3.0, stale)
    clock.at(9.0, work, "late")
    clock.at(11.0, work, "beyond")
    clock.env.run(until=5.0)
    assert fired == [(2.0, "a")]
    assert clock.scheduled == 3 and clock.processed() == 1


# ------------------------------------------------------------------------------ extension
class Toy:
    """A mechanism added as one component: it scales every preparation by ``factor`` and
    counts the suspensions and first operations other mechanisms announce."""

    factor = 1.0

    def __init__(self, sim):
        self.suspended: list[int] = []
        self.operating: list[int] = []

    def wire(self, sim) -> None:
        sim.lifecycle.preparation_factors.append(lambda u: self.factor)
        sim.signals.connect("suspended", self.suspended.append)
        sim.signals.connect("operating", self.operating.append)


def _run(config, strategy, components, replicate=0):
    world = build_world(config, load_provinces(config), config.seed, replicate)
    sim = Simulation(config, world, config.strategies[strategy], components=components)
    return sim.run(run_strategy), sim


@pytest.mark.parametrize("strategy", ["big_bang", "phased", "dual_track"])
def test_a_neutral_new_component_changes_nothing(strategy, monkeypatch):
    """small_dict (seed 7), replicate 1: registering the toy with factor 1 gives exactly the
    results of the model without it; its signal counts match the run's own counts."""
    cfg = make_config(small_dict())
    base, _ = _run(cfg, strategy, COMPONENTS, 1)
    monkeypatch.setattr(Toy, "factor", 1.0)
    res, sim = _run(cfg, strategy, COMPONENTS + (("toy", Toy),), 1)
    for name in ("stage", "coverage", "harm", "benefit", "defects_active", "version"):
        np.testing.assert_array_equal(getattr(res, name), getattr(base, name))
    assert res.summary == pytest.approx(base.summary, nan_ok=True, rel=0, abs=0)
    assert len(sim.toy.suspended) == res.summary["suspensions"]
    assert len(sim.toy.operating) == sum(np.isfinite(sim.units.first_operating))


def test_a_preparation_factor_scales_preparation_exactly(monkeypatch):
    """One region, no defects, big bang: with the toy's factor 0.5 the region pays (t_full)
    after exactly half the preparation it takes without the toy (0.5 x is exact in binary)."""
    cfg = make_config(one_region_dict(defects={"fixed_count": 0}))
    base, _ = _run(cfg, "big_bang", COMPONENTS)
    monkeypatch.setattr(Toy, "factor", 0.5)
    res, _ = _run(cfg, "big_bang", COMPONENTS + (("toy", Toy),))
    assert base.summary["t_full"] > 0
    assert res.summary["t_full"] == 0.5 * base.summary["t_full"]


# ------------------------------------------------------------------------------ interfaces
def _sim_attributes(path: Path) -> set[str]:
    """Attributes read on a variable named ``sim`` in a module."""
    tree = ast.parse(path.read_text())
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "sim"}


def test_strategies_use_only_the_documented_interface():
    """Every attribute the strategies read on the simulation is in STRATEGY_INTERFACE, each of
    those exists on Simulation, and docs/model.md lists each one."""
    used = set().union(*(_sim_attributes(p) for p in (ROOT / "rollout" / "strategies")
                         .glob("*.py")))
    assert used, "the controller should drive the simulation"
    assert used <= set(STRATEGY_INTERFACE), sorted(used - set(STRATEGY_INTERFACE))
    cfg = make_config(small_dict())
    _, sim = run_one(cfg)
    doc = (ROOT / "docs" / "model.md").read_text()
    for name in STRATEGY_INTERFACE:
        assert hasattr(sim, name), name
        assert f"`{name}" in doc, f"docs/model.md does not document {name}"


def test_model_modules_are_small_and_say_what_they_implement():
    """Each module of the model is at most 250 lines and opens with a docstring; each component
    registered in COMPONENTS lives in its own module."""
    for path in (ROOT / "rollout" / "model").rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 250, path.name
        assert ast.get_docstring(ast.parse(text)), path.name
    modules = [cls.__module__ for _, cls in COMPONENTS]
    assert len(set(modules)) == len(modules)
