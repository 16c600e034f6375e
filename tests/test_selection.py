"""Pilot selection and wave assignment (rollout/strategies/selection.py, MODEL.md section 7), on
worlds of the full 31-province default configuration (337 regions). All checks are exact."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from rollout.config import validate_dict
from rollout.data import load_provinces
from rollout.model.defects import N_CONTEXTS
from rollout.model.world import build_world
from rollout.strategies.selection import assign_waves, select_pilots

RULES = ("representative", "convenience", "random")
REPLICATES = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def default_config():
    return validate_dict({})


@pytest.fixture(scope="module")
def provinces(default_config):
    return load_provinces(default_config)


@pytest.fixture(scope="module")
def worlds(default_config, provinces):
    return {rep: build_world(default_config, provinces, default_config.seed, rep)
            for rep in REPLICATES}


def room(world, cap: int, exclude=()) -> int:
    """How many pilots fit at most ``cap`` a province among regions not excluded."""
    free = np.ones(world.n_regions, bool)
    free[list(exclude)] = False
    per_prov = np.bincount(world.region_province[free], minlength=len(world.provinces))
    return int(np.minimum(per_prov, cap).sum())


def check_selection(world, chosen, count: int, cap: int, exclude=()) -> None:
    chosen = np.asarray(chosen)
    assert chosen.dtype.kind == "i"
    assert len(chosen) == count
    assert len(set(chosen.tolist())) == count, "pilots must be distinct"
    assert all(0 <= r < world.n_regions for r in chosen.tolist())
    assert not set(chosen.tolist()) & set(exclude)
    per_prov = np.bincount(world.region_province[chosen], minlength=len(world.provinces))
    assert per_prov.max() <= cap


def test_the_default_world_has_337_regions_in_31_provinces(worlds):
    world = worlds[0]
    assert len(world.provinces) == 31 and world.n_regions == 337
    assert set(np.unique(world.region_context).tolist()) == set(range(N_CONTEXTS))


# ------------------------------------------------------------------------------ select_pilots
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(("count", "cap"), [(30, 2), (71, 3), (6, 1), (1, 1), (0, 2)])
def test_select_pilots_gives_count_distinct_regions_within_the_cap(worlds, rule, count, cap):
    for rep, world in worlds.items():
        chosen = select_pilots(world, 0, count, cap, rule, set())
        check_selection(world, chosen, count, cap)
        assert np.all(np.diff(chosen) > 0), f"replicate {rep}: returned sorted"


@pytest.mark.parametrize("rule", RULES)
def test_dual_track_groups_are_disjoint(worlds, rule):
    """DRG 30 (at most 2 a province), then DIP 71 (at most 3) excluding the DRG pilots."""
    for world in worlds.values():
        drg = select_pilots(world, 0, 30, 2, rule, set())
        taken = set(drg.tolist())
        dip = select_pilots(world, 1, 71, 3, rule, taken)
        check_selection(world, drg, 30, 2)
        check_selection(world, dip, 71, 3, exclude=taken)
        assert not taken & set(dip.tolist())


@pytest.mark.parametrize("exclude_count", [0, 30])
def test_convenience_picks_the_highest_capacity_regions_with_room(worlds, exclude_count):
    """No unpicked, not excluded region in a province that still has room has a higher capacity
    than the lowest picked one (ties allowed)."""
    cap = 2
    for world in worlds.values():
        exclude = set(select_pilots(world, 0, exclude_count, 2, "random", set()).tolist())
        chosen = select_pilots(world, 0, 30, cap, "convenience", exclude)
        capacity = world.region_capacity
        lowest = capacity[chosen].min()
        used = np.bincount(world.region_province[chosen], minlength=len(world.provinces))
        for r in range(world.n_regions):
            if r in exclude or r in chosen:
                continue
            if used[world.region_province[r]] < cap:
                assert capacity[r] <= lowest, (r, capacity[r], lowest)
        # positive selection: the pilots are richer than the regions at large
        assert capacity[chosen].mean() > capacity.mean()


@pytest.mark.parametrize(("count", "cap"), [(30, 2), (6, 1), (12, 2), (18, 1), (71, 3)])
def test_representative_covers_every_context_more_evenly_than_convenience(worlds, count, cap):
    """With count >= 6 representative covers all 6 contexts, and its context counts are more even
    (smaller max - min, and smaller max / min) than convenience's in every replicate; for the
    sizes where no context runs short under the cap (count <= 30) they differ by at most 1."""
    for world in worlds.values():
        ctx = world.region_context
        rep = np.bincount(ctx[select_pilots(world, 0, count, cap, "representative", set())],
                          minlength=N_CONTEXTS)
        conv = np.bincount(ctx[select_pilots(world, 0, count, cap, "convenience", set())],
                           minlength=N_CONTEXTS)
        assert (rep > 0).all(), rep
        assert np.ptp(rep) < np.ptp(conv), (rep, conv)
        conv_ratio = conv.max() / conv.min() if conv.min() else math.inf
        assert rep.max() / rep.min() < conv_ratio, (rep, conv)
        if count <= 30:
            assert np.ptp(rep) <= 1, rep
            assert (conv > 0).sum() < N_CONTEXTS, conv   # rich regions only: few contexts


def test_representative_dip_group_after_drg_is_spread_too(worlds):
    """The DIP group (71, at most 3 a province) chosen after the DRG group covers every context
    and is more even than the convenience choice of the same design."""
    for world in worlds.values():
        ctx = world.region_context
        counts = {}
        for rule in ("representative", "convenience"):
            drg = select_pilots(world, 0, 30, 2, rule, set())
            dip = select_pilots(world, 1, 71, 3, rule, set(drg.tolist()))
            counts[rule] = np.bincount(ctx[dip], minlength=N_CONTEXTS)
        assert (counts["representative"] > 0).all()
        assert np.ptp(counts["representative"]) < np.ptp(counts["convenience"]), counts


@pytest.mark.parametrize("rule", ["random", "representative"])
def test_random_draws_differ_by_replicate_and_repeat_by_key(default_config, provinces, worlds,
                                                              rule):
    """The same (seed, replicate) gives the same pilots (also from a freshly built world); other
    replicates, seeds and tracks give other pilots."""
    sets = []
    for rep, world in worlds.items():
        first = select_pilots(world, 0, 30, 2, rule, set())
        again = select_pilots(world, 0, 30, 2, rule, set())
        fresh = build_world(default_config, provinces, default_config.seed, rep)
        np.testing.assert_array_equal(first, again)
        np.testing.assert_array_equal(first, select_pilots(fresh, 0, 30, 2, rule, set()))
        sets.append(frozenset(first.tolist()))
    assert len(set(sets)) == len(sets), "every replicate should draw its own pilots"
    other_seed = build_world(default_config, provinces, default_config.seed + 1, 0)
    assert set(select_pilots(other_seed, 0, 30, 2, rule, set()).tolist()) != set(sets[0])
    assert set(select_pilots(worlds[0], 1, 30, 2, rule, set()).tolist()) != set(sets[0])


def test_convenience_does_not_depend_on_luck_beyond_the_world(worlds):
    """Convenience is a function of capacities: the same for both tracks of one world."""
    for world in worlds.values():
        np.testing.assert_array_equal(select_pilots(world, 0, 30, 2, "convenience", set()),
                                      select_pilots(world, 1, 30, 2, "convenience", set()))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("cap", [1, 2, 3])
def test_as_many_pilots_as_fit_work_and_one_more_raises(worlds, rule, cap):
    world = worlds[0]
    fit = room(world, cap)
    assert fit == int(np.minimum(world.provinces.n_regions, cap).sum())
    check_selection(world, select_pilots(world, 0, fit, cap, rule, set()), fit, cap)
    with pytest.raises(ValueError, match="fit"):
        select_pilots(world, 0, fit + 1, cap, rule, set())
    exclude = set(select_pilots(world, 0, 30, 2, "random", set()).tolist())
    fit_ex = room(world, cap, exclude)
    check_selection(world, select_pilots(world, 1, fit_ex, cap, rule, exclude), fit_ex, cap,
                    exclude)
    with pytest.raises(ValueError, match="fit"):
        select_pilots(world, 1, fit_ex + 1, cap, rule, exclude)


def test_unknown_rule_raises(worlds):
    with pytest.raises(ValueError, match="unknown selection rule"):
        select_pilots(worlds[0], 0, 5, 2, "cheapest", set())


# ------------------------------------------------------------------------------ assign_waves
def expected_cuts(n: int, fractions) -> list[int]:
    """Cumulative wave sizes: ceil(n x cumulative share), computed in exact rationals."""
    cum = Fraction(0)
    out = []
    for f in fractions:
        cum += Fraction(str(f))
        out.append(min(n, math.ceil(cum * n)))
    out[-1] = n
    return out


def check_waves(world, regions, waves, fractions, order) -> None:
    regions = np.asarray(regions)
    assert len(waves) == len(fractions)
    flat = np.concatenate(waves) if waves else np.array([], int)
    assert sorted(flat.tolist()) == sorted(regions.tolist()), "each region in exactly one wave"
    assert np.cumsum([len(w) for w in waves]).tolist() == expected_cuts(len(regions), fractions)
    if order == "capacity" and len(flat) > 1:
        cap = world.region_capacity[flat]
        assert np.all(np.diff(cap) <= 0.0), "higher capacity first"
        for a, b in zip(flat[:-1], flat[1:], strict=True):   # ties: lower index first
            if world.region_capacity[a] == world.region_capacity[b]:
                assert a < b


@pytest.mark.parametrize("order", ["capacity", "random"])
@pytest.mark.parametrize("fractions", [(0.4, 0.3, 0.3), (1.0,), (0.5, 0.5), (0.1, 0.2, 0.3, 0.4),
                                       (0.25, 0.25, 0.25, 0.25)])
def test_assign_waves_every_province(worlds, order, fractions):
    for world in worlds.values():
        for p in range(len(world.provinces)):
            regions = np.flatnonzero(world.region_province == p)
            waves = assign_waves(world, regions, list(fractions), order, p)
            check_waves(world, regions, waves, fractions, order)


@pytest.mark.parametrize("order", ["capacity", "random"])
def test_assign_waves_40_30_30_for_every_size(worlds, order):
    """n = 0..60 regions: cumulative wave sizes ceil(0.4 n), ceil(0.7 n), n."""
    world = worlds[0]
    rng = np.random.default_rng(5)     # which regions form the test sets; any would do
    for n in range(61):
        regions = np.sort(rng.choice(world.n_regions, size=n, replace=False))
        waves = assign_waves(world, regions, [0.4, 0.3, 0.3], order, 0)
        sizes = np.cumsum([len(w) for w in waves]).tolist()
        assert sizes == [-(-4 * n // 10), -(-7 * n // 10), n], n
        check_waves(world, regions, waves, (0.4, 0.3, 0.3), order)


def test_assign_waves_random_order_is_keyed(default_config, provinces, worlds):
    """Random wave order: the same for the same (seed, replicate, province), different across
    replicates (for a province with many regions)."""
    p = int(np.argmax(worlds[0].provinces.n_regions))
    orders = []
    for rep, world in worlds.items():
        regions = np.flatnonzero(world.region_province == p)
        a = np.concatenate(assign_waves(world, regions, [0.4, 0.3, 0.3], "random", p))
        fresh = build_world(default_config, provinces, default_config.seed, rep)
        b = np.concatenate(assign_waves(fresh, regions, [0.4, 0.3, 0.3], "random", p))
        np.testing.assert_array_equal(a, b)
        orders.append(tuple(a.tolist()))
    assert len(set(orders)) == len(orders)
    assert len(orders[0]) >= 10
