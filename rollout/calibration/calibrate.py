"""Calibration to reported facts by approximate Bayesian computation (ABC) with rejection.

Each uncertain parameter gets a uniform (or log-uniform) prior over its ``[calibration]`` range;
the priors are sampled with a Latin hypercube. Every draw runs the calibrated strategy once, in
its own replicate's world, and yields one value of each target statistic. The distance of a draw
is the root sum of squares of its misses (0 inside a target's [low, high], otherwise the gap in
units of the target's scale); the ``accept`` share of draws nearest the targets is the posterior
sample (Pritchard et al. 1999; Beaumont 2010). The calibrated point is, by default, a joint fit:
an accepted draw chosen in two stages by its fit over common replicate worlds (``choose_point``);
marginal medians remain available but need not fit together. The point's fit
is checked on fresh replicates, and the posterior predictive reruns every accepted draw in a
fresh world (``posterior_predictive``). ``target_influence`` says how far dropping each target
would move the posterior.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..calendar import months_between
from ..config import CalibrationConfig, RolloutConfig, set_dotted, validate_dict
from ..data import Provinces
from ..errors import ConfigError, RolloutError
from ..experiment.designs import integer_fields
from ..model.states import PAYING
from ..streams import stream

#: replicates of the fit check start here, after any draw's replicate
CHECK_REPLICATE_OFFSET = 10_000_000
#: the common worlds in which candidate points are compared
POINT_REPLICATE_OFFSET = 20_000_000
#: the fresh worlds of the posterior predictive (plus the draw's index)
PREDICTIVE_REPLICATE_OFFSET = 30_000_000
#: the fresh common worlds of the joint point's second stage
FINAL_REPLICATE_OFFSET = 40_000_000


def target_label(target) -> str:
    """A short human label of a target, e.g. 'started_share by 2023-12'."""
    track = f" {target.track}" if target.track else ""
    return f"{target.statistic}{track} by {target.by}"


def target_months(config: RolloutConfig) -> np.ndarray:
    """Model time (months) of each target: the end of its month."""
    return np.array([months_between(config.time.start, t.by) + 1.0
                     for t in _spec(config).targets])


def _spec(config: RolloutConfig) -> CalibrationConfig:
    if config.calibration is None:
        raise RolloutError("this config has no [calibration] table (parameters and targets)")
    return config.calibration


def check_calibration(config: RolloutConfig, source: str) -> None:
    """Problems a schema cannot see: targets beyond the horizon, parameters that are not
    config fields or not accepted at their prior bounds. One line each, naming the field."""
    spec = _spec(config)
    for i, (target, month) in enumerate(zip(spec.targets, target_months(config), strict=True)):
        if not 0 < month <= config.time.horizon_months:
            raise ConfigError(source, f"calibration.targets.{i}.by",
                              f"{target.by} is outside the simulated period (from "
                              f"{config.time.start}, {config.time.horizon_months} months)")
    whole = integer_fields(config)
    for name, prior in spec.parameters.items():
        if name in whole:
            raise ConfigError(source, f"calibration.parameters.{name}",
                              "a whole-number field cannot take a continuous prior (draws "
                              "would be fractional); fix it in the config instead")
        for bound in (prior.low, prior.high):
            try:
                draw_config(config, {name: bound})
            except ConfigError as err:
                raise ConfigError(source, f"calibration.parameters.{name}",
                                  f"prior bound {bound:g} is not accepted ({err.problem})"
                                  ) from None
            except (KeyError, TypeError):
                raise ConfigError(source, f"calibration.parameters.{name}",
                                  "unknown parameter (not a config field)") from None


def draw_config(config: RolloutConfig, values: dict[str, float]) -> RolloutConfig:
    """The configuration of one draw: only the calibrated strategy, parameters set; the
    [calibration] table stays, since the run's statistics are defined by its targets."""
    from ..experiment.designs import known_paths

    spec = _spec(config)
    data = json.loads(config.canonical_json())
    data["strategies"] = {spec.strategy: data["strategies"][spec.strategy]}
    data["analysis"]["baseline"] = spec.strategy
    data.pop("sweep", None)
    known = known_paths(config)
    for path, value in values.items():
        if path not in known:
            raise KeyError(path)
        set_dotted(data, path, value)
    return validate_dict(data)


