"""Speed of the model on the national config, against raw SimPy measured in the same process.

Prints, per strategy: milliseconds per (strategy, replicate) run on one core, events *processed*
per run (neither stale nor left queued at the horizon) and events scheduled, microseconds per
processed event, and the ratio of that to a bare SimPy timeout loop timed here too (machines are
shared and noisy: compare ratios, not seconds). Then the time of one replicate of all strategies,
world building included, as a multiple of 100,000 bare SimPy timeouts (issue goal: <= 1.25), both
against the fastest bare loop and paired with a bare loop timed right after each replicate, and
with ``--hospitals H`` the cost of the hospital micro level (H units per region) against regions,
measured in the same run, and with ``--mechanisms`` the cost of the five mechanisms of issue 11
all switched on, enforcement included (model v3), against all off (replicates alternate between
the two, so machine noise hits both alike; issue goal: <= 1.5). ``--strategies`` keeps some of
the config's designs (the earlier figures were measured on big_bang, phased, dual_track and
adaptive, before big_bang_matched joined the national config).

    python benchmarks/bench_national.py [--replicates 20] [--config configs/national.toml]
                                        [--hospitals 10] [--mechanisms]
                                        [--strategies big_bang,phased,dual_track,adaptive]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import simpy

from rollout.config import load_config
from rollout.data import load_provinces
from rollout.model.core import gc_paused
from rollout.model.simulation import Simulation
from rollout.model.world import build_world
from rollout.strategies.controller import run_strategy

ROOT = Path(__file__).resolve().parents[1]


def raw_simpy_us_per_event(n: int = 200_000, repeats: int = 5) -> float:
    """Best-of-N microseconds per event of a bare timeout loop."""

    def loop(env: simpy.Environment):
        for _ in range(n):
            yield env.timeout(1.0)

    best = float("inf")
    for _ in range(repeats):
        env = simpy.Environment()
        env.process(loop(env))
        began = time.perf_counter()
        env.run()
        best = min(best, time.perf_counter() - began)
    return best / n * 1e6


MECHANISMS = ("support", "spillovers", "legitimacy", "entrenchment", "track_fit")
#: switches of "all on": the five mechanisms and entrenchment's remedy (model v3)
ALL_ON = {f"{m}.enabled": True for m in MECHANISMS} | {"entrenchment.enforcement.enabled": True}
#: the strategies timed (None: all of the config's)
KEEP: set[str] | None = None


def raw_simpy_ms(n: int = 100_000) -> float:
    """Milliseconds of one bare loop of n SimPy timeouts (timed once: see time_replicates)."""

    def loop(env: simpy.Environment):
        for _ in range(n):
            yield env.timeout(1.0)

    env = simpy.Environment()
    env.process(loop(env))
    began = time.perf_counter()
    env.run()
    return (time.perf_counter() - began) * 1e3


def time_replicates(cfg, provinces, replicates: int, first: int = 0) -> dict:
    """Run replicates as the runner does (garbage collector paused over each replicate). Each
    replicate is followed by a bare loop of 100,000 SimPy timeouts, so each replicate has its
    own ratio, measured within a fraction of a second of it: the host's speed drifts by up to
    a factor of 2 over minutes on these shared machines."""
    per_strategy = {name: {"ms": [], "processed": [], "scheduled": []} for name in cfg.strategies
                    if KEEP is None or name in KEEP}
    replicate_ms, raw_ms = [], []
    units = 0
    for rep in range(first, first + replicates):
        with gc_paused():
            began = time.perf_counter()
            world = build_world(cfg, provinces, cfg.seed, rep)
            units = world.n_units
            for name, strategy in cfg.strategies.items():
                if name not in per_strategy:
                    continue
                t0 = time.perf_counter()
                sim = Simulation(cfg, world, strategy)
                result = sim.run(run_strategy)
                per_strategy[name]["ms"].append((time.perf_counter() - t0) * 1e3)
                per_strategy[name]["processed"].append(result.n_events)
                per_strategy[name]["scheduled"].append(sim.clock.scheduled)
            replicate_ms.append((time.perf_counter() - began) * 1e3)
            raw_ms.append(raw_simpy_ms())
    return {"per_strategy": per_strategy, "replicate_ms": replicate_ms, "raw_ms": raw_ms,
            "units": units}


def merge(parts: list[dict]) -> dict:
    """One timing record from several."""
    out = {"per_strategy": {}, "replicate_ms": [], "raw_ms": [], "units": parts[0]["units"]}
    for part in parts:
        out["replicate_ms"] += part["replicate_ms"]
        out["raw_ms"] += part["raw_ms"]
        for name, rec in part["per_strategy"].items():
            into = out["per_strategy"].setdefault(name, {k: [] for k in rec})
            for key, values in rec.items():
                into[key] += values
    return out


def report(label: str, got: dict, raw: float) -> float:
    print(f"{label}: {got['units']} units")
    print(f"{'strategy':<12} {'ms/run':>8} {'processed':>10} {'scheduled':>10} {'us/event':>9} "
          f"{'x raw':>7}")
    total_ms, total_ev, total_sched, n_runs = 0.0, 0, 0, 0
    for name, rec in got["per_strategy"].items():
        ms, ev = statistics.mean(rec["ms"]), statistics.mean(rec["processed"])
        sched = statistics.mean(rec["scheduled"])
        total_ms += sum(rec["ms"])
        total_ev += sum(rec["processed"])
        total_sched += sum(rec["scheduled"])
        n_runs += len(rec["ms"])
        us = ms * 1e3 / ev
        print(f"{name:<12} {ms:8.1f} {ev:10.0f} {sched:10.0f} {us:9.2f} {us / raw:7.1f}")
    us_all = total_ms * 1e3 / total_ev
    print(f"{'all':<12} {total_ms / n_runs:8.1f} {total_ev / n_runs:10.0f} "
          f"{total_sched / n_runs:10.0f} {us_all:9.2f} {us_all / raw:7.1f}")
    median = statistics.median(got["replicate_ms"])
    ratios = [r / b for r, b in zip(got["replicate_ms"], got["raw_ms"], strict=True)]
    print(f"one replicate of all strategies (world included): median {median:.1f} ms, "
          f"= {median * 1e3 / (raw * 100_000):.2f} x the time of 100,000 bare SimPy timeouts "
          f"at their fastest; paired with the loop timed after each replicate: median "
          f"{statistics.median(ratios):.2f} x [{min(ratios):.2f}, {max(ratios):.2f}] "
          f"(goal <= 1.25)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "national.toml"))
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--hospitals", type=int, default=None,
                        help="also time the hospital micro level: this many units per region")
    parser.add_argument("--mechanisms", action="store_true",
                        help="also time the five mechanisms of issue 11 all on against all off")
    parser.add_argument("--strategies", default=None,
                        help="comma-separated designs of the config to time (default: all)")
    args = parser.parse_args()
    global KEEP
    KEEP = set(args.strategies.split(",")) if args.strategies else None
    cfg = load_config(args.config)
    provinces = load_provinces(cfg, args.config)
    raw_before = raw_simpy_us_per_event()
    regions = time_replicates(cfg, provinces, args.replicates)
    hospitals = None
    if args.hospitals:
        cfg_h = load_config(args.config, {"regions.units_per_region": args.hospitals})
        hospitals = time_replicates(cfg_h, provinces, max(2, args.replicates // 4))
    mechanisms = None
    if args.mechanisms:
        cfg_m = load_config(args.config, ALL_ON)
        off, on = [], []
        for rep in range(args.replicates):
            off.append(time_replicates(cfg, provinces, 1, rep))
            on.append(time_replicates(cfg_m, provinces, 1, rep))
        mechanisms = (merge(off), merge(on))
    raw = min(raw_before, raw_simpy_us_per_event())

    timed = len(KEEP) if KEEP else len(cfg.strategies)
    print(f"config {args.config}: {timed} strategies timed, {args.replicates} "
          f"replicates, horizon {cfg.time.horizon_months} months")
    print(f"raw SimPy (bare timeout loop): {raw:.3f} us/event; 100,000 timeouts = "
          f"{raw * 100:.1f} ms")
    base = report("regions", regions, raw)
    if hospitals is not None:
        scaled = report(f"hospitals ({args.hospitals} per region)", hospitals, raw)
        print(f"hospital micro level: {scaled / base:.1f} x the time of regions for "
              f"{hospitals['units'] / regions['units']:.0f} x the units")
    if mechanisms is not None:
        off_ms = report("mechanisms all off (alternating)", mechanisms[0], raw)
        on_ms = report(f"mechanisms all on ({', '.join(MECHANISMS)}, enforcement)",
                       mechanisms[1], raw)
        print(f"five mechanisms and enforcement on: {on_ms / off_ms:.2f} x the time of all off "
              f"per replicate (goal <= 1.5)")


if __name__ == "__main__":
    main()
