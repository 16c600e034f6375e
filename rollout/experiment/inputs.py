"""A run's or a sweep's inputs, read and checked before any work: the config (with overrides
and ``--set`` parameters), a sweep's design point by point, the province table, and how many
workers to use. Light on imports (no xarray, Zarr, Dask or scipy.stats), so that bad input is
refused in well under a second and no heavy machinery starts for it."""

from __future__ import annotations

import os
from typing import Any

from ..config import RolloutConfig, load_config
from ..data import Provinces, load_provinces
from ..errors import ConfigError
from .designs import Design, build_design, check_design, parse_set


def load_run(path: str, overrides: dict[str, Any]) -> tuple[RolloutConfig, Provinces]:
    """A single run's config (with dotted-path ``overrides``) and its provinces; a config that
    sweeps parameters is refused."""
    cfg = load_config(path, overrides)
    if cfg.sweep is not None and (cfg.sweep.parameters or cfg.sweep.scenarios):
        raise ConfigError(path, "sweep", "this config sweeps parameters: run it with "
                          "'rollout sweep'")
    return cfg, load_provinces(cfg, path)


def load_sweep(path: str, overrides: dict[str, Any], sets: tuple[str, ...] | list[str] = ()
               ) -> tuple[RolloutConfig, Design, Provinces]:
    """A sweep's config (with dotted-path ``overrides`` and ``--set`` parameters), its checked
    design and its provinces."""
    cfg = load_config(path, overrides, parse_set(sets))
    design = checked_design(cfg, path)
    return cfg, design, load_provinces(cfg, path)


def checked_design(cfg: RolloutConfig, source: str) -> Design:
    """The design of a sweep config, every point validated; one-line errors naming ``source``."""
    if cfg.output.event_log:
        raise ConfigError(source, "output.event_log",
                          "the event log is for single runs (rollout run), not sweeps")
    design = build_design(cfg)
    check_design(cfg, design, source)
    return design


def default_workers() -> int:
    """Worker processes to use when none is given: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