def parameter_names(spec: CalibrationConfig) -> list[str]:
    """Calibrated parameters sorted by path, as in the canonical config, so that reordering the
    table (which leaves the config hash unchanged) does not change the draws."""
    return sorted(spec.parameters)


def prior_sample(config: RolloutConfig) -> np.ndarray:
    """(draws, parameters) values from the priors, by a Latin hypercube keyed by the seed;
    columns in ``parameter_names`` order."""
    from scipy.stats import qmc  # here, not at import: checking a config needs none of it

    spec = _spec(config)
    unit = qmc.LatinHypercube(len(spec.parameters),
                              rng=stream(config.seed, 0, "calibration-prior")).random(spec.draws)
    return from_unit(spec, unit)


def from_unit(spec: CalibrationConfig, unit: np.ndarray) -> np.ndarray:
    """Map points of the unit cube onto the prior ranges (log-uniform where ``log``)."""
    out = np.empty_like(unit)
    for j, name in enumerate(parameter_names(spec)):
        prior = spec.parameters[name]
        if prior.log:
            lo, hi = math.log(prior.low), math.log(prior.high)
            out[:, j] = np.exp(lo + unit[:, j] * (hi - lo))
        else:
            out[:, j] = prior.low + unit[:, j] * (prior.high - prior.low)
    return out


@dataclass
class RunTrace:
    """What one calibration run reports: the target statistics and the monthly paths drawn in
    the fit figure (share of regions started, share of volume paying, pilots paying)."""

    statistics: np.ndarray         # (targets,)
    started: np.ndarray            # (months,) share of regions that have begun paying
    coverage: np.ndarray           # (months,) national share of volume paying
    pilots_paying: dict[str, np.ndarray]  # track -> (months,) pilot regions that have paid


def run_statistics(config: RolloutConfig, provinces: Provinces, replicate: int) -> RunTrace:
    """Run the calibrated strategy once, in the world of ``replicate``."""
    from ..experiment.cube import volume_share
    from ..model.simulation import Simulation
    from ..model.world import build_world
    from ..strategies.controller import run_strategy

    spec = _spec(config)
    world = build_world(config, provinces, config.seed, replicate)
    sim = Simulation(config, world, config.strategies[spec.strategy])
    months = target_months(config)
    paying_at: dict[int, float] = {}
    region = world.unit_region
    n_regions = world.n_regions
    units_per_region = np.bincount(region, minlength=n_regions)

    def snapshot(i: int) -> None:
        paying = np.array([s == PAYING for s in sim.units.state], float)
        paying_at[i] = float(np.mean(np.bincount(region, paying, n_regions) / units_per_region))

    for i, target in enumerate(spec.targets):
        if target.statistic == "paying_share":    # before anything that happens at the boundary
            sim.observe(float(months[i]), snapshot, i)
    result = sim.run(run_strategy)

    def region_first(times: list[float]) -> np.ndarray:
        t = np.array(times, float)
        t = np.where(np.isnan(t), np.inf, t)
        first = np.full(n_regions, np.inf)
        np.minimum.at(first, region, t)
        return first

    first_paid = region_first(sim.units.first_paid)
    first_operating = region_first(sim.units.first_operating)
    pilot_units = np.array(sim.units.is_pilot, bool)
    unit_track = np.array(sim.units.track)
    pilot_regions = {}
    for k, track in enumerate(config.tracks):
        pilot_regions[track] = np.unique(region[pilot_units & (unit_track == k)])
    stats = np.empty(len(spec.targets))
    # "by the end of month m" is strictly before the instant the next month begins
    for i, target in enumerate(spec.targets):
        t = months[i]
        if target.statistic == "started_share":
            stats[i] = float(np.mean(first_paid < t))
        elif target.statistic == "paying_share":
            stats[i] = paying_at.get(i, math.nan)
        elif target.statistic == "pilots_paying":
            stats[i] = float(np.sum(first_paid[pilot_regions[target.track]] < t))
        else:   # pilots_operating
            chosen = pilot_regions[target.track]
            stats[i] = float(np.mean(first_operating[chosen] < t)) if len(chosen) else math.nan
    grid = np.arange(1, config.time.horizon_months + 1, dtype=float)
    share = volume_share(provinces)
    return RunTrace(
        statistics=stats,
        started=np.mean(first_paid[None, :] < grid[:, None], axis=1),
        coverage=result.coverage[: len(grid)] @ share if config.time.step_months == 1
        else np.full(len(grid), math.nan),
        pilots_paying={track: np.sum(first_paid[r][None, :] < grid[:, None], axis=1)
                       .astype(float) for track, r in pilot_regions.items()})


