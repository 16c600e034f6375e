"""``rollout report`` (rollout/report/): the page a policy reader opens.

Through the real CLI (``rollout run --report`` and ``rollout report`` on a small run and a small
sweep): the page states the provenance, its headline and sweep tables hold the analysis' own
numbers, every figure is an inline PNG, nothing refers outside the page, text is escaped,
sections appear only when the cube holds what they need, and bad input is one line, exit 2,
nothing written. In a real browser (headless Chromium, slow; skipped where it is not
installed): every figure loads, and the page makes no request.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import small_dict
from test_cli import Batch, tree, write_config

from rollout import open_cube

REPLICATES = 3


@dataclass
class Reports:
    folder: Path
    run: Path                          # the run's cube (Zarr)
    sweep: Path                        # the sweep's store
    run_page: str                      # written by rollout run --report
    sweep_page: str                    # written by rollout report
    proc: dict[str, subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    """A small run with --report, and a small sweep (a grid over steering, defect severity and
    a mechanism switch) reported by rollout report; started together."""
    folder = tmp_path_factory.mktemp("report")
    run = write_config(folder / "run.toml", small_dict(replicates=REPLICATES))
    sweep = write_config(folder / "sweep.toml", small_dict(replicates=2, sweep={
        "parameters": {"adoption.steering": [0.2, 0.8], "defects.severity_median": [0.1, 0.5],
                       "support.enabled": [True, False]},
        "block_size": 2}))
    batch = Batch()
    batch.start("run", "run", run, "-o", folder / "run.zarr", "-w", 1, "-q", "--report",
                cwd=folder)
    batch.start("sweep", "sweep", sweep, "-o", folder / "sweep.zarr", "--serial", "-q",
                cwd=folder)
    proc = batch.results()
    batch = Batch()
    batch.start("report", "report", folder / "sweep.zarr", "-o", folder / "pages" / "sweep.html",
                cwd=folder)
    proc |= batch.results()
    for key, done in proc.items():
        assert done.returncode == 0, (key, done.stderr)
    return Reports(folder, folder / "run.zarr", folder / "sweep.zarr",
                   (folder / "run.html").read_text(encoding="utf-8"),
                   (folder / "pages" / "sweep.html").read_text(encoding="utf-8"), proc)


class _Tables(HTMLParser):
    """Each section's tables as rows of cell texts (lines of a cell joined by a space), and
    every img src, link href and script."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[list[str]]]] = {}
        self.images: list[str] = []
        self.refs: list[str] = []
        self._section = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id", "")
            self.sections[self._section] = []
        elif tag == "table":
            self.sections.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.sections[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        if tag == "img":
            self.images.append(a.get("src", ""))
        for name in ("src", "href", "action", "data", "poster"):
            if name in a and tag != "img":
                self.refs.append(f"{tag} {name}={a[name]}")
        if tag in ("script", "link", "iframe", "object", "embed", "base"):
            self.refs.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.sections[self._section][-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def rows_by_first_cell(table: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in table[1:]}


# ------------------------------------------------------------------------------ content
def test_run_report_is_written_beside_the_cube(reports: Reports) -> None:
    assert f"wrote {reports.folder / 'run.html'} (report)" in reports.proc["run"].stdout
    assert reports.run_page.startswith("<!DOCTYPE html>")
    assert f"wrote {reports.folder / 'pages' / 'sweep.html'}" in reports.proc["report"].stdout


@pytest.mark.parametrize("which", ["run", "sweep"])
def test_the_page_states_the_provenance(reports: Reports, which: str) -> None:
    """Config name, config and province-table sha256 (whole), seed, every recorded version and
    the cube's creation time, as the cube records them."""
    page = reports.run_page if which == "run" else reports.sweep_page
    with open_cube(getattr(reports, which)) as ds:
        attrs = dict(ds.attrs)
    facts = rows_by_first_cell([[""]] + parse(page).sections["provenance"][0])
    assert facts["Config"][1] == attrs["config_name"]
    assert facts["Config sha256"][1] == attrs["config_sha256"]
    assert facts["Seed"][1] == str(attrs["seed"])
    assert attrs["data_sha256"] in facts["Province table"][1]
    assert facts["Cube written"][1] == attrs["created"]
    for name, version in json.loads(attrs["versions"]).items():
        assert f"{name} {version}" in facts["Made with"][1]
    assert re.fullmatch(r"written \d{4}-\d\d-\d\d \d\d:\d\d UTC by rollout \S+",
                        facts["This report"][1])


def test_the_headline_table_holds_the_headline_numbers(reports: Reports) -> None:
    """Each strategy's row: the medians and the paired differences with their intervals, as
    ``analysis.headline`` computes them."""
    from rollout.analysis import headline

    table = rows_by_first_cell(parse(reports.run_page).sections["headline"][0])
    with open_cube(reports.run) as ds:
        rows = headline(ds, "big_bang")
    assert set(table) == {r.strategy + (" (baseline)" if r.strategy == "big_bang" else "")
                          for r in rows}
    for r in rows:
        if r.strategy == "big_bang":
            assert table["big_bang (baseline)"][4:] == ["-"] * 4
            continue
        cells = table[r.strategy]
        assert cells[3] == f"{r.medians['net_benefit']:.1f}"
        for column, d in ((4, r.restricted["t_full"]), (5, r.restricted["t_stable"]),
                          (6, r.diff["net_benefit"])):
            assert cells[column] == f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]", column
        assert cells[7] == (f"{r.stable_first:.0%} [{r.stable_first_ci[0]:.0%}, "
                            f"{r.stable_first_ci[1]:.0%}]")
        median = "never" if r.medians["t_full"] == float("inf") else \
            f"month {r.medians['t_full']:.1f}"
        assert median in cells[1]


def test_the_headline_in_words() -> None:
    """A difference whose interval holds 0 is 'no clear difference'; one with no spread at all
    is the same in every world; otherwise its size and direction, with the interval."""
    from rollout.analysis import PairedDifference
    from rollout.report.headline import _verdict

    def words(mean: float, low: float, high: float) -> str:
        return _verdict("full coverage", PairedDifference(mean, low, high, 10, 0), "months",
                        "later", "sooner", "95%")

    assert words(6.0, 2.5, 9.5) == "full coverage 6.0 months later (95% CI +2.5 to +9.5)"
    assert words(-6.0, -9.5, -2.5) == "full coverage 6.0 months sooner (95% CI -9.5 to -2.5)"
    assert words(1.0, -0.5, 2.5).startswith("no clear difference in full coverage (+1.0")
    assert words(0.0, 0.0, 0.0) == "the same full coverage in every world"
    assert words(3.0, 3.0, 3.0) == "full coverage 3.0 months later in every world"


def test_the_sweep_page_counts_decided_points_like_compare_summary(reports: Reports) -> None:
    from rollout.analysis.compare import compare, design_summary

    sections = parse(reports.sweep_page).sections
    assert "headline" not in sections            # a sweep has no single headline
    with open_cube(reports.sweep) as ds:
        expected = design_summary(compare(ds, "big_bang", ("t_full", "t_stable",
                                                           "net_benefit")))
    table = rows_by_first_cell(sections["decided"][0])
    for row in expected:
        cells = table[row["strategy"]]
        assert cells[1:8] == [str(row[k]) for k in (
            "points", "full_later", "stable_first_majority", "stable_first_significant",
            "net_benefit_higher", "net_benefit_lower", "slower_is_faster")]
    boxes = sections["boxes"][0]
    assert len(boxes) - 1 == 3 * 4                 # 3 strategies x 4 claims
    ablation = rows_by_first_cell(sections["ablation"][0])
    assert {row[1] for row in sections["ablation"][0][1:]} == {"support.enabled", "(all off)"}
    assert set(ablation) == {"phased", "dual_track", "adaptive"}
    absent = [row[0] for row in sections["absent"][0][1:]]
    assert any(name.startswith("Headline") for name in absent)
    assert "phase" in sections                     # two numeric parameters: phase maps


def test_a_sweep_over_one_number_has_no_phase_map(reports: Reports) -> None:
    from rollout.report import build_report, sections

    with open_cube(reports.sweep) as ds:
        one = ds.isel(defects__severity_median=[0]).load()
    one.attrs["design"] = json.dumps(json.loads(one.attrs["design"]) | {
        "dims": ["adoption__steering", "support__enabled"]})
    one = one.squeeze("defects__severity_median", drop=True)
    kept = [s for s in sections.SECTIONS if s.key in ("provenance", "phase")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sections, "SECTIONS", kept)
        found = parse(build_report(one, "one.zarr")).sections
    assert "phase" not in found
    assert [row[0] for row in found["absent"][0][1:]] == [kept[1].title]


@pytest.mark.parametrize("which", ["run", "sweep"])
def test_figures_are_inline_pngs_and_nothing_points_outside(reports: Reports,
                                                            which: str) -> None:
    """Every img is a base64 PNG that decodes to a picture; no script, link, frame, external
    reference, style import or web font."""
    from PIL import Image

    page = reports.run_page if which == "run" else reports.sweep_page
    found = parse(page)
    # overtake, stable curve, coverage, harm, two stage figures; a sweep's phase maps of three
    # strategies
    assert len(found.images) == (6 if which == "run" else 7)
    for src in found.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        assert image.format == "PNG" and min(image.size) > 100
    assert found.refs == []
    for pattern in (r"https?://", r"url\(", r"@import", r"@font-face", r"<script"):
        assert not re.search(pattern, page, re.IGNORECASE), pattern


def test_text_is_escaped(reports: Reports) -> None:
    """A config name, a strategy label and a path with markup in them come out as text."""
    from rollout.report import build_report

    with open_cube(reports.run) as ds:
        ds = ds.load()
    ds.attrs["config_name"] = "<script>alert(1)</script>&co"
    labels = [str(s) for s in ds["strategy"].values]
    ds = ds.assign_coords(strategy=[s if s == "big_bang" else f"<i>{s}</i>" for s in labels])
    page = build_report(ds, 'cube "<b>".zarr')
    assert "<script>" not in page and "<i>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;co" in page
    assert "&lt;i&gt;phased&lt;/i&gt;" in page
    assert "cube &quot;&lt;b&gt;&quot;.zarr" in page


def test_a_section_appears_only_when_the_cube_holds_what_it_needs(
        reports: Reports, monkeypatch: pytest.MonkeyPatch) -> None:
    """A section registered for a variable the cube does not hold yet is listed as absent; once
    the variable is there it is shown, and the per-replicate variable also reaches the table of
    other outcomes on its own (an outcome with a section of its own, t_overtake, does not)."""
    from rollout.report import build_report, sections

    figures = ("coverage", "harm", "stages")         # not what this test is about; slow
    monkeypatch.setattr(sections, "SECTIONS",
                        [s for s in sections.SECTIONS if s.key not in figures])
    sections.register(sections.Section(
        "catchup", "When the slower design catches up",
        available=lambda ctx: "t_catchup" in ctx.ds, needs="the t_catchup variable",
        render=lambda ctx: "<p>catch-up shown</p>"), after="headline")
    with open_cube(reports.run) as ds:
        ds = ds.load()
    without = parse(build_report(ds, "run.zarr")).sections
    assert "catchup" not in without
    assert "When the slower design catches up" in [r[0] for r in without["absent"][0]]
    ds["t_catchup"] = (ds["t_full"] * 0.5).assign_attrs(long_name="the month it catches up",
                                                        units="months")
    page = build_report(ds, "run.zarr")
    shown = parse(page).sections
    assert list(shown).index("catchup") == list(shown).index("headline") + 1
    assert "catch-up shown" in page
    others = [r[0] for r in shown["others"][0]]
    assert "t_catchup: the month it catches up" in others
    assert "t_overtake" in ds and not any(r.startswith("t_overtake") for r in others)
    assert sections.has_function("rollout.analysis.compare", "compare")
    assert not sections.has_function("rollout.analysis.no_such_module", "anything")


# ------------------------------------------------------------------------------ issue 21
def section_html(page: str, key: str) -> str:
    match = re.search(f'<section id="{key}">(.*?)</section>', page, re.DOTALL)
    assert match, key
    return match.group(1)


def test_the_crossover_section_holds_the_kaplan_meier_overtake_numbers(reports: Reports) -> None:
    """Per strategy: runs that overtake by the horizon, never behind, never, and the
    Kaplan-Meier median of t_overtake with its interval (analysis.survival), in the table and
    in words; the overtake figure inline."""
    from rollout.analysis.overtake import overtake_times
    from rollout.analysis.survival import km_median

    table = rows_by_first_cell(parse(reports.run_page).sections["crossover"][0])
    with open_cube(reports.run) as ds:
        ds = ds.load()
    times = overtake_times(ds, "big_bang").load()
    assert [str(s) for s in times["strategy"].values] == ["big_bang", "phased", "dual_track",
                                                          "adaptive"]
    words = section_html(reports.run_page, "crossover")
    assert set(table) == {"phased", "dual_track", "adaptive"}
    for s, cells in table.items():
        t = times.sel(strategy=s).values
        median, low, high = km_median(t, 60.0, 0.95)
        n = int((t <= 60.0).sum())
        assert cells[1:4] == [f"{n} of {REPLICATES}", str(int((t == 0).sum())),
                              str(REPLICATES - n)]
        assert cells[4].startswith("never" if median == float("inf") else
                                   f"month {median:.1f} (")
        fmt = [("never" if v == float("inf") else f"{v:.1f}") for v in (low, high)]
        assert cells[5] == f"{fmt[0]} to {fmt[1]}"
        assert (f"{s}&#x27;s cumulative net benefit overtakes big_bang&#x27;s for good in {n} "
                f"of {REPLICATES} runs") in words
    assert words.count("<img") == 1
    # a finite median: a stored t_overtake (no series: no figure), the same numbers in words
    from rollout.report import build_report, sections

    t = times.copy(data=[[0, 0, 0], [12.0, 30.0, float("inf")], [0, 5.0, 7.0],
                         [float("inf")] * 3]).assign_attrs(baseline="big_bang")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sections, "SECTIONS", [s for s in sections.SECTIONS
                                             if s.key == "crossover"])
        page = build_report(ds.drop_vars(["benefit", "harm"]).assign(t_overtake=t), "r.zarr")
    table = rows_by_first_cell(parse(page).sections["crossover"][0])
    median, low, high = km_median(t.sel(strategy="phased").values, 60.0, 0.95)
    assert median == 30.0
    assert table["phased"][1:5] == ["2 of 3", "0", "1", "month 30.0 (Jul 2021)"]
    assert table["phased"][5] == f"{low:.1f} to " + ("never" if high == float("inf") else
                                                     f"{high:.1f}")
    assert table["dual_track"][1:5] == ["3 of 3", "1", "0", "month 5.0 (Jun 2019)"]
    assert "in 3 of 3 runs by the end of the 60 simulated months (1 of them never fall " \
           "behind at all); median month 5.0 (Jun 2019)" in section_html(page, "crossover")
    assert "<img" not in section_html(page, "crossover")


