"""The Python API, for notebooks: what the command line does, with the same checks, raising
instead of exiting.

    import rollout
    cfg = rollout.load_config("configs/national.toml", set={"defects.severity_median": 0.1})
    ds = rollout.run(cfg, replicates=20)                    # an xarray Dataset, in memory
    ds = rollout.run("configs/national.toml", out="results/national.zarr", overwrite=True)
    sw = rollout.sweep("configs/mechanisms.toml", out="results/mechanisms.zarr")
    ds = rollout.open_cube("results/national.zarr")

Bad input raises ``rollout.errors.ConfigError`` (a ``RolloutError``) whose message is the CLI's
one line: the file, the field and the problem. Nothing is written when it does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import RolloutConfig
from .errors import ConfigError, RolloutError

if TYPE_CHECKING:
    import xarray as xr

ConfigLike = str | os.PathLike | RolloutConfig


def load_config(config: ConfigLike, set: Mapping[str, Any] | None = None,  # noqa: A002
                replicates: int | None = None, seed: int | None = None,
                sweep: Mapping[str, Any] | None = None) -> RolloutConfig:
    """A validated configuration, checked against its province table: a TOML file (its data file
    is then named by absolute path in the result, so the configuration reads the same table
    wherever it is run), or a configuration already loaded, with ``set`` (dotted path ->
    value), ``replicates``, ``seed`` and swept parameters (``sweep``: dotted path -> values or
    {low, high, n, log}) applied."""
    from .config import check_against_data, set_dotted, validate_dict
    from .config import load_config as _load
    from .data import is_bundled, resolve_data_path

    overrides = _overrides(set, replicates, seed)
    if not isinstance(config, RolloutConfig):
        cfg = _load(str(config), overrides, dict(sweep) if sweep else None)
        # name a data file by its absolute path, so the loaded config reads the same table
        # wherever it is run from (a relative path is relative to the config file); a bundled
        # table is found from anywhere as it is
        if not is_bundled(cfg.regions.data):
            cfg.regions.data = str(Path(resolve_data_path(cfg.regions.data, config)).resolve())
        return cfg
    data = config.model_dump(mode="json", exclude_none=True)
    for path, value in overrides.items():
        set_dotted(data, path, value)
    if sweep:
        table = data.get("sweep") or {"design": "grid"}
        table.setdefault("parameters", {}).update(dict(sweep))
        data["sweep"] = table
    cfg = validate_dict(data)
    check_against_data(cfg)
    return cfg


def validate(config: str | os.PathLike) -> RolloutConfig:
    """Every check any command makes before it works, without simulating: the schema and the
    province table, a sweep's design point by point, a calibration's priors and targets."""
    cfg = _resolved(config, None, None, None)
    if cfg.sweep is not None:
        from .experiment.inputs import checked_design

        checked_design(cfg, str(config))
    if cfg.calibration is not None:
        from .calibration.calibrate import check_calibration

        check_calibration(cfg, str(config))
    return cfg


def run(config: ConfigLike, *, set: Mapping[str, Any] | None = None,  # noqa: A002
        replicates: int | None = None, seed: int | None = None, workers: int = 1,
        scheduler: str | None = None, out: str | os.PathLike | None = None,
        format: str | None = None, overwrite: bool = False,  # noqa: A002
        on_block: Callable | None = None) -> xr.Dataset:
    """Run every strategy of a config (a single run, not a sweep) and return its cube: in
    memory, or written to ``out`` and opened from there. ``workers`` > 1 starts a local Dask
    cluster; ``scheduler`` uses a running one."""
    from .data import load_provinces
    from .experiment.opening import open_cube
    from .experiment.outputs import cube_format
    from .experiment.single_run import run_to_cube

    cfg = _resolved(config, set, replicates, seed)
    if cfg.sweep is not None and (cfg.sweep.parameters or cfg.sweep.scenarios):
        raise ConfigError(_source(config), "sweep", "this config sweeps parameters: use "
                          "rollout.sweep")
    provinces = load_provinces(cfg, None if isinstance(config, RolloutConfig) else str(config))
    if out is None:
        return run_to_cube(cfg, provinces, workers=workers, scheduler=scheduler,
                           on_block=on_block).cube
    run_to_cube(cfg, provinces, workers=workers, scheduler=scheduler, out=Path(out),
                fmt=cube_format(out, format), overwrite=overwrite, on_block=on_block)
    return open_cube(out)


def sweep(config: ConfigLike, *, out: str | os.PathLike,
          sets: Mapping[str, Any] | None = None, replicates: int | None = None,
          seed: int | None = None, workers: int | None = None, scheduler: str | None = None,
          serial: bool = False, overwrite: bool = False) -> xr.Dataset:
    """Run a sweep into a resumable Zarr store at ``out`` (an existing store of the same sweep
    is resumed) and return the cube. ``sets`` adds or replaces swept parameters: dotted path ->
    a list of values, or {low, high, n, log}."""
    from .data import load_provinces
    from .experiment.executors import make_executor
    from .experiment.opening import open_cube
    from .experiment.runner import default_workers
    from .experiment.sweep import checked_design, run_sweep

    source = _source(config)
    if Path(out).suffix.lower() not in ("", ".zarr"):
        raise RolloutError(f"{out}: a sweep is a Zarr store (.zarr)")
    cfg = _resolved(config, None, replicates, seed, sets)
    design = checked_design(cfg, source)
    provinces = load_provinces(cfg, None if isinstance(config, RolloutConfig) else source)
    with make_executor(serial, workers or default_workers(), scheduler) as executor:
        run_sweep(cfg, provinces, design, Path(out), executor, overwrite)
    return open_cube(out)


def _resolved(config: ConfigLike, set: Mapping[str, Any] | None,  # noqa: A002
              replicates: int | None, seed: int | None,
              sweep: Mapping[str, Any] | None = None) -> RolloutConfig:
    """A file as the CLI reads it (its config unchanged, so cubes and hashes match the CLI's),
    or a loaded configuration with the changes applied."""
    from .config import load_config as _load

    for key, value in (("replicates", replicates), ("seed", seed)):
        if value is not None and key in (set or {}):
            raise ConfigError(_source(config), key, "given twice (as an argument and in set)")
    if isinstance(config, RolloutConfig):
        return load_config(config, set, replicates, seed, sweep)
    return _load(str(config), _overrides(set, replicates, seed), dict(sweep) if sweep else None)


def _overrides(set: Mapping[str, Any] | None, replicates: int | None,  # noqa: A002
               seed: int | None) -> dict[str, Any]:
    """Dotted path -> value: ``set`` with ``replicates`` and ``seed`` when given."""
    overrides = dict(set or {})
    overrides.update({k: v for k, v in (("replicates", replicates), ("seed", seed))
                      if v is not None})
    return overrides


def _source(config: ConfigLike) -> str:
    """The path relative data files are read from (the config file's, or the working folder)."""
    return "<config>" if isinstance(config, RolloutConfig) else str(config)


__all__ = ["load_config", "validate", "run", "sweep", "RolloutError"]
