"""Configuration: defaults, presets, ranges, cross-field rules and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, make_config, small_dict

from rollout.config import load_config, validate_dict
from rollout.errors import ConfigError
from rollout.strategies.presets import PRESETS


def test_defaults_are_valid_and_resolve_every_preset_primitive():
    cfg = validate_dict({})
    assert list(cfg.strategies) == ["big_bang", "phased", "dual_track", "adaptive"]
    for name, strat in cfg.strategies.items():
        dumped = strat.model_dump()
        assert set(PRESETS[name]) <= set(dumped)
        assert dumped["preset"] == name
    assert cfg.strategies["big_bang"].pilots == []
    assert [g.count for g in cfg.strategies["dual_track"].pilots] == [30, 71]


def test_strategy_tables_override_their_preset():
    cfg = validate_dict({"strategies": {"mine": {"preset": "phased", "selection": "random",
                                                 "waves": [0.5, 0.5]},
                                        "big_bang": {}}})
    assert cfg.strategies["mine"].selection == "random"
    assert cfg.strategies["mine"].waves == [0.5, 0.5]
    assert cfg.strategies["mine"].pilots[0].count == 30     # from the preset


def test_canonical_json_round_trips_to_the_same_hash():
    cfg = make_config(small_dict())
    again = validate_dict(json.loads(cfg.canonical_json()))
    assert again.config_hash() == cfg.config_hash()
    changed = validate_dict(json.loads(cfg.canonical_json()) | {"seed": cfg.seed + 1})
    assert changed.config_hash() != cfg.config_hash()


@pytest.mark.parametrize("data, field, words", [
    ({"seed": -1}, "seed", "greater than or equal to 0"),
    ({"replicates": 0}, "replicates", "greater than or equal to 1"),
    ({"defects": {"mean_count": -2}}, "defects.mean_count", "(got -2)"),
    ({"learning": {"report_prob": 1.5}}, "learning.report_prob", "less than or equal to 1"),
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"defects": {"kinds": {"upcoding": {"tau_lern": 3}}}}, "defects.kinds.upcoding.tau_lern",
     "unknown key"),
    ({"strategies": {"fast": {}}}, "strategies.fast", "unknown strategy 'fast'"),
    ({"strategies": {"x": {"preset": "nope"}}}, "strategies.x.preset", "unknown strategy"),
    ({"strategies": {"x": {"preset": "phased", "waves": [0.5, 0.2]}}}, "strategies.x",
     "sum to 1"),
    ({"strategies": {"big_bang": {}, "p": {"preset": "phased", "pilots": [{"track": "ZZ",
                                                                              "count": 2}]}}},
     "strategies.p.pilots.0.track", "unknown track"),
    ({"analysis": {"baseline": "nobody"}}, "analysis.baseline", "not one of the strategies"),
    ({"time": {"start": "2019-13"}}, "time.start", "month"),
    ({"adoption": {"min_delay_months": 5, "max_delay_months": 2}}, "adoption", "must not exceed"),
    ({"tracks": ["DRG", "DRG"]}, "tracks", "distinct"),
    ({"strategies": {"phased": {"pilot_shadow_cv": -0.5}}}, "strategies.phased.pilot_shadow_cv",
     "greater than or equal to 0"),
    ({"strategies": {"phased": {"wave_shadow_cv": float("nan")}}},
     "strategies.phased.wave_shadow_cv", "finite"),
    ({"strategies": {"big_bang": {}, "d": {"preset": "dual_track",
                                           "pilots": [{"track": "DRG", "count": 30}]}}},
     "strategies.d.track_choice", "two tracks"),
    ({"strategies": {"big_bang": {"release_policy": "on_demand",
                                  "pinned_releases": {"DRG": ["2020-01"]}}}},
     "strategies.big_bang", "pinned_releases needs release_policy"),
    ({"strategies": {"big_bang": {"release_policy": "pinned_then_on_demand"}}},
     "strategies.big_bang", "needs pinned_releases"),
    # issue 21's lists of levels: each value in range, distinct, increasing, not empty
    ({"outcomes": {"stable_harm_shares": [0.1, 0.05]}}, "outcomes.stable_harm_shares",
     "increasing order"),
    ({"outcomes": {"stable_harm_shares": [0.05, 1.5]}}, "outcomes.stable_harm_shares.1",
     "less than or equal to 1"),
    ({"analysis": {"horizons_years": [10, 10]}}, "analysis.horizons_years", "distinct"),
    ({"analysis": {"horizons_years": []}}, "analysis.horizons_years", "at least 1"),
    ({"analysis": {"horizons_years": [0, 10]}}, "analysis.horizons_years.0", "greater than 0"),
    ({"analysis": {"discount_rates": [0.0, -0.03]}}, "analysis.discount_rates.1",
     "greater than or equal to 0"),
    ({"analysis": {"discount_rates": [0.0, "3%"]}}, "analysis.discount_rates.1",
     "valid number"),
    ({"analysis": {"risk_margin": -1.0}}, "analysis.risk_margin", "greater than or equal to 0"),
])
def test_bad_values_name_the_field_and_the_problem(data, field, words):
    with pytest.raises(ConfigError) as err:
        validate_dict(data, "cfg.toml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cfg.toml: {field}: ")
    assert words in message


def test_checks_against_data(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[regions]\ndata = "{DATA}"\nprovinces = ["Beijing", "Atlantis"]\n')
    with pytest.raises(ConfigError, match=r"regions\.provinces: unknown province 'Atlantis'"):
        load_config(path)
    path.write_text(f'[regions]\ndata = "{DATA}"\nprovinces = ["Beijing", "Hebei"]\n')
    with pytest.raises(ConfigError, match=r"strategies\.phased\.pilots\.0\.count: 30 pilots"):
        load_config(path)
    path.write_text('[regions]\ndata = "nowhere.csv"\n')
    with pytest.raises(ConfigError, match=r"regions\.data: data file 'nowhere.csv' not found"):
        load_config(path)


def test_a_config_anywhere_reads_the_bundled_table(tmp_path):
    """``bundled:provinces.csv`` (and an omitted ``data``) is the table shipped in the package,
    wherever the config is; the cube's provenance hash is that file's content hash."""
    import hashlib

    from rollout.data import load_provinces

    named = tmp_path / "named.toml"
    named.write_text('[regions]\ndata = "bundled:provinces.csv"\n')
    omitted = tmp_path / "omitted.toml"
    omitted.write_text("seed = 1\n")
    for path in (named, omitted):
        cfg = load_config(path)
        assert cfg.regions.data == "bundled:provinces.csv"
        table = load_provinces(cfg, path)
        assert len(table) == 31
        assert table.sha256 == hashlib.sha256(DATA.read_bytes()).hexdigest()
        assert Path(table.path).name == "provinces.csv"


@pytest.mark.parametrize("data, words", [
    ("bundled:nowhere.csv", "no bundled table 'nowhere.csv' (bundled: bundled:provinces.csv)"),
    ("bundled:", "no bundled table ''"),
    ("bundled:../config.py", "no bundled table '../config.py'"),
    ("bundled:SOURCES.md", "no bundled table 'SOURCES.md'"),
    ("data/provinces.csv", "data file 'data/provinces.csv' not found (the project's table ships "
                           'with rollout: data = "bundled:provinces.csv")'),
])
def test_a_bad_bundled_name_is_one_line_naming_file_and_field(tmp_path, data, words):
    path = tmp_path / "c.toml"
    path.write_text(f'[regions]\ndata = "{data}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: regions.data: {words}") and "\n" not in message


def test_file_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 3\n")
    with pytest.raises(ConfigError, match="TOML syntax error") as err:
        load_config(bad)
    assert "\n" not in str(err.value)


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "my_scenario.toml"
    path.write_text(f'[regions]\ndata = "{DATA}"\n')
    assert load_config(path).name == "my_scenario"


def test_shipped_configs_validate():
    from conftest import REPO

    national = load_config(REPO / "configs" / "national.toml")
    assert national.name == "national"
    assert set(national.strategies) == {"big_bang", "big_bang_matched", "phased", "dual_track",
                                        "adaptive"}
    historical = load_config(REPO / "configs" / "historical.toml")
    assert historical.strategies["historical"].pinned_releases["DRG"] == [
        "2020-06", "2021-05", "2024-07"]


def test_release_policy_defaults_to_pinned_when_dates_are_given():
    cfg = validate_dict({"strategies": {"big_bang": {"pinned_releases": {"DRG": ["2020-01"]}},
                                        "phased": {}, "historical": {}}})
    assert cfg.strategies["big_bang"].release_policy == "pinned"
    assert cfg.strategies["phased"].release_policy == "on_demand"
    assert cfg.strategies["historical"].release_policy == "pinned_then_on_demand"


def test_historical_comparison_holds_the_release_policy_fixed():
    """configs/historical.toml: big bang runs under the historical design's calendar of
    versions and release policy, so the two differ only in how regions start."""
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "historical.toml")
    hist, bang = cfg.strategies["historical"], cfg.strategies["big_bang"]
    assert bang.release_policy == hist.release_policy == "pinned_then_on_demand"
    assert bang.pinned_releases == hist.pinned_releases


def test_numpy_scalars_are_the_values_they_hold() -> None:
    """Strict types refuse '5' and True for an integer, but not np.int64(5): a notebook's
    numpy values (np.arange grids, np.int64 replicates) validate as Python numbers."""
    import numpy as np
    from conftest import small_dict

    from rollout.config import validate_dict
    from rollout.experiment.designs import build_design, check_design

    data = small_dict(replicates=np.int64(5), seed=np.int64(3),
                      support={"teams": np.int64(40)},
                      sweep={"parameters": {"support.teams": list(np.arange(10, 40, 10))}})
    config = validate_dict(data)
    assert config.replicates == 5 and type(config.replicates) is int
    assert config.sweep.parameters["support.teams"] == [10, 20, 30]
    design = build_design(config)
    check_design(config, design, "<test>")
    assert [p["support.teams"] for p in design.points] == [10, 20, 30]
