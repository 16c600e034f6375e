"""A config file's whole calibration, as ``rollout calibrate`` runs it: load and check the
config, fit it (ABC rejection), check the fit on fresh replicates, and write the calibrated
config, every draw and the fit figure."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import __version__
from ..config import load_config
from ..data import load_provinces
from ..errors import ConfigError, RolloutError
from ..experiment.executors import make_executor
from ..experiment.inputs import default_workers
from ..experiment.locking import output_lock
from ..experiment.outputs import check_writable
from .calibrate import (
    CHECK_REPLICATE_OFFSET,
    accepted_count,
    calibrate,
    check_calibration,
    choose_point,
    influence_floor,
    posterior_predictive,
    run_draws,
    target_influence,
)


class Bar(Protocol):
    def update(self, n: int) -> None: ...


class _Silent:
    def update(self, n: int) -> None:
        return None


def _no_progress(total: int, name: str) -> AbstractContextManager[Bar]:
    return nullcontext(_Silent())


@dataclass
class CalibrationRun:
    """What a calibration did and wrote."""

    report: str       # the fit report (also the calibrated config's comment header)
    config: Path      # the calibrated config
    record: Path      # every draw (.abc.csv)
    figure: Path      # simulated against reported paths (.fit.png)
    runs: int         # prior draws + replicates of the fit check
    seconds: float    # wall time, outputs included
    where: str        # where the runs ran


def calibrate_file(config: str, *, draws: int | None = None,
                   check_replicates: int | None = None, seed: int | None = None,
                   workers: int | None = None, scheduler: str | None = None,
                   serial: bool = False, out: str | None = None, overwrite: bool = False,
                   command: str | None = None,
                   progress: Callable[[int, str], AbstractContextManager[Bar]] = _no_progress
                   ) -> CalibrationRun:
    """Fit CONFIG's [calibration] parameters to its targets, check the fit on
    ``check_replicates`` fresh replicates, and write the calibrated config (default
    ``<config>.calibrated.toml`` beside it), its draws and its fit figure. Everything is checked
    before any run starts. ``progress(total runs, config name)`` gives a context manager whose
    value is told of the runs as they finish; ``command`` is recorded in the config's header."""
    overrides: dict[str, Any] = {}
    if seed is not None:
        overrides["seed"] = seed
    if draws is not None:
        overrides["calibration.draws"] = draws
    if check_replicates is not None:
        overrides["calibration.check_replicates"] = check_replicates
    cfg = load_config(config, overrides)
    if cfg.calibration is None:
        raise ConfigError(config, "calibration", "missing: a [calibration] table with "
                          "parameters (priors) and targets is needed")
    check_calibration(cfg, config)
    provinces = load_provinces(cfg, config)
    source = Path(config)
    target = Path(out) if out else source.with_name(f"{source.stem}.calibrated.toml")
    record = target.with_name(f"{target.stem}.abc.csv")
    figure = target.with_name(f"{target.stem}.fit.png")
    for output in (target, record, figure):
        if (output.exists() or output.is_symlink()) and not overwrite:
            raise RolloutError(f"{output}: exists; use --overwrite to replace it")
        if output.is_dir():
            raise RolloutError(f"{output}: is a folder; refusing to replace it")
    check_writable(target)
    with output_lock(target):
        return _calibrate_and_write(cfg, provinces, config, source, target, record, figure,
                                    workers, scheduler, serial, command, progress)


def _calibrate_and_write(cfg, provinces, config: str, source: Path, target: Path, record: Path,
                         figure: Path, workers: int | None, scheduler: str | None,
                         serial: bool, command: str | None,
                         progress: Callable[[int, str], AbstractContextManager[Bar]]
                         ) -> CalibrationRun:
    from .output import fit_figure, format_report, write_calibrated_config, write_record

    spec = cfg.calibration
    total = spec.draws + spec.check_replicates + accepted_count(spec)
    if spec.point == "joint":
        candidates = min(spec.point_candidates or accepted_count(spec), accepted_count(spec))
        total += spec.point_replicates * (candidates + 1)
        total += spec.point_final_replicates * (min(spec.point_finalists, candidates) + 1)
    began = time.perf_counter()
    with make_executor(serial, workers or default_workers(), scheduler) as executor, \
            progress(total, cfg.name) as bar:
        result = calibrate(cfg, provinces, executor, on_block=bar.update)
        point = choose_point(cfg, provinces, result, executor, on_block=bar.update)
        fitted = point.values
        values = np.tile([fitted[n] for n in result.names], (spec.check_replicates, 1))
        check, traces = run_draws(cfg, provinces, values, executor,
                                  replicate_offset=CHECK_REPLICATE_OFFSET, traces=True,
                                  on_block=bar.update)
        predictive = posterior_predictive(cfg, provinces, result, executor,
                                          on_block=bar.update)
        where = executor.description
    report = format_report(cfg, result, check, point, predictive, target_influence(cfg, result),
                           influence_floor(cfg, result))
    # all three written aside, then moved into place together: a failure (or a kill) leaves
    # the old outputs as they were, and only working copies the next writer removes
    aside = {final: final.with_name(f".{final.name}.partial-{os.getpid()}")
             for final in (record, target, figure)}
    try:
        write_record(aside[record], cfg, result, point)
        write_calibrated_config(source, aside[target], fitted, report, command or config,
                                __version__, point.rule)
        fit_figure(load_config(aside[target]), traces,
                   f"{cfg.name}: calibrated point against the reported rollout").savefig(
            aside[figure], dpi=130, bbox_inches="tight", format="png")
        for final, working in aside.items():
            os.replace(working, final)
    finally:
        for working in aside.values():
            working.unlink(missing_ok=True)
    return CalibrationRun(report, target, record, figure, total, time.perf_counter() - began,
                          where)
