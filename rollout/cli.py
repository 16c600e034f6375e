"""The ``rollout`` command line: options, what is printed, and exit statuses. The work itself is
done by the layers below (``experiment``, ``calibration``, ``analysis``).

Every user error (bad config, bad path, bad option) ends as one line on stderr, ``rollout: error:
...``, with exit status 2 and nothing written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import RolloutError


def _config_argument(fn: Callable) -> Callable:
    return click.argument("config", metavar="CONFIG")(fn)


def _reads_cube(fn: Callable) -> Callable:
    """A command on a cube at PATH: a failure of the storage layer (a damaged chunk) is one
    line naming the store, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .experiment.opening import read_guard

        with read_guard(kwargs.get("path", "the cube")):
            return fn(*args, **kwargs)
    return wrapper


def _stored_baseline(ds: Any) -> str:
    """The baseline a cube's config names (big_bang when it names none)."""
    import json

    analysis = json.loads(ds.attrs["config"]).get("analysis")
    return analysis.get("baseline", "big_bang") if isinstance(analysis, dict) else "big_bang"


def _run_options(fn: Callable) -> Callable:
    """Options shared by commands that run simulations (composed once, used everywhere)."""
    options = [
        click.option("--replicates", "-n", type=click.IntRange(min=1), default=None,
                     help="Replicates per strategy (overrides the config)."),
        click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
                     help="Master seed (overrides the config)."),
        click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
                     help="Local Dask worker processes [default: the cores available]; 1 runs "
                          "in this process."),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Use a running Dask cluster (tcp://host:port) [env: "
                          "DASK_SCHEDULER_ADDRESS]."),
        click.option("--out", "-o", "out", type=click.Path(dir_okay=True), default=None,
                     help="Output path [default: results/<config name>.zarr or .nc]."),
        click.option("--format", "fmt", type=click.Choice(["zarr", "netcdf"]), default=None,
                     help="Cube format [default: from the output's extension, .nc for NetCDF; "
                          "else zarr]."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Set a config field by its dotted path for this run (one value; "
                          "repeatable), e.g. --set regions.units_per_region=3."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _single_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    """--set NAME=VALUE of a single run: one value each, a TOML literal or a bare string."""
    from .experiment.designs import parse_value

    out: dict[str, Any] = {}
    for item in sets:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise RolloutError(f"--set {item}: expected NAME=VALUE")
        if name in out:
            raise RolloutError(f"--set {item}: {name} is set twice")
        out[name] = parse_value(value)
    return out


def _overrides(replicates: int | None, seed: int | None) -> dict[str, Any]:
    """Config fields set by --replicates and --seed (dotted path -> value)."""
    overrides: dict[str, Any] = {}
    if replicates is not None:
        overrides["replicates"] = replicates
    if seed is not None:
        overrides["seed"] = seed
    return overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollout")
def cli() -> None:
    """rollout: is phased policy rollout slower at first and faster in the end?"""


@cli.command()
@_config_argument
def validate(config: str) -> None:
    """Check CONFIG and print the resolved configuration (defaults filled in)."""
    import tomli_w

    from .api import validate as check_everything

    cfg = check_everything(config)
    click.echo(f"# {config}: valid; resolved configuration, sha256 {cfg.config_hash()}")
    click.echo(tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True)), nl=False)


@cli.command()
@_config_argument
@_run_options
@click.option("--report", "with_report", is_flag=True,
              help="Also write the HTML report beside the cube (<cube name>.html).")
def run(config: str, replicates: int | None, seed: int | None, workers: int | None,
        scheduler: str | None, out: str | None, fmt: str | None, sets: tuple[str, ...],
        overwrite: bool, quiet: bool, with_report: bool) -> None:
    """Run every strategy of CONFIG, write the result cube, print the headline comparison."""
    from .experiment.inputs import default_workers, load_run
    from .experiment.outputs import check_output, cube_format, default_output

    fmt = cube_format(out, fmt)
    singles = _single_sets(sets)
    for key in _overrides(replicates, seed):
        if key in singles:
            raise RolloutError(f"--set {key}: given twice (also as --{key})")
    cfg, provinces = load_run(config, _overrides(replicates, seed) | singles)
    path = Path(out) if out else default_output(cfg, fmt)
    check_output(path, overwrite)
    if with_report:
        from .report import check_target, default_path

        check_target(default_path(path), overwrite, path)
    workers = min(workers or default_workers(), cfg.replicates)
    n_runs = cfg.replicates * len(cfg.strategies)

    from tqdm import tqdm

    from .analysis import format_headline, headline
    from .experiment.single_run import run_to_cube

    with tqdm(total=n_runs, unit="run", desc=cfg.name, file=sys.stderr, delay=1.0,
              disable=quiet, dynamic_ncols=True) as bar:
        outcome = run_to_cube(
            cfg, provinces, workers=workers, scheduler=scheduler, out=path, fmt=fmt,
            overwrite=overwrite,
            on_block=lambda b: bar.update((b.stop - b.start) * len(cfg.strategies)))
    n_workers = outcome.workers
    click.echo(f"wrote {path}: {len(cfg.strategies)} strategies x {cfg.replicates} replicates "
               f"in {outcome.seconds:.1f} s on {n_workers} worker{'s' if n_workers > 1 else ''} "
               f"({outcome.where.removeprefix('on ')}; config sha256 {cfg.config_hash()[:12]}, "
               f"seed {cfg.seed})")
    baseline = cfg.analysis.baseline
    click.echo(format_headline(headline(outcome.cube, baseline, cfg.analysis.confidence),
                               baseline, cfg.analysis.confidence))
    if with_report:
        from .report import write_report

        click.echo(f"wrote {write_report(path, None, overwrite)} (report)")


