"""Experiment designs: --set parsing, grid order, space-filling samples, validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_config, small_dict

from rollout.config import validate_dict
from rollout.data import load_provinces
from rollout.errors import ConfigError
from rollout.experiment.designs import build_design, check_design, parse_set, point_config
from rollout.model.world import build_world


def test_parse_set_values_and_ranges():
    got = parse_set(["a.b=1,2,3", "c=0.1:0.9:5", "d=representative,random", "e=true,false",
                     "f=2:8"])
    assert got == {"a.b": [1, 2, 3], "c": {"low": 0.1, "high": 0.9, "n": 5},
                   "d": ["representative", "random"], "e": [True, False],
                   "f": {"low": 2.0, "high": 8.0}}


@pytest.mark.parametrize("item, words", [
    ("novalue", "expected NAME=VALUES"), ("=1,2", "expected NAME=VALUES"), ("a=", "no values"),
    ("a=1:2:3:4", "LO:HI or LO:HI:N"), ("a=x:y", "must be numbers"), ("a=1:2:z", "whole number"),
    ("a=1,,2", "empty value")])
def test_parse_set_rejects_malformed_items(item, words):
    with pytest.raises(ConfigError, match=words) as err:
        parse_set([item])
    assert f"--set {item}" in str(err.value)


def test_grid_is_the_full_product_in_c_order():
    """Dimensions in sorted path order (the canonical config's), whatever the listed order."""
    cfg = validate_dict({"sweep": {"parameters": {
        "defects.mean_count": [6, 12],
        "adoption.steering": {"low": 0.3, "high": 0.9, "n": 3},
        "strategies.phased.selection": ["representative", "random"]}}})
    d = build_design(cfg)
    assert d.dims == ["adoption.steering", "defects.mean_count", "strategies.phased.selection"]
    assert d.shape == (3, 2, 2) and d.size == 12
    np.testing.assert_allclose(d.coords["adoption.steering"][1], [0.3, 0.6, 0.9])
    for p, point in enumerate(d.points):
        j, i, k = d.index(p)
        assert point["defects.mean_count"] == [6, 12][i]
        assert point["adoption.steering"] == pytest.approx([0.3, 0.6, 0.9][j])
        assert point["strategies.phased.selection"] == ["representative", "random"][k]


def test_log_range_is_geometric():
    cfg = validate_dict({"sweep": {"parameters": {
        "defects.detectability_median": {"low": 0.01, "high": 1.0, "n": 3, "log": True}}}})
    np.testing.assert_allclose(build_design(cfg).coords["defects.detectability_median"][1],
                               [0.01, 0.1, 1.0])


def test_latin_hypercube_stratifies_every_parameter():
    n = 16
    cfg = validate_dict({"sweep": {"design": "lhs", "points": n, "parameters": {
        "adoption.steering": {"low": 0.2, "high": 1.0},
        "defects.mean_count": {"low": 4.0, "high": 20.0}}}})
    d = build_design(cfg)
    assert d.dims == ["point"] and d.shape == (n,)
    for name, (low, high) in {"adoption.steering": (0.2, 1.0),
                              "defects.mean_count": (4.0, 20.0)}.items():
        values = d.coords[name][1]
        assert values.min() >= low and values.max() <= high
        strata = np.floor((values - low) / (high - low) * n).astype(int)
        assert sorted(strata) == list(range(n))     # one sample in each of the n strata
    again = build_design(cfg)
    np.testing.assert_array_equal(again.coords["adoption.steering"][1],
                                  d.coords["adoption.steering"][1])   # seeded: reproducible


def test_sobol_design_is_saltelli_structured_from_a_sobol_sequence():
    """N base rows of a scrambled 2D-dimensional Sobol sequence give N (D + 2) points ordered
    A, AB_1 .. AB_D, B per base row (SALib's order): AB_i is A with column i taken from B, and
    the A and B rows are each a Sobol net (one point in each of the N cells of every axis)."""
    n, names = 16, ["adoption.steering", "defects.mean_count"]
    cfg = validate_dict({"sweep": {"design": "sobol", "points": n, "parameters": {
        names[0]: {"low": 0.0, "high": 1.0}, names[1]: {"low": 0.0, "high": 16.0}}}})
    d = build_design(cfg)
    k = len(names)
    assert d.shape == (n * (k + 2),)
    x = np.stack([d.coords[p][1] / (1.0 if i == 0 else 16.0) for i, p in enumerate(names)],
                 axis=1).reshape(n, k + 2, k)
    a, b = x[:, 0], x[:, -1]
    for i in range(k):
        ab = x[:, 1 + i]
        np.testing.assert_array_equal(ab[:, i], b[:, i])
        np.testing.assert_array_equal(np.delete(ab, i, axis=1), np.delete(a, i, axis=1))
        for rows in (a, b):
            assert sorted(np.floor(rows[:, i] * n).astype(int)) == list(range(n))
    with pytest.raises(ConfigError, match="power of 2"):
        validate_dict({"sweep": {"design": "sobol", "points": 10, "parameters": {
            names[0]: {"low": 0.0, "high": 1.0}}}})


def test_scenarios_design():
    cfg = validate_dict({"sweep": {"design": "scenarios", "scenarios": {
        "weak_centre": {"centre.capacity": 0.5}, "strong_centre": {"centre.capacity": 2.0}}}})
    d = build_design(cfg)
    assert d.dims == ["scenario"]
    assert list(d.coords["scenario"][1]) == ["strong_centre", "weak_centre"]   # sorted
    assert point_config(cfg, d.points[0]).centre.capacity == 2.0


@pytest.mark.parametrize("sweep, field, words", [
    ({"design": "lhs", "parameters": {"adoption.steering": [0.1, 0.2]}, "points": 4},
     "sweep", "needs at least one range"),
    ({"design": "sobol", "parameters": {"adoption.steering": [0.1, 0.2]}, "points": 4},
     "sweep.parameters.adoption.steering", "needs a range"),
    ({"design": "lhs", "points": 4, "parameters": {"support.enabled": [True, True],
                                                    "adoption.steering": {"low": 0, "high": 1}}},
     "sweep.parameters.support.enabled", "repeated values"),
    ({"design": "lhs", "parameters": {"adoption.steering": {"low": 0, "high": 1}}}, "sweep",
     "needs 'points'"),
    ({"parameters": {"adoption.steering": {"low": 0.1, "high": 0.9}}},
     "sweep.parameters.adoption.steering", "needs n"),
    ({"parameters": {"adoption.steering": []}}, "sweep.parameters.adoption.steering",
     "no values"),
    ({"parameters": {"adoption.steering": [0.5, 0.5]}}, "sweep.parameters.adoption.steering",
     "repeated"),
    ({"design": "scenarios"}, "sweep", "at least one"),
    ({"parameters": {"x": {"low": 2, "high": 1, "n": 3}}}, "sweep.parameters.x",
     "must be below"),
])
def test_bad_sweeps_are_named(sweep, field, words):
    with pytest.raises(ConfigError) as err:
        validate_dict({"sweep": sweep}, "s.toml")
    assert str(err.value).startswith(f"s.toml: {field}")
    assert words in str(err.value)


def test_check_design_names_unknown_and_invalid_parameters():
    for params, words in [({"defects.nope": [1, 2]}, "unknown parameter"),
                          ({"defects.mean_count": [-1, 2]}, "value -1"),
                          ({"strategies.phased.selection": ["random", "best"]},
                           "value 'best'")]:
        cfg = validate_dict({"sweep": {"parameters": params}})
        with pytest.raises(ConfigError, match=words) as err:
            check_design(cfg, build_design(cfg), "s.toml")
        assert f'sweep.parameters."{next(iter(params))}"' in str(err.value)


def test_point_configs_share_the_world_of_each_replicate():
    """Common random numbers across a sweep: a parameter that shapes behaviour, not the world,
    leaves every replicate's world identical at every point."""
    cfg = make_config(small_dict(sweep={"parameters": {"adoption.steering": [0.2, 0.9],
                                                       "defects.severity_median": [0.1, 0.4]}}))
    design = build_design(cfg)
    provinces = load_provinces(cfg)
    worlds = [build_world(point_config(cfg, pt), provinces, cfg.seed, 3) for pt in design.points]
    for w in worlds[1:]:
        np.testing.assert_array_equal(w.capacity, worlds[0].capacity)
        np.testing.assert_array_equal(w.prep_factor, worlds[0].prep_factor)
        assert [t.detectability for t in w.initial_defects[0]] == \
            [t.detectability for t in worlds[0].initial_defects[0]]
    # severities scale with the swept median, from the same standardised draws
    low = [t.severity for t in worlds[0].initial_defects[0]]
    high = [t.severity for t in worlds[1].initial_defects[0]]
    np.testing.assert_allclose(np.array(high) / np.array(low), 4.0, rtol=1e-12)


@pytest.mark.parametrize("design", ["grid", "lhs", "sobol"])
def test_design_does_not_depend_on_the_order_parameters_are_listed(design):
    """The config hash covers the sorted canonical config, so the design must too: the same
    parameters listed in another order give the same dimensions, columns and points, and so
    does the design rebuilt from the stored canonical JSON (what verify and sensitivity do).
    Found when verify failed on every block of an LHS sweep written in non-sorted order."""
    import json

    ranges = {"learning.report_prob": {"low": 0.1, "high": 1.0},
              "adoption.steering": {"low": 0.0, "high": 1.0},
              "defects.mean_count": {"low": 2.0, "high": 40.0, "log": True}}
    if design == "grid":
        ranges = {k: dict(v, n=2) for k, v in ranges.items()}
    sweeps = [{"design": design, "points": 8, "parameters": dict(order)}
              for order in (list(ranges.items()), list(reversed(ranges.items())))]
    for sweep in sweeps:
        if design == "grid":
            del sweep["points"]
    first, second = (make_config(small_dict(sweep=s)) for s in sweeps)
    assert first.config_hash() == second.config_hash()
    stored = validate_dict(json.loads(first.canonical_json()))
    designs = [build_design(c) for c in (first, second, stored)]
    for other in designs[1:]:
        assert other.dims == designs[0].dims and other.points == designs[0].points


def test_lhs_crossed_with_factors_runs_the_same_points_at_every_combination():
    """A Latin hypercube of 6 points crossed with two switches: dims (switch a, switch b,
    point), 2 x 2 x 6 points in C order, every combination running the same sampled values,
    and the sampled values the same as the hypercube without factors (same seed stream)."""
    base = {"design": "lhs", "points": 6, "parameters": {
        "adoption.steering": {"low": 0.0, "high": 1.0},
        "defects.mean_count": {"low": 2.0, "high": 20.0, "log": True}}}
    crossed = {**base, "parameters": {**base["parameters"], "support.enabled": [False, True],
                                      "spillovers.enabled": [False, True]}}
    plain = build_design(make_config(small_dict(sweep=base)))
    design = build_design(make_config(small_dict(sweep=crossed)))
    assert design.dims == ["spillovers.enabled", "support.enabled", "point"]
    assert design.shape == (2, 2, 6) and design.size == 24
    for k, point in enumerate(design.points):
        s, u, i = design.index(k)
        assert point["spillovers.enabled"] == bool(s) and point["support.enabled"] == bool(u)
        assert {n: point[n] for n in plain.points[i]} == plain.points[i]
    np.testing.assert_array_equal(design.coords["adoption.steering"][1],
                                  plain.coords["adoption.steering"][1])


def test_a_sampled_whole_number_field_takes_whole_values_in_equal_strata():
    """defects.fixed_count (unset, optional, an int) sampled over 0-4 by a 50-point hypercube:
    whole values only, each of 0..4 in 10 points (equal strata, endpoints included)."""
    cfg = make_config(small_dict(sweep={"design": "lhs", "points": 50, "parameters": {
        "defects.fixed_count": {"low": 0, "high": 4},
        "adoption.steering": {"low": 0.0, "high": 1.0}}}))
    values = [p["defects.fixed_count"] for p in build_design(cfg).points]
    assert all(isinstance(v, int) for v in values)
    assert sorted(values) == sorted(list(range(5)) * 10)


@pytest.mark.parametrize("strategy", ["phased_", "fast-track"])
def test_a_swept_path_the_cube_could_not_name_is_refused(strategy: str) -> None:
    """A cube names a swept field by its path with dots as double underscores; a strategy whose
    name ends in '_' (not reversible) or holds '-' (not a CF name) cannot be swept: refused
    before anything runs, naming the parameter; sweeping other fields is unaffected."""
    data = small_dict()
    data["strategies"][strategy] = dict(data["strategies"]["phased"], preset="phased")
    path = f"strategies.{strategy}.selection"
    cfg = make_config(dict(data, sweep={"parameters": {path: ["representative", "random"]}}))
    with pytest.raises(ConfigError, match=r"cannot name a cube dimension") as err:
        check_design(cfg, build_design(cfg), "c.toml")
    assert path in str(err.value)
    fine = make_config(dict(data, sweep={"parameters": {"adoption.steering": [0.2, 0.8]}}))
    check_design(fine, build_design(fine), "c.toml")


def test_scenarios_follow_the_canonical_config_so_verify_rebuilds_them() -> None:
    """Scenarios listed out of alphabetical order: the design orders them as the stored
    (canonical, key-sorted) config does, so the design rebuilt from a cube's stored config is
    the one that ran."""
    import json

    scenarios = {"zeta": {"defects.mean_count": 3}, "alpha": {"defects.mean_count": 24}}
    cfg = make_config(small_dict(sweep={"design": "scenarios", "scenarios": scenarios}))
    design = build_design(cfg)
    rebuilt = build_design(validate_dict(json.loads(cfg.canonical_json())))
    assert list(design.coords["scenario"][1]) == ["alpha", "zeta"]
    assert list(rebuilt.coords["scenario"][1]) == ["alpha", "zeta"]
    assert design.points == rebuilt.points == [{"defects.mean_count": 24},
                                               {"defects.mean_count": 3}]
