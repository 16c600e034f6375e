"""Does a tighter ABC tolerance identify what rejection at 5% leaves open? (issue 12)

ABC-SMC buys a smaller tolerance for fewer simulations; it cannot inform a parameter the targets
carry no information about. This reads the calibration record (configs/historical.abc.csv: every
prior draw, its distance to the reported dates) and, accepting the k nearest draws for shrinking k,
prints each parameter's 90% posterior width as a share of its prior's 90% width (on the log
scale for log-uniform priors; as in the calibration's own record). A parameter the dates inform
narrows as k falls; one they do not stays near 1.
Run from the repository root: python docs/findings/abc_tolerance.py
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = Path("configs/historical.toml")
KEEP = (200, 100, 50, 20)          # of 2000 draws: 10%, 5% (the calibration's), 2.5%, 1%


def main() -> None:
    spec = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["calibration"]["parameters"]
    draws = pd.read_csv(CONFIG.with_name(f"{CONFIG.stem}.abc.csv")).sort_values("distance")
    rows = []
    for name, prior in spec.items():
        scale = np.log if prior.get("log") else (lambda x: x)
        width = 0.9 * (scale(prior["high"]) - scale(prior["low"]))
        row = {"parameter": name}
        for k in KEEP:
            low, high = np.quantile(scale(draws[name].head(k).to_numpy()), [0.05, 0.95])
            row[f"k={k}"] = f"{(high - low) / width:.2f}"
        rows.append(row)
    print(f"90% posterior width / prior 90% width, accepting the k nearest of {len(draws)} draws "
          f"({CONFIG})")
    print(pd.DataFrame(rows).to_string(index=False))
    print("distance at k: " + ", ".join(f"k={k}: {draws['distance'].iloc[k - 1]:.2f}"
                                         for k in KEEP))
    print("(k=20 rests on 20 draws: its widths carry sampling noise of about 0.1)")


if __name__ == "__main__":
    main()
