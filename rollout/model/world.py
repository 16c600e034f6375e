"""One replicate's world: what every strategy meets in that replicate (MODEL.md sections 3, 4, 8).

The world holds the units (regions, or hospitals inside regions) with their weights, capacities and
contexts, each track's initial defects with their traits, and the pre-drawn luck of every
(defect, unit) pair: unit-exponential detection thresholds and the uniforms that decide reporting,
report delay and local patching of the k-th detection. Everything is keyed by what it describes,
so a strategy that exposes a unit later meets the same luck later. Defects born in releases and
further blocks of luck are drawn on demand from their own keyed streams and cached; since the
key fixes the numbers, the cache never changes a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..config import KIND_NAMES, RolloutConfig
from ..data import Provinces
from ..streams import stream
from .defects import CONTEXT_NAMES, FIX_ATTEMPTS, N_CONTEXTS, DefectTraits, draw_defect
from .quantiles import gamma_quantiles, poisson_quantile

LUCK_BLOCK = 16           # detections per block of pre-drawn luck
ADOPT_BLOCK = 16          # versions per block of adoption delays


@dataclass
class World:
    """The shared, read-only world of one replicate (plus keyed caches)."""

    seed: int
    replicate: int
    config: RolloutConfig
    provinces: Provinces
    unit_province: np.ndarray   # (N,) province index, units sorted by province
    unit_region: np.ndarray     # (N,) region index
    region_province: np.ndarray  # (R,)
    weight: np.ndarray          # (N,) share of national volume, sums to 1
    capacity: np.ndarray        # (N,) in (0, 1]
    context: np.ndarray         # (N,) context index
    prep_factor: np.ndarray     # (N,) unit-mean gamma variates for preparation time
    initial_defects: list[list[DefectTraits]]  # per track
    _luck: dict = field(default_factory=dict, repr=False)
    _thr0: dict = field(default_factory=dict, repr=False)
    _adopt: dict = field(default_factory=dict, repr=False)
    _release: dict = field(default_factory=dict, repr=False)
    _new: dict = field(default_factory=dict, repr=False)
    _pair_luck: dict = field(default_factory=dict, repr=False)
    _adopt_rows: dict = field(default_factory=dict, repr=False)

    @property
    def n_units(self) -> int:
        return len(self.weight)

    @property
    def n_regions(self) -> int:
        return len(self.region_province)

    @cached_property
    def region_capacity(self) -> np.ndarray:
        """Capacity of each region (mean over its units, which share it when units_per_region=1)."""
        sums = np.bincount(self.unit_region, weights=self.capacity, minlength=self.n_regions)
        return _read_only(sums / np.bincount(self.unit_region, minlength=self.n_regions))

    @cached_property
    def province_regions(self) -> list[np.ndarray]:
        """The regions of each province, in region order."""
        return [_read_only(np.flatnonzero(self.region_province == p))
                for p in range(len(self.provinces))]

    @cached_property
    def region_unit_bounds(self) -> list[int]:
        """Units of region r are ``range(bounds[r], bounds[r + 1])`` (units sorted by region)."""
        return np.searchsorted(self.unit_region, np.arange(self.n_regions + 1)).tolist()

    @cached_property
    def region_context(self) -> np.ndarray:
        first = np.searchsorted(self.unit_region, np.arange(self.n_regions))
        return _read_only(self.context[first])

    # -- keyed luck -------------------------------------------------------------------------
    def luck(self, track: int, key: tuple[int, int]) -> np.ndarray:
        """Luck of the first LUCK_BLOCK detections of a defect in every unit: (N, LUCK_BLOCK, 4)
        of [threshold ~ Exp(1), report uniform, delay ~ Exp(1), patch uniform]."""
        ckey = (track, key)
        got = self._luck.get(ckey)
        if got is None:
            rng = stream(self.seed, self.replicate, "detection-luck", track, key[0], key[1])
            shape = (self.n_units, LUCK_BLOCK)
            got = np.stack([rng.standard_exponential(shape), rng.random(shape),
                            rng.standard_exponential(shape), rng.random(shape)], axis=-1)
            self._luck[ckey] = got
        return got

    def first_thresholds(self, track: int, key: tuple[int, int]) -> list[float]:
        """Every unit's threshold of the first detection of a defect (``luck(...)[:, 0, 0]``)."""
        got = self._thr0.get((track, key))
        if got is None:
            got = self._thr0[(track, key)] = self.luck(track, key)[:, 0, 0].tolist()
        return got

    def more_luck(self, track: int, key: tuple[int, int], unit: int, block: int) -> np.ndarray:
        """Luck of detections block*LUCK_BLOCK.. (block >= 1) of one pair: (LUCK_BLOCK, 4).
        Rarely needed, so drawn per pair from its own keyed stream, not for every unit."""
        rng = stream(self.seed, self.replicate, "detection-luck-more", track, key[0], key[1],
                     unit, block)
        return np.stack([rng.standard_exponential(LUCK_BLOCK), rng.random(LUCK_BLOCK),
                         rng.standard_exponential(LUCK_BLOCK), rng.random(LUCK_BLOCK)], axis=-1)

    def pair_luck(self, track: int, key: tuple[int, int], unit: int, block: int
                  ) -> list[list[float]]:
        """Block ``block`` of one pair's luck as Python lists, [threshold, report u, delay,
        patch u] per detection: ``luck`` (block 0) or ``more_luck``. Cached for the world, so
        every strategy of the replicate reads the same lists; never to be mutated."""
        ckey = (track, key, unit, block)
        got = self._pair_luck.get(ckey)
        if got is None:
            rows = self.luck(track, key)[unit] if block == 0 else \
                self.more_luck(track, key, unit, block)
            got = self._pair_luck[ckey] = rows.tolist()
        return got

    def adoption_delays(self, track: int, version: int) -> list[float]:
        """``adoption_delay`` as a list (cached: every strategy adopts the same releases)."""
        got = self._adopt_rows.get((track, version))
        if got is None:
            got = self._adopt_rows[(track, version)] = self.adoption_delay(track, version).tolist()
        return got

    def adoption_delay(self, track: int, version: int) -> np.ndarray:
        """Unit-mean exponential adoption delays of every unit for one version of one track."""
        block, col = divmod(version, ADOPT_BLOCK)
        got = self._adopt.get((track, block))
        if got is None:
            rng = stream(self.seed, self.replicate, "adoption", track, block)
            got = rng.standard_exponential((ADOPT_BLOCK, self.n_units))
            self._adopt[(track, block)] = got
        return got[col]

    def release_luck(self, track: int, release: int) -> tuple[float, float]:
        """(recalibration-time uniform, new-defect-count uniform) of release ``release``."""
        got = self._release.get((track, release))
        if got is None:
            rng = stream(self.seed, self.replicate, "release", track, release)
            got = (float(rng.random()), float(rng.random()))
            self._release[(track, release)] = got
        return got

    def new_defects(self, track: int, release: int) -> list[DefectTraits]:
        """Defects a release of a track introduces (count and traits fixed by the key)."""
        got = self._new.get((track, release))
        if got is None:
            c = self.config
            _, u_count = self.release_luck(track, release)
            count = poisson_quantile(u_count, c.centre.new_defects_mean) \
                if c.centre.new_defects_mean > 0 else 0
            factor = c.centre.new_defect_severity_factor
            got = [draw_defect(c, self.seed, self.replicate, track, (release, i), factor)
                   for i in range(count)]
            self._new[(track, release)] = got
        return got


