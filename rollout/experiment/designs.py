"""Experiment designs: which parameter values each design point runs.

A design adds dimensions in front of the cube's (strategy, replicate, ...): one per parameter for
a full grid (its values as coordinate), ``point`` for Latin hypercube and Sobol samples (one
coordinate per parameter along it), ``scenario`` for named scenarios. A Latin hypercube may also
cross lists of values (factors: mechanism switches, say) with its samples: one dimension per
factor in front of ``point``, every combination of factors running the same sampled points, so
the factors are compared point by point (an ablation) as well as replicate by replicate. Every
point's parameters are applied to the base configuration by dotted path and validated before
anything runs. Common
random numbers hold across the design: replicate i draws the same world at every point.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ParameterRange, RolloutConfig, SweepConfig, set_dotted, validate_dict
from ..errors import ConfigError
from ..streams import stream
from .names import CF_NAME, config_field, stored_name


@dataclass
class Design:
    """The design points of a sweep, in C order over ``dims``."""

    dims: list[str]
    shape: tuple[int, ...]
    coords: dict[str, tuple[tuple[str, ...], np.ndarray]]
    points: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.points)

    def index(self, p: int) -> tuple[int, ...]:
        """The position of point p along the design dimensions."""
        return tuple(int(i) for i in np.unravel_index(p, self.shape)) if self.dims else ()


def quote(path: str) -> str:
    return f'"{path}"' if "." in path else path


def parse_value(text: str) -> Any:
    """A command-line value: a TOML literal (number, boolean, quoted string) or a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_set(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``--set name=v1,v2`` (values) and ``--set name=lo:hi[:n]`` (a range) into sweep
    parameters (raw, validated later with the rest of the config)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, rhs = item.partition("=")
        name = name.strip()
        where = f"--set {item}"
        if not sep or not name:
            raise ConfigError("<command line>", where, "expected NAME=VALUES or NAME=LO:HI[:N]")
        rhs = rhs.strip()
        if not rhs:
            raise ConfigError("<command line>", where, "no values")
        if ":" in rhs:
            parts = rhs.split(":")
            if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
                raise ConfigError("<command line>", where, "a range is LO:HI or LO:HI:N")
            try:
                low, high = float(parts[0]), float(parts[1])
                n = int(parts[2]) if len(parts) == 3 else None
            except ValueError:
                raise ConfigError("<command line>", where,
                                  "range bounds must be numbers and N a whole number") from None
            out[name] = {"low": low, "high": high} | ({"n": n} if n is not None else {})
        else:
            values = [parse_value(v.strip()) for v in rhs.split(",")]
            if any(v == "" for v in values):
                raise ConfigError("<command line>", where, "empty value in the list")
            out[name] = values
    return out


def _range_values(spec: ParameterRange, whole: bool = False) -> np.ndarray:
    """A grid axis; on a whole-number field, whole values stay integers (and a fractional one
    is left as it is, for validation to refuse by name)."""
    values = (np.geomspace(spec.low, spec.high, spec.n) if spec.log
              else np.linspace(spec.low, spec.high, spec.n))
    if whole and np.all(np.abs(values - np.round(values)) < 1e-9):
        return np.round(values).astype(np.int64)
    return values


def _scale(unit: np.ndarray, spec: ParameterRange) -> np.ndarray:
    if spec.log:
        return np.exp(np.log(spec.low) + unit * (np.log(spec.high) - np.log(spec.low)))
    return spec.low + unit * (spec.high - spec.low)


def _typed(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=float if any(isinstance(v, float) for v in values)
                        else np.int64)
    return np.array([str(v) for v in values], dtype=object)


def build_design(config: RolloutConfig) -> Design:
    """Expand ``config.sweep`` into design points (no sweep: a single point, no dimensions)."""
    sweep = config.sweep or SweepConfig()
    if sweep.design == "scenarios":
        names = sorted(sweep.scenarios)     # as the canonical config (verify rebuilds it)
        return Design(["scenario"], (len(names),),
                      {"scenario": (("scenario",), np.array(names, dtype=object))},
                      [dict(sweep.scenarios[n]) for n in names])
    # sorted by path, as in the canonical config: the design must follow from what the hash
    # covers, so reordering a [sweep.parameters] table changes nothing (dimension order, which
    # LHS/Sobol column a parameter gets, and what verify and sensitivity rebuild)
    params = dict(sorted(sweep.parameters.items()))
    if sweep.design == "grid":
        whole = integer_fields(config)
        axes = {name: (_range_values(v, name in whole) if isinstance(v, ParameterRange)
                       else _typed(v)) for name, v in params.items()}
        dims = list(axes)
        shape = tuple(len(v) for v in axes.values())
        coords = {name: ((name,), values) for name, values in axes.items()}
        points = []
        for idx in np.ndindex(*shape):
            points.append({name: _plain(axes[name][i]) for name, i in zip(dims, idx, strict=True)})
        return Design(dims, shape, coords, points)
    factors = {name: _typed(v) for name, v in params.items() if not isinstance(v, ParameterRange)}
    ranges = {name: v for name, v in params.items() if isinstance(v, ParameterRange)}
    rng = stream(config.seed, 0, f"design-{sweep.design}")
    d = len(ranges)
    from scipy.stats import qmc  # here: only sampled designs need it, and it is slow to import

    if sweep.design == "lhs":
        unit = qmc.LatinHypercube(d, rng=rng).random(sweep.points)
    else:
        unit = saltelli(qmc.Sobol(2 * d, scramble=True, rng=rng).random(sweep.points), d)
    n_points = len(unit)
    coords = {name: ((name,), values) for name, values in factors.items()}
    coords["point"] = (("point",), np.arange(n_points))
    columns = {}
    whole = integer_fields(config)
    for j, (name, spec) in enumerate(ranges.items()):
        columns[name] = _scale(unit[:, j], spec)
        if name in whole:       # a count (support.teams): equal strata for every whole value
            if spec.log:
                columns[name] = np.round(columns[name]).astype(np.int64)
            else:
                columns[name] = np.minimum(np.floor(spec.low + unit[:, j] * (
                    spec.high - spec.low + 1)), spec.high).astype(np.int64)
        coords[name] = (("point",), columns[name])
    sampled = [{name: _plain(columns[name][i]) if name in whole else float(columns[name][i])
                for name in ranges} for i in range(n_points)]
    dims = [*factors, "point"]
    shape = (*(len(v) for v in factors.values()), n_points)
    points = []
    for idx in np.ndindex(*shape[:-1]):
        fixed = {name: _plain(factors[name][i]) for name, i in zip(factors, idx, strict=True)}
        points.extend(fixed | row for row in sampled)
    return Design(dims, shape, coords, points)


def integer_fields(config: RolloutConfig) -> set[str]:
    """Dotted paths of the config's whole-number fields, from the schema (so an optional field
    that is unset, such as defects.fixed_count, counts too)."""
    import types
    import typing

    from pydantic import BaseModel

    out: set[str] = set()

    def is_int(annotation) -> bool:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return any(a is int for a in args) and not any(a is bool for a in args)
        if typing.get_origin(annotation) is typing.Annotated:
            return is_int(args[0])
        return annotation is int

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
            elif is_int(annotation):
                out.add(f"{prefix}{name}")

    walk(type(config), "")
    for strategy in config.strategies.values():
        walk(type(strategy), "")         # strategy fields, under each strategy's name below
    names = {p for p in out if "." not in p}
    out |= {f"strategies.{s}.{p}" for s in config.strategies for p in names
            if p in type(next(iter(config.strategies.values()))).model_fields}
    return out


def saltelli(base: np.ndarray, d: int) -> np.ndarray:
    """Saltelli's design from N rows of a 2d-dimensional Sobol sequence: A = the first d
    columns, B = the last d, AB_i = A with column i from B; rows ordered A, AB_1..AB_d, B for
    each base row (SALib's order, without second-order terms): N (d + 2) points."""
    a, b = base[:, :d], base[:, d:]
    rows = []
    for j in range(len(base)):
        rows.append(a[j])
        for i in range(d):
            ab = a[j].copy()
            ab[i] = b[j, i]
            rows.append(ab)
        rows.append(b[j])
    return np.array(rows)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def point_config(base: RolloutConfig, assignment: dict[str, Any]) -> RolloutConfig:
    """The configuration of one design point: the base with the point's values set."""
    data = json.loads(base.canonical_json())
    data["strategies"] = {name: data["strategies"][name] for name in base.strategies}
    data.pop("sweep", None)
    for path, value in assignment.items():
        set_dotted(data, path, value)
    return validate_dict(data)


def check_design(base: RolloutConfig, design: Design, source: str) -> None:
    """Validate every point's parameters against the schema; name the offending parameter."""
    known = known_paths(base)
    for assignment in design.points:
        for path in assignment:
            if path not in known:
                raise ConfigError(source, f"sweep.parameters.{quote(path)}",
                                  "unknown parameter (not a config field)")
    for path in design.coords if design.dims != ["scenario"] else ():
        name = stored_name(path)
        if not CF_NAME.fullmatch(name) or config_field(name) != path:
            raise ConfigError(source, f"sweep.parameters.{quote(path)}",
                              f"cannot name a cube dimension ({name!r} is not a NetCDF/CF name "
                              "that gives the path back: a name part ends in '_' or holds "
                              "'-'); rename the strategy")
    for assignment in design.points:
        try:
            point_config(base, assignment)
        except ConfigError as err:
            path = next((p for p in assignment if err.field and err.field.startswith(p)),
                        err.field)
            value = assignment.get(path, "")
            raise ConfigError(source, f"sweep.parameters.{quote(path)}",
                              f"value {value!r}: {err.problem}") from None


def known_paths(config: RolloutConfig) -> set[str]:
    """Every dotted path a sweep or calibration may set (unset optional fields included)."""
    data = json.loads(config.canonical_json())
    data.pop("sweep", None)
    data.pop("calibration", None)
    paths: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        paths.add(prefix[:-1])

    walk(data, "")
    # optional fields that are unset (null) are still settable
    for name in ("fixed_count",):
        paths.add(f"defects.{name}")
    for strat in config.strategies:
        for name in ("evidence_threshold", "wave_dates", "pinned_releases"):
            paths.add(f"strategies.{strat}.{name}")
    paths.add("regions.provinces")
    return paths


def block_size(config: RolloutConfig) -> int:
    """Replicates per task (and per chunk along replicate); the default when there is no sweep."""
    return config.sweep.block_size if config.sweep else SweepConfig().block_size


def n_blocks(replicates: int, block_size: int) -> int:
    return math.ceil(replicates / block_size)
