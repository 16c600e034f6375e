"""Posterior-predictive placement (analysis/predictive.py, experiment/points.py, ``rollout
place``): a toy whose posterior and answer are known, then the real model through the CLI.

The toy: the claim (phased stable first) holds exactly where the calibrated detectability is
above 0.1 and the support switch is on; the toy's posterior lies in [0.12, 0.2], its prior is
log-uniform on [0.005, 0.2]. So the posterior predictive share is 1 with support on and 0 with it
off, and the prior predictive share with support on is P(d > 0.1) = ln 2 / ln 40 = 0.188
(a Latin hypercube of 40 draws hits it within 1/40).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from conftest import small_dict

from rollout.analysis.predictive import evaluate, format_predictive, plan_placement
from rollout.config import validate_dict
from rollout.errors import RolloutError

DET = "defects.detectability_median"
SHADOW = "strategies.phased.pilot_shadow_months"


def sweep_dict() -> dict:
    d = small_dict(replicates=4)
    d["strategies"] = {"big_bang": {}, "phased": d["strategies"]["phased"]}
    d["sweep"] = {"design": "lhs", "points": 8, "block_size": 4, "parameters": {
        DET: {"low": 0.01, "high": 0.2, "log": True},
        "support.teams": {"low": 1.0, "high": 30.0},
        "adoption.steering": {"low": 0.0, "high": 1.0},
        "support.enabled": [False, True]}}
    return d


def calibrated_dict() -> dict:
    c = small_dict(replicates=4)
    c["strategies"] = {"historical": {"preset": "phased", **c["strategies"]["phased"]}}
    c["analysis"] = {"baseline": "historical"}
    c["adoption"] = {"steering": 0.3}
    c["calibration"] = {"strategy": "historical", "draws": 20, "accept": 0.5, "parameters": {
        DET: {"low": 0.005, "high": 0.2, "log": True},
        "strategies.historical.pilot_shadow_months": {"low": 1.0, "high": 12.0}},
        "targets": [{"statistic": "started_share", "by": "2020-12", "low": 0.2, "high": 0.5,
                     "scale": 0.1}]}
    return c


def draws_table(n: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"draw": range(n), DET: rng.uniform(0.12, 0.2, n),
                         "strategies.historical.pilot_shadow_months": rng.uniform(2, 4, n),
                         "accepted": 1})


def toy_values(plan, horizon: float = 60.0, reps: int = 6) -> dict[str, np.ndarray]:
    """phased stable first (30 against 40 months) where the claim holds, else later (50)."""
    runs = plan.runs()
    holds = np.array([a[DET] > 0.1 and a["support.enabled"] for *_, a in runs])
    base = np.full((len(runs), reps), 40.0)
    phased = np.where(holds[:, None], 30.0, 50.0) + np.zeros((1, reps))
    t = np.stack([base, phased], axis=1)
    return {"t_full": t, "t_stable": t, "net_benefit": 100 - t}


def test_the_plan_maps_draws_samples_evidence_and_fixes_the_rest() -> None:
    plan = plan_placement(validate_dict(sweep_dict()), validate_dict(calibrated_dict()),
                          draws_table(), "phased", "big_bang", "stable_first", 5, 7, seed=3)
    assert plan.mapped == {DET: DET, "strategies.historical.pilot_shadow_months": SHADOW}
    assert list(plan.evidence) == ["support.teams"]          # support is off where calibrated
    assert plan.fixed == {"adoption.steering": 0.3}          # the calibrated config's value
    assert plan.structures == [{"support.enabled": False}, {"support.enabled": True}]
    runs = plan.runs()
    assert len(runs) == (5 + 7) * 2
    assert all(isinstance(a["support.teams"], int) and 1 <= a["support.teams"] <= 30
               for *_, a in runs)
    posterior = [a[DET] for s, _, _, a in runs if s == "posterior"]
    assert min(posterior) >= 0.12                            # accepted draws only
    # the same evidence sample for posterior draw i and prior draw i, and for every structure
    teams = {(s, i): a["support.teams"] for s, i, _, a in runs}
    assert all(teams[("posterior", i)] == teams[("prior", i)] for i in range(5))
    again = plan_placement(validate_dict(sweep_dict()), validate_dict(calibrated_dict()),
                           draws_table(), "phased", "big_bang", "stable_first", 5, 7, seed=3)
    assert again.runs() == runs
    # a range named as evidence is sampled too, and whole numbers stay whole beside it
    mixed = plan_placement(validate_dict(sweep_dict()), validate_dict(calibrated_dict()),
                           draws_table(), "phased", "big_bang", "stable_first", 5, 7, seed=3,
                           evidence=["adoption.steering"])
    assert set(mixed.evidence) == {"support.teams", "adoption.steering"} and not mixed.fixed
    for *_, a in mixed.runs():
        assert isinstance(a["support.teams"], int) and 0 <= a["adoption.steering"] <= 1


def test_toy_placement_gives_the_known_posterior_and_prior_shares() -> None:
    plan = plan_placement(validate_dict(sweep_dict()), validate_dict(calibrated_dict()),
                          draws_table(), "phased", "big_bang", "stable_first", 20, 40, seed=0)
    result = evaluate(plan, toy_values(plan), ["big_bang", "phased"], 60.0)
    t = result.table.set_index(["source", "structure"])
    assert t.loc[("posterior", "support.enabled=True"), "holds"] == 1.0
    assert t.loc[("posterior", "support.enabled=False"), "holds"] == 0.0
    prior_on = t.loc[("prior", "support.enabled=True"), "holds"]
    assert prior_on == pytest.approx(math.log(2) / math.log(40), abs=1 / 40 + 1e-9)
    overall = result.overall.set_index("source")
    assert overall.loc["posterior", "holds"] == pytest.approx(0.5)
    assert overall.loc["prior", "holds"] == pytest.approx(prior_on / 2)
    # 6 identical replicates: every point decided (for where it holds, else against)
    assert t.loc[("posterior", "support.enabled=True"), "for"] == 1.0
    assert t.loc[("posterior", "support.enabled=False"), "against"] == 1.0
    text = format_predictive(result, "toy")
    assert "posterior predictive placement of toy" in text
    assert "evidence ranges (not identified by the calibration)" in text


def test_toy_placement_of_overtaking_reads_the_runs_t_overtake() -> None:
    """Overtaking at month 24 where the toy's claim holds, never (NaN) elsewhere: the shares are
    the stable-first toy's, and 'within 1 year' holds nowhere (no run overtakes by month 12)."""
    plan = plan_placement(validate_dict(sweep_dict()), validate_dict(calibrated_dict()),
                          draws_table(), "phased", "big_bang", "overtakes", 20, 40, seed=0)
    values = toy_values(plan)
    holds = values["t_stable"][:, 1, :] < values["t_stable"][:, 0, :]
    overtake = np.stack([np.zeros_like(holds, float), np.where(holds, 24.0, np.nan)], axis=1)
    values["t_overtake"] = overtake
    t = evaluate(plan, values, ["big_bang", "phased"], 60.0).table.set_index(
        ["source", "structure"])
    assert t.loc[("posterior", "support.enabled=True"), "holds"] == 1.0
    assert t.loc[("posterior", "support.enabled=False"), "holds"] == 0.0
    prior_on = t.loc[("prior", "support.enabled=True"), "holds"]
    assert prior_on == pytest.approx(math.log(2) / math.log(40), abs=1 / 40 + 1e-9)
    for years, share in ((1, 0.0), (3, 1.0)):
        within = dataclasses.replace(plan, claim=f"overtakes_within_{years}y")
        t = evaluate(within, values, ["big_bang", "phased"], 60.0).table.set_index(
            ["source", "structure"])
        assert t.loc[("posterior", "support.enabled=True"), "holds"] == share