def test_the_stable_curve_section_splits_stable_first_and_shows_the_floor(
        reports: Reports) -> None:
    """At each threshold: stable first [interval] = both stable and strictly earlier +
    baseline never stable (analysis.stability_curve); the floor per strategy; the caption says
    what 'stable first' means where the baseline is never stable; the figure inline."""
    import xarray as xr

    from rollout.analysis.stability_curve import floor_summary, stable_first_curve

    tables = parse(reports.run_page).sections["stable_curve"]
    with open_cube(reports.run) as ds:
        ds = ds.load()
    curve = stable_first_curve(ds, "big_bang", 0.95)
    floor = floor_summary(ds)
    thresholds = curve["stable_threshold"].values
    assert len(thresholds) > 1

    def cell(c) -> str:
        return (f"{float(c['stable_first']):.0%} [{float(c['stable_first_low']):.0%}, "
                f"{float(c['stable_first_high']):.0%}] = {float(c['earlier']):.0%} earlier + "
                f"{float(c['baseline_never']):.0%} big_bang never ever stable "
                f"{float(c['stable_reached']):.0%}")

    rows = rows_by_first_cell(tables[0])
    assert set(rows) == {"phased", "dual_track", "adaptive"}
    assert tables[0][0][1:] == [f"harm below {k:.0%} of benefit" for k in thresholds]
    for s in rows:
        assert rows[s][1:] == [cell(curve.sel(strategy=s, stable_threshold=k))
                               for k in thresholds]
    floors = rows_by_first_cell(tables[1])
    for s, cells in floors.items():
        assert cells[1] == f"{100 * float(floor['floor_median'].sel(strategy=s)):.3g}% of benefit"
        above = floor["floor_above"].sel(strategy=s)
        assert cells[2:] == [f"{float(above.sel(stable_threshold=k)):.0%}" for k in thresholds]
    text = section_html(reports.run_page, "stable_curve")
    assert ("means big_bang keeps more permanent harm than the threshold allows, not that the "
            "other design got there sooner") in text
    assert text.count("<img") == 1
    # shares that differ (the small run is never stable): big_bang stable only at the higher
    # thresholds, phased always and earlier there
    from rollout.report import build_report, sections

    inf = float("inf")
    at = xr.full_like(ds["t_stable_at"].load(), inf)
    at[{"strategy": 0, "replicate": 0}] = [inf if k < 0.1 else 40.0 for k in thresholds]
    at[{"strategy": 1}] = 30.0
    at[{"strategy": 1, "replicate": 2}] = inf
    synthetic = ds.load().assign(t_stable_at=at)
    curve = stable_first_curve(synthetic, "big_bang", 0.95)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sections, "SECTIONS", [s for s in sections.SECTIONS
                                             if s.key == "stable_curve"])
        table = parse(build_report(synthetic, "r.zarr")).sections["stable_curve"][0]
    phased = rows_by_first_cell(table)["phased"]
    for k, text in zip(thresholds, phased[1:], strict=True):
        assert text == cell(curve.sel(strategy="phased", stable_threshold=k))
    assert phased[1].startswith("67% [21%, 94%] = 0% earlier + 67% big_bang never")
    assert phased[-1].startswith("67% [21%, 94%] = 33% earlier + 33% big_bang never")


