"""Sweep throughput and memory on the national scenario, measured on the real CLI.

Runs ``rollout sweep`` as a subprocess (local Dask cluster) and samples the resident memory of
the driver and of every worker process every 0.2 s. Prints runs per second with 1 and 2 workers
(goal: ratio >= 1.8) and peak memory for a small and a ten-times larger sweep (goal: the larger
within 1.3x the smaller's peak).

    python benchmarks/bench_sweep.py [--runs 2000] [--large-runs 20000] [--skip-large]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import tomli_w

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = 4


def sweep_config(folder: Path, runs: int) -> Path:
    """The national config swept over two steering values, sized to ``runs`` runs."""
    replicates = max(1, runs // (2 * STRATEGIES))
    data = {
        "name": f"bench_{runs}",
        "seed": 20190101,
        "replicates": replicates,
        "regions": {"data": "bundled:provinces.csv"},
        "sweep": {"parameters": {"adoption.steering": [0.5, 0.9]}, "block_size": 8},
    }
    path = folder / f"bench_{runs}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def measure(config: Path, out: Path, workers: int) -> dict:
    """Run one sweep; wall time and peak RSS of the driver and of the workers."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "rollout.cli", "sweep", str(config), "-o", str(out), "-q",
           "-w", str(workers)]
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver = psutil.Process(proc.pid)
    peak_driver = peak_worker = peak_total = 0
    while proc.poll() is None:
        try:
            rss_driver = driver.memory_info().rss
            children = driver.children(recursive=True)
            worker_rss = []
            for child in children:
                try:
                    worker_rss.append(child.memory_info().rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        peak_driver = max(peak_driver, rss_driver)
        peak_worker = max([peak_worker, *worker_rss])
        peak_total = max(peak_total, rss_driver + sum(worker_rss))
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"wall": wall, "driver": peak_driver, "worker": peak_worker, "total": peak_total,
            "disk": size, "stdout": stdout.strip().splitlines()[0]}


def cluster_overhead(workers: int, repeats: int = 3) -> float:
    """Seconds to start and close a local Dask cluster of ``workers`` (best of a few)."""
    code = ("import time; from rollout.experiment.executors import DaskExecutor\n"
            "t = time.perf_counter()\n"
            f"with DaskExecutor(workers={workers}):\n    pass\n"
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def machine_ceiling(config: Path, folder: Path) -> float:
    """Throughput of two independent serial sweeps running at once over one alone: what two
    processes of this very work can gain on this machine (shared cores, caches, turbo), so the
    Dask speed-up can be read against it."""
    def serial(out: Path) -> subprocess.Popen:
        shutil.rmtree(out, ignore_errors=True)
        return subprocess.Popen([sys.executable, "-m", "rollout.cli", "sweep", str(config), "-o",
                                 str(out), "-q", "--serial"], stdout=subprocess.DEVNULL)

    began = time.perf_counter()
    serial(folder / "alone.zarr").wait()
    alone = time.perf_counter() - began
    began = time.perf_counter()
    pair = [serial(folder / f"pair{i}.zarr") for i in (1, 2)]
    for proc in pair:
        proc.wait()
    together = time.perf_counter() - began
    return 2 * alone / together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--large-runs", type=int, default=20000)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    mib = 2**20
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        folder = Path(tmp)
        small = sweep_config(folder, args.runs)
        runs = 2 * STRATEGIES * max(1, args.runs // (2 * STRATEGIES))
        print(f"national scenario, 2 design points x {STRATEGIES} strategies; "
              f"{os.cpu_count()} cores")
        results = {}
        for workers in (1, 2):
            r = measure(small, folder / f"w{workers}.zarr", workers)
            results[workers] = r
            print(f"{runs} runs, {workers} worker(s): {r['wall']:.1f} s wall, "
                  f"{runs / r['wall']:.1f} runs/s; peak RSS driver {r['driver'] / mib:.0f} MiB, "
                  f"largest worker {r['worker'] / mib:.0f} MiB, all {r['total'] / mib:.0f} MiB; "
                  f"store {r['disk'] / mib:.0f} MiB")
        ratio = results[1]["wall"] / results[2]["wall"]
        start = {w: cluster_overhead(w) for w in (1, 2)}
        net = (results[1]["wall"] - start[1]) / (results[2]["wall"] - start[2])
        print(f"speed-up 2 workers / 1 worker: {ratio:.2f} wall; {net:.2f} without starting and "
              f"closing the cluster ({start[1]:.1f} s / {start[2]:.1f} s, timed apart) "
              "(goal >= 1.8)")
        ceiling = machine_ceiling(sweep_config(folder, args.runs // 5), folder)
        print(f"machine ceiling: two independent serial sweeps of {args.runs // 5} runs at once "
              f"do {ceiling:.2f}x the work of one alone; Dask speed-up / ceiling "
              f"{ratio / ceiling:.2f}")
        if args.skip_large:
            return
        large = sweep_config(folder, args.large_runs)
        big_runs = 2 * STRATEGIES * max(1, args.large_runs // (2 * STRATEGIES))
        r = measure(large, folder / "large.zarr", 2)
        small_peak = results[2]
        print(f"{big_runs} runs, 2 workers: {r['wall']:.1f} s wall, {big_runs / r['wall']:.1f} "
              f"runs/s; peak RSS driver {r['driver'] / mib:.0f} MiB, largest worker "
              f"{r['worker'] / mib:.0f} MiB, all {r['total'] / mib:.0f} MiB; store "
              f"{r['disk'] / mib:.0f} MiB")
        for key in ("driver", "worker", "total"):
            print(f"peak {key} {big_runs} runs / {runs} runs: "
                  f"{r[key] / small_peak[key]:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