def _cluster_options(fn: Callable) -> Callable:
    """Where the runs of a sweep, calibration, second stage or placement go: local Dask workers,
    a running cluster, or this process."""
    options = [
        click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
                     help="Local Dask worker processes [default: the cores available]."),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Use a running Dask cluster (tcp://host:port) [env: "
                          "DASK_SCHEDULER_ADDRESS]."),
        click.option("--serial", is_flag=True, help="Run in this process, without Dask."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _sweep_options(fn: Callable) -> Callable:
    """Options of commands that expand a sweep."""
    options = [
        click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2|NAME=LO:HI[:N]",
                     help="Sweep a parameter (dotted config path) over values or a range; "
                          "repeatable; adds to or replaces [sweep.parameters]."),
        click.option("--replicates", "-n", type=click.IntRange(min=1), default=None,
                     help="Replicates per strategy and design point (overrides the config)."),
        click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
                     help="Master seed (overrides the config)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load_sweep(config: str, sets: tuple[str, ...], replicates: int | None, seed: int | None):
    from .experiment.inputs import load_sweep

    return load_sweep(config, _overrides(replicates, seed), sets)


@cli.command()
@_config_argument
@_sweep_options
@_cluster_options
@click.option("--out", "-o", "out", type=click.Path(), default=None,
              help="Zarr store [default: results/<config name>.zarr]. An existing store of the "
                   "same sweep is resumed.")
@click.option("--overwrite", is_flag=True, help="Replace a store of a different sweep (and "
              "an existing --netcdf file).")
@click.option("--netcdf", "netcdf", type=click.Path(dir_okay=False), default=None,
              help="Also write the finished cube as one compressed NetCDF file (.nc).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--task-order-seed", type=int, default=None, hidden=True,
              help="Shuffle the task order (testing that order does not matter).")
def sweep(config: str, sets: tuple[str, ...], replicates: int | None, seed: int | None,
          workers: int | None, scheduler: str | None, serial: bool, out: str | None,
          overwrite: bool, netcdf: str | None, quiet: bool, task_order_seed: int | None
          ) -> None:
    """Run a parameter sweep of CONFIG into a Zarr store, block by block (resumable)."""
    from tqdm import tqdm

    from .experiment.inputs import default_workers
    from .experiment.outputs import check_output, cube_format, default_output

    cfg, design, provinces = _load_sweep(config, sets, replicates, seed)
    path = Path(out) if out else default_output(cfg, "zarr")
    if path.suffix.lower() not in ("", ".zarr"):
        raise RolloutError(f"{path}: a sweep is a Zarr store (.zarr); add --netcdf FILE.nc "
                           "for a NetCDF copy")
    if netcdf is not None:
        cube_format(netcdf, "netcdf")
        check_output(Path(netcdf), overwrite)
    bars: list = []      # the bar appears once the cluster and the store are ready, so that
    #                     an error before then is the only line on stderr

    def started(done: int, total: int) -> None:
        bars.append(tqdm(total=total, initial=done, unit="run", desc=cfg.name, file=sys.stderr,
                         disable=quiet, dynamic_ncols=True, smoothing=0.1))

    from .experiment.executors import make_executor
    from .experiment.locking import output_lock
    from .experiment.sweep import format_duration, run_sweep

    try:
        # the store's lock first: a second sweep of it is refused before a cluster starts
        with output_lock(path), \
                make_executor(serial, workers or default_workers(), scheduler) as executor:
            report = run_sweep(cfg, provinces, design, path, executor, overwrite,
                               on_block=lambda n: bars[0].update(n), on_start=started,
                               order_seed=task_order_seed, lock=False)
            where = executor.description
    finally:
        for bar in bars:
            bar.close()
    resumed = report.blocks_total - report.blocks_run
    click.echo(f"wrote {path}: {report.points} design point{'s' * (report.points != 1)} x "
               f"{len(cfg.strategies)} strategies x {cfg.replicates} replicates "
               f"({report.runs_run} runs in {format_duration(report.wall_seconds)} {where}"
               + (f"; {resumed} of {report.blocks_total} blocks were already done" if resumed
                  else "") + f"; config sha256 {cfg.config_hash()[:12]})")
    from .analysis import format_sweep_summary
    from .experiment.cube import open_cube, write_netcdf_copy

    if netcdf is not None:
        with open_cube(path, finished=True) as ds:
            click.echo(f"wrote {write_netcdf_copy(ds, netcdf, overwrite)} (NetCDF copy)")
    click.echo(format_sweep_summary(open_cube(path), cfg.analysis.baseline))


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--strategy", "-s", required=True, help="The strategy the claim is about.")
@click.option("--claim", "-c", required=True, help="As for discover (a claim with an interval).")
@click.option("--budget", type=click.IntRange(min=1, max=10_000_000), required=True,
              help="Added replicates in all (per strategy), spent on undecided points in "
                   "design order, --add each.")
@click.option("--add", "added", type=click.IntRange(min=1, max=100_000), default=None,
              help="Replicates added at each refined point [default: as many as the sweep "
                   "ran].")
@click.option("--baseline", "-b", default=None, help="[default: the config's baseline]")
@click.option("--out", "-o", "out", type=click.Path(), default=None,
              help="Second-stage store [default: <cube>.refine.zarr beside it]; an existing "
                   "store of the same second stage is resumed.")
@click.option("--overwrite", is_flag=True, help="Replace a store of another second stage.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="The province table the cube was made with (checked by its sha256).")
@_cluster_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_reads_cube
def refine(path: str, strategy: str, claim: str, budget: int, added: int | None,
           baseline: str | None, out: str | None, overwrite: bool, data: str | None,
           workers: int | None, scheduler: str | None, serial: bool, quiet: bool) -> None:
    """A sweep's second stage: more replicates at the design points where the claim is
    undecided (its interval holds the line), up to a budget, the same added worlds at every
    point (resumable); prints the decided counts before and after."""
    import json

    from .analysis.decided import counts
    from .analysis.discover import claim_data
    from .analysis.refinement import format_refinement, refined_decisions, select_undecided
    from .config import validate_dict
    from .experiment.cube import open_cube
    from .experiment.designs import block_size, build_design
    from .experiment.inputs import default_workers
    from .experiment.opening import stored_config_json
    from .experiment.outputs import check_writable
    from .experiment.refine import Stage, per_run_variables, read_stage, run_stage
    from .experiment.verify import _provinces_by_hash

    ds = open_cube(path, finished=True)
    if not json.loads(ds.attrs.get("design", '{"dims": []}'))["dims"]:
        raise RolloutError(f"{path}: a single run has no design points to refine")
    cfg = validate_dict(json.loads(stored_config_json(ds.attrs)))
    baseline = baseline or _stored_baseline(ds)
    added = added or cfg.replicates
    if budget < added:
        raise RolloutError(f"--budget {budget}: less than --add {added}, so no point could be "
                           "refined")
    target = Path(out) if out else Path(path).with_name(
        f"{Path(path).name.removesuffix('.zarr')}.refine.zarr")
    if target.resolve() == Path(path).resolve():
        raise RolloutError(f"{target}: is the cube itself")
    check_writable(target)
    first = claim_data(ds, strategy, claim, baseline)
    if first.decision is None:
        raise RolloutError(f"claim {claim!r}: its variable has no interval, so no point is "
                           "undecided in the sense of an interval")
    before = counts(first.decision, first.point)
    chosen = select_undecided(first.decision, budget, added)
    if not chosen:
        click.echo(format_refinement(before, None, 0, added, 0, 0.95))
        return
    design = build_design(cfg)
    provinces = _provinces_by_hash(cfg, ds, data, path)
    stage = Stage(chosen, cfg.replicates, added, min(added, block_size(cfg)), {
        "config_sha256": cfg.config_hash(), "strategy": strategy, "claim": claim,
        "baseline": baseline, "points": list(chosen), "first": cfg.replicates,
        "added": added})
    variables = per_run_variables(cfg)

    from tqdm import tqdm

    from .experiment.executors import make_executor

    total = len(chosen) * added * len(cfg.strategies)
    with tqdm(total=total, unit="run", desc="refine", file=sys.stderr, disable=quiet,
              dynamic_ncols=True, smoothing=0.1) as bar, \
            make_executor(serial, workers or default_workers(), scheduler) as executor:
        runs = run_stage(target, cfg, provinces, design, stage, executor, variables, overwrite,
                         bar.update)
    _, index, values, names = read_stage(target)
    decision, point = refined_decisions(ds, first.decision, first.point, index, values, names,
                                        strategy, claim, baseline)
    left = int((first.decision == 0).sum()) - len(chosen)
    click.echo(f"wrote {target}: {runs} runs now ({total - runs} already done)")
    click.echo(format_refinement(before, counts(decision, point), len(chosen), added, left,
                                 0.95))


@cli.command()
@_config_argument
@_sweep_options
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Workers to plan for [default: the cores available].")
def plan(config: str, sets: tuple[str, ...], replicates: int | None, seed: int | None,
         workers: int | None) -> None:
    """Dry run: design points, runs, tasks, cube size and an estimate of the time."""
    from .experiment.inputs import default_workers

    cfg, design, provinces = _load_sweep(config, sets, replicates, seed)
    from .experiment.sweep import format_duration, plan_sweep

    plan = plan_sweep(cfg, provinces, design, workers or default_workers())
    dims = ", ".join(f"{d}={n}" for d, n in zip(design.dims, design.shape, strict=True))
    click.echo(f"config      {config} (sha256 {cfg.config_hash()[:12]})")
    click.echo(f"design      {(cfg.sweep.design if cfg.sweep else 'single point')}"
               + (f": {dims}" if dims else ""))
    click.echo(f"points      {design.size}")
    click.echo(f"runs        {plan.runs} ({design.size} points x {len(cfg.strategies)} "
               f"strategies x {cfg.replicates} replicates)")
    click.echo(f"tasks       {plan.tasks} (blocks of {plan.block} replicates, one chunk "
               "each along replicate)")
    click.echo(f"cube        {plan.nbytes / 2**20:.1f} MiB in memory (uncompressed); about "
               f"{plan.nbytes * plan.ratio / 2**20:.1f} MiB on disk (compression ratio "
               f"{plan.ratio:.2f} measured on the timed block)")
    click.echo(f"time        {plan.seconds_per_run * 1e3:.0f} ms per run (timed on "
               f"{plan.timed_runs} runs here) -> about {format_duration(plan.seconds)} on "
               f"{plan.workers} worker{'s' * (plan.workers != 1)}")


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--sample", "-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Blocks to recompute.")
@click.option("--seed", type=int, default=None, help="Seed for choosing the blocks.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="The province table the cube was made with (checked by its sha256) "
                   "[default: the bundled table with that hash].")
@click.option("--integrity", is_flag=True,
              help="Read everything back and check the checksums written with it; recompute "
                   "nothing (seconds, where recomputing takes minutes).")
@_reads_cube
def verify(path: str, sample: int, seed: int | None, data: str | None,
           integrity: bool) -> None:
    """Recompute randomly chosen blocks of a cube from its stored config and seed, and check
    they match bit for bit (or, with --integrity, check every stored byte's checksum)."""
    from .experiment.cube import open_cube
    from .experiment.integrity import check_integrity
    from .experiment.verify import verify_cube

    ds = open_cube(path, warn=False)
    if integrity:
        ds.close()
        ok, lines = check_integrity(path)
    else:
        ok, lines = verify_cube(ds, sample, seed, data, path)
    for line in lines:
        click.echo(line)
    if not ok:
        sys.exit(1)


def _parse_at(items: tuple[str, ...]) -> dict[str, Any]:
    from .errors import RolloutError
    from .experiment.designs import parse_value

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RolloutError(f"--at {item}: expected DIM=VALUE")
        out[name.strip()] = parse_value(value.strip())
    return out


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--baseline", "-b", default=None, help="Strategy to compare with [default: the "
              "config's analysis.baseline].")
@click.option("--metric", "-m", "metrics", multiple=True,
              help="Per-replicate variable (repeatable) [default: t_full t_stable t_overtake "
                   "(when the cube can give it) harm_total net_benefit].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--summary", is_flag=True,
              help="Count design points where each strategy is slower at first and faster in "
                   "the end (t_full, t_stable, net_benefit), instead of one row per point.")
@click.option("--outcomes", is_flag=True,
              help="Add the outcomes beyond one horizon: net benefit at analysis.horizons_years "
                   "x analysis.discount_rates, stable first by harm threshold with the "
                   "long-run floor, downside risk and (sweeps) regret (docs/model.md section 6).")
@_reads_cube
def compare(path: str, baseline: str | None, metrics: tuple[str, ...], fmt: str,
            confidence: float, summary: bool, outcomes: bool) -> None:
    """Paired differences against a baseline at every design point, with intervals."""

    from .analysis.compare import DEFAULT_METRICS, default_metrics, format_table, to_records
    from .analysis.compare import compare as compare_cube
    from .experiment.cube import open_cube

    ds = open_cube(path, finished=True)
    baseline = baseline or _stored_baseline(ds)
    if summary and outcomes:
        raise RolloutError("--summary and --outcomes: choose one")
    metrics = list(metrics) or (list(DEFAULT_METRICS) if summary else default_metrics(ds))
    if summary:
        from .analysis.compare import design_summary, format_design_summary

        if metrics != list(DEFAULT_METRICS):
            raise RolloutError("--summary uses t_full, t_stable and net_benefit; drop --metric")
        result = compare_cube(ds, baseline, metrics, confidence)
        rows = design_summary(result)
        if fmt == "table":
            from .analysis.compare import design_dims
            from .analysis.decided import decided_summary, format_decided_summary
            from .analysis.pooled import format_pooled, pooled_differences

            click.echo(format_design_summary(rows, baseline, confidence,
                                             ds.sizes["replicate"]))
            click.echo("")
            click.echo(format_decided_summary(decided_summary(result), confidence,
                                              ds.sizes["replicate"]))
            if design_dims(ds):
                click.echo("")                 # a single run has no points to pool over
                pooled, how = pooled_differences(ds, baseline, confidence)
                click.echo(format_pooled(pooled, how, baseline, confidence))
        else:
            from .analysis.summary_records import summary_records

            _echo_records(summary_records(ds, result, rows, baseline, confidence), fmt)
        return
    result = compare_cube(ds, baseline, metrics, confidence, km=fmt != "table")
    extra = None
    if outcomes:
        from .analysis.outcomes import outcomes as outcomes_of

        extra = outcomes_of(ds, baseline, confidence)
    if fmt == "table":
        click.echo(format_table(result, metrics))
        if extra is not None:
            from .analysis.outcomes import format_outcomes

            click.echo("\n" + format_outcomes(extra, ds))
    else:
        records = to_records(result, metrics)
        if extra is not None:
            from .analysis.outcomes import outcome_records

            records += outcome_records(extra, ds)
        _echo_records(records, fmt)


def _check_figure_path(path: str) -> None:
    """Refuse, before any work, a figure path of an unknown format or in a folder that cannot
    be written."""
    from .analysis.figures import FORMATS
    from .experiment.outputs import check_writable

    if Path(path).suffix.lower() not in FORMATS:
        raise RolloutError(f"{path}: unknown figure format {Path(path).suffix or '(none)'!r}; "
                           f"use {', '.join(FORMATS)}")
    check_writable(Path(path))


def _echo_records(records: list[dict], fmt: str) -> None:
    """Print tidy records as JSON or CSV (one header row, then one row per record)."""
    import csv
    import io
    import json

    if fmt == "json":
        click.echo(json.dumps(records, indent=1))
        return
    buffer = io.StringIO()
    # every key of any record, in first-seen order (outcome records add their own columns)
    fields = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
    click.echo(buffer.getvalue(), nl=False)


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--kind", "-k", required=True,
              type=click.Choice(["coverage", "harm", "stages", "phase", "versions",
                                 "sensitivity", "overtake", "stable-curve"]))
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False),
              help="Figure file: .png, .svg or .pdf.")