def _risk_page(ds) -> tuple[str, dict]:
    from rollout.report import build_report, sections

    kept = [s for s in sections.SECTIONS if s.key in ("provenance", "risk")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sections, "SECTIONS", kept)
        page = build_report(ds, "run.zarr")
    return page, rows_by_first_cell(parse(page).sections["risk"][0])


def test_the_risk_section_holds_the_downside_numbers(reports: Reports) -> None:
    """Quantiles and expected shortfall of net benefit, P(more than the margin below the
    baseline) with its interval (analysis.risk); P(national pause) only with a halted series."""
    import xarray as xr

    from rollout.analysis.risk import risk

    table = rows_by_first_cell(parse(reports.run_page).sections["risk"][0])
    with open_cube(reports.run) as ds:
        ds = ds.load()
    expected = risk(ds, "big_bang", 1.0, 0.95)
    assert "halted" in ds                          # model v3: the legitimacy series
    for s, cells in table.items():
        assert cells[6] == f"{float(expected['p_pause'].sel(strategy=s.split(' ')[0])):.0%}"
    for s in ("big_bang", "phased", "dual_track", "adaptive"):
        r = expected.sel(strategy=s)
        cells = table[s + (" (baseline)" if s == "big_bang" else "")]
        assert cells[1:5] == [f"{float(r[k]):.1f}" for k in ("q05", "q10", "es05", "es10")]
        assert cells[5] == ("-" if s == "big_bang" else
                            f"{float(r['p_below']):.0%} [{float(r['p_below_low']):.0%}, "
                            f"{float(r['p_below_high']):.0%}]")
    _, without = _risk_page(ds.drop_vars("halted"))           # an older cube: no column
    assert {len(cells) for cells in without.values()} == {6}
    halted = xr.zeros_like(ds["halted"])
    halted[{"strategy": 1, "replicate": 0, "time": 5}] = 1
    _, paused = _risk_page(ds.assign(halted=halted))
    p = risk(ds.assign(halted=halted), "big_bang", 1.0, 0.95)["p_pause"]
    assert float(p.sel(strategy="phased")) > 0
    for s, cells in paused.items():
        assert cells[6] == f"{float(p.sel(strategy=s.split(' ')[0])):.0%}"


