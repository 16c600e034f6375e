"""What a calibration leaves behind: the fit report, the calibrated config (with its record as a
comment header), every draw as CSV, and the figure of simulated paths against reported points."""

from __future__ import annotations

import csv
import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import tomlkit
import tomlkit.exceptions
import tomlkit.items
from matplotlib.figure import Figure

from ..calendar import grid_dates, months_between
from ..config import RolloutConfig
from ..data import DEFAULT_DATA, is_bundled
from ..errors import ConfigError
from .calibrate import Calibration, PointChoice, RunTrace, target_label


def _interval(values: np.ndarray, level: float = 0.9) -> tuple[float, float, float]:
    """Median and central ``level`` interval of finite values (NaN if none)."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    lo, mid, hi = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(mid), float(lo), float(hi)


def posterior_table(config: RolloutConfig, cal: Calibration) -> list[dict[str, Any]]:
    """Per parameter: prior range, posterior median and 90% interval, and how far the data
    narrowed it (posterior 90% width / prior 90% width, on the prior's own scale)."""
    rows = []
    spec = config.calibration
    for j, name in enumerate(cal.names):
        prior = spec.parameters[name]
        post = cal.draws[cal.accepted, j]
        mid, lo, hi = _interval(post)
        transform = np.log if prior.log else (lambda x: x)
        prior_width = 0.9 * (transform(prior.high) - transform(prior.low))
        rows.append({"parameter": name, "prior_low": prior.low, "prior_high": prior.high,
                     "log": prior.log, "median": mid, "q05": lo, "q95": hi,
                     "narrowing": float((transform(hi) - transform(lo)) / prior_width)})
    return rows


def fit_table(config: RolloutConfig, cal: Calibration, check: np.ndarray,
              predictive: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per target: reported range and kind; accepted draws' median and 90% interval; the
    posterior predictive's (accepted draws rerun in fresh worlds) mean, 90% interval and share
    inside; the fitted point's mean, 90% interval and share of replicates inside the range."""
    rows = []
    for k, target in enumerate(config.calibration.targets):
        post = _interval(cal.stats[cal.accepted, k])
        fitted = check[:, k]
        _, fitted_lo, fitted_hi = _interval(fitted)
        inside = (fitted >= target.low) & (fitted <= target.high)
        row = {"target": target_label(target), "kind": target.kind, "low": target.low,
               "high": target.high, "posterior_median": post[0], "posterior_q05": post[1],
               "posterior_q95": post[2], "fitted_mean": float(np.nanmean(fitted)),
               "fitted_q05": fitted_lo, "fitted_q95": fitted_hi,
               "fitted_inside": float(np.mean(inside)), "source": target.source}
        if predictive is not None:
            pp = predictive[:, k]
            _, pp_lo, pp_hi = _interval(pp)
            row.update({"predictive_mean": float(np.nanmean(pp)), "predictive_q05": pp_lo,
                        "predictive_q95": pp_hi, "predictive_inside": float(np.mean(
                            (pp >= target.low) & (pp <= target.high)))})
        rows.append(row)
    return rows


def point_lines(point: PointChoice | None) -> list[str]:
    """The rule that chose the calibrated point, in words, with its evidence."""
    if point is None or point.rule == "marginal_medians":
        return ["point: each parameter's posterior median (marginal medians: not a joint fit; "
                "the medians together need not fit the targets)"]
    score = ("mean distance" if point.fit == "mean_distance"
             else "distance of the mean statistics")
    lines = [f"point: joint fit, in two stages, scored by the {score}: the "
             f"{len(point.candidates)} nearest accepted draws in {point.replicates} common "
             f"worlds (median score {float(np.median(point.expected_distance)):.3g}, best "
             f"{float(np.min(point.expected_distance)):.3g}; the marginal medians "
             f"{point.medians_distance:.3g}), then the best {len(point.finalists)} in "
             f"{point.final_replicates} fresh common worlds: draw {point.chosen}, score "
             f"{float(np.min(point.final_score)):.3g} (the marginal medians in the same fresh "
             f"worlds: {point.medians_final:.3g})"]
    k = int(np.flatnonzero(point.finalists == point.chosen)[0])
    first = int(np.flatnonzero(point.candidates == point.chosen)[0])
    rank = int(np.sum(point.expected_distance < point.expected_distance[first])) + 1
    lines.append(f"  the chosen draw's first-stage score {point.expected_distance[first]:.3g} "
                 f"(rank {rank} of {len(point.candidates)}); second-stage scores of the finalists "
                 + ", ".join(f"{int(d)}: {v:.3g}" for d, v in
                             zip(point.finalists, point.final_score, strict=True))
                 + f"; chosen {int(point.finalists[k])}")
    return lines


def influence_lines(influence: list[dict[str, Any]] | None,
                    floor: tuple[float, float] | None = None) -> list[str]:
    """How far dropping each target moves the posterior (from the record, no new runs), with
    the move that resampling alone gives."""
    if not influence:
        return []
    lines = ["", "influence (each target dropped, the same number accepted from the record: the "
             "largest move of a posterior median, in prior widths; share of the posterior kept):"]
    if floor is not None:
        lines.append(f"  (chance alone, the draws resampled 200 times: largest move "
                     f"{floor[0]:.2f} at the median, {floor[1]:.2f} at the 90th percentile; "
                     "smaller influences cannot be told from noise)")
    for row in influence:
        lines.append(f"  {row['target']} ({row['kind']}): {row['largest']} "
                     f"{row['largest_shift']:+.2f}; {row['overlap']:.0%} kept")
    return lines


def format_report(config: RolloutConfig, cal: Calibration, check: np.ndarray,
                  point: PointChoice | None = None, predictive: np.ndarray | None = None,
                  influence: list[dict[str, Any]] | None = None,
                  floor: tuple[float, float] | None = None) -> str:
    """The calibration's printed report (also the calibrated config's comment header)."""
    spec = config.calibration
    lines = [f"ABC rejection: {len(cal.draws)} prior draws (Latin hypercube, seed "
             f"{config.seed}), one run of strategy {spec.strategy!r} each; accepted the "
             f"{int(cal.accepted.sum())} nearest ({spec.accept:.1%}), distance <= "
             f"{cal.tolerance:.3g}",
             "",
             "posterior (median [90% interval]; prior range; width / prior width):"]
    for row in posterior_table(config, cal):
        scale = "log-uniform" if row["log"] else "uniform"
        lines.append(f"  {row['parameter']}: {row['median']:.4g} [{row['q05']:.4g}, "
                     f"{row['q95']:.4g}]; {scale} {row['prior_low']:g}-{row['prior_high']:g}; "
                     f"{row['narrowing']:.2f}")
    lines += ["", *point_lines(point)]
    pp_head = ("" if predictive is None else " | posterior predictive (accepted draws rerun in "
               "fresh worlds): mean [90%], share inside")
    lines += ["", f"fit (reported range, kind | accepted draws: median [90%]{pp_head} | "
                  f"calibrated point, {len(check)} replicates: mean [90%], share inside):"]
    for row in fit_table(config, cal, check, predictive):
        reported = (f"{row['low']:g}" if row["low"] == row["high"]
                    else f"{row['low']:g}-{row['high']:g}")
        pp = ("" if predictive is None else f" | {row['predictive_mean']:.3g} "
              f"[{row['predictive_q05']:.3g}, {row['predictive_q95']:.3g}], "
              f"{row['predictive_inside']:.0%}")
        lines.append(f"  {row['target']}: {reported}, {row['kind']} | "
                     f"{row['posterior_median']:.3g} [{row['posterior_q05']:.3g}, "
                     f"{row['posterior_q95']:.3g}]{pp} | {row['fitted_mean']:.3g} "
                     f"[{row['fitted_q05']:.3g}, {row['fitted_q95']:.3g}], "
                     f"{row['fitted_inside']:.0%}")
    lines += influence_lines(influence, floor)
    return "\n".join(lines)


def write_calibrated_config(source: Path, out: Path, fitted: dict[str, float], report: str,
                            command: str, version: str, rule: str = "marginal_medians") -> None:
    """The source config with the fitted values set, and the record as a comment header.

    The source is edited through tomlkit, not re-serialised, so that every comment and the
    layout a researcher wrote survive a calibration: only the calibrated values change (and
    the data path, rewritten relative to the new location when it moves), and the record at
    the top is regenerated. Written aside, then moved."""
    text = _without_record(source.read_text(encoding="utf-8"))
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        raise ConfigError(str(source), None, f"TOML syntax error: {err}") from None
    for path, value in fitted.items():
        _set_in_document(doc, path, float(f"{value:.4g}"))
    regions = doc.get("regions")
    current = regions.get("data") if regions is not None else None
    current = str(current) if current is not None else DEFAULT_DATA
    data_path = Path(current)
    if not is_bundled(current) and not data_path.is_absolute():   # a bundled name goes anywhere
        absolute = (source.parent / data_path).resolve()
        moved = os.path.relpath(absolute, out.parent.resolve())
        if moved != str(data_path):
            _set_in_document(doc, "regions.data", moved)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = [f"# Calibrated by: {command}", f"# rollout {version}, {stamp}", "#"]
    header += [f"# {line}".rstrip() for line in report.splitlines()]
    chosen = ("the joint-fit draw named above" if rule == "joint"
              else "the posterior medians above")
    header += ["#", f"# The calibrated values are {chosen}; the [calibration] table",
               "# keeps the priors and targets, so the same command reproduces them.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    tmp.write_text("\n".join(header) + "\n" + tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, out)


def _set_in_document(doc: tomlkit.TOMLDocument, dotted: str, value: Any) -> None:
    """Set a dotted path in a tomlkit document in place (an existing value keeps its inline
    comment and position); a missing table is added at the end, as its own [table]."""
    parts = dotted.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError("<calibrated config>", dotted, f"{part!r} is not a table")
    key = parts[-1]
    if key in node or not isinstance(node, tomlkit.items.Table):
        node[key] = value
        return
    # a new key goes after the table's last value, not after the comments that close it (which
    # tomlkit keeps with this table but which introduce the next one)
    body = node.value.body
    last = max((i for i, (k, item) in enumerate(body)
                if k is not None and not isinstance(item, tomlkit.items.Table | tomlkit.items.AoT)),
               default=None)
    if last is None or last == len(body) - 1:
        node[key] = value
    else:
        node.value._insert_at(last + 1, key, value)


def _without_record(text: str) -> str:
    """The source without an earlier calibration record (which ends at its first blank line)
    nor the blank lines after it, so a config calibrated again keeps its own explanations and
    gets one fresh record."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("# Calibrated by:"):
        blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        lines = lines[blank:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return "".join(lines)


def write_record(path: Path, config: RolloutConfig, cal: Calibration,
                 point: PointChoice | None = None) -> None:
    """Every draw: parameter values, statistics, distance, accepted, and for the candidates of
    a joint point their first-stage mean distance and distance of mean statistics, the
    finalists' second-stage score, and which one was chosen."""
    expected, of_means, final = {}, {}, {}
    if point is not None and point.finalists is not None:
        final = dict(zip(map(int, point.finalists), map(float, point.final_score), strict=True))
    if point is not None and point.mean_distance is not None:
        expected = dict(zip(map(int, point.candidates), map(float, point.mean_distance),
                            strict=True))
        of_means = dict(zip(map(int, point.candidates), map(float, point.distance_of_means),
                            strict=True))
    labels = [target_label(t) for t in config.calibration.targets]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["draw", *cal.names, *labels, "distance", "accepted",
                         "point_distance", "point_distance_of_means", "point_final_score",
                         "chosen"])
        for i in range(len(cal.draws)):
            writer.writerow([i, *(f"{v:.6g}" for v in cal.draws[i]),
                             *(f"{v:.6g}" for v in cal.stats[i]), f"{cal.distance[i]:.6g}",
                             int(cal.accepted[i]),
                             f"{expected[i]:.6g}" if i in expected else "",
                             f"{of_means[i]:.6g}" if i in of_means else "",
                             f"{final[i]:.6g}" if i in final else "",
                             int(point is not None and point.chosen == i)])
    os.replace(tmp, path)


def fit_figure(config: RolloutConfig, traces: list[RunTrace], title: str) -> Figure:
    """Simulated paths of the fitted config (median and 90% band over replicates) against the
    reported points: regions started and volume paying; pilots paying per track."""
    spec = config.calibration
    dates = grid_dates(config.time.start, config.time.horizon_months)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    for ax, key, label, colour in ((left, "started", "regions started paying (share)", "C0"),
                                   (left, "coverage", "volume paying now (share)", "C1")):
        paths = np.array([getattr(t, key) for t in traces])
        lo, mid, hi = np.nanquantile(paths, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(dates, lo, hi, color=colour, alpha=0.25, linewidth=0)
        ax.plot(dates, mid, color=colour, label=f"simulated: {label}, median and 90%")
    tracks = sorted({t.track for t in spec.targets if t.track} | set(traces[0].pilots_paying))
    for j, track in enumerate(tracks):
        paths = np.array([t.pilots_paying[track] for t in traces])
        if not paths.any():
            continue
        lo, mid, hi = np.nanquantile(paths, [0.05, 0.5, 0.95], axis=0)
        colour = f"C{2 + j}"
        right.fill_between(dates, lo, hi, color=colour, alpha=0.25, linewidth=0)
        right.plot(dates, mid, color=colour, label=f"simulated: {track} pilots paying")
    for target in spec.targets:
        when = dates[int(months_between(config.time.start, target.by))]
        ax = right if target.statistic.startswith("pilots_paying") else left
        if target.statistic == "pilots_operating":
            continue
        marker = {"started_share": "s", "paying_share": "D", "pilots_paying": "o"}[
            target.statistic]
        mid = (target.low + target.high) / 2
        ax.errorbar([when], [mid], yerr=[[mid - target.low], [target.high - mid]], fmt=marker,
                    color="black", capsize=4, markersize=6,
                    label=f"reported: {target_label(target)}")
    left.set_ylim(-0.02, 1.05)
    left.set_ylabel("share (regions or inpatient volume)")
    right.set_ylabel("pilot regions paying (count)")
    for ax in (left, right):      # legends below the axes, clear of the reported points
        ax.set_xlabel("date (month end)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    left.set_title("national coverage path")
    right.set_title("pilot cities paying")
    fig.suptitle(f"{title}\n{config.name}: config sha256 {config.config_hash()[:12]}, seed "
                 f"{config.seed}, {len(traces)} replicates of the calibrated point", fontsize=9)
    return fig
