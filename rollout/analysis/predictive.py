"""Posterior-predictive placement: in the worlds the calibration allows, does the claim hold?

Box-geometry placement (place.py) asks whether the calibrated posterior's parameters lie inside a
PRIM box's limits. Where the dates do not identify a parameter, its posterior is its prior, so
that share restates the prior; and a box's limits need not predict the claim point by point. This
module asks the question directly: run the model at the calibrated posterior's accepted draws and
count the draws where the claim holds, beside the same count at draws from the calibration's
priors (the prior predictive). If the two agree, the calibration says nothing about the claim.

What each run sets, on the sweep config's base world (``CONFIG``, whose design the claim was
discovered on):

- **calibrated parameters**: the draw's values (posterior: an accepted row of the ``.abc.csv``,
  the joint draw, so the posterior's correlations are kept; prior: a Latin hypercube of the
  ``[calibration.parameters]`` priors keyed by the seed). A calibrated strategy's field
  (``strategies.historical.X``) is set on the claim's strategy (``strategies.phased.X``), as
  place.py reads it; a field the config does not have is left out and listed;
- **evidence ranges**: a swept range of a mechanism the calibrated model does not run (its dates
  say nothing about it; ``support.teams`` when ``support.enabled`` is false there), or any range
  named with ``evidence``, is sampled over the sweep's range, a Latin hypercube keyed by the seed;
  posterior draw i and prior draw i share evidence sample i (common random numbers);
- **structures**: every combination of the sweep's listed values (the mechanism switches); every
  draw runs under every structure;
- **fixed**: every other swept parameter at the calibrated config's value (China's, as place.py
  reads it).

Each draw and structure runs ``replicates`` replicates of the strategy and the baseline, the same
replicate worlds everywhere, and the claim is evaluated as ``discover`` evaluates it at a design
point (compare.py, then discover.claim_outcome and decided.claim_decision).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..config import ParameterRange, RolloutConfig
from ..errors import RolloutError
from ..experiment.designs import integer_fields, known_paths
from ..streams import stream
from .decided import AGAINST, FOR, claim_decision
from .discover import claim_outcome, compare_for_claim

#: sections of the mechanisms of docs/model.md section 11 (each with an ``enabled`` switch)
MECHANISMS = ("support", "spillovers", "legitimacy", "entrenchment", "track_fit")


@dataclass
class PlacementPlan:
    """Every run of a posterior- and prior-predictive placement, before any runs."""

    strategy: str
    baseline: str
    claim: str
    structures: list[dict[str, Any]]           # listed values, one combination each
    fixed: dict[str, Any]                      # swept parameters at the calibrated value
    evidence: dict[str, ParameterRange]        # swept ranges sampled per draw
    mapped: dict[str, str]                     # calibrated path -> path set in the config
    skipped: list[str]                         # calibrated paths the config does not have
    posterior: pd.DataFrame                    # one row per draw, columns: config paths
    prior: pd.DataFrame
    evidence_draws: pd.DataFrame               # row i: evidence sample of draw i
    accepted: int = 0                          # accepted draws in the record
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    def runs(self) -> list[tuple[str, int, int, dict[str, Any]]]:
        """(source, draw, structure, assignment) of every run point, posterior first."""
        out = []
        for source, table in (("posterior", self.posterior), ("prior", self.prior)):
            for i in range(len(table)):
                # column by column: a row of mixed dtypes would turn whole numbers into floats
                draw = {k: _plain(table[k].iloc[i]) for k in table.columns}
                evidence = {k: _plain(self.evidence_draws[k].iloc[i])
                            for k in self.evidence_draws.columns}
                for j, structure in enumerate(self.structures):
                    out.append((source, i, j, {**self.fixed, **evidence, **draw,
                                               **structure}))
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _value(config: RolloutConfig, path: str) -> Any:
    node: Any = config.model_dump(mode="python")
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _sample(ranges: dict[str, ParameterRange], n: int, seed: int, purpose: str,
            whole: set[str] = frozenset()) -> pd.DataFrame:
    """A Latin hypercube of ``n`` rows over ``ranges`` (log-uniform where ``log``), keyed by
    the seed and a purpose; whole-number fields (``whole``) as a sweep rounds them
    (designs.build_design: equal strata for every whole value)."""
    if not ranges or n == 0:
        return pd.DataFrame(index=range(n))
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(len(ranges), rng=stream(seed, 0, purpose)).random(n)
    columns = {}
    for j, (name, spec) in enumerate(ranges.items()):
        if spec.log:
            columns[name] = np.exp(np.log(spec.low) + unit[:, j] * (np.log(spec.high)
                                                                     - np.log(spec.low)))
        else:
            columns[name] = spec.low + unit[:, j] * (spec.high - spec.low)
        if name in whole:
            columns[name] = (np.round(columns[name]) if spec.log else np.minimum(np.floor(
                spec.low + unit[:, j] * (spec.high - spec.low + 1)), spec.high)).astype(np.int64)
    return pd.DataFrame(columns)


def plan_placement(config: RolloutConfig, calibrated: RolloutConfig, draws: pd.DataFrame,
                   strategy: str, baseline: str, claim: str, n_posterior: int, n_prior: int,
                   seed: int = 0, evidence: list[str] | None = None,
                   source: str = "<calibrated config>") -> PlacementPlan:
    """The runs of a placement of ``claim`` (``strategy`` against ``baseline``) for the sweep
    ``config``, at ``n_posterior`` of the ``calibrated`` config's accepted ``draws`` (chosen
    without replacement by the seed) and ``n_prior`` prior draws."""
    if calibrated.calibration is None:
        raise RolloutError(f"{source}: has no [calibration] table (its priors are the prior "
                           "predictive's)")
    for name in (strategy, baseline):
        if name not in config.strategies:
            raise RolloutError(f"strategy {name!r} is not in the config "
                               f"({', '.join(config.strategies)})")
    if strategy == baseline:
        raise RolloutError("the strategy and the baseline are the same")
    if draws.empty:
        raise RolloutError(f"{source}: no accepted draws beside it (its .abc.csv, written by "
                           "rollout calibrate)")
    calib = calibrated.calibration
    known = known_paths(config)
    mapped: dict[str, str] = {}
    skipped = []
    for path in calib.parameters:
        if path not in draws.columns:
            raise RolloutError(f"{source}: the draws record has no column {path!r}")
        target = _target(path, calib.strategy, strategy)
        (mapped.__setitem__(path, target) if target in known else skipped.append(path))
    sweep = config.sweep
    if sweep is not None and sweep.design == "scenarios":
        raise RolloutError("a placement needs [sweep.parameters] (ranges and listed values), "
                           "not scenarios")
    params = dict(sorted((sweep.parameters if sweep else {}).items()))
    lists = {k: v for k, v in params.items() if not isinstance(v, ParameterRange)}
    ranges = {k: v for k, v in params.items() if isinstance(v, ParameterRange)}
    for name in evidence or []:
        if name not in ranges:
            raise RolloutError(f"--evidence {name}: not a swept range of the config "
                               f"({', '.join(ranges) or 'it has none'})")
    calibrated_targets = set(mapped.values())
    chosen_evidence = {}
    fixed = {}
    for name, spec in ranges.items():
        if name in calibrated_targets:
            continue                                  # the draws set it
        section = name.split(".")[0]
        unrun = section in MECHANISMS and _value(calibrated, f"{section}.enabled") is False
        if unrun or name in (evidence or []):
            chosen_evidence[name] = spec
            continue
        value = _value(calibrated, _target(name, strategy, calib.strategy))
        if value is None:
            raise RolloutError(f"{source}: has no value for the swept {name!r} (name it with "
                               "--evidence to sample it over the sweep's range)")
        fixed[name] = value
    structures = [dict(zip(lists, combo, strict=True))
                  for combo in itertools.product(*lists.values())] or [{}]
    if n_posterior > len(draws):
        raise RolloutError(f"--draws {n_posterior}: the record has only {len(draws)} accepted "
                           "draws")
    pick = np.sort(stream(seed, 0, "posterior-predictive").choice(len(draws), n_posterior,
                                                                  replace=False))
    posterior = draws.iloc[pick][list(mapped)].rename(columns=mapped).reset_index(drop=True)
    whole = integer_fields(config)
    prior = _sample({mapped[p]: r for p, r in calib.parameters.items() if p in mapped},
                    n_prior, seed, "prior-predictive", whole)
    evidence_draws = _sample(chosen_evidence, max(n_posterior, n_prior), seed,
                             "predictive-evidence", whole)
    return PlacementPlan(strategy, baseline, claim, structures, fixed, chosen_evidence, mapped,
                         skipped, posterior, prior, evidence_draws, len(draws), seed)


def _target(path: str, origin: str, strategy: str) -> str:
    """A strategy's field under ``origin`` as the same field of ``strategy``."""
    parts = path.split(".")
    if parts[0] == "strategies" and len(parts) >= 3 and parts[1] == origin:
        return ".".join(["strategies", strategy, *parts[2:]])
    return path