def test_the_regret_section_of_a_sweep_holds_the_regret_table(reports: Reports) -> None:
    """Pooled and per switch combination: largest and 90th-percentile regret, satisficing
    share, the minimax-regret strategy (analysis.regret)."""
    from rollout.analysis.regret import regret_table

    table = parse(reports.sweep_page).sections["regret"][0]
    with open_cube(reports.sweep) as ds:
        expected = regret_table(ds, 1.0)
    assert len(table) - 1 == len(expected) == 3 * 2 * 4
    names = {"net_benefit": "net benefit", "t_stable": "stable coverage"}
    for row, r in zip(table[1:], expected, strict=True):
        assert row[:3] == [r["switches"], names[r["outcome"]], r["strategy"]]
        assert row[3].split()[0] == f"{r['max_regret']:.1f}"
        assert row[4].split()[0] == f"{r['p90_regret']:.1f}"
        assert row[5] == f"{r['satisficing']:.0%} of {r['points']} points"
        assert row[6] == ("yes" if r["minimax"] else "")
    assert sum(r["minimax"] for r in expected) == 3 * 2


def test_issue_21_sections_are_listed_absent_for_an_older_cube(reports: Reports) -> None:
    """Without the variables each new section needs, the page lists it with what it needs;
    with t_overtake dropped but the series kept, the crossover is computed from them and gives
    the same numbers; a single run lists regret (a sweep's) as absent."""
    from rollout.report import build_report, sections
    from rollout.report.context import Context
    from rollout.report.crossover import overtake_rows

    keys = ("provenance", "crossover", "stable_curve", "risk", "regret")
    kept = [s for s in sections.SECTIONS if s.key in keys]
    needs = {s.title: s.needs for s in kept}
    with open_cube(reports.run) as ds:
        ds = ds.load()
    stored = overtake_rows(Context(ds, "run.zarr", "big_bang"))
    older = ds.drop_vars("t_overtake")
    assert overtake_rows(Context(older, "run.zarr", "big_bang")) == stored
    older = older.drop_vars(["benefit", "harm", "t_stable_at", "net_benefit"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sections, "SECTIONS", kept)
        found = parse(build_report(older, "old.zarr")).sections
        with open_cube(reports.sweep) as sweep:
            swept = parse(build_report(sweep.drop_vars("net_benefit"), "old.zarr")).sections
    assert {k for k in keys if k in found} == {"provenance"}
    assert rows_by_first_cell(found["absent"][0]) == {
        t: [t, n] for t, n in needs.items() if t != "What was run"}
    assert "regret" not in swept
    assert "Robustness across the design (regret)" in rows_by_first_cell(swept["absent"][0])


# ------------------------------------------------------------------------------ bad input
def _not_a_cube(folder: Path) -> tuple[list, list[str]]:
    target = folder / "notes.zarr"
    target.mkdir()
    (target / "notes.txt").write_text("hello")
    return ["report", target, "-o", folder / "r.html"], [str(target), "cube"]


def _missing(folder: Path) -> tuple[list, list[str]]:
    return ["report", folder / "absent.zarr", "-o", folder / "r.html"], \
        [str(folder / "absent.zarr"), "no such cube"]


def _exists(folder: Path, cube: Path) -> tuple[list, list[str]]:
    (folder / "r.html").write_text("<p>an earlier page</p>")
    return ["report", cube, "-o", folder / "r.html"], [str(folder / "r.html"), "--overwrite"]


def _not_ours(folder: Path, cube: Path) -> tuple[list, list[str]]:
    (folder / "r.html").write_text("<p>someone's page</p>")
    return ["report", cube, "-o", folder / "r.html", "--overwrite"], \
        [str(folder / "r.html"), "not a rollout report"]


def _not_html(folder: Path, cube: Path) -> tuple[list, list[str]]:
    return ["report", cube, "-o", folder / "r.pdf"], [str(folder / "r.pdf"), ".html"]


def _run_report_exists(folder: Path, cube: Path) -> tuple[list, list[str]]:
    config = write_config(folder / "run.toml", small_dict(replicates=2))
    (folder / "run.html").write_text("<p>an earlier page</p>")
    return ["run", config, "-o", folder / "run.zarr", "-w", 1, "-q", "--report"], \
        [str(folder / "run.html"), "--overwrite"]


def _no_such_baseline(folder: Path, cube: Path) -> tuple[list, list[str]]:
    return ["report", cube, "-o", folder / "r.html", "--baseline", "gradual"], \
        [str(cube), "gradual"]


BAD = {"not_a_cube": _not_a_cube, "missing_cube": _missing, "output_exists": _exists,
       "overwrite_not_a_report": _not_ours, "not_html": _not_html,
       "run_report_exists": _run_report_exists, "no_such_baseline": _no_such_baseline}


@pytest.fixture(scope="module")
def bad(reports: Reports, tmp_path_factory: pytest.TempPathFactory) -> dict:
    batch, cases = Batch(), {}
    for key, make in BAD.items():
        folder = tmp_path_factory.mktemp(key)
        args, expected = make(folder) if key in ("not_a_cube", "missing_cube") else \
            make(folder, reports.run)
        cases[key] = (folder, expected, tree(folder), {p: p.read_bytes() for p in
                                                       folder.rglob("*") if p.is_file()})
        batch.start(key, *args, cwd=folder)
    results = batch.results()
    return {key: (*cases[key], results[key]) for key in cases}


@pytest.mark.parametrize("key", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(bad: dict, key: str) -> None:
    folder, expected, before, contents, proc = bad[key]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rollout: error:"), proc.stderr
    for item in expected:
        assert item in lines[0], (item, lines[0])
    assert tree(folder) == before
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == contents


def test_overwrite_replaces_an_earlier_report(reports: Reports, tmp_path: Path) -> None:
    from rollout.report import write_report

    target = tmp_path / "again.html"
    target.write_text(reports.run_page.replace("What was run", "edited"), encoding="utf-8")
    write_report(reports.run, target, overwrite=True)
    assert "What was run" in target.read_text()
    assert tree(tmp_path) == {"again.html"}            # no partial file or lock left behind


# ------------------------------------------------------------------------------ in a browser
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  # nothing leaves this machine, whatever the page or the browser asks for
                  "--host-resolver-rules=MAP * ~NOTFOUND")

#: Added to a copy of the page for the test only (the report itself has no script): after the
#: load event, each image's natural size, written into the DOM that --dump-dom prints.
IMAGE_PROBE = """<script>window.addEventListener("load", function () {
  var out = Array.prototype.map.call(document.images, function (img) {
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth};
  });
  var pre = document.createElement("pre");
  pre.id = "image-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run "
                    "installs it)")
    return path


def _browse(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           *options, page.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def images_loaded(page: Path, tmp_path: Path) -> list[dict]:
    """Load a copy of ``page`` with the probe in headless Chromium: each image's size."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", IMAGE_PROBE
                                                                + "</body>"), encoding="utf-8")
    proc = _browse(probed, tmp_path / "profile-dom", "--virtual-time-budget=10000",
                   "--dump-dom")
    found = re.search(r'<pre id="image-check">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found, proc.stdout[-500:]
    return json.loads(found.group(1))


def page_requests(page: Path, tmp_path: Path, screenshot: Path | None = None) -> list[str]:
    """Render ``page`` (to a screenshot if asked) with Chromium's network log on: the URLs
    requested on the page's behalf (the browser's own background requests, keyed to no page,
    are not the page's)."""
    log = tmp_path / f"{page.stem}.netlog.json"
    shot = [f"--screenshot={screenshot}", "--window-size=1200,4000"] if screenshot else \
        ["--dump-dom"]
    _browse(page, tmp_path / f"profile-{page.stem}", f"--log-net-log={log}", *shot)
    net = json.loads(log.read_text())
    kinds = {code: name for name, code in net["constants"]["logEventTypes"].items()}
    return [event["params"]["url"] for event in net["events"]
            if kinds[event["type"]] == "URL_REQUEST_START_JOB"
            and "file://" in event["params"].get("network_isolation_key", "")]


@pytest.mark.slow
def test_in_chromium_every_figure_loads_and_nothing_is_fetched(reports: Reports,
                                                               tmp_path: Path) -> None:
    """The run's report in headless Chromium: six figures with their natural size, a
    screenshot that is not blank, and no request made for the page."""
    from PIL import Image, ImageStat

    page = reports.folder / "run.html"
    loaded = images_loaded(page, tmp_path)
    assert len(loaded) == 6                   # overtake, stable curve, coverage, harm, 2 stages
    assert all(image["complete"] and image["width"] > 0 for image in loaded), loaded
    shot = tmp_path / "report.png"
    assert page_requests(page, tmp_path, shot) == []
    picture = Image.open(shot).convert("L")
    assert picture.size == (1200, 4000)
    assert ImageStat.Stat(picture).stddev[0] > 10          # text and figures, not a blank page


@pytest.mark.slow
def test_the_browser_checks_can_fail(reports: Reports, tmp_path: Path) -> None:
    """The same checks catch a broken inline image and a page that fetches from outside."""
    page = (reports.folder / "run.html").read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</body>", '<img src="data:image/png;base64,AAAA" '
                                   'alt="broken"></body>'), encoding="utf-8")
    assert [i["width"] for i in images_loaded(broken, tmp_path) if i["alt"] == "broken"] == [0]
    fetching = tmp_path / "fetching.html"
    fetching.write_text(page.replace("</body>", '<img src="http://example.com/x.png" alt="x">'
                                     "</body>"), encoding="utf-8")
    assert page_requests(fetching, tmp_path) == ["http://example.com/x.png"]