@click.option("--at", "at", multiple=True, metavar="DIM=VALUE",
              help="Design point to show (repeatable) [default: each dimension's first value].")
@click.option("--replicate", "-r", type=click.IntRange(min=0), default=0, show_default=True,
              help="Replicate (stages, versions).")
@click.option("--strategy", "-s", default=None,
              help="Strategy (versions; phase: the slower one; sensitivity: one only) "
                   "[default: the first / first non-baseline / all].")
@click.option("--baseline", "-b", default=None,
              help="Baseline (phase map, sensitivity, overtake, stable-curve).")
@click.option("--x", "x", default=None, help="Phase map: parameter on the x axis.")
@click.option("--y", "y", default=None, help="Phase map: parameter on the y axis.")
@click.option("--metric", "-m", default="net_benefit", show_default=True,
              help="Sensitivity: the per-replicate variable whose paired difference is ranked.")
@_reads_cube
def plot(path: str, kind: str, output: str, at: tuple[str, ...], replicate: int,
         strategy: str | None, baseline: str | None, x: str | None, y: str | None,
         metric: str) -> None:
    """Draw a figure of a cube (coverage, harm, stages, phase, versions, sensitivity, overtake,
    stable-curve)."""

    from .analysis import figures
    from .experiment.cube import open_cube

    _check_figure_path(output)
    ds = open_cube(path, finished=True)
    where = _parse_at(at)
    baseline = baseline or _stored_baseline(ds)
    if kind == "coverage":
        fig = figures.plot_coverage(ds, where)
    elif kind == "harm":
        fig = figures.plot_harm(ds, where)
    elif kind == "stages":
        fig = figures.plot_stages(ds, where, replicate, [strategy] if strategy else None)
    elif kind == "versions":
        fig = figures.plot_versions(ds, where, replicate, strategy)
    elif kind == "sensitivity":
        fig = figures.plot_sensitivity(ds, metric, baseline, [strategy] if strategy else None)
    elif kind in ("overtake", "stable-curve"):
        from .analysis import outcome_figures

        draw = (outcome_figures.plot_overtake if kind == "overtake"
                else outcome_figures.plot_stable_curve)
        fig = draw(ds, baseline, where)
    else:
        fig = figures.plot_phase(ds, strategy, baseline, x, y, where)
    click.echo(f"wrote {figures.save(fig, output)}")


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--metric", "-m", default="net_benefit", show_default=True)
@click.option("--baseline", "-b", default=None)
@click.option("--strategy", "-s", default=None, help="[default: the first non-baseline]")
@click.option("--resamples", type=click.IntRange(min=100, max=100_000), default=2000,
              show_default=True, help="Cluster-bootstrap resamples of the Spearman intervals.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the cluster bootstrap.")
