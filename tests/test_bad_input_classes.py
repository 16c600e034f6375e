"""The last bad inputs (issue 24, part 4): each class the fuzz still found accepted, refused
through the real CLI (exit status 2, one line naming the file and the field, nothing written:
the fuzz's own runner and check, ``test_bad_input_fuzz.py``), and the validators behind them
tested in-process at their bounds, with what is accepted on purpose (docs/model.md sections 1,
5, 8 and 9)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, event_times, make_config, one_region_dict, run_one
from test_bad_input_fuzz import (
    REPO,
    Case,
    _raw,
    _set,
    _sweeping,
    _writes,
    check_refused,
    replaced,
    run_cases,
    with_table,
)

from rollout.config import load_config, validate_dict
from rollout.data import (
    MAX_PROVINCES,
    MAX_REGIONS,
    MAX_REGIONS_PER_PROVINCE,
    read_provinces,
)
from rollout.errors import ConfigError
from rollout.strategies.presets import PRESETS

HEADER, *ROWS = DATA.read_text(encoding="utf-8").splitlines()
PILOTING = [name for name, values in PRESETS.items() if values["pilots"]]


def _national() -> dict[str, Any]:
    return _raw(REPO / "configs" / "national.toml")


def _historical() -> dict[str, Any]:
    return _raw(REPO / "configs" / "historical.toml")


def _rows(count: int, regions: int = 1) -> list[str]:
    """A table of ``count`` made-up provinces of ``regions`` regions each."""
    return [HEADER, *(f"{100000 + i},P{i},1000000,{regions},50000,no" for i in range(count))]


def _target(raw: dict[str, Any], i: int, **values: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["calibration"]["targets"][i].update(values)
    return out


# ------------------------------------------------------------------------------ CLI cases
def _table_cases() -> Iterator[Case]:
    raw = _set(_national(), "regions.data", "provinces.csv")
    for key, content, command, words in [
        ("control", replaced(2, 1, "He\x01bei"), "validate", ["U+0001"]),
        ("nul", replaced(2, 1, "He\x00bei"), "run", ["U+0000", "NUL"]),
        ("line-separator", replaced(2, 1, "He\u2028bei"), "plan", ["U+2028"]),
        ("flag", replaced(2, 5, "maybe"), "run", ["municipality", "yes or no"]),
        ("provinces", _rows(1000), "validate", ["1,000 provinces", "at most 500"]),
        ("regions", replaced(2, 3, "100000"), "run", ["100,000 coordinating regions"]),
        ("regions-in-all", _rows(31, 400), "plan", ["12,400", "in all"]),
    ]:
        yield Case(f"table-{key}", with_table(raw, content), command, ["regions.data", *words])
    big = ("\n".join(_rows(1)) + "\n").encode() + b"9" * 2_000_000
    yield Case("table-bytes", with_table(raw, big), "validate", ["regions.data", "bytes"])


def _target_cases() -> Iterator[Case]:
    raw = _historical()
    fixed = _set(raw, "strategies.historical.pilots",
                 [{"track": "DRG", "count": 30, "start": "2019-01", "shadow_from": "2021-03"}])
    fixed = _set(fixed, "strategies.historical.track_choice", "fixed")
    fixed["calibration"]["targets"].append(
        {"statistic": "pilots_paying", "track": "DIP", "by": "2021-12", "low": 0.0, "high": 5.0,
         "scale": 1.0})
    for key, data, command, field in [
        ("negative-share", _target(raw, 3, low=-0.5), "validate", "targets.3.low"),
        ("share-above-1", _target(raw, 3, high=1.5), "calibrate", "targets.3.high"),
        ("operating-share", _target(raw, 0, high=2.0), "validate", "targets.0.high"),
        ("count-1e308", _target(raw, 1, high=1e308), "calibrate", "targets.1.high"),
        ("negative-count", _target(raw, 1, low=-3.0), "validate", "targets.1.low"),
        ("unpiloted-track", fixed, "validate",
         f"targets.{len(fixed['calibration']['targets']) - 1}.track"),
    ]:
        yield Case(f"target-{key}", _writes(data), command, [f"calibration.{field}"])


def _strategy_cases() -> Iterator[Case]:
    raw = _national()
    for i, name in enumerate(["phased", "adaptive", "dual_track"]):
        yield Case(f"pilots-none-{name}", _writes(_set(raw, f"strategies.{name}.pilots", [])),
                   ["run", "validate", "plan"][i], [f"strategies.{name}.pilots", "big_bang"])
    historical = _set(_historical(), "strategies.historical.pilots", [])
    yield Case("pilots-none-historical", _writes(historical), "calibrate",
               ["strategies.historical.pilots"])
    zero = [{"track": "DRG", "count": 0}]
    yield Case("pilots-zero-phased", _writes(_set(raw, "strategies.phased.pilots", zero)), "run",
               ["strategies.phased.pilots.0.count"])
    dual = [{"track": "DRG", "count": 30}, {"track": "DIP", "count": 0}]
    yield Case("pilots-zero-dual_track",     # a traceback in the model before
               _writes(_set(raw, "strategies.dual_track.pilots", dual)), "run",
               ["strategies.dual_track.pilots.1.count"])


def _release_cases() -> Iterator[Case]:
    raw = _national()
    for key, dates, command, words in [
        ("before-start", ["2018-06"], "run", ["2018-06", "time.start"]),
        ("at-start", ["2019-01"], "validate", ["2019-01", "time.start"]),
        ("hundreds", ["2020-06"] * 300, "run", ["300 times"]),
        ("twice", ["2020-06", "2021-01", "2020-06"], "plan", ["2 times"]),
    ]:
        data = _set(raw, "strategies.big_bang.pinned_releases", {"DRG": dates})
        yield Case(f"releases-{key}", _writes(data), command,
                   ["strategies.big_bang.pinned_releases.DRG", *words])
    empty = _set(_historical(), "strategies.big_bang.pinned_releases.DIP", [])
    yield Case("releases-empty", _writes(empty), "calibrate",
               ["strategies.big_bang.pinned_releases.DIP", "pinned_then_on_demand"])


def _sweep_cases() -> Iterator[Case]:
    grid = _set(_national(), "sweep", {"design": "grid",
                                       "parameters": {"adoption.steering": [0.2, 0.8]}})
    lhs = _raw(REPO / "configs" / "slower_is_faster_v2.toml")
    scenarios = _set(grid, "sweep", {"design": "scenarios", "scenarios": {
        "low": {"adoption.steering": 0.2}, "high": {"adoption.steering": 0.8}}})
    preset = {"strategies.phased.preset": "adaptive"}
    for key, build, command, field in [
        ("preset", _sweeping(grid, "strategies.phased.preset", ["phased", "adaptive"]),
         "sweep", "parameters.strategies.phased.preset"),
        ("preset-scenario", _writes(_set(scenarios, "sweep.scenarios.high", preset)),
         "validate", "scenarios.high.strategies.phased.preset"),
        ("one-value", _sweeping(grid, "learning.report_prob", [0.5]), "plan",
         "parameters.learning.report_prob"),
        ("range-n1", _sweeping(grid, "learning.report_prob", {"low": 0.2, "high": 0.8, "n": 1}),
         "sweep", "parameters.learning.report_prob.n"),
        ("lhs-n", _sweeping(lhs, "adoption.steering", {"low": 0.0, "high": 1.0, "n": 5}),
         "validate", "parameters.adoption.steering.n"),
        ("grid-points", _writes(_set(grid, "sweep.points", 64)), "plan", "points"),
        ("scenarios-points", _writes(_set(scenarios, "sweep.points", 8)), "sweep", "points"),
        ("empty-scenario", _writes(_set(scenarios, "sweep.scenarios.low", {})), "validate",
         "scenarios.low"),
    ]:
        yield Case(f"sweep-{key}", build, command, [f"sweep.{field}"])
    yield Case("sweep-set-one-value", _writes(grid), "sweep",
               ["sweep.parameters.learning.report_prob"],
               extra=["--set", "learning.report_prob=0.5"])


def _name_cases() -> Iterator[Case]:
    raw = _national()
    for name, command in [(".", "validate"), ("..", "run"), ("-rf", "plan")]:
        yield Case(f"name-{name}", _writes(_set(raw, "name", name)), command,
                   ["name", f"starts with {name[0]!r}"])


CLASSES = {"table-": _table_cases, "target-": _target_cases, "pilots-": _strategy_cases,
           "releases-": _release_cases, "sweep-": _sweep_cases, "name-": _name_cases}
CASES = [case for cases in CLASSES.values() for case in cases()]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_cases(CASES, tmp_path_factory.mktemp("classes"))


def test_every_class_of_the_issue_has_cases_through_several_commands() -> None:
    keys = [case.key for case in CASES]
    assert len(keys) == len(set(keys)) and len(keys) <= 40, len(keys)
    for prefix in CLASSES:
        assert sum(k.startswith(prefix) for k in keys) >= 3, prefix
    assert {case.command for case in CASES} == {"validate", "run", "plan", "sweep", "calibrate"}


@pytest.mark.slow
@pytest.mark.parametrize("key", [case.key for case in CASES])
def test_each_class_is_refused_in_one_line_naming_file_and_field(key: str,
                                                                outcomes: dict) -> None:
    check_refused(outcomes[key])


# ------------------------------------------------------------------------------ the validators
def _read(tmp_path: Path, lines: list[str]):
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_provinces(path, "c.toml")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\x0b", "\x1b", "\x7f", "\x85",
                                  "\u2028", "\u2029"])
def test_a_table_with_a_control_character_is_refused_with_its_line(tmp_path, char) -> None:
    with pytest.raises(ConfigError, match=rf"regions\.data: .*line 4 holds U\+{ord(char):04X}"):
        _read(tmp_path, replaced(2, 1, f"He{char}bei"))


@pytest.mark.parametrize("cell, name", [("河北 Héběi", "河北 Héběi"),
                                        ('"Hebei, 河北"', "Hebei, 河北")])
def test_a_table_with_non_ascii_names_and_quoted_commas_is_read(tmp_path, cell, name) -> None:
    assert _read(tmp_path, replaced(2, 1, cell)).name[2] == name


@pytest.mark.parametrize("flag, municipality", [("yes", True), ("no", False), (" Yes ", True),
                                                ("NO", False)])
def test_municipality_flags_are_yes_or_no_in_any_case(tmp_path, flag, municipality) -> None:
    assert _read(tmp_path, replaced(2, 5, flag)).municipality[2] == municipality


@pytest.mark.parametrize("flag", ["maybe", "true", "1", "", "y"])
def test_any_other_flag_is_refused_naming_its_row(tmp_path, flag) -> None:
    with pytest.raises(ConfigError, match=r"row 4: municipality must be yes or no"):
        _read(tmp_path, replaced(2, 5, flag))


@pytest.mark.parametrize("count, regions, words", [
    (MAX_PROVINCES, 1, None), (MAX_PROVINCES + 1, 1, "provinces; a table holds at most 500"),
    (1, MAX_REGIONS_PER_PROVINCE, None), (1, MAX_REGIONS_PER_PROVINCE + 1, "in one province"),
    (MAX_REGIONS // 1000, 1000, None)])
def test_table_size_bounds_accept_the_bound_and_refuse_one_more(tmp_path, count, regions,
                                                                  words) -> None:
    if words is None:
        assert int(_read(tmp_path, _rows(count, regions)).n_regions.sum()) == count * regions
    else:
        with pytest.raises(ConfigError, match=words):
            _read(tmp_path, _rows(count, regions))


def test_more_regions_in_all_than_the_bound_is_refused(tmp_path) -> None:
    lines = [*_rows(MAX_REGIONS // 1000, 1000), "999999,Extra,1000000,1,50000,no"]
    with pytest.raises(ConfigError, match=r"10,001 coordinating regions in all; at most 10,000"):
        _read(tmp_path, lines)


def _validate(data: dict[str, Any]) -> None:
    validate_dict(data, "c.toml")


def _refused(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _validate(data)
    assert str(err.value).startswith(f"c.toml: {field}: "), str(err.value)
    assert words in str(err.value), str(err.value)


@pytest.mark.parametrize("i, bounds, field, words", [
    (3, {"low": -1e-9}, "low", "negative"), (3, {"high": 1.0 + 1e-9}, "high", "above 1"),
    (5, {"low": -0.1, "high": 0.0}, "low", "negative"), (0, {"high": 1e308}, "high", "above 1"),
    (1, {"low": -1.0}, "low", "a count"), (1, {"high": 31.0}, "high", "30 DRG pilots")])
def test_target_bounds_outside_their_domain_are_refused(i, bounds, field, words) -> None:
    _refused(_target(_historical(), i, **bounds), f"calibration.targets.{i}.{field}", words)


def test_target_bounds_at_the_edges_of_their_domain_are_accepted() -> None:
    raw = _target(_target(_historical(), 3, low=0.0, high=1.0), 1, low=0.0, high=30.0)
    _validate(_target(raw, 0, low=0.0, high=1.0))


@pytest.mark.parametrize("preset", PILOTING)
def test_a_piloting_preset_without_pilots_is_refused(preset) -> None:
    data = {"strategies": {"big_bang": {}, "s": {"preset": preset, "pilots": []}}}
    _refused(data, "strategies.s.pilots", f"preset {preset!r} starts with pilots")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_pilot_group_of_zero_is_refused_in_any_preset(preset) -> None:
    groups = [{"track": "DRG", "count": 0}, {"track": "DIP", "count": 5}]
    data = {"strategies": {"big_bang": {}, "s": {"preset": preset, "pilots": groups}}}
    _refused(data, "strategies.s.pilots.0.count", "0 pilots")


def test_overriding_a_preset_into_another_design_is_accepted() -> None:
    """big bang with pilots (pilots, then everyone at once) and dual track on a fixed track
    with one pilot group (phased on that track): explicit, and designs of their own."""
    _validate({"strategies": {"big_bang": {"pilots": [{"track": "DRG", "count": 5}]},
                              "d": {"preset": "dual_track", "track_choice": "fixed",
                                    "pilots": [{"track": "DIP", "count": 5}]}}})


@pytest.mark.parametrize("releases, policy, track, words", [
    ({"DRG": ["2018-12"]}, "pinned", "DRG", "not after time.start"),
    ({"DRG": ["2020-01", "2019-01"]}, "pinned", "DRG", "2019-01 is not after"),
    ({"DRG": ["2020-01"], "DIP": ["2021-01", "2021-01"]}, "pinned", "DIP", "2 times"),
    ({"DRG": [], "DIP": ["2021-01"]}, "pinned_then_on_demand", "DRG", "pins nothing")])
def test_pinned_releases_outside_the_run_or_repeated_are_refused(releases, policy, track,
                                                                 words) -> None:
    data = {"strategies": {"big_bang": {"pinned_releases": releases, "release_policy": policy}}}
    _refused(data, f"strategies.big_bang.pinned_releases.{track}", words)


def test_release_dates_after_the_horizon_and_in_the_first_month_after_the_start_are_accepted(
        ) -> None:
    _validate({"time": {"start": "2019-01", "horizon_months": 12},
               "strategies": {"big_bang": {"pinned_releases": {"DRG": ["2019-02", "2030-01"]}}}})


def test_an_empty_release_list_under_pinned_freezes_the_track() -> None:
    """Accepted (docs/model.md section 5): the track never gets a new version, where on demand
    it gets several."""
    base = {"seed": 4, "defects": {"fixed_count": 12, "detectability_median": 0.05},
            "learning": {"report_prob": 1.0, "report_delay_mean": 2.0},
            "centre": {"fix_prob": 1.0, "new_defects_mean": 0.0}}
    frozen = make_config(one_region_dict(
        **base, strategies={"big_bang": {"pinned_releases": {"DRG": []}}}))
    assert frozen.strategies["big_bang"].release_policy == "pinned"
    assert event_times(run_one(frozen, record_events=True)[0], "release") == []
    on_demand = make_config(one_region_dict(**base))
    assert len(event_times(run_one(on_demand, record_events=True)[0], "release")) >= 2


@pytest.mark.parametrize("sweep, field, words", [
    ({"parameters": {"strategies.phased.preset": ["phased", "adaptive"]}},
     "sweep.parameters.strategies.phased.preset", "only the label"),
    ({"design": "scenarios", "scenarios": {"a": {"strategies.adaptive.preset": "phased"}}},
     "sweep.scenarios.a.strategies.adaptive.preset", "only the label"),
    ({"parameters": {"adoption.steering": [0.5]}}, "sweep.parameters.adoption.steering",
     "one value"),
    ({"parameters": {"support.enabled": [True]}}, "sweep.parameters.support.enabled",
     "one value"),
    ({"design": "lhs", "points": 4, "parameters": {"adoption.steering": {"low": 0, "high": 1},
                                                   "support.enabled": [True]}},
     "sweep.parameters.support.enabled", "one value"),
    ({"parameters": {"adoption.steering": {"low": 0.2, "high": 0.8, "n": 1}}},
     "sweep.parameters.adoption.steering.n", "high would be ignored"),
    ({"design": "sobol", "points": 4, "parameters": {
        "adoption.steering": {"low": 0.2, "high": 0.8, "n": 3}}},
     "sweep.parameters.adoption.steering.n", "ignores n"),
    ({"points": 8, "parameters": {"adoption.steering": [0.2, 0.8]}}, "sweep.points",
     "'grid' ignores points"),
    ({"design": "scenarios", "points": 8, "scenarios": {"a": {"adoption.steering": 0.2}}},
     "sweep.points", "'scenarios' ignores points"),
    ({"design": "scenarios", "scenarios": {"a": {}, "b": {"adoption.steering": 0.2}}},
     "sweep.scenarios.a", "sets no field")])
def test_sweep_settings_that_cannot_vary_or_are_ignored_are_refused(sweep, field,
                                                                    words) -> None:
    _refused({"sweep": sweep}, field, words)


def test_a_calibration_prior_on_a_preset_is_refused() -> None:
    calibration = {"strategy": "phased", "parameters": {
        "strategies.phased.preset": {"low": 0.0, "high": 1.0}}, "targets": [
        {"statistic": "started_share", "by": "2020-01", "low": 0.0, "high": 0.5, "scale": 0.1}]}
    _refused({"calibration": calibration}, "calibration.parameters.strategies.phased.preset",
             "only the label")


def test_sweep_settings_that_vary_are_accepted() -> None:
    for sweep in [{"parameters": {"adoption.steering": {"low": 0.2, "high": 0.8, "n": 2},
                                  "support.enabled": [False, True]}},
                  {"design": "lhs", "points": 4, "parameters": {
                      "adoption.steering": {"low": 0.2, "high": 0.8}}},
                  {"design": "scenarios", "scenarios": {"a": {"support.enabled": False}}}]:
        _validate({"sweep": sweep})


@pytest.mark.parametrize("name", [".", "..", ".hidden", "-", "-rf", "--help"])
def test_names_that_make_poor_file_names_are_refused(name) -> None:
    _refused({"name": name}, "name", "starts with")


@pytest.mark.parametrize("name", ["national", "_x", "a.b", "x-", "v2.0", "1st"])
def test_names_that_make_plain_file_names_are_accepted(name) -> None:
    _validate({"name": name})


def test_a_name_taken_from_a_hidden_config_file_is_refused_naming_the_field(tmp_path) -> None:
    path = tmp_path / ".hidden.toml"
    path.write_text(f'[regions]\ndata = "{DATA}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.hidden\.toml: name: '\.hidden' starts with '\.'"):
        load_config(path)