@dataclass
class Predictive:
    """Per source (posterior, prior) and structure: shares of draws where the claim holds."""

    plan: PlacementPlan
    table: pd.DataFrame          # source, structure, draws, holds, for, against, undecided
    overall: pd.DataFrame        # per source: every structure equally weighted, with interval
    replicates: int
    confidence: float


def as_cube(values: dict[str, np.ndarray], strategies: list[str], horizon: float,
            baseline: str | None = None) -> xr.Dataset:
    """(point, strategy, replicate) arrays as a minimal cube compare.py reads. A ``t_overtake``
    among them was computed by the runs against their analysis baseline, ``baseline``."""
    dims = ("point", "strategy", "replicate")
    n_points, _, n_reps = next(iter(values.values())).shape
    config = json.dumps({"time": {"horizon_months": horizon}})
    cube = xr.Dataset({k: (dims, np.asarray(v, float)) for k, v in values.items()},
                      coords={"point": np.arange(n_points), "strategy": strategies,
                              "replicate": np.arange(n_reps)},
                      attrs={"design": json.dumps({"kind": "placement", "dims": ["point"]}),
                             "config": config})
    if "t_overtake" in cube and baseline is not None:
        cube["t_overtake"].attrs["baseline"] = baseline
    return cube


def evaluate(plan: PlacementPlan, values: dict[str, np.ndarray], strategies: list[str],
             horizon: float, confidence: float = 0.95, resamples: int = 2000) -> Predictive:
    """The claim at every run point (``values``: per variable, (point, strategy, replicate) in
    the order of ``plan.runs()``), summarised per source and structure."""
    cube = as_cube(values, strategies, horizon, plan.baseline)
    result = compare_for_claim(cube, plan.baseline, plan.claim, confidence)
    holds = claim_outcome(result, plan.strategy, plan.claim, ["point"]).astype(bool)
    decision = claim_decision(result, plan.strategy, plan.claim, ["point"])
    runs = plan.runs()
    meta = pd.DataFrame([(s, i, j) for s, i, j, _ in runs],
                        columns=["source", "draw", "structure"])
    meta["holds"] = holds
    meta["for"] = decision == FOR if decision is not None else np.nan
    meta["against"] = decision == AGAINST if decision is not None else np.nan
    rows = []
    for (source, j), group in meta.groupby(["source", "structure"], sort=False):
        n = len(group)
        rows.append({"source": source, "structure": _label(_varying(plan)[j]), "draws": n,
                     "holds": group["holds"].mean(), "for": group["for"].mean(),
                     "against": group["against"].mean(),
                     "undecided": 1 - group["for"].mean() - group["against"].mean()})
    table = pd.DataFrame(rows)
    overall = []
    rng = np.random.default_rng(plan.seed)
    for source, group in meta.groupby("source", sort=False):
        grid = group.pivot(index="draw", columns="structure", values="holds").to_numpy(float)
        share = float(grid.mean())
        # draws are the independent units; a draw's structures are resampled with it
        boot = grid[rng.integers(0, len(grid), (resamples, len(grid)))].mean(axis=(1, 2))
        alpha = (1 - confidence) / 2
        low, high = (np.quantile(boot, [alpha, 1 - alpha]) if len(grid) > 1
                     else (math.nan, math.nan))
        overall.append({"source": source, "draws": len(grid), "holds": share,
                        "low": float(low), "high": float(high)})
    return Predictive(plan, table, pd.DataFrame(overall), cube.sizes["replicate"], confidence)