@_reads_cube
def sensitivity(path: str, metric: str, baseline: str | None, strategy: str | None,
                resamples: int, seed: int) -> None:
    """Which swept parameters decide the paired difference: Sobol indices (Sobol design, SALib's
    intervals) or a Spearman ranking (grid, Latin hypercube) whose intervals resample sampled
    points, each with all its switch rows (a cluster bootstrap)."""

    from .analysis.sensitivity import format_sensitivity
    from .analysis.sensitivity import sensitivity as analyse
    from .experiment.cube import open_cube

    ds = open_cube(path, finished=True)
    baseline = baseline or _stored_baseline(ds)
    strategy = strategy or next(str(s) for s in ds["strategy"].values if str(s) != baseline)
    rows, used, left_out = analyse(ds, metric, baseline, strategy, resamples=resamples,
                                   seed=seed)
    click.echo(format_sensitivity(rows, metric, strategy, baseline, used, left_out))


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--strategy", "-s", required=True, help="The strategy the claim is about.")
@click.option("--claim", "-c", required=True,
              help="stable_first, net_benefit_higher, full_later, faster_full, "
                   "slower_is_faster, overtakes, overtakes_within_Ny (N years, e.g. "
                   "overtakes_within_20y), or 'VARIABLE OP VALUE' on a compare variable (for "
                   "example 'rdiff_t_stable < -6').")