def calibration_task(config_json: str, provinces: Provinces, names: list[str], start: int,
                     values: np.ndarray, replicate_offset: int = 0,
                     traces: bool = False, replicates: np.ndarray | None = None
                     ) -> tuple[int, np.ndarray, list[RunTrace] | None]:
    """Runs ``start, start+1, ...`` with one row of parameter values each (a worker's task),
    in replicate ``replicate_offset + row`` or, if given, in ``replicates[i]``."""
    base = validate_dict(json.loads(config_json))
    stats = np.empty((len(values), len(_spec(base).targets)))
    kept = [] if traces else None
    for i, row in enumerate(values):
        cfg = draw_config(base, dict(zip(names, map(float, row), strict=True)))
        world = (replicate_offset + start + i if replicates is None else int(replicates[i]))
        trace = run_statistics(cfg, provinces, world)
        stats[i] = trace.statistics
        if kept is not None:
            kept.append(trace)
    return start, stats, kept


def misses(config: RolloutConfig, stats: np.ndarray) -> np.ndarray:
    """(..., targets) each statistic's miss of its target's range, in units of its scale."""
    spec = _spec(config)
    low = np.array([t.low for t in spec.targets])
    high = np.array([t.high for t in spec.targets])
    scale = np.array([t.scale for t in spec.targets])
    return np.maximum(0.0, np.maximum(low - stats, stats - high)) / scale


def _root_sum_of_squares(miss: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.sum(miss**2, axis=-1))
    return np.where(np.isnan(d), np.inf, d)


def distances(config: RolloutConfig, stats: np.ndarray) -> np.ndarray:
    """Root sum of squared misses, each in units of its target's scale (inf if undefined)."""
    return _root_sum_of_squares(misses(config, stats))


def accepted_count(spec: CalibrationConfig, draws: int | None = None) -> int:
    """Draws the rejection step accepts: the ``accept`` share of them, at least one."""
    return max(1, math.ceil(spec.accept * (spec.draws if draws is None else draws)))


@dataclass
class Calibration:
    """Draws, their statistics and distances, and the accepted (posterior) sample."""

    names: list[str]
    draws: np.ndarray         # (N, D)
    stats: np.ndarray         # (N, K)
    distance: np.ndarray      # (N,)
    accepted: np.ndarray      # (N,) bool
    tolerance: float          # the largest accepted distance

    def fitted(self) -> dict[str, float]:
        """Posterior medians: the values written into the calibrated config."""
        post = self.draws[self.accepted]
        return {n: float(np.median(post[:, j])) for j, n in enumerate(self.names)}


def run_draws(config: RolloutConfig, provinces: Provinces, values: np.ndarray, executor,
              replicate_offset: int = 0, traces: bool = False,
              on_block: Callable[[int], None] | None = None,
              replicates: np.ndarray | None = None
              ) -> tuple[np.ndarray, list[RunTrace]]:
    """Statistics (and optionally traces) of one run per row of ``values``, in row order; row
    i runs in replicate ``replicate_offset + i``, or ``replicates[i]`` if given."""
    spec = _spec(config)
    names = parameter_names(spec)
    size = spec.block_size
    config_json = config.canonical_json()
    tasks = [(config_json, provinces, names, s, values[s:s + size], replicate_offset, traces,
              None if replicates is None else replicates[s:s + size])
             for s in range(0, len(values), size)]
    stats = np.empty((len(values), len(spec.targets)))
    kept: dict[int, list[RunTrace]] = {}
    for start, block, block_traces in executor.map_unordered(calibration_task, tasks):
        stats[start:start + len(block)] = block
        if block_traces is not None:
            kept[start] = block_traces
        if on_block is not None:
            on_block(len(block))
    ordered = [trace for start in sorted(kept) for trace in kept[start]]
    return stats, ordered