def _read_only(values: np.ndarray) -> np.ndarray:
    """A cached array every strategy of the replicate reads: nobody may write to it."""
    values.flags.writeable = False
    return values


def build_world(config: RolloutConfig, provinces: Provinces, seed: int, replicate: int) -> World:
    """Draw the world of one replicate."""
    from scipy import stats  # here, not at import: validating a config needs no scipy.stats

    rc = config.regions
    n_prov = len(provinces)
    region_province = np.repeat(np.arange(n_prov), provinces.n_regions)
    n_regions = len(region_province)
    rng = stream(seed, replicate, "world")
    z_weight, z_cap, u_setting = (rng.standard_normal(n_regions), rng.standard_normal(n_regions),
                                  rng.random(n_regions))

    # Volume: province population share, split across regions with lognormal dispersion.
    prov_share = provinces.population / provinces.population.sum()
    raw = np.exp(rc.weight_dispersion * z_weight)
    region_weight = raw / np.bincount(region_province, raw)[region_province] \
        * prov_share[region_province]

    # Capacity: provinces ranked by GDP per head and scaled to [low, high], times region noise.
    ranks = stats.rankdata(provinces.gdp_per_capita, method="average") - 1.0
    spread = ranks / (n_prov - 1) if n_prov > 1 else np.ones(n_prov)
    prov_cap = rc.capacity_low + (rc.capacity_high - rc.capacity_low) * spread
    region_cap = np.clip(prov_cap[region_province] * np.exp(rc.capacity_noise * z_cap), 0.01, 1.0)

    # Context: capacity tier (national terciles of region capacity) x setting. Richer regions are
    # more often urban (probability = capacity percentile); municipalities are urban.
    pct = (stats.rankdata(region_cap, method="average") - 0.5) / n_regions
    tier = np.minimum((pct * 3).astype(int), 2)
    urban = (u_setting < pct) | provinces.municipality[region_province]
    region_context = tier * 2 + np.where(urban, 0, 1)

    # Units: each region splits into units_per_region hospitals (weights dispersed likewise).
    per = rc.units_per_region
    unit_region = np.repeat(np.arange(n_regions), per)
    if per > 1:
        urng = stream(seed, replicate, "units")
        z_uw, z_uc = urng.standard_normal(len(unit_region)), urng.standard_normal(len(unit_region))
        uraw = np.exp(rc.weight_dispersion * z_uw)
        weight = uraw / np.bincount(unit_region, uraw)[unit_region] * region_weight[unit_region]
        capacity = np.clip(region_cap[unit_region] * np.exp(rc.capacity_noise * z_uc), 0.01, 1.0)
    else:
        weight, capacity = region_weight.copy(), region_cap.copy()
    weight = weight / weight.sum()

    prep_u = stream(seed, replicate, "preparation").random(len(unit_region))
    shape = config.preparation.shape
    prep_factor = gamma_quantiles(prep_u, shape) / shape

    defects = []
    for t in range(len(config.tracks)):
        if config.defects.fixed_count is not None:
            count = config.defects.fixed_count
        elif config.defects.mean_count > 0:
            u = stream(seed, replicate, "defect-count", t).random()
            count = poisson_quantile(u, config.defects.mean_count)
        else:
            count = 0
        defects.append([draw_defect(config, seed, replicate, t, (0, i)) for i in range(count)])

    return World(
        seed=seed, replicate=replicate, config=config, provinces=provinces,
        unit_province=region_province[unit_region], unit_region=unit_region,
        region_province=region_province, weight=weight, capacity=capacity,
        context=region_context[unit_region], prep_factor=prep_factor, initial_defects=defects,
    )


__all__ = ["World", "DefectTraits", "build_world", "draw_defect", "KIND_NAMES", "CONTEXT_NAMES",
           "N_CONTEXTS", "FIX_ATTEMPTS"]
