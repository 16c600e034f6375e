"""The configuration schema: every parameter of the model, its default and its allowed range.

Defaults live here and only here. ``load_config`` reads a TOML file, fills the defaults, checks
ranges and cross-field rules, checks it against the province table (``data.py``, which does not
depend on this module), and returns the resolved configuration whose canonical JSON (and its
sha256) is what every output records.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .calendar import LAST_YEAR, months_between, parse_month
from .data import DEFAULT_DATA, Provinces, load_provinces
from .errors import ConfigError, shorten
from .strategies.presets import PRESETS, preset

Months = Annotated[float, Field(ge=0.0, le=1200.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveMonths = Annotated[float, Field(gt=0.0, le=1200.0)]


class _Section(BaseModel):
    """Base of every config table: unknown keys are errors, values are checked on assignment,
    types are strict (``"120"`` or ``true`` is not a number, ``"off"`` not a boolean) and
    numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)


def _check_month(value: str | None) -> str | None:
    if value is not None:
        parse_month(value)
    return value


class TimeConfig(_Section):
    start: str = Field("2019-01", description="calendar start, YYYY-MM")
    horizon_months: int = Field(120, ge=1, le=1200, description="simulated months")
    step_months: int = Field(1, ge=1, le=12, description="sampling grid step (months)")

    _start = field_validator("start")(_check_month)

    @model_validator(mode="after")
    def _grid(self) -> TimeConfig:
        year, month = parse_month(self.start)
        end_year = year + (month - 1 + self.horizon_months) // 12
        if end_year > LAST_YEAR:
            raise _LocatedError("horizon_months", f"the run would end in {end_year}, past "
                                f"{LAST_YEAR} (the cube's time axis cannot hold later dates)")
        if self.step_months > self.horizon_months:
            raise _LocatedError("step_months", f"the sampling step ({self.step_months}) must "
                                f"not exceed the horizon ({self.horizon_months} months)")
        return self


class RegionsConfig(_Section):
    data: str = Field(DEFAULT_DATA, description="province table (CSV): bundled:NAME for a table "
                      "shipped with rollout, or a path (relative to the config file)")
    provinces: list[str] | None = Field(None, description="names or codes to keep; all if unset")
    units_per_region: int = Field(1, ge=1, le=500, description="hospitals per region (micro level)")
    weight_dispersion: float = Field(0.0, ge=0.0, le=3.0, description="lognormal sigma of weights")
    capacity_low: float = Field(0.35, gt=0.0, le=1.0, description="poorest province")
    capacity_high: float = Field(1.0, gt=0.0, le=1.0, description="richest province")
    capacity_noise: float = Field(0.15, ge=0.0, le=2.0, description="lognormal sigma, region level")

    @model_validator(mode="after")
    def _capacity_order(self) -> RegionsConfig:
        if self.capacity_low > self.capacity_high:
            raise ValueError("capacity_low must not exceed capacity_high")
        return self


class DefectKind(_Section):
    share: float = Field(1.0, ge=0.0, le=1000.0, description="relative frequency of the kind")
    severity_factor: float = Field(1.0, ge=0.0, le=100.0, description="x severity median")
    detectability_factor: float = Field(1.0, ge=0.0, le=100.0, description="x detectability median")
    tau_learn: float = Field(0.0, ge=0.0, le=600.0, description="months to learn to exploit")
    tau_unlearn: float = Field(0.0, ge=0.0, le=600.0, description="months for entrenchment to fade")


def _plain(**kw: Any) -> DefectKind:
    return DefectKind(**kw)


def _gaming(**kw: Any) -> DefectKind:
    return DefectKind(tau_learn=9.0, tau_unlearn=12.0, **kw)


class DefectKinds(_Section):
    grouping_error: DefectKind = Field(default_factory=lambda: _plain(detectability_factor=1.5))
    weight_miscalibration: DefectKind = Field(default_factory=_plain)
    upcoding: DefectKind = Field(default_factory=lambda: _gaming(detectability_factor=0.75))
    cost_shifting: DefectKind = Field(default_factory=_gaming)
    patient_selection: DefectKind = Field(
        default_factory=lambda: _gaming(detectability_factor=0.75))
    split_admissions: DefectKind = Field(default_factory=_gaming)

    @model_validator(mode="after")
    def _some_share(self) -> DefectKinds:
        if sum(k.share for k in self.as_list()) <= 0.0:
            raise ValueError("at least one defect kind needs a positive share")
        return self

    def as_list(self) -> list[DefectKind]:
        return [getattr(self, name) for name in KIND_NAMES]


KIND_NAMES: tuple[str, ...] = tuple(DefectKinds.model_fields)


class DefectsConfig(_Section):
    mean_count: float = Field(12.0, ge=0.0, le=500.0, description="Poisson mean per track")
    fixed_count: int | None = Field(None, ge=0, le=500, description="exact count (overrides mean)")
    severity_median: float = Field(0.049, gt=0.0, le=100.0,
                                   description="harm/month/unit volume (historical calibration)")
    severity_sigma: float = Field(0.8, ge=0.0, le=5.0, description="lognormal sigma")
    detectability_median: float = Field(0.04, gt=0.0, le=100.0, description="hazard per month")
    detectability_sigma: float = Field(0.8, ge=0.0, le=5.0, description="lognormal sigma")
    universal_prob: Probability = Field(0.3, description="manifests in every context")
    context_prob: Probability = Field(0.5, description="else, each context independently")
    kinds: DefectKinds = Field(default_factory=DefectKinds)


