"""The ``rollout`` command line: run, validate, info.

Every user error (bad config, bad path, bad option) ends as one line on stderr, ``rollout: error:
...``, with exit status 2 and nothing written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import RolloutError


def _config_argument(fn: Callable) -> Callable:
    return click.argument("config", metavar="CONFIG")(fn)


def _run_options(fn: Callable) -> Callable:
    """Options shared by commands that run simulations (composed once, used everywhere)."""
    options = [
        click.option("--replicates", "-n", type=click.IntRange(min=1), default=None,
                     help="Replicates per strategy (overrides the config)."),
        click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None,
                     help="Master seed (overrides the config)."),
        click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
                     help="Worker processes [default: the cores available]."),
        click.option("--out", "-o", "out", type=click.Path(dir_okay=True), default=None,
                     help="Output path [default: results/<config name>.zarr or .nc]."),
        click.option("--format", "fmt", type=click.Choice(["zarr", "netcdf"]), default="zarr",
                     show_default=True, help="Cube format."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollout")
def cli() -> None:
    """rollout: is phased policy rollout slower at first and faster in the end?"""


@cli.command()
@_config_argument
def validate(config: str) -> None:
    """Check CONFIG and print the resolved configuration (defaults filled in)."""
    import tomli_w

    from .config import load_config

    cfg = load_config(config)
    click.echo(f"# {config}: valid; resolved configuration, sha256 {cfg.config_hash()}")
    click.echo(tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True)), nl=False)


@cli.command()
@_config_argument
@_run_options
def run(config: str, replicates: int | None, seed: int | None, workers: int | None,
        out: str | None, fmt: str, overwrite: bool, quiet: bool) -> None:
    """Run every strategy of CONFIG, write the result cube, print the headline comparison."""
    from .analysis import format_headline, headline
    from .config import load_config
    from .data import load_provinces
    from .runner import default_workers, run_experiment
    from .store import build_cube, check_output, default_output, write_cube

    overrides: dict[str, Any] = {}
    if replicates is not None:
        overrides["replicates"] = replicates
    if seed is not None:
        overrides["seed"] = seed
    cfg = load_config(config, overrides)
    path = Path(out) if out else default_output(cfg, fmt)
    check_output(path, overwrite)
    provinces = load_provinces(cfg, config)
    workers = min(workers or default_workers(), cfg.replicates)
    n_runs = cfg.replicates * len(cfg.strategies)

    from tqdm import tqdm

    began = time.perf_counter()
    with tqdm(total=n_runs, unit="run", desc=cfg.name, file=sys.stderr, delay=1.0,
              disable=quiet, dynamic_ncols=True) as bar:
        result = run_experiment(
            cfg, provinces, workers,
            on_block=lambda b: bar.update((b.stop - b.start) * len(cfg.strategies)))
    wall = time.perf_counter() - began
    ds = build_cube(cfg, provinces, result)
    write_cube(ds, path, fmt, overwrite=overwrite)
    click.echo(f"wrote {path}: {len(cfg.strategies)} strategies x {cfg.replicates} replicates "
               f"in {wall:.1f} s on {workers} worker{'s' if workers > 1 else ''} "
               f"(config sha256 {cfg.config_hash()[:12]}, seed {cfg.seed})")
    baseline = cfg.analysis.baseline
    click.echo(format_headline(headline(ds, baseline, cfg.analysis.confidence), baseline,
                               cfg.analysis.confidence))


@cli.command()
@click.argument("path", metavar="PATH")
def info(path: str) -> None:
    """Print a cube's dimensions, variables, provenance and completeness."""
    from .store import describe, open_cube

    ds = open_cube(path)
    click.echo(describe(ds, path))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every user error into one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="rollout", standalone_mode=False)
    except RolloutError as err:
        click.echo(f"rollout: error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("rollout: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        ctx = getattr(err, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        click.echo(f"rollout: error: {where}{err.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("rollout: interrupted; nothing was written", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
