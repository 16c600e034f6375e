"""What every section of the report reads: the cube, its stored config, the baseline, and the
comparisons, computed once and shared (a sweep's paired comparison is the expensive part)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from ..analysis.compare import design_dims


@dataclass
class Context:
    """One cube being reported on. ``source`` is the path as the user gave it."""

    ds: xr.Dataset
    source: str
    baseline: str
    confidence: float = 0.95
    _compared: dict[tuple[str, ...], xr.Dataset] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.ds.attrs["config"])

    @property
    def dims(self) -> list[str]:
        """The sweep's design dimensions (empty for a single run)."""
        return design_dims(self.ds)

    @property
    def is_sweep(self) -> bool:
        return bool(self.dims)

    @property
    def replicates(self) -> int:
        return int(self.ds.sizes["replicate"])

    @property
    def strategies(self) -> list[str]:
        return [str(s) for s in self.ds["strategy"].values]

    @property
    def horizon(self) -> float:
        return float(self.config["time"]["horizon_months"])

    def compare(self, metrics: Sequence[str], km: bool = False) -> xr.Dataset:
        """``analysis.compare.compare`` of these metrics against the baseline (memoised)."""
        from ..analysis.compare import compare

        key = (*metrics, f"km={km}")
        if key not in self._compared:
            self._compared[key] = compare(self.ds, self.baseline, list(metrics),
                                          self.confidence, km=km)
        return self._compared[key]

    def date(self, months: float) -> str:
        """A time in months since the start as a calendar month ('Jul 2021'); 'never' for a
        time that does not come within the horizon."""
        if not math.isfinite(months):
            return "never"
        start = _dt.date.fromisoformat(self.config["time"]["start"] + "-01")
        whole = start.year * 12 + start.month - 1 + int(months)
        return _dt.date(whole // 12, whole % 12 + 1, 1).strftime("%b %Y")
