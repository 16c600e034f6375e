"""``rollout report``: one self-contained HTML page of a cube, for a reader who will not open
xarray.

The page says what was run (config name, seed, the config's and the province table's sha256,
versions, dates: the cube's provenance attributes), then every section of the registry in
``sections.py`` whose ``available(ctx)`` check passes for this cube: the headline comparison
with its intervals, when piloting catches up (``t_overtake``), stable first by harm threshold
with the long-run floor, downside risk (``crossover.py``, ``downside.py``), other per-replicate
outcomes, a sweep's counts of decided design points per claim, PRIM boxes, regret, phase maps
and switch ablation, and the coverage, harm/net-benefit and stages figures
(``analysis/figures.py``). Sections a cube cannot show are listed with what they need. A new
outcome plugs in as one ``register(Section(...))``, shown only when its variable or function
exists; see ``sections.py``.

Self-contained: figures are inline base64 PNG, the style sheet is inline, there is no script,
font or link to fetch, so the page reads the same offline. Every text is escaped.

Light to import: the analysis (xarray, matplotlib) is imported by ``build_report``, so that
``check_target`` refuses a bad output in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .target import check_target, default_path, write_atomically

__all__ = ["build_report", "check_target", "default_path", "write_report"]


def build_report(ds: Any, source: str, baseline: str | None = None,
                 confidence: float = 0.95) -> str:
    """The HTML page of cube ``ds`` (opened, checked); ``source`` names it on the page;
    ``baseline`` defaults to the one its config names."""
    import json

    from ..analysis.compare import check_baseline
    from ..errors import RolloutError
    from . import html
    from .context import Context
    from .sections import SECTIONS

    if baseline is None:
        analysis = json.loads(ds.attrs["config"]).get("analysis") or {}
        baseline = analysis.get("baseline", "big_bang")
    try:
        check_baseline(ds, baseline)
    except RolloutError as err:
        raise RolloutError(f"{source}: {err}") from None
    ctx = Context(ds, source, baseline, confidence)
    name = str(ds.attrs.get("config_name", "?"))
    parts = [f"<h1>rollout: {html.esc(name)}</h1>",
             html.paragraph("Big bang or scaling up through piloting? A simulation of China's "
                            "DRG/DIP hospital payment reform, comparing rollout designs in the "
                            "same simulated worlds.", "lead")]
    absent = []
    for section in SECTIONS:
        if not section.available(ctx):
            absent.append(section)
            continue
        try:
            body = section.render(ctx)
        except RolloutError as err:
            body = html.paragraph(f"This section could not be drawn for this cube: {err}",
                                  "note")
        parts.append(f'<section id="{html.esc(section.key)}"><h2>{html.esc(section.title)}'
                     f"</h2>{body}</section>")
    if absent:
        parts.append('<section id="absent"><h2>Not in this cube</h2>' + html.table(
            ["section", "needs"], [[s.title, s.needs] for s in absent], left=(0, 1))
                     + "</section>")
    footer = html.paragraph(
        f"rollout report of {source}: config {name}, config sha256 "
        f"{ds.attrs.get('config_sha256', '?')}, seed {ds.attrs.get('seed', '?')}, province "
        f"table sha256 {ds.attrs.get('data_sha256', '?')}. Every figure and table above is "
        "computed from the cube alone.", "")
    return html.page(f"rollout report: {name}", "".join(parts), footer)


def write_report(cube: str | Path, out: str | Path | None = None, overwrite: bool = False,
                 baseline: str | None = None) -> Path:
    """Check the output, open the cube (finished), build the page and write it atomically under
    the output's lock. Returns the path written."""
    from ..experiment.locking import output_lock
    from ..experiment.opening import open_cube, read_guard

    target = check_target(out if out is not None else default_path(cube), overwrite, cube)
    with read_guard(cube):
        ds = open_cube(cube, finished=True)
        try:
            text = build_report(ds, str(cube), baseline)
        finally:
            ds.close()
    with output_lock(target):
        check_target(target, overwrite, cube)        # again: another writer may have been first
        write_atomically(target, text)
    return target
