"""The harm/benefit ratio the defaults imply: each region's harm rate at full exploitation of the
defects of version 1 that manifest in its context, over its benefit rate (docs/model.md section 7).

A region pays b w_r and, once every defect in force is fully exploited (e = 1), harms
w_r sum_d s_d over the defects of its track's version 1 that manifest in its context. The ratio
does not depend on w_r. Above 1 (with `suspension.tolerance` 0) a region is suspended once its
gaming has learnt enough for long enough, unless detection and fixes come first.

    python docs/scripts/harm_benefit.py [CONFIG] [--replicates 200] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rollout.config import load_config
from rollout.data import load_provinces
from rollout.model.world import build_world

ROOT = Path(__file__).resolve().parents[2]


def ratios(config, provinces, replicates: int) -> np.ndarray:
    """Harm/benefit at full exploitation of every region of every replicate, first track."""
    out = []
    for rep in range(replicates):
        world = build_world(config, provinces, config.seed, rep)
        contexts = world.region_context
        severity = np.array([d.severity for d in world.initial_defects[0]])
        manifests = np.array([d.contexts for d in world.initial_defects[0]], bool)
        if severity.size == 0:
            out.append(np.zeros(world.n_regions))
            continue
        harm = (severity[:, None] * manifests[:, contexts]).sum(axis=0)
        out.append(harm / config.operation.benefit_rate)
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "national.toml"))
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        metavar="NAME=VALUE", help="override a config value (numbers)")
    args = parser.parse_args()
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.sets)}
    config = load_config(args.config, overrides)
    r = ratios(config, load_provinces(config, args.config), args.replicates)
    q = np.percentile(r, [5, 25, 50, 75, 95])
    print(f"{args.config} {' '.join(args.sets)}: {r.size} regions x replicates "
          f"(severity median {config.defects.severity_median:g}, "
          f"mean defects {config.defects.mean_count:g})")
    print("harm/benefit at full exploitation: 5% {:.2f}, 25% {:.2f}, median {:.2f}, "
          "75% {:.2f}, 95% {:.2f}".format(*q))
    print(f"share above 1: {np.mean(r > 1.0):.1%}; mean {r.mean():.2f}")


if __name__ == "__main__":
    main()