@click.option("--baseline", "-b", default=None, help="[default: the config's baseline]")
@click.option("--min-density", type=click.FloatRange(0.0, 1.0), default=0.8, show_default=True,
              help="Report the widest box whose density reaches this.")
@click.option("--peel-alpha", type=click.FloatRange(0.01, 0.5), default=0.05,
              show_default=True, help="Share of points peeled at each step.")
@click.option("--resamples", type=click.IntRange(min=0, max=10_000), default=50,
              show_default=True, help="Bootstrap resamples of the stability check (0: none).")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the resampling.")
@click.option("--outcome", type=click.Choice(["point", "significant"]), default="point",
              show_default=True, help="PRIM's input: the claim as defined (point: stable first "
              "by the share's point estimate), or significant: only the points the replicates "
              "decide for it at 95% (Wilson bound above 0.5, interval above 0).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write the peeling trajectory figure here (.png, .pdf, .svg).")
@click.option("--place", "place_config", type=click.Path(dir_okay=False), default=None,
              help="A calibrated config (with its .abc.csv beside it): report where its "
                   "posterior sits against the box.")
@click.option("--refined", "refined", type=click.Path(), default=None,
              help="A second stage of this cube, claim and strategy (rollout refine): decide "
                   "its refined points on all their replicates.")