class PreparationConfig(_Section):
    mean_months: PositiveMonths = Field(6.0, description="mean at capacity 1")
    shape: float = Field(4.0, gt=0.0, le=1000.0, description="gamma shape (CV = 1/sqrt(shape))")
    capacity_exponent: float = Field(1.0, ge=0.0, le=10.0, description="mean = T / k^g")


class OperationConfig(_Section):
    benefit_rate: float = Field(1.0, ge=0.0, le=1000.0, description="benefit/month/unit volume")
    shadow_detection_factor: float = Field(0.5, ge=0.0, le=100.0)


class SuspensionConfig(_Section):
    enabled: bool = True
    tolerance: float = Field(0.0, ge=0.0, le=100.0,
                             description="harm may exceed benefit by this share")
    sustain_months: PositiveMonths = Field(6.0)
    credibility_cost: float = Field(0.25, ge=0.0, le=10.0, description="+c prep time each")


class LearningConfig(_Section):
    report_prob: Probability = Field(0.6)
    report_delay_mean: PositiveMonths = Field(2.0)
    local_patch_prob: Probability = Field(0.2)
    evaluation_detection_factor: float = Field(3.0, ge=0.0, le=100.0)


class BeliefConfig(_Section):
    """What the centre believes about defects it has not found (the adaptive gate's prior): a
    stated belief, not the generating law of the run (docs/model.md section 5)."""

    defect_count_mean: float = Field(12.0, ge=0.0, le=500.0,
                                     description="prior mean of a track's initial defects")
    defect_count_shape: float = Field(2.0, gt=0.0, le=1e6,
                                      description="gamma shape of that mean's uncertainty")
    detectability_median: float = Field(0.04, gt=0.0, le=100.0, description="hazard per month")
    detectability_sigma: float = Field(1.0, ge=0.0, le=5.0, description="lognormal sigma")
    new_defects_mean: float = Field(0.5, ge=0.0, le=100.0,
                                    description="prior mean of the defects a release brings")


class CentreConfig(_Section):
    recalibration_mean_months: PositiveMonths = Field(6.0)
    recalibration_shape: float = Field(4.0, gt=0.0, le=1000.0)
    capacity: float = Field(1.0, gt=0.0, le=100.0, description="K_centre")
    min_release_spacing: Months = Field(6.0)
    fix_prob: Probability = Field(0.85)
    new_defects_mean: float = Field(0.5, ge=0.0, le=100.0)
    new_defect_severity_factor: float = Field(0.5, ge=0.0, le=100.0)
    belief: BeliefConfig = Field(default_factory=BeliefConfig)


class AdoptionConfig(_Section):
    min_delay_months: Months = Field(1.0)
    max_delay_months: Months = Field(12.0)
    steering: Probability = Field(0.7)

    @model_validator(mode="after")
    def _order(self) -> AdoptionConfig:
        if self.min_delay_months > self.max_delay_months:
            raise ValueError("min_delay_months must not exceed max_delay_months")
        return self

    @property
    def mean_delay(self) -> float:
        lo, hi = self.min_delay_months, self.max_delay_months
        return lo + (1.0 - self.steering) * (hi - lo)


class SupportConfig(_Section):
    """Finite central implementation support (docs/model.md, "Central support"): a queue of
    support teams that preparing regions hold for part of their preparation."""

    enabled: bool = False
    teams: int = Field(32, ge=1, le=100_000, description="support teams serving at once (one "
                       "per demonstration city named in Dec 2021)")
    share: Probability = Field(0.5, description="share of preparation work that needs support")
    broadcast_share: Probability = Field(0.5, description="share of the supported work that "
                                         "broadcast support (national training, conferences) "
                                         "delivers without a team")
    order: Literal["start", "longest_first", "shortest_first"] = Field(
        "start", description="which waiting region a free team serves: in the order they "
        "started (first come, first served), the most or the least preparation work first")


class SpilloversConfig(_Section):
    """Learning spillovers (docs/model.md, "Learning spillovers"): experience of regions that
    have operated, and of releases, shortens later regions' preparation."""

    enabled: bool = False
    elasticity: float = Field(0.152, ge=0.0, le=5.0,
                              description="b: preparation x (1 + experience)^-b")
    release_weight: float = Field(1.0, ge=0.0, le=1000.0,
                                  description="experience of one release, in regions")


class LegitimacyConfig(_Section):
    """National legitimacy (docs/model.md, "Legitimacy"): failures lower trust nationally and in
    the province, trust recovers, low trust slows regions and can pause the reform."""

    enabled: bool = False
    national_drop: Probability = Field(0.05, description="national trust lost per failure")
    province_drop: Probability = Field(0.2, description="province trust lost per failure")
    recovery_months: PositiveMonths = Field(12.0, description="half-life of a trust deficit")
    slowing: float = Field(1.0, ge=0.0, le=100.0,
                           description="preparation and adoption x (1 + slowing x (1 - trust))")
    halt_threshold: Probability = Field(0.5, description="national trust below which new "
                                        "starts halt")
    halt_months: Months = Field(6.0, description="shortest halt")


class EnforcementConfig(_Section):
    """Enforcement against entrenched gaming (docs/model.md, "Entrenchment"; issue 20): audits
    and sanctions remove the residue a known gaming defect left, which a technical fix does
    not."""

    enabled: bool = False
    lag_months: Months = Field(24.0, description="from the centre knowing a gaming defect to "
                               "enforcement against its residue")
    months: PositiveMonths = Field(24.0, description="time constant of the residue's removal "
                                   "under enforcement")


