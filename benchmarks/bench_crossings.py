"""Speed of the harm-rate crossing scan (rollout/model/exploitation.py), the cost that grows with
the horizon once entrenchment's residue adds a third time constant: the vectorised sign scan
against the point-by-point scan it replaced, on the same 300 sums in one process (both give the
same intervals: tests/test_exploitation.py). Prints the time per call of each and their ratio.

    python benchmarks/bench_crossings.py
"""

import math
import time

import numpy as np

from rollout.model.exploitation import (
    CROSSING_SCAN_STEP,
    _intervals_from_brackets,
    positive_intervals,
)


def cases(n: int = 300, seed: int = 11):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        k = int(rng.integers(3, 5))
        b = (rng.normal(size=k) * rng.choice([1e-3, 1.0], size=k)).tolist()
        if all(x > 0 for x in b) or all(x < 0 for x in b):
            continue
        out.append((float(rng.normal() * 0.3), b, rng.uniform(6.0, 1200.0, size=k).tolist(),
                    float(rng.uniform(120.0, 360.0))))
    return out


def point_by_point(a, b, taus, xmax):
    terms = list(zip(b, taus, strict=True))

    def f(x):
        return a + sum(bj * math.exp(-x / tj) for bj, tj in terms)

    n = max(2, int(math.ceil(xmax / CROSSING_SCAN_STEP)) + 1)
    return _intervals_from_brackets(f, np.linspace(0.0, xmax, n).tolist())


def timed(fn, data, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for args in data:
            fn(*args)
        best = min(best, (time.perf_counter() - start) / len(data))
    return best


if __name__ == "__main__":
    data = cases()
    new, old = timed(positive_intervals, data), timed(point_by_point, data)
    print("crossing scan, 300 sums of 3-4 terms over 120-360 months (best of 3):")
    print(f"  point by point {old * 1e3:.2f} ms a call, vectorised {new * 1e3:.2f} ms a call: "
          f"{old / new:.1f}x faster")