@_reads_cube
def discover(path: str, strategy: str, claim: str, baseline: str | None, min_density: float,
             peel_alpha: float, resamples: int, seed: int, outcome: str,
             plot_path: str | None, place_config: str | None, refined: str | None) -> None:
    """Scenario discovery: the box of swept-parameter space where a claim holds (PRIM), with
    coverage, density, support and its stability under resampling; with switch dimensions (a
    Latin hypercube crossed with mechanism switches), which switches the claim needs."""

    from .analysis.discover import (
        ablation,
        claim_data,
        format_ablation,
        format_discovery,
        plot_trajectory,
    )
    from .analysis.discover import discover as find
    from .experiment.cube import open_cube

    if plot_path is not None:
        _check_figure_path(plot_path)
    calibrated = draws = None
    if place_config is not None:          # checked before any work
        from .analysis.place import accepted_draws
        from .config import load_config

        calibrated = load_config(place_config)
        draws = accepted_draws(place_config)
    ds = open_cube(path, finished=True)
    baseline = baseline or _stored_baseline(ds)
    data = claim_data(ds, strategy, claim, baseline, outcome=outcome)
    if refined is not None:
        from .analysis.refinement import apply_stage

        data = apply_stage(ds, data, refined, strategy, claim, baseline)
    found = find(ds, strategy, claim, baseline, min_density, peel_alpha, resamples, seed,
                 data=data)
    click.echo(format_discovery(found))
    if refined is not None:
        click.echo(f"(decided with the second stage {refined}: its refined points on all "
                   "their replicates)")
    table = format_ablation(ablation(ds, strategy, claim, baseline, data=data))
    if table:
        click.echo(table)
    if calibrated is not None:
        from .analysis.place import format_placement, place

        placed = place(found.limits, calibrated, draws, found.maxima)
        click.echo(format_placement(placed, f"{place_config} ({calibrated.name})"))
        click.echo("(a description of where the posterior's parameters sit against the box's "
                   "limits, not whether the claim held there: 'rollout place' runs the "
                   "posterior predictive)")
    if plot_path is not None:
        from .analysis import figures

        click.echo(f"wrote {figures.save(plot_trajectory(found), plot_path)}")


@cli.command()
@_config_argument
@click.option("--calibrated", required=True, type=click.Path(dir_okay=False),
              help="A calibrated config (its [calibration] priors; its accepted draws in the "
                   ".abc.csv beside it).")
@click.option("--strategy", "-s", required=True, help="The strategy the claim is about.")
@click.option("--claim", "-c", "claims", required=True, multiple=True,
              help="As for discover: stable_first, net_benefit_higher, full_later, faster_full, "
                   "slower_is_faster, overtakes, overtakes_within_Ny, or 'VARIABLE OP VALUE' "
                   "(repeatable: the same runs place every claim).")
@click.option("--baseline", "-b", default=None, help="[default: the config's baseline]")
@click.option("--draws", "n_draws", type=click.IntRange(min=1, max=100_000), default=None,
              help="Accepted posterior draws to run, chosen by the seed [default: 24, or every "
                   "accepted draw if fewer].")