class EntrenchmentConfig(_Section):
    """Persistent entrenchment (docs/model.md, "Entrenchment"): gaming leaves a residue that a
    fix does not remove, and spreads between regions of a province by imitation."""

    enabled: bool = False
    residue_share: Probability = Field(0.5, description="share of exploitation a fix leaves")
    residue_months: Months = Field(0.0, description="time constant of the residue's decay; "
                                   "0: it never decays")
    imitation: float = Field(0.5, ge=0.0, le=100.0, description="learning rate x (1 + "
                             "imitation x paying neighbours under the defect)")
    max_teachers: int = Field(4, ge=0, le=50, description="neighbours counted at most")
    enforcement: EnforcementConfig = Field(default_factory=lambda: EnforcementConfig())


class TrackLaw(_Section):
    """How well a track fits a region, by the region's capacity tier (factors, 1 = neutral)."""

    preparation_low: float = Field(1.0, gt=0.0, le=100.0, description="x preparation work, "
                                   "low-capacity regions")
    preparation_high: float = Field(1.0, gt=0.0, le=100.0, description="... high-capacity")
    severity_low: float = Field(1.0, ge=0.0, le=100.0, description="x defect severity, "
                                "low-capacity regions")
    severity_high: float = Field(1.0, ge=0.0, le=100.0, description="... high-capacity")


def _default_track_laws() -> dict[str, TrackLaw]:
    return {"DRG": TrackLaw(preparation_low=1.25, severity_low=1.25, severity_high=0.8),
            "DIP": TrackLaw(preparation_low=0.75, preparation_high=0.75)}