def calibrate(config: RolloutConfig, provinces: Provinces, executor,
              on_block: Callable[[int], None] | None = None) -> Calibration:
    """ABC rejection: draw from the priors, run each draw once, keep the nearest share."""
    spec = _spec(config)
    draws = prior_sample(config)
    stats, _ = run_draws(config, provinces, draws, executor, on_block=on_block)
    dist = distances(config, stats)
    n_accept = accepted_count(spec, len(draws))
    order = np.argsort(dist, kind="stable")
    accepted = np.zeros(len(draws), bool)
    accepted[order[:n_accept]] = True
    if not np.isfinite(dist[order[n_accept - 1]]):
        raise RolloutError("fewer accepted draws than asked have a defined distance; widen the "
                           "priors or check the targets")
    return Calibration(parameter_names(spec), draws, stats, dist, accepted,
                       float(dist[order[n_accept - 1]]))


@dataclass
class PointChoice:
    """How the calibrated point was chosen, and how well the candidates fit."""

    rule: str                       # "joint" or "marginal_medians"
    values: dict[str, float]        # the calibrated point
    replicates: int                 # first-stage worlds of each candidate (0: none ran)
    candidates: np.ndarray          # draw indices tried (empty for marginal medians)
    expected_distance: np.ndarray   # (candidates,) first-stage score (``fit``)
    chosen: int | None              # the chosen draw's index
    medians_distance: float         # the marginal medians' first-stage score
    fit: str = "mean_distance"      # how the score is computed (CalibrationConfig.point_fit)
    mean_distance: np.ndarray | None = None        # (candidates,) mean of the distances
    distance_of_means: np.ndarray | None = None    # (candidates,) distance of mean statistics
    finalists: np.ndarray | None = None            # draw indices of the second stage
    final_score: np.ndarray | None = None          # (finalists,) score in the fresh worlds
    final_replicates: int = 0
    medians_final: float = math.nan                # the medians' score in the fresh worlds


def _scores(config: RolloutConfig, provinces: Provinces, rows: np.ndarray, worlds: int,
            offset: int, executor, on_block) -> tuple[np.ndarray, np.ndarray]:
    """(mean distance, distance of the mean statistics) of each row over the same worlds."""
    values = np.repeat(rows, worlds, axis=0)
    replicates = np.tile(offset + np.arange(worlds), len(rows))
    stats, _ = run_draws(config, provinces, values, executor, on_block=on_block,
                         replicates=replicates)
    mean_distance = distances(config, stats).reshape(len(rows), worlds).mean(axis=1)
    of_means = distances(config, stats.reshape(len(rows), worlds, -1).mean(axis=1))
    return mean_distance, of_means


def choose_point(config: RolloutConfig, provinces: Provinces, cal: Calibration, executor,
                 on_block: Callable[[int], None] | None = None) -> PointChoice:
    """The calibrated point by the config's rule. ``joint``, in two stages. First, every
    candidate (the nearest ``point_candidates`` accepted draws) and the marginal medians run in
    the same ``point_replicates`` worlds (common random numbers) and are scored (``point_fit``:
    the mean of the distances, or the distance of the mean statistics). Second, the
    ``point_finalists`` best run again, with the medians, in ``point_final_replicates`` fresh
    common worlds, and the best second-stage score wins: a point chosen and scored in the same
    worlds is favoured by their noise (the winner's curse), so the final choice and the score
    reported beside the medians' come from worlds the first choice never saw. Ties go to the
    other score, then the lower draw index."""
    spec = _spec(config)
    medians = cal.fitted()
    if spec.point == "marginal_medians":
        return PointChoice("marginal_medians", medians, 0, np.array([], int), np.array([]),
                           None, math.nan, spec.point_fit)
    accepted = np.flatnonzero(cal.accepted)
    accepted = accepted[np.lexsort((accepted, cal.distance[accepted]))]
    candidates = accepted[: spec.point_candidates or len(accepted)]
    median_row = [[medians[n] for n in cal.names]]
    mean_d, of_means = _scores(config, provinces, np.vstack([cal.draws[candidates], median_row]),
                               spec.point_replicates, POINT_REPLICATE_OFFSET, executor, on_block)
    pick = 0 if spec.point_fit == "mean_distance" else 1
    first = (mean_d, of_means)[pick]
    other = (mean_d, of_means)[1 - pick]
    order = np.lexsort((candidates, other[:-1], first[:-1]))
    finalists = candidates[order[: spec.point_finalists]]
    final_mean, final_of_means = _scores(
        config, provinces, np.vstack([cal.draws[finalists], median_row]),
        spec.point_final_replicates, FINAL_REPLICATE_OFFSET, executor, on_block)
    final = (final_mean, final_of_means)[pick]
    final_other = (final_mean, final_of_means)[1 - pick]
    best = int(np.lexsort((finalists, final_other[:-1], final[:-1]))[0])
    chosen = int(finalists[best])
    return PointChoice("joint", dict(zip(cal.names, map(float, cal.draws[chosen]), strict=True)),
                       spec.point_replicates, candidates, first[:-1], chosen, float(first[-1]),
                       spec.point_fit, mean_d[:-1], of_means[:-1], finalists, final[:-1],
                       spec.point_final_replicates, float(final[-1]))