@click.option("--prior-draws", "n_prior", type=click.IntRange(min=0, max=100_000),
              default=None, help="Prior draws to run (the prior predictive) [default: as "
              "--draws].")
@click.option("--replicates", "-n", type=click.IntRange(min=2), default=None,
              help="Paired replicates per draw and structure [default: the config's].")
@click.option("--evidence", multiple=True, metavar="PATH",
              help="A swept range to sample over the sweep's range for every draw (repeatable) "
                   "[default: the ranges of mechanisms the calibrated model does not run].")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the choice of draws, the prior and evidence samples and the "
                   "bootstrap.")
@_cluster_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def place(config: str, calibrated: str, strategy: str, claims: tuple[str, ...],
          baseline: str | None, n_draws: int, n_prior: int | None, replicates: int | None,
          evidence: tuple[str, ...], seed: int, workers: int | None, scheduler: str | None,
          serial: bool, quiet: bool) -> None:
    """Posterior predictive placement: run the calibrated posterior's accepted draws (and, as
    the prior predictive, draws of its priors) through the model of the sweep CONFIG, under
    every model structure it lists and over the evidence ranges of parameters the calibration
    does not identify, and report for each claim the share of draws where it holds."""
    import dataclasses

    from .analysis.discover import check_claim, metrics_for
    from .analysis.place import accepted_draws
    from .analysis.predictive import plan_placement
    from .config import load_config
    from .data import load_provinces
    from .experiment.inputs import default_workers
    from .experiment.points import checked_points, placement_base

    claims = tuple(dict.fromkeys(claims))
    for claim in claims:
        check_claim(claim)
    cfg = load_config(config)
    cal = load_config(calibrated)
    draws = accepted_draws(calibrated)
    baseline = baseline or cfg.analysis.baseline
    n_draws = n_draws or max(1, min(24, len(draws)))
    plan = plan_placement(cfg, cal, draws, strategy, baseline, claims[0], n_draws,
                          n_draws if n_prior is None else n_prior, seed, list(evidence),
                          source=calibrated)
    base = placement_base(cfg, [baseline, strategy], replicates)
    provinces = load_provinces(base, config)
    runs = plan.runs()
    point_json = checked_points(base, [r[3] for r in runs], calibrated)
    names = list(base.strategies)
    for claim in claims:
        _check_claim_variable(claim, names, base.time.horizon_months, plan, strategy)

    from tqdm import tqdm

    from .analysis.predictive import evaluate, format_predictive
    from .experiment.executors import make_executor
    from .experiment.points import run_points

    # the runs do not depend on the claim: run once, place every claim on the same runs
    variables = tuple(dict.fromkeys(m for c in claims for m in metrics_for(c)))
    total = len(point_json) * base.replicates * len(names)
    with tqdm(total=total, unit="run", desc="place", file=sys.stderr, disable=quiet,
              dynamic_ncols=True, smoothing=0.1) as bar, \
            make_executor(serial, workers or default_workers(), scheduler) as executor:
        values = run_points(base, provinces, point_json, executor, variables, bar.update)
        where = executor.description
    label = f"{Path(calibrated).name} on {Path(config).name}"
    texts = [format_predictive(evaluate(dataclasses.replace(plan, claim=claim), values, names,
                                        float(base.time.horizon_months)), label, i == 0)
             for i, claim in enumerate(claims)]
    click.echo("\n\n".join(texts))
    click.echo(f"({total} runs {where}{', placing every claim above' * (len(claims) > 1)}; "
               "box geometry, 'discover --place', only describes where the posterior's "
               "parameters sit against a box)")


def _check_claim_variable(claim: str, names: list[str], horizon: float, plan: Any,
                          strategy: str) -> None:
    """Refuse, before any run, a threshold claim on a variable compare does not make, and an
    overtakes_within_Ny claim beyond the runs' horizon (evaluated as the placement will be, on
    a dummy result)."""
    import numpy as np

    from .analysis.discover import claim_outcome, compare_for_claim
    from .analysis.predictive import as_cube

    values = {v: np.zeros((1, len(names), 2))
              for v in ("t_full", "t_stable", "net_benefit", "t_overtake")}
    cube = as_cube(values, names, horizon, plan.baseline)
    claim_outcome(compare_for_claim(cube, plan.baseline, claim), strategy, claim, ["point"])


@cli.command()
@_config_argument
@click.option("--draws", type=click.IntRange(min=10), default=None,
              help="Prior draws (overrides [calibration] draws).")
@click.option("--check-replicates", type=click.IntRange(min=1), default=None,
              help="Replicates of the fitted config (overrides [calibration] check_replicates).")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
              help="Master seed (overrides the config).")