class TrackFitConfig(_Section):
    """Track fit to context (docs/model.md, "Track fit"): DRG and DIP prepare and err
    differently in low- and high-capacity regions."""

    enabled: bool = False
    tier_capacity: float = Field(0.6, gt=0.0, le=1.0, description="regions below this "
                                 "capacity are the low tier")
    tracks: dict[str, TrackLaw] = Field(default_factory=_default_track_laws,
                                        description="per track name, over the defaults; "
                                        "tracks with no law: 1")

    @field_validator("tracks", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A law given for a track overrides only the factors it names (over the defaults)."""
        if not isinstance(value, dict):
            return value
        merged = {name: law.model_dump() for name, law in _default_track_laws().items()}
        for name, law in value.items():
            if isinstance(law, dict):
                merged[name] = {**merged.get(name, {}), **law}
            else:
                merged[name] = law
        return merged


def _distinct_sorted(value: list[float]) -> list[float]:
    """A list of levels (thresholds, horizons, rates): each once, in increasing order."""
    if len(set(value)) != len(value):
        raise ValueError("values must be distinct")
    if value != sorted(value):
        raise ValueError("values must be in increasing order")
    return value


class OutcomesConfig(_Section):
    coverage_threshold: float = Field(0.99, gt=0.0, le=1.0)
    stable_harm_share: Probability = Field(0.05)
    stable_harm_shares: list[Probability] = Field(
        [0.02, 0.05, 0.10, 0.15], min_length=1, max_length=20,
        description="harm thresholds of t_stable_at (the cube's stable_threshold dimension)")
    discount_rate: float = Field(0.0, ge=0.0, le=1.0, description="annual rate, continuous")

    _levels = field_validator("stable_harm_shares")(_distinct_sorted)


class PilotGroup(_Section):
    track: str
    count: int = Field(ge=0, le=100000)
    max_per_province: int = Field(2, ge=1, le=100000)
    start: str | None = Field(None, description="YYYY-MM the pilots start preparing")
    shadow_from: str | None = Field(None, description="YYYY-MM simulated operation may begin")

    _months = field_validator("start", "shadow_from")(_check_month)


class StrategyConfig(_Section):
    preset: Literal["big_bang", "big_bang_matched", "phased", "dual_track", "adaptive",
                    "historical"]
    track: str
    pilots: list[PilotGroup]
    selection: Literal["representative", "convenience", "random"]
    pilot_shadow_months: Months
    pilot_shadow_cv: float = Field(ge=0.0, le=5.0, description="coefficient of variation of "
                                   "each pilot's shadow time (gamma, mean pilot_shadow_months)")
    pilot_paying_months: Months
    pilot_quorum: float = Field(gt=0.0, le=1.0)
    evaluation_months: Months
    recalibration_gate: bool
    evidence_threshold: float | None = Field(None, gt=0.0, le=1000.0)
    evidence_review_months: PositiveMonths
    track_choice: Literal["fixed", "evidence", "fit"]
    waves: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(min_length=1, max_length=100)
    wave_interval_months: Months
    wave_dates: list[str] | None
    wave_lead_months: Months
    wave_date_scale: float = Field(ge=0.0, le=1.0)
    wave_order: Literal["capacity", "random"]
    wave_shadow_months: Months
    wave_shadow_cv: float = Field(ge=0.0, le=5.0, description="coefficient of variation of "
                                  "each wave unit's shadow time (gamma, mean wave_shadow_months)")
    pinned_releases: dict[str, list[str]] | None
    release_policy: Literal["on_demand", "pinned", "pinned_then_on_demand"] | None = Field(
        None, description="how the centre releases versions of tracks with pinned_releases: "
        "only on those dates, or on them and then on demand; default pinned if dates are given")

    @field_validator("wave_dates")
    @classmethod
    def _wave_dates(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            parse_month(item)
        return value

    @field_validator("pinned_releases")
    @classmethod
    def _releases(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for dates in (value or {}).values():
            for item in dates:
                parse_month(item)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StrategyConfig:
        if abs(sum(self.waves) - 1.0) > 1e-9:
            raise ValueError(f"waves must sum to 1, got {sum(self.waves):g}")
        if self.wave_dates is not None and len(self.wave_dates) != len(self.waves):
            raise ValueError("wave_dates must have one date per wave")
        tracks = [g.track for g in self.pilots]
        if len(set(tracks)) != len(tracks):
            raise ValueError("pilot groups must be on different tracks")
        if self.release_policy is None:
            self.release_policy = "pinned" if self.pinned_releases else "on_demand"
        elif self.release_policy == "on_demand" and self.pinned_releases:
            raise ValueError("pinned_releases needs release_policy 'pinned' or "
                             "'pinned_then_on_demand'")
        elif self.release_policy != "on_demand" and not self.pinned_releases:
            raise ValueError(f"release_policy '{self.release_policy}' needs pinned_releases")
        return self

    @model_validator(mode="after")
    def _pilots_as_preset(self) -> StrategyConfig:
        """A preset that pilots (phased, dual_track, adaptive, historical) needs pilots, and a
        pilot group at least one: without them the design silently becomes another one (big
        bang in waves), and a dual track with an empty group has no evidence on that track."""
        for i, group in enumerate(self.pilots):
            if group.count == 0:
                raise _LocatedError(f"pilots.{i}.count", "0 pilots: a pilot group needs at "
                                    "least 1 (remove the group for no pilots on its track)")
        if not self.pilots and PRESETS[self.preset]["pilots"]:
            raise _LocatedError("pilots", f"preset {self.preset!r} starts with pilots, but no "
                                "pilot group is given; a design without pilots is preset "
                                "'big_bang' (with waves, if you want waves)")
        return self


def _default_strategies() -> dict[str, dict[str, Any]]:
    return {name: {} for name in ("big_bang", "phased", "dual_track", "adaptive")}


class ParameterRange(_Section):
    """A numeric range: ``n`` evenly spaced values for a grid, or bounds for LHS/Sobol."""

    low: float
    high: float
    n: int | None = Field(None, ge=1, le=100_000)
    log: bool = Field(False, description="space or sample on a log scale")

    @model_validator(mode="after")
    def _bounds(self) -> ParameterRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


SweepValues = ParameterRange | list[float | int | str | bool]

#: A design with more points is refused before anything is built or checked point by point
#: (checking costs about 0.6 ms a point; 20,000 points at one replicate of four designs is
#: already about two hours of simulation on 2 cores).
MAX_DESIGN_POINTS = 20_000

#: Fields a sweep must not vary: what identifies the run and its random streams (name, seed,
#: replicates: varying the seed would break common random numbers silently), the time axis
#: every point shares, the data the cube records once, and settings that change no simulation.
NOT_SWEEPABLE = ("name", "seed", "replicates", "time", "regions.data", "output", "analysis",
                 "sweep", "calibration")


def _check_not_preset(path: str, where: str) -> None:
    """A strategy's ``preset`` cannot vary (in a sweep or a calibration): every primitive is
    resolved from it before a point's values are set, so a point that sets another preset keeps
    the first one's values and changes only the label."""
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "strategies" and parts[2] == "preset":
        raise _LocatedError(where, "a strategy's preset cannot vary: its values are resolved "
                            "before a point is set, so only the label would change; vary the "
                            "primitives that differ, or add a strategy per preset")


def _check_sweepable(path: str, where: str) -> None:
    if not path or any(not part for part in path.split(".")):
        raise _LocatedError(where, f"{shorten(path)} is not a dotted field path")
    for fixed in NOT_SWEEPABLE:
        if path == fixed or path.startswith(fixed + "."):
            raise _LocatedError(where, f"{fixed!r} cannot vary within a sweep (every point "
                                "shares it; set it in the config instead)")
    _check_not_preset(path, where)


class SweepConfig(_Section):
    """Which parameters vary, and how (a full grid, a space-filling design, or scenarios)."""

    design: Literal["grid", "lhs", "sobol", "scenarios"] = "grid"
    points: int | None = Field(None, ge=1, le=1_000_000,
                               description="LHS samples; Sobol base samples N (N(D+2) points)")
    parameters: dict[str, SweepValues] = Field(default_factory=dict)
    scenarios: dict[str, dict[str, Any]] = Field(default_factory=dict)
    block_size: int = Field(8, ge=1, le=100_000,
                            description="replicates per task = chunk along replicate")

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        for name in self.parameters:
            _check_sweepable(name, f"parameters.{shorten(name, 40, quoted=False)}")
        for scenario, assignment in self.scenarios.items():
            for name in assignment:
                _check_sweepable(name, f"scenarios.{shorten(scenario, 40, quoted=False)}."
                                 f"{shorten(name, 40, quoted=False)}")
        if self.design == "scenarios":
            if not self.scenarios:
                raise ValueError("design 'scenarios' needs at least one [sweep.scenarios.NAME]")
            if self.parameters:
                raise ValueError("design 'scenarios' takes no [sweep.parameters]")
        elif self.scenarios:
            raise ValueError(f"[sweep.scenarios] needs design = 'scenarios', not {self.design!r}")
        if self.design in ("lhs", "sobol"):
            if self.points is None:
                raise ValueError(f"design {self.design!r} needs 'points'")
            for name, values in self.parameters.items():
                if self.design == "sobol" and not isinstance(values, ParameterRange):
                    raise _LocatedError(f"sweep.parameters.{name}",
                                        "design 'sobol' needs a range {low, high}, not a list "
                                        "of values")
                if isinstance(values, list):
                    if not values:
                        raise _LocatedError(f"sweep.parameters.{name}", "no values")
                    if len(set(map(repr, values))) != len(values):
                        raise _LocatedError(f"sweep.parameters.{name}", "repeated values")
            if not any(isinstance(v, ParameterRange) for v in self.parameters.values()):
                raise ValueError(f"design {self.design!r} needs at least one range "
                                 "{low, high} to sample")
            if self.design == "sobol" and self.points & (self.points - 1):
                raise ValueError(f"Sobol points must be a power of 2 (got {self.points})")
        if self.design == "grid":
            for name, values in self.parameters.items():
                if isinstance(values, ParameterRange) and values.n is None:
                    raise _LocatedError(f"sweep.parameters.{name}",
                                        "a grid range needs n (number of values)")
                if isinstance(values, list) and not values:
                    raise _LocatedError(f"sweep.parameters.{name}", "no values")
                if isinstance(values, list) and len(set(map(repr, values))) != len(values):
                    raise _LocatedError(f"sweep.parameters.{name}", "repeated values")
        if self.design != "scenarios" and self.design != "grid" and not self.parameters:
            raise ValueError(f"design {self.design!r} needs at least one parameter")
        size = self.n_points()
        if size > MAX_DESIGN_POINTS:
            raise ValueError(f"the design has {size:,} points; at most {MAX_DESIGN_POINTS:,} "
                             "(split the sweep, or sample fewer points)")
        return self

    @model_validator(mode="after")
    def _every_setting_counts(self) -> SweepConfig:
        """Refuse what a sweep would ignore or cannot vary: a dimension of one value, a grid's
        ``n`` on a sampled design or ``points`` on a grid, a scenario that sets nothing (a
        strategy's preset: ``_check_not_preset``)."""
        if self.points is not None and self.design in ("grid", "scenarios"):
            raise _LocatedError("points", f"design {self.design!r} ignores points (only 'lhs' "
                                "and 'sobol' sample points); remove it, or choose one of those")
        for name, values in self.parameters.items():
            where = f"parameters.{shorten(name, 40, quoted=False)}"
            if isinstance(values, ParameterRange) and values.n is not None:
                if self.design != "grid":
                    raise _LocatedError(f"{where}.n", f"design {self.design!r} samples "
                                        "'points' values of every range and ignores n (a "
                                        "grid's count); remove it")
                if values.n == 1:
                    raise _LocatedError(f"{where}.n", "n = 1 is one value (low; high would be "
                                        "ignored), a dimension that cannot vary: set the value "
                                        "in the config, or give n >= 2")
            if isinstance(values, list) and len(values) == 1:
                raise _LocatedError(where, f"one value ({shorten(values[0], 40)}), a dimension "
                                    "that cannot vary: set it in the config instead")
        for scenario, assignment in self.scenarios.items():
            if not assignment:
                raise _LocatedError(f"scenarios.{shorten(scenario, 40, quoted=False)}",
                                    "sets no field, so it would run the config unchanged; a "
                                    "reference scenario sets a field to its value in the config "
                                    "(as configs/mechanisms.toml's 'none' does)")
        return self

    def n_points(self) -> int:
        """Design points, counted without building them (grid: the product of the axes; LHS:
        points times every combination of listed factors; Sobol: N (D + 2))."""
        if self.design == "scenarios":
            return len(self.scenarios)
        lists = [len(v) for v in self.parameters.values() if isinstance(v, list)]
        ranges = [v for v in self.parameters.values() if isinstance(v, ParameterRange)]
        if self.design == "grid":
            return math.prod(lists) * math.prod(v.n or 1 for v in ranges)
        points = self.points or 0
        if self.design == "sobol":
            return points * (len(ranges) + 2)
        return math.prod(lists) * points


CalibrationStatistic = Literal["started_share", "paying_share", "pilots_paying",
                               "pilots_operating"]


class CalibrationTarget(_Section):
    """A reported fact the calibrated model should reproduce: a statistic of a run at the end of
    month ``by`` that should lie in [low, high]; misses are measured in units of ``scale``."""

    statistic: CalibrationStatistic
    by: str = Field(description="YYYY-MM; the statistic is taken at the end of that month")
    track: str | None = Field(None, description="pilot track, for the pilots_* statistics")
    low: float
    high: float
    scale: float = Field(gt=0.0, description="a miss of this size counts 1 in the distance")
    source: str = Field("", description="where the reported value comes from")
    kind: Literal["reported", "plan", "inferred"] = Field(
        "reported", description="reported: a measured outcome; plan: a goal or floor a plan "
        "set; inferred: read from a plan or a report by an argument the source states")

    _by = field_validator("by")(_check_month)

    @model_validator(mode="after")
    def _consistent(self) -> CalibrationTarget:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        if self.statistic.startswith("pilots_") and self.track is None:
            raise _LocatedError("track", f"statistic {self.statistic!r} needs a pilot track")
        if not self.statistic.startswith("pilots_") and self.track is not None:
            raise _LocatedError("track", f"statistic {self.statistic!r} takes no track")
        return self

    @model_validator(mode="after")
    def _in_domain(self) -> CalibrationTarget:
        """A range its statistic can reach (``_check_target_domain``)."""
        _check_target_domain(self)
        return self


#: Statistics that are shares of regions (the others count pilot regions).
SHARE_STATISTICS = ("started_share", "paying_share", "pilots_operating")


def _check_target_domain(target: CalibrationTarget) -> None:
    """A target's range must lie where its statistic can: a share in [0, 1], a count at 0 or
    above (its upper end is checked against the pilots in ``RolloutConfig``). A range outside
    can never be met, and a bound like 1e308 hides a typing error."""
    kind = "a share" if target.statistic in SHARE_STATISTICS else "a count"
    for bound in ("low", "high"):
        value = getattr(target, bound)
        if value < 0:
            raise _LocatedError(bound, f"{value:g} is negative; {target.statistic!r} is {kind}, "
                                "at least 0")
        if target.statistic in SHARE_STATISTICS and value > 1:
            raise _LocatedError(bound, f"{value:g} is above 1; {target.statistic!r} is a "
                                "share, in [0, 1]")


class CalibrationConfig(_Section):
    """Approximate Bayesian computation by rejection: which parameters are uncertain (uniform
    or log-uniform priors), which reported facts they are fitted to, and how many draws."""

    strategy: str = Field("historical", description="the strategy whose runs are fitted")
    draws: int = Field(2000, ge=10, le=10_000_000, description="prior draws, one run each")
    accept: float = Field(0.05, gt=0.0, le=1.0,
                          description="share of draws nearest the targets kept as posterior")
    check_replicates: int = Field(100, ge=1, le=1_000_000,
                                  description="replicates of the fitted config, to report fit")
    block_size: int = Field(20, ge=1, le=100_000, description="draws per task")
    point: Literal["joint", "marginal_medians"] = Field(
        "joint", description="the calibrated point: joint, an accepted draw chosen in two "
        "stages by its fit over common replicate worlds (point_fit); marginal_medians, each "
        "parameter's posterior median (not a joint fit: the medians together need not fit)")
    point_replicates: int = Field(10, ge=1, le=10_000,
                                  description="worlds each candidate runs in (first stage)")
    point_fit: Literal["mean_distance", "distance_of_means"] = Field(
        "mean_distance", description="how a point's fit over its worlds is scored: the mean of "
        "its distances (the expected miss in one world), or the distance of its mean "
        "statistics (the expected path against the reported dates)")
    point_candidates: int | None = Field(None, ge=1, le=100_000,
                                         description="the nearest accepted draws tried as the "
                                         "point (default: every accepted draw)")
    point_finalists: int = Field(10, ge=1, le=10_000, description="the best-scored candidates "
                                 "rescored in fresh worlds (second stage), against the winner's "
                                 "curse of choosing and scoring in the same worlds")
    point_final_replicates: int = Field(40, ge=1, le=100_000,
                                        description="fresh worlds of the second stage")
    parameters: dict[str, ParameterRange] = Field(min_length=1)
    targets: list[CalibrationTarget] = Field(min_length=1)

    @model_validator(mode="after")
    def _priors(self) -> CalibrationConfig:
        for name, prior in self.parameters.items():
            _check_sweepable(name, f"parameters.{shorten(name, 40, quoted=False)}")
            if prior.n is not None:
                raise _LocatedError(f"parameters.{name}.n",
                                    "a prior is a range (low, high, log); it takes no n")
        return self


class AnalysisConfig(_Section):
    baseline: str = "big_bang"
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    horizons_years: list[Annotated[float, Field(gt=0.0, le=100.0)]] = Field(
        [10.0, 20.0, 30.0, 50.0], min_length=1, max_length=20,
        description="horizons of net benefit (those within the run's horizon are reported)")
    discount_rates: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        [0.0, 0.03, 0.05], min_length=1, max_length=10,
        description="annual rates, continuous, of the net benefit at each horizon")
    risk_margin: float = Field(1.0, ge=0.0, le=1e6, description="benefit units: P(ending "
                               "more than this below the baseline), and the satisficing "
                               "tolerance of regret")

    _levels = field_validator("horizons_years", "discount_rates")(_distinct_sorted)


