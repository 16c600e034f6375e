"""Speed of the model on the national config, against raw SimPy measured in the same process.

Prints, per strategy: milliseconds per (strategy, replicate) run on one core, SimPy events a run
schedules, microseconds per event, and the ratio of that to a bare SimPy timeout loop timed here
too (machines are shared and noisy: compare ratios, not seconds). Also the time of one replicate
of all strategies, world building included, which is the issue's goal (< 0.25 s).

    python benchmarks/bench_national.py [--replicates 20] [--config configs/national.toml]
                                        [--units-per-region 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import simpy

from rollout.config import load_config
from rollout.data import load_provinces
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "national.toml"))
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--units-per-region", type=int, default=None,
                        help="hospital micro level: split each region into this many units")
    args = parser.parse_args()
    overrides = {}
    if args.units_per_region:
        overrides["regions.units_per_region"] = args.units_per_region
    cfg = load_config(args.config, overrides)
    provinces = load_provinces(cfg, args.config)
    raw_before = raw_simpy_us_per_event()

    per_strategy = {name: {"ms": [], "events": []} for name in cfg.strategies}
    world_ms, replicate_ms = [], []
    for rep in range(args.replicates):
        began = time.perf_counter()
        world = build_world(cfg, provinces, cfg.seed, rep)
        world_ms.append((time.perf_counter() - began) * 1e3)
        for name, strategy in cfg.strategies.items():
            t0 = time.perf_counter()
            result = Simulation(cfg, world, strategy).run(run_strategy)
            per_strategy[name]["ms"].append((time.perf_counter() - t0) * 1e3)
            per_strategy[name]["events"].append(result.n_events)
        replicate_ms.append((time.perf_counter() - began) * 1e3)
    raw = min(raw_before, raw_simpy_us_per_event())

    print(f"config {args.config}: {world.n_units} units, {len(cfg.strategies)} strategies, "
          f"{args.replicates} replicates, horizon {cfg.time.horizon_months} months")
    print(f"raw SimPy (bare timeout loop): {raw:.2f} us/event = {1e6 / raw / 1e3:.0f}k events/s")
    print(f"{'strategy':<12} {'ms/run':>8} {'events/run':>11} {'us/event':>9} {'x raw':>7}")
    total_ms, total_ev = 0.0, 0
    for name, rec in per_strategy.items():
        ms, ev = statistics.mean(rec["ms"]), statistics.mean(rec["events"])
        total_ms += sum(rec["ms"])
        total_ev += sum(rec["events"])
        us = ms * 1e3 / ev
        print(f"{name:<12} {ms:8.1f} {ev:11.0f} {us:9.2f} {us / raw:7.1f}")
    us_all = total_ms * 1e3 / total_ev
    print(f"{'all':<12} {total_ms / args.replicates / len(cfg.strategies):8.1f} "
          f"{total_ev / args.replicates / len(cfg.strategies):11.0f} {us_all:9.2f} "
          f"{us_all / raw:7.1f}")
    print(f"world build: {statistics.mean(world_ms):.1f} ms per replicate")
    print(f"one replicate of all strategies (world included): median "
          f"{statistics.median(replicate_ms) / 1e3:.3f} s, mean "
          f"{statistics.mean(replicate_ms) / 1e3:.3f} s (goal < 0.25 s); "
          f"= {statistics.median(replicate_ms) * 1e3 / raw / 1e3:.0f}k raw SimPy events")


if __name__ == "__main__":
    main()