@_cluster_options
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Calibrated config [default: <config>.calibrated.toml beside CONFIG]; the "
                   "draws go to <out>.abc.csv and the fit figure to <out>.fit.png.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing calibrated config, draws record and fit figure.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def calibrate(config: str, draws: int | None, check_replicates: int | None, seed: int | None,
              workers: int | None,
              scheduler: str | None, serial: bool, out: str | None, overwrite: bool,
              quiet: bool) -> None:
    """Fit CONFIG's [calibration] parameters to its reported targets (ABC rejection), check
    the fit on fresh replicates, and write the calibrated config, its draws and a figure."""
    from tqdm import tqdm

    from .calibration.workflow import calibrate_file

    def progress(total: int, name: str) -> tqdm:
        return tqdm(total=total, unit="run", desc=f"calibrate {name}", file=sys.stderr,
                    disable=quiet, dynamic_ncols=True, smoothing=0.1)

    command = "rollout calibrate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else config
    done = calibrate_file(config, draws=draws, check_replicates=check_replicates, seed=seed,
                          workers=workers, scheduler=scheduler, serial=serial, out=out,
                          overwrite=overwrite, command=command, progress=progress)
    click.echo(done.report)
    click.echo(f"\nwrote {done.config} (calibrated config), {done.record} (all draws), "
               f"{done.figure} (fit figure): {done.runs} runs in {done.seconds:.0f} s "
               f"{done.where}")


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--what", type=click.Choice(["summary", "series", "events"]), default=None,
              help="summary: one row per run; series: one row per run, month and province "
                   "(or track); events: the decoded event log [default: summary; NetCDF: the "
                   "whole cube].")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "netcdf"]),
              default="parquet", show_default=True,
              help="Table format (Parquet via pyarrow), or netcdf: the whole cube as one "
                   "compressed NetCDF file.")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Output file [default: beside the cube, <cube>_<what>.<format>, or "
                   "<cube>.nc].")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@_reads_cube
def export(path: str, what: str | None, fmt: str, out: str | None, overwrite: bool) -> None:
    """Write a tidy table of a cube (for pandas, R, a spreadsheet), or the cube as NetCDF."""
    from .analysis.export import export as export_table
    from .experiment.cube import (
        check_writable,
        cube_format,
        is_cube,
        open_cube,
        write_netcdf_copy,
    )
    from .experiment.locking import output_lock

    ds = open_cube(path, finished=True)
    cube = Path(path).resolve()
    if fmt == "netcdf":
        if what is not None:
            raise RolloutError("--what picks a table; --format netcdf writes the whole cube")
        target = Path(out) if out else cube.with_suffix(".nc")
        cube_format(target, "netcdf")
        if target.resolve() == cube:
            raise RolloutError(f"{target}: is the cube itself")
        click.echo(f"wrote {write_netcdf_copy(ds, target, overwrite)} (NetCDF, the whole cube)")
        return
    what = what or "summary"
    target = Path(out) if out else cube.with_name(
        f"{cube.name.removesuffix(cube.suffix)}_{what}.{fmt}")
    if target.resolve() == cube or is_cube(target):
        raise RolloutError(f"{target}: is a cube; export writes a table beside it")
    if target.is_dir():
        raise RolloutError(f"{target}: is a folder")
    check_writable(target)
    if what == "events" and "event_kind" not in ds:
        raise RolloutError(f"{path}: has no event log (run with output.event_log = true)")
    with output_lock(target):
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise RolloutError(f"{target}: exists; use --overwrite to replace it")
        rows = export_table(ds, what, target, fmt)
    click.echo(f"wrote {target}: {rows:,} rows ({what}, {fmt})")


@cli.command()
@click.argument("path", metavar="CUBE")
@click.option("--out", "-o", "out", type=click.Path(), default=None,
              help="The page (.html) [default: beside the cube, <cube name>.html].")
@click.option("--baseline", "-b", default=None, help="[default: the config's baseline]")
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
def report(path: str, out: str | None, baseline: str | None, overwrite: bool) -> None:
    """Write one self-contained HTML page of a cube for readers: what was run, the headline
    comparison with intervals, a sweep's decided points and boxes, and the figures."""
    from .report import write_report

    click.echo(f"wrote {write_report(path, out, overwrite, baseline)}")


@cli.command()
@click.argument("path", metavar="PATH")
@_reads_cube
def info(path: str) -> None:
    """Print a cube's dimensions, variables, provenance and completeness."""
    from .experiment.cube import describe, open_cube

    ds = open_cube(path, warn=False)
    click.echo(describe(ds, path))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every user error into one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="rollout", standalone_mode=False)
    except RolloutError as err:
        click.echo(f"rollout: error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        _quiet_interrupted_coroutines()
        click.echo("rollout: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        ctx = getattr(err, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        click.echo(f"rollout: error: {where}{err.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _quiet_interrupted_coroutines()
        click.echo("rollout: interrupted; nothing was written", err=True)
        sys.exit(130)


def _quiet_interrupted_coroutines() -> None:
    """Ctrl-C can land inside zarr's or Dask's async machinery, between making a coroutine and
    awaiting it; Python then warns at exit that it was never awaited. Expected after an
    interrupt, and noise under the one line the user is owed."""
    import warnings

    warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                            category=RuntimeWarning)


if __name__ == "__main__":  # pragma: no cover
    main()