class OutputConfig(_Section):
    event_log: bool = Field(False, description="store every event of every run in the cube")


class RolloutConfig(_Section):
    name: str = Field("rollout", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(20190101, ge=0, le=2**63 - 1)
    replicates: int = Field(100, ge=1, le=10_000_000)
    tracks: list[str] = Field(["DRG", "DIP"], min_length=1, max_length=2)
    time: TimeConfig = Field(default_factory=TimeConfig)
    regions: RegionsConfig = Field(default_factory=RegionsConfig)
    defects: DefectsConfig = Field(default_factory=DefectsConfig)
    preparation: PreparationConfig = Field(default_factory=PreparationConfig)
    operation: OperationConfig = Field(default_factory=OperationConfig)
    suspension: SuspensionConfig = Field(default_factory=SuspensionConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    centre: CentreConfig = Field(default_factory=CentreConfig)
    adoption: AdoptionConfig = Field(default_factory=AdoptionConfig)
    support: SupportConfig = Field(default_factory=SupportConfig)
    spillovers: SpilloversConfig = Field(default_factory=SpilloversConfig)
    legitimacy: LegitimacyConfig = Field(default_factory=LegitimacyConfig)
    entrenchment: EntrenchmentConfig = Field(default_factory=EntrenchmentConfig)
    track_fit: TrackFitConfig = Field(default_factory=TrackFitConfig)
    outcomes: OutcomesConfig = Field(default_factory=OutcomesConfig)
    strategies: dict[str, StrategyConfig] = Field(default_factory=dict)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    sweep: SweepConfig | None = None
    calibration: CalibrationConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_presets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        raw = data.get("strategies")
        if raw is None:
            raw = _default_strategies()
        if not isinstance(raw, dict):
            return data
        resolved: dict[str, Any] = {}
        for name, table in raw.items():
            if not isinstance(table, dict):
                resolved[name] = table
                continue
            _check_strategy_name(name)
            base = table.get("preset", name)
            if not isinstance(base, str):
                raise _LocatedError(f"strategies.{name}.preset",
                                    f"must be a string naming a preset, got {shorten(base)}")
            if base not in PRESETS:
                hint = "" if "preset" in table else " (or set 'preset')"
                raise _LocatedError(
                    f"strategies.{name}" + (".preset" if "preset" in table else ""),
                    f"unknown strategy {base!r}; choose one of {', '.join(PRESETS)}{hint}",
                )
            merged = preset(base)
            merged.update(table)
            merged["preset"] = base
            resolved[name] = merged
        data["strategies"] = resolved
        return data

    @field_validator("tracks")
    @classmethod
    def _unique_tracks(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("track names must be distinct")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> RolloutConfig:
        if not self.strategies:
            raise _LocatedError("strategies", "at least one strategy is needed")
        for name, strat in self.strategies.items():
            for i, group in enumerate(strat.pilots):
                if group.track not in self.tracks:
                    raise _LocatedError(f"strategies.{name}.pilots.{i}.track",
                                        f"unknown track {group.track!r}; tracks are {self.tracks}")
            if strat.track not in self.tracks:
                raise _LocatedError(f"strategies.{name}.track",
                                    f"unknown track {strat.track!r}; tracks are {self.tracks}")
            for track in strat.pinned_releases or {}:
                if track not in self.tracks:
                    raise _LocatedError(f"strategies.{name}.pinned_releases.{track}",
                                        f"unknown track {track!r}; tracks are {self.tracks}")
            if strat.track_choice == "evidence" and len(strat.pilots) < 2:
                raise _LocatedError(f"strategies.{name}.track_choice",
                                    "'evidence' needs pilot groups on two tracks")
        if self.track_fit.enabled and "tracks" in self.track_fit.model_fields_set:
            defaults = _default_track_laws()
            for track, law in self.track_fit.tracks.items():
                if track not in self.tracks and law != defaults.get(track):
                    raise _LocatedError(f"track_fit.tracks.{track}",
                                        f"unknown track {track!r}; tracks are {self.tracks}")
        if self.calibration is not None:
            if self.calibration.strategy not in self.strategies:
                raise _LocatedError("calibration.strategy",
                                    f"{self.calibration.strategy!r} is not one of the "
                                    f"strategies ({', '.join(self.strategies)})")
            for i, target in enumerate(self.calibration.targets):
                if target.track is not None and target.track not in self.tracks:
                    raise _LocatedError(f"calibration.targets.{i}.track",
                                        f"unknown track {target.track!r}; tracks are "
                                        f"{self.tracks}")
        if self.analysis.baseline not in self.strategies:
            raise _LocatedError("analysis.baseline",
                                f"{self.analysis.baseline!r} is not one of the strategies "
                                f"({', '.join(self.strategies)})")
        return self

    @field_validator("name")
    @classmethod
    def _name_as_file_name(cls, value: str) -> str:
        """The name makes the default output's file name (results/NAME.zarr): a leading '-'
        reads as an option to every shell tool, a leading '.' hides the file ('.' and '..' are
        folders' names)."""
        if value.startswith(("-", ".")):
            raise ValueError(f"{value!r} starts with {value[0]!r}; the name makes the default "
                             "output's file name (results/NAME.zarr), where a leading '-' reads "
                             "as an option and a leading '.' hides it: start with a letter, digit "
                             "or '_' (a config without a name takes its file's name)")
        return value

    @model_validator(mode="after")
    def _pinned_releases_in_run(self) -> RolloutConfig:
        """Pinned release dates need the run's start, so they are checked here, per track."""
        for name, strat in self.strategies.items():
            for track, dates in (strat.pinned_releases or {}).items():
                _check_release_dates(dates, self.time.start, strat.release_policy or "pinned",
                                     f"strategies.{name}.pinned_releases.{track}")
        return self

    @model_validator(mode="after")
    def _targets_within_pilots(self) -> RolloutConfig:
        """A pilots_* target's track needs pilots in the calibrated strategy, and a count of
        paying pilots is at most the pilots on that track."""
        if self.calibration is None:
            return self
        strategy = self.strategies[self.calibration.strategy]
        pilots = {group.track: group.count for group in strategy.pilots}
        for i, target in enumerate(self.calibration.targets):
            if target.track is None:
                continue
            if target.track not in pilots:
                raise _LocatedError(f"calibration.targets.{i}.track", f"strategy "
                                    f"{self.calibration.strategy!r} has no {target.track} "
                                    "pilots, so the statistic is undefined")
            if target.statistic == "pilots_paying" and target.high > pilots[target.track]:
                raise _LocatedError(f"calibration.targets.{i}.high", f"{target.high:g} is above "
                                    f"the {pilots[target.track]} {target.track} pilots of "
                                    f"strategy {self.calibration.strategy!r} (pilots_paying "
                                    "counts them)")
        return self

    def canonical_json(self) -> str:
        """The resolved configuration as canonical JSON (sorted keys, no whitespace)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        """sha256 of the canonical JSON: two runs with the same hash simulated the same model."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _check_release_dates(dates: list[str], start: str, policy: str, where: str) -> None:
    """A track's pinned release dates: after the start (version 1 is the rule set in force at
    the start; a date at or before it was dropped silently), one a month (dates are months, so
    two on one date are cut at the same instant), and not an empty list under
    'pinned_then_on_demand' (it pins nothing). An empty list under 'pinned' is accepted: the
    track's rules never change (docs/model.md section 5)."""
    if not dates and policy == "pinned_then_on_demand":
        raise _LocatedError(where, "no dates: under 'pinned_then_on_demand' an empty list pins "
                            "nothing and the track is released on demand from the start; leave "
                            "the track out")
    seen: set[str] = set()
    for date in dates:
        if months_between(start, date) <= 0:
            raise _LocatedError(where, f"{date} is not after time.start ({start}): version 1 "
                                "is the rule set in force at the start, and a release at or "
                                "before it would be dropped; remove it")
        if date in seen:
            raise _LocatedError(where, f"{date} appears {dates.count(date)} times; a track has "
                                "at most one release a month (dates are months, and releases on "
                                "one date would be cut at the same instant)")
        seen.add(date)


_STRATEGY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _check_strategy_name(name: str) -> None:
    """A strategy name labels a cube coordinate and a command-line choice: a short identifier."""
    if not _STRATEGY_NAME.fullmatch(name) or "__" in name:
        raise _LocatedError(f"strategies.{shorten(name, 40, quoted=False)}",
                            "a strategy name is a letter then up to 63 letters, digits, '_' or "
                            "'-' (no dots, spaces, double underscores or empty names)")


#: A config larger than this is refused unread (the shipped ones are under 10 kB).
MAX_CONFIG_BYTES = 1_000_000


class _LocatedError(ValueError):
    """A cross-field problem that knows the dotted path it belongs to."""

    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(shorten(part, 40, quoted=False) for part in loc
                    if not str(part).startswith("function-"))


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    field = _field_path(error.get("loc", ()))
    ctx = error.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _LocatedError):     # raised inside a nested table: complete its path
        if field and not inner.field.startswith(field):
            return f"{field}.{inner.field}", inner.problem
        return inner.field, inner.problem
    if error.get("type") == "extra_forbidden":
        return field, "unknown key"
    if error.get("type") == "missing":
        return field, "required key is missing"
    message = str(inner) if inner is not None else error.get("msg", "invalid value")
    message = message.removeprefix("Value error, ").replace("Input should be", "must be")
    if "input" in error and error.get("type") not in ("model_type", "dict_type"):
        value = error["input"]
        if not isinstance(value, dict | list) and repr(value) not in message:
            message = f"{message} (got {shorten(value)})"
    if len(message) > 300:
        message = f"{message[:280]}... (cut)"
    return field, message


def _python_values(node: Any) -> Any:
    """numpy scalars as the Python values they hold (np.int64(5) is 5, not refused as 'not an
    int' by strict types); everything else as it is."""
    if isinstance(node, dict):
        return {key: _python_values(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_python_values(value) for value in node]
    if isinstance(node, np.generic):
        return node.item()
    return node


def validate_dict(data: dict[str, Any], source: str = "<config>") -> RolloutConfig:
    """Validate a config mapping; raise ConfigError naming the first offending field."""
    try:
        return RolloutConfig.model_validate(_python_values(data))
    except _LocatedError as err:
        raise ConfigError(source, err.field, err.problem) from None
    except ValidationError as err:
        first = err.errors()[0]
        field, problem = _describe(first)
        more = len(err.errors()) - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(source, field or None, problem) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax errors into one-line ConfigErrors."""
    path = Path(path)
    shown = shorten(str(path), 200, quoted=False)
    try:
        if path.is_dir():
            raise ConfigError(shown, None, "is a directory, not a config file")
        if path.exists() and not path.is_file():      # a FIFO or device would block or stream
            raise ConfigError(shown, None, "is not a regular file")
        if path.exists() and path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(shown, None, f"is {path.stat().st_size:,} bytes; a config is at "
                              f"most {MAX_CONFIG_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "no such file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(shown, None, f"is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(shown, None, f"cannot read: {err.strerror or err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(shown, None, f"TOML syntax error: {err}") from None
    except RecursionError:
        raise ConfigError(shown, None, "TOML nested too deeply") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None,
                sweep_parameters: dict[str, Any] | None = None) -> RolloutConfig:
    """Read, resolve and validate a config file. ``overrides`` map dotted paths to values;
    ``sweep_parameters`` add to or replace entries of ``[sweep.parameters]``."""
    path = Path(path)
    data = read_toml(path)
    data.setdefault("name", path.stem)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    if sweep_parameters:
        sweep = data.setdefault("sweep", {})
        if not isinstance(sweep, dict):
            raise ConfigError(str(path), "sweep", "must be a table")
        sweep.setdefault("parameters", {}).update(sweep_parameters)
    config = validate_dict(data, str(path))
    check_against_data(config, path)
    return config


def check_against_data(config: RolloutConfig, config_path: str | Path | None = None) -> Provinces:
    """Checks that need the data: provinces exist and every pilot design is feasible."""
    provinces = load_provinces(config, config_path)
    source = str(config_path or "<config>")
    for name, strat in config.strategies.items():
        used = 0
        for i, group in enumerate(strat.pilots):
            room = int(np.minimum(provinces.n_regions, group.max_per_province).sum())
            if group.count > room:
                raise ConfigError(
                    source, f"strategies.{name}.pilots.{i}.count",
                    f"{group.count} pilots at most {group.max_per_province} a province do not fit "
                    f"in {len(provinces)} provinces (room for {room})")
            used += group.count
        if used > int(provinces.n_regions.sum()):
            raise ConfigError(source, f"strategies.{name}.pilots",
                              f"{used} pilots but only {int(provinces.n_regions.sum())} regions")
    return provinces


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``dotted == 'a.b'``, creating tables as needed."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError("<command line>", dotted, f"{part!r} is not a table")
    node[parts[-1]] = value