def posterior_predictive(config: RolloutConfig, provinces: Provinces, cal: Calibration,
                         executor, on_block: Callable[[int], None] | None = None
                         ) -> np.ndarray:
    """(accepted, targets) statistics: every accepted draw rerun once in a fresh world. The
    accepted draws' own statistics were selected for being near the targets, so they overstate
    the fit; rerun, they give what the posterior predicts."""
    accepted = np.flatnonzero(cal.accepted)
    stats, _ = run_draws(config, provinces, cal.draws[accepted], executor, on_block=on_block,
                         replicates=PREDICTIVE_REPLICATE_OFFSET + accepted)
    return stats


def target_influence(config: RolloutConfig, cal: Calibration) -> list[dict]:
    """Per target: the posterior with that target dropped (the same number of draws accepted,
    from the recorded statistics, no new runs), and how far each parameter's posterior median
    moves, in units of its prior's width (log scale for log priors). A target whose removal
    moves nothing carries no information the others do not."""
    spec = _spec(config)
    miss = misses(config, cal.stats)
    n_accept = int(cal.accepted.sum())
    unit = _to_unit(spec, cal.names, cal.draws)
    base = np.median(unit[cal.accepted], axis=0)
    rows = []
    for k, target in enumerate(spec.targets):
        keep = np.ones(len(spec.targets), bool)
        keep[k] = False
        d = _root_sum_of_squares(miss[:, keep])
        chosen = np.argsort(d, kind="stable")[:n_accept]
        shift = np.median(unit[chosen], axis=0) - base
        j = int(np.argmax(np.abs(shift)))
        rows.append({"target": target_label(target), "kind": target.kind,
                     "shift": dict(zip(cal.names, map(float, shift), strict=True)),
                     "largest": cal.names[j], "largest_shift": float(shift[j]),
                     "overlap": float(np.mean(cal.accepted[chosen]))})
    return rows


def influence_floor(config: RolloutConfig, cal: Calibration, resamples: int = 200
                    ) -> tuple[float, float]:
    """The largest move of a posterior median (prior widths) that chance alone gives: the
    draws resampled with replacement (a generator keyed by the seed), the same number accepted
    by the same distance, ``resamples`` times. Returns the median and the 90th percentile of that
    largest move: an influence below them cannot be told from resampling noise."""
    spec = _spec(config)
    n_accept = int(cal.accepted.sum())
    unit = _to_unit(spec, cal.names, cal.draws)
    base = np.median(unit[cal.accepted], axis=0)
    rng = stream(config.seed, 0, "calibration-influence-floor")
    largest = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(0, len(cal.draws), len(cal.draws))
        chosen = pick[np.argsort(cal.distance[pick], kind="stable")[:n_accept]]
        largest[i] = np.max(np.abs(np.median(unit[chosen], axis=0) - base))
    return float(np.median(largest)), float(np.quantile(largest, 0.9))


def _to_unit(spec: CalibrationConfig, names: list[str], draws: np.ndarray) -> np.ndarray:
    """Draws mapped back onto the unit cube of their priors (``from_unit``'s inverse)."""
    out = np.empty_like(draws)
    for j, name in enumerate(names):
        prior = spec.parameters[name]
        if prior.log:
            lo, hi = math.log(prior.low), math.log(prior.high)
            out[:, j] = (np.log(draws[:, j]) - lo) / (hi - lo)
        else:
            out[:, j] = (draws[:, j] - prior.low) / (prior.high - prior.low)
    return out