def _varying(plan: PlacementPlan) -> list[dict[str, Any]]:
    """Each structure without the listed parameters that take one value in all of them."""
    keys = [k for k in (plan.structures[0] if plan.structures else {})
            if len({repr(st[k]) for st in plan.structures}) > 1]
    return [{k: st[k] for k in keys} for st in plan.structures]


def _label(structure: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in structure.items()) or "(the config as it is)"


def format_predictive(p: Predictive, label: str, preamble: bool = True) -> str:
    """The posterior- and prior-predictive shares, per structure and overall; ``preamble``:
    with the runs' description (draws, calibrated, sampled and fixed parameters), which
    further claims placed on the same runs leave out."""
    plan = p.plan
    pct = f"{p.confidence:.0%}"
    from .discover import CLAIMS

    lines = [f"posterior predictive placement of {label}: {plan.strategy} against "
             f"{plan.baseline}: {CLAIMS.get(plan.claim, plan.claim)}",
             f"draws: {len(plan.posterior)} of the {plan.accepted} accepted posterior draws and "
             f"{len(plan.prior)} prior draws, each under {len(plan.structures)} structure"
             f"{'s' * (len(plan.structures) != 1)} with {p.replicates} paired replicates (the "
             "same replicate worlds everywhere)",
             "calibrated parameters from each draw: " + ", ".join(
                 f"{k}" + (f" (as {v})" if v != k else "") for k, v in plan.mapped.items())]
    if preamble:
        lines += _runs_description(plan)
    else:
        lines = lines[:1] + ["(the same runs as the placement above)"]
    header = ["structure", "posterior: holds", "for / against / undecided",
              "prior: holds", "for / against / undecided"]
    table = [header]
    for structure in dict.fromkeys(p.table["structure"]):
        cells = [structure]
        for source in ("posterior", "prior"):
            row = p.table[(p.table["source"] == source) & (p.table["structure"] == structure)]
            if row.empty:
                cells += ["-", "-"]
                continue
            r = row.iloc[0]
            cells.append(f"{r['holds']:.0%} of {int(r['draws'])}")
            cells.append("n/a" if pd.isna(r["for"]) else
                         f"{r['for']:.0%} / {r['against']:.0%} / {r['undecided']:.0%}")
        table.append(cells)
    widths = [max(len(row[j]) for row in table) for j in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in table]
    lines.insert(len(lines) - len(table) + 1, "  ".join("-" * w for w in widths))
    for _, r in p.overall.iterrows():
        interval = (f"{pct} interval [{r['low']:.0%}, {r['high']:.0%}], bootstrap over the "
                    f"{int(r['draws'])} draws, each with all its structures, seed {plan.seed}"
                    if math.isfinite(r["low"]) else "no interval from a single draw")
        lines.append(f"{r['source']}: the claim holds in {r['holds']:.0%} of draws x structures "
                     f"(every structure equally weighted; {interval})")
    lines.append("holds: the claim as defined at each draw (its point estimate over the "
                 "replicates); for / against / undecided: decided at the "
                 f"{pct} level over the replicates. Where the posterior's share is near the "
                 "prior's, the calibration does not inform the claim")
    return "\n".join(lines)


def _runs_description(plan: PlacementPlan) -> list[str]:
    """What the runs left alone, sampled, held and fixed."""
    lines = []
    if plan.skipped:
        lines.append("  not in this config, left at its value: " + ", ".join(plan.skipped))
    if plan.evidence:
        lines.append("evidence ranges (not identified by the calibration), sampled per draw: "
                     + ", ".join(f"{k} [{v.low:g}, {v.high:g}]" + (" log" if v.log else "")
                                 for k, v in plan.evidence.items()))
    held = {k: v for k, v in (plan.structures[0] if plan.structures else {}).items()
            if k not in _varying(plan)[0]}
    if held:
        lines.append("listed with one value (every structure): " + ", ".join(
            f"{k}={v}" for k, v in held.items()))
    if plan.fixed:
        lines.append("fixed at the calibrated config's value: " + ", ".join(
            f"{k}={_short(v)}" for k, v in plan.fixed.items()))
    return lines


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