def test_bad_plans_are_refused_naming_the_problem() -> None:
    sweep, cal = validate_dict(sweep_dict()), validate_dict(calibrated_dict())
    with pytest.raises(RolloutError, match="only 20 accepted"):
        plan_placement(sweep, cal, draws_table(), "phased", "big_bang", "stable_first", 21, 0)
    with pytest.raises(RolloutError, match="--evidence nope: not a swept range"):
        plan_placement(sweep, cal, draws_table(), "phased", "big_bang", "stable_first", 2, 0,
                       evidence=["nope"])
    with pytest.raises(RolloutError, match="no accepted draws"):
        plan_placement(sweep, cal, draws_table().iloc[:0], "phased", "big_bang",
                       "stable_first", 2, 0)
    with pytest.raises(RolloutError, match="strategy 'adaptive' is not in the config"):
        plan_placement(sweep, cal, draws_table(), "adaptive", "big_bang", "stable_first", 2, 0)


def _write(folder: Path) -> tuple[Path, Path]:
    sweep = folder / "sweep.toml"
    sweep.write_text(tomli_w.dumps(sweep_dict()), encoding="utf-8")
    cal = folder / "cal.toml"
    cal.write_text(tomli_w.dumps(calibrated_dict()), encoding="utf-8")
    draws_table().to_csv(folder / "cal.abc.csv", index=False)
    return sweep, cal


def _rollout(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_place_runs_the_real_model(tmp_path: Path) -> None:
    """2 posterior + 2 prior draws x 2 structures x 3 replicates x 2 strategies = 48 real runs,
    serially, placing two claims (one needs the runs' t_overtake) on the same runs; the help
    says what it is."""
    sweep, cal = _write(tmp_path)
    proc = _rollout("place", sweep, "--calibrated", cal, "-s", "phased", "-c", "full_later",
                    "-c", "overtakes", "--draws", 2, "-n", 3, "--serial", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("posterior predictive placement") == 2
    assert proc.stdout.count("calibrated parameters from each draw") == 1     # said once
    assert "(the same runs as the placement above)" in proc.stdout
    assert "later to full coverage, the restricted interval" in proc.stdout
    assert "overtakes the baseline's for good" in proc.stdout
    assert "support.enabled=True" in proc.stdout and "(48 runs serially" in proc.stdout
    assert "fixed at the calibrated config's value: adoption.steering=0.3" in proc.stdout
    helped = _rollout("place", "--help", cwd=tmp_path)
    assert "posterior predictive" in helped.stdout.lower().replace("\n", " ")


@pytest.mark.slow        # 5 CLI subprocesses, about 6 s each on a shared 2-core machine
@pytest.mark.parametrize("args, problem", [
    (("--draws", 50), "only 20 accepted draws"),
    (("--evidence", "bogus.field"), "--evidence bogus.field: not a swept range"),
    (("-c", "no such claim"), "claim 'no such claim'"),
    (("-c", "nothing_here > 1"), "'nothing_here' is not a compare variable"),
    (("-c", "overtakes_within_9y"), "the runs end at month 60, before 108"),
    (("-s", "adaptive"), "strategy 'adaptive' is not in the config"),
])
def test_cli_place_refuses_bad_input_before_any_run(tmp_path: Path, args: tuple,
                                                    problem: str) -> None:
    sweep, cal = _write(tmp_path)
    base = {"-s": "phased", "-c": "full_later", "--draws": 2}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [x for kv in base.items() for x in kv]
    proc = _rollout("place", sweep, "--calibrated", cal, *flat, "--serial", "-q", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert problem in proc.stderr and proc.stdout == ""
