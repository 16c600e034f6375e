"""Scenario discovery (analysis/discover.py, ``rollout discover``) on synthetic cubes with a known
box: the claim holds exactly where a > 0.6, b < 0.3 and the switch c is on.

Synthetic cubes are drawn with named seeds; PRIM is deterministic given its data, and the
resampling check uses seed 0. Tolerances: each limit within 0.05 of the true edge (the design's
points are 1/400 apart on average in each parameter, and the peeling step is 5%).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from rollout.analysis.discover import discover, format_discovery, plot_trajectory
from rollout.errors import RolloutError

TOL = 0.05


CONFIG = json.dumps({"time": {"horizon_months": 120}, "analysis": {"baseline": "big_bang"}})


def synthetic(n: int = 400, reps: int = 8, seed: int = 3) -> tuple[xr.Dataset, np.ndarray]:
    """A Latin-hypercube-like cube: points with a, b ~ U(0, 1) and a switch c; phased is stable
    first (40 against 50 months, noise sd 1) exactly inside the box, 10 months later outside."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    c = rng.integers(0, 2, n).astype(bool)
    inside = (a > 0.6) & (b < 0.3) & c
    bb = np.full((n, reps), 50.0) + rng.normal(0, 1, (n, reps))
    ph = np.where(inside[:, None], 40.0, 60.0) + rng.normal(0, 1, (n, reps))
    t = np.stack([bb, ph], axis=1)
    dims = ("point", "strategy", "replicate")
    ds = xr.Dataset({"t_full": (dims, t), "t_stable": (dims, t), "net_benefit": (dims, 100 - t)},
                    coords={"point": np.arange(n), "a": ("point", a), "b": ("point", b),
                            "c": ("point", c), "strategy": ["big_bang", "phased"],
                            "replicate": np.arange(reps)},
                    attrs={"design": json.dumps({"kind": "lhs", "dims": ["point"]}),
                           "config": CONFIG, "config_sha256": hashlib.sha256(
                               CONFIG.encode("utf-8")).hexdigest(),
                           "rollout_cube": "1", "complete": "true"})
    return ds, inside


def test_prim_finds_the_known_box_with_a_categorical_switch():
    ds, inside = synthetic()
    found = discover(ds, "phased", "stable_first", min_density=0.95, resamples=10)
    assert found.positives == int(inside.sum())
    assert set(found.limits.index) == {"a", "b", "c"}
    assert abs(float(found.limits.loc["a", "min"]) - 0.6) < TOL
    assert abs(float(found.limits.loc["b", "max"]) - 0.3) < TOL
    assert found.limits.loc["c", "min"] == {"True"}
    assert found.density >= 0.95 and found.coverage >= 0.9
    assert found.in_box == round(found.mass * found.cases)
    # the stability check restricts the same three parameters in (almost) every resample
    assert (found.stability["restricted_share"] >= 0.9).all()
    text = format_discovery(found)
    assert "coverage" in text and "density" in text and "support" in text and "in {True}" in text


def test_grid_design_with_a_switch_dimension_and_a_threshold_claim():
    """A grid over x (11 values) and a bool switch: the restricted t_full difference is -5
    where the switch is on and x >= 0.5, +5 elsewhere; the claim 'rdiff_t_full < 0' holds
    there and PRIM's box is exactly switch in {True}, x >= 0.5."""
    xs = np.linspace(0, 1, 11)
    on = np.array([False, True])
    rng = np.random.default_rng(5)
    reps = 6
    base = 50 + rng.normal(0, 0.1, (2, 11, reps))
    effect = np.where((on[:, None] & (xs[None, :] >= 0.5)), -5.0, 5.0)[..., None]
    t = np.stack([base, base + effect], axis=2)            # (switch, x, strategy, replicate)
    dims = ("support.enabled", "x", "strategy", "replicate")
    ds = xr.Dataset({m: (dims, t) for m in ("t_full", "t_stable", "net_benefit")},
                    coords={"support.enabled": on, "x": xs, "strategy": ["big_bang", "phased"],
                            "replicate": np.arange(reps)},
                    attrs={"design": json.dumps({"kind": "grid", "dims": list(dims[:2])}),
                           "config": json.dumps({"time": {"horizon_months": 120}})})
    found = discover(ds, "phased", "rdiff_t_full < 0", min_density=1.0, resamples=0)
    assert found.positives == 6 and found.density == 1.0 and found.coverage == 1.0
    assert found.limits.loc["support.enabled", "min"] == {"True"}
    assert 0.4 < float(found.limits.loc["x", "min"]) <= 0.5     # between the excluded 0.4
    #                                                             and the included 0.5


def test_claims_are_checked():
    ds, _ = synthetic(n=60)
    with pytest.raises(RolloutError, match="use one of"):
        discover(ds, "phased", "sooner please", resamples=0)
    with pytest.raises(RolloutError, match="not a compare variable"):
        discover(ds, "phased", "nonsense < 3", resamples=0)
    with pytest.raises(RolloutError, match="holds at none"):
        discover(ds, "phased", "rdiff_t_full < -100", resamples=0)
    with pytest.raises(RolloutError, match="needs a sweep cube"):
        discover(ds.isel(point=0).drop_vars("point").assign_attrs(design='{"dims": []}'),
                 "phased", "stable_first")


def test_trajectory_figure_marks_the_reported_box():
    ds, _ = synthetic(n=200)
    found = discover(ds, "phased", "stable_first", resamples=0)
    fig = plot_trajectory(found)
    ax = fig.axes[0]
    assert len(ax.collections) == 2                                   # trajectory + ring
    ring = ax.collections[1].get_offsets()[0]
    assert tuple(ring) == pytest.approx((found.coverage, found.density))


def test_cli_discover_prints_the_box_and_writes_the_figure(tmp_path: Path):
    ds, _ = synthetic()
    store = tmp_path / "synthetic.zarr"
    ds.to_zarr(store, zarr_format=2, consolidated=True)
    figure = tmp_path / "peel.png"
    proc = subprocess.run([sys.executable, "-m", "rollout.cli", "discover", str(store), "-s",
                           "phased", "-c", "stable_first", "--resamples", "5", "--plot",
                           str(figure)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "restricted parameters" in proc.stdout and "stability over 5" in proc.stdout
    assert figure.stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "rollout.cli", "discover", str(store), "-s",
                          "phased", "-c", "stable_first", "--plot", str(tmp_path / "x.bmp")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.bmp").exists()


def switch_cube(holds: np.ndarray, x: np.ndarray, seed: int, reps: int = 6) -> xr.Dataset:
    """Two switches (a, b) crossed with the sampled points x: phased is stable first (40
    against 50 months, noise sd 1, seed ``seed``) exactly where ``holds`` (a, b, point)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    bb = 50 + rng.normal(0, 1, (2, 2, n, reps))
    ph = np.where(holds[..., None], 40.0, 60.0) + rng.normal(0, 1, (2, 2, n, reps))
    dims = ("a.enabled", "b.enabled", "point", "strategy", "replicate")
    return xr.Dataset({m: (dims, np.stack([bb, ph], axis=3))
                       for m in ("t_full", "t_stable", "net_benefit")},
                      coords={"a.enabled": [False, True], "b.enabled": [False, True],
                              "point": np.arange(n), "x": ("point", x),
                              "strategy": ["big_bang", "phased"], "replicate": np.arange(reps)},
                      attrs={"design": json.dumps({"kind": "lhs", "dims": [
                          "a.enabled", "b.enabled", "point"]}),
                          "config": json.dumps({"time": {"horizon_months": 120}})})


def test_ablation_over_switches_crossed_with_the_same_points():
    """Two switches crossed with 40 sampled points: phased is stable first exactly where
    switch A is on and x > 0.5 (B does nothing). A is necessary and sufficient; B neither; with
    all off the claim holds nowhere; PRIM's box restricts A to {True} and x."""
    from rollout.analysis.discover import ablation, format_ablation

    x = np.random.default_rng(11).uniform(0, 1, 40)
    a_on = np.array([False, True])[:, None, None]
    ds = switch_cube(np.broadcast_to(a_on & (x[None, None, :] > 0.5), (2, 2, len(x))), x, 12)
    table = ablation(ds, "phased", "stable_first")
    share = float((x > 0.5).mean())
    assert table.loc["a.enabled", "holds_on"] == pytest.approx(share)
    assert table.loc["a.enabled", "holds_off"] == 0.0
    assert table.loc["a.enabled", "necessary"] and table.loc["a.enabled", "sufficient"]
    assert table.loc["b.enabled", "holds_on"] == pytest.approx(share / 2)
    assert not table.loc["b.enabled", "necessary"]
    assert not table.loc["b.enabled", "sufficient"]
    assert table.loc["(all off)", "holds_off"] == 0.0
    assert "necessary" in format_ablation(table)
    found = discover(ds, "phased", "stable_first", min_density=1.0, resamples=0)
    assert found.limits.loc["a.enabled", "min"] == {"True"}
    assert "b.enabled" not in found.limits.index
    assert 0.4 < float(found.limits.loc["x", "min"]) <= 0.6


def test_the_combined_claim_needs_later_full_coverage_and_stable_first():
    """slower_is_faster = later to full coverage (restricted interval above 0) and stable first
    in most replicates: in the synthetic cube phased is 10 months sooner inside the box, so the
    combined claim holds nowhere, while stable_first holds inside the box."""
    from rollout.analysis.compare import compare
    from rollout.analysis.discover import claim_outcome

    ds, inside = synthetic(n=80)
    result = compare(ds, "big_bang", ("t_full", "t_stable", "net_benefit"))
    first = claim_outcome(result, "phased", "stable_first", ["point"])
    both = claim_outcome(result, "phased", "slower_is_faster", ["point"])
    np.testing.assert_array_equal(first, inside.astype(int))
    assert both.sum() == 0
    later = claim_outcome(result, "phased", "full_later", ["point"])
    np.testing.assert_array_equal(later, (~inside).astype(int))


def test_a_switch_is_not_sufficient_where_the_claim_holds_with_all_off():
    """The claim holds wherever x > 0.5 whatever the switches: no switch is necessary, none is
    sufficient (holding with it alone on means nothing when it holds with all off), and a
    malformed number in a claim is a one-line error."""
    from rollout.analysis.discover import ablation

    x = np.random.default_rng(13).uniform(0, 1, 30)
    ds = switch_cube(np.broadcast_to(x > 0.5, (2, 2, len(x))), x, 14)
    table = ablation(ds, "phased", "stable_first")
    switches = table.drop("(all off)")
    assert not switches["necessary"].any() and not switches["sufficient"].any()
    assert table.loc["(all off)", "sufficient"]            # it holds with none on
    assert table.loc["(all off)", "holds_off"] == pytest.approx(float((x > 0.5).mean()))
    with pytest.raises(RolloutError, match="not a number"):
        discover(ds, "phased", "rdiff_t_full < 1e", resamples=0)


def test_bootstrap_resamples_sampled_points_with_all_their_switch_rows():
    """With switches crossed with 40 sampled points, the design table has 160 rows but 40
    points: each point's four rows (one per switch combination) form one resampling cluster."""
    from rollout.analysis.discover import design_table, sampled_points

    x = np.random.default_rng(5).uniform(0, 1, 40)
    ds = switch_cube(np.zeros((2, 2, 40), bool), x, 6)
    table, dims = design_table(ds)
    groups = sampled_points(ds, table, dims)
    assert len(groups) == 160 and len(np.unique(groups)) == 40
    for g in np.unique(groups):
        rows = table[groups == g]
        assert len(rows) == 4 and rows["x"].nunique() == 1
        assert {(str(a), str(b)) for a, b in zip(rows["a.enabled"], rows["b.enabled"],
                                                 strict=True)} == {
            ("False", "False"), ("False", "True"), ("True", "False"), ("True", "True")}


def test_placing_a_calibrated_scenario_on_a_box():
    """Fixed values are inside or not; posterior draws count by share; a strategy's field is
    read under the calibrated strategy; switches are reported apart, not decided."""
    import pandas as pd

    from rollout.analysis.place import format_placement, place
    from rollout.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "historical.toml")
    draws = pd.DataFrame({"defects.severity_median": np.linspace(0.0, 1.0, 11),
                          "defects.detectability_median": np.full(11, 0.05)})
    limits = pd.DataFrame(
        {"min": [0.25, 0.01, 5.0, 0.0, {"True"}, 50.0],
         "max": [0.75, 0.1, 40.0, 6.0, {"True"}, 500.0]},
        index=["defects.severity_median", "defects.detectability_median",
               "defects.mean_count", "strategies.phased.wave_lead_months",
               "support.enabled", "entrenchment.residue_months"])
    placed = place(limits, config, draws)
    assert placed.rows.loc["defects.severity_median", "inside"] == pytest.approx(5 / 11)
    assert placed.rows.loc["defects.detectability_median", "inside"] == 1.0
    assert placed.rows.loc["defects.mean_count", "inside"] == 1.0          # fixed 12
    lead = config.strategies["historical"].wave_lead_months                 # 7.3 > 6
    assert placed.rows.loc["strategies.phased.wave_lead_months", "inside"] == float(lead <= 6)
    assert placed.inside_all == pytest.approx(5 / 11 * float(lead <= 6))
    # entrenchment is off in the calibrated config: its parameter is left open, not "outside"
    assert placed.switches == ["support.enabled in {True}", "entrenchment.residue_months in "
                               "[50, 500]"]
    assert "entrenchment.residue_months" not in placed.rows.index
    assert "do not identify" in format_placement(placed, "historical")


def test_a_weak_box_limit_is_shown_but_does_not_decide_the_placement():
    """A restriction PRIM cannot tell from chance (quasi-p 0.5) that the scenario falls outside
    is reported, not counted: the placement is decided by the significant limits."""
    import pandas as pd

    from rollout.analysis.place import format_placement, place
    from rollout.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "historical.toml")
    draws = pd.DataFrame({"defects.severity_median": np.full(4, 0.05)})
    limits = pd.DataFrame({"min": [0.02, 30.0], "max": [0.2, 40.0], "qp values": [0.001, 0.5]},
                          index=["defects.severity_median", "defects.mean_count"])
    placed = place(limits, config, draws)
    assert placed.rows.loc["defects.mean_count", "inside"] == 0.0       # 12 defects: outside
    assert placed.rows.loc["defects.mean_count", "weak"]
    assert placed.inside_all == 1.0
    assert "not counted" in format_placement(placed, "historical")


def as_written(ds: xr.Dataset) -> xr.Dataset:
    """The same cube with CF-valid names (dots as double underscores), as rollout writes it."""
    renames = {n: n.replace(".", "__") for n in ds.variables if "." in str(n)}
    out = ds.rename(renames)
    design = json.loads(ds.attrs["design"])
    design["dims"] = [d.replace(".", "__") for d in design["dims"]]
    return out.assign_attrs(design=json.dumps(design))


def test_cf_named_cubes_give_the_same_ablation_box_and_point_clusters():
    """A cube whose switch dimensions are stored as a__enabled: the ablation, the box (named by
    config field) and the bootstrap's clusters (each sampled point with all its switch rows)
    are those of the dotted cube."""
    from rollout.analysis.discover import ablation, design_table, sampled_points

    x = np.random.default_rng(11).uniform(0, 1, 40)
    a_on = np.array([False, True])[:, None, None]
    dotted = switch_cube(np.broadcast_to(a_on & (x[None, None, :] > 0.5), (2, 2, len(x))), x, 12)
    stored = as_written(dotted)
    assert "a__enabled" in stored.dims
    pd.testing.assert_frame_equal(ablation(stored, "phased", "stable_first"),
                                  ablation(dotted, "phased", "stable_first"))
    (x1, dims1), (x2, dims2) = design_table(dotted), design_table(stored)
    clusters = sampled_points(stored, x2, dims2)
    np.testing.assert_array_equal(clusters, sampled_points(dotted, x1, dims1))
    assert clusters.max() == len(x) - 1 and len(clusters) == 4 * len(x)
    found = discover(stored, "phased", "stable_first", min_density=1.0, resamples=0)
    assert found.limits.loc["a.enabled", "min"] == {"True"}


def test_a_residue_that_never_decays_is_placed_beyond_the_design() -> None:
    """entrenchment.residue_months = 0 means "never decays" (an infinite time constant): with
    entrenchment on, it lies inside a box open above (upper limit at the design's maximum) and
    outside one PRIM peeled from above; never at the literal value 0."""
    from rollout.analysis.place import format_placement, place
    from rollout.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "configs" /
                         "historical_mechanisms.toml")
    assert config.entrenchment.enabled and config.entrenchment.residue_months == 0.0
    draws = pd.DataFrame({"defects.severity_median": np.full(4, 0.05)})
    name = "entrenchment.residue_months"
    limits = pd.DataFrame({"min": [32.5], "max": [547.0], "qp values": [0.001]}, index=[name])
    open_above = place(limits, config, draws, {name: 547.0})
    assert open_above.rows.loc[name, "inside"] == 1.0 and open_above.inside_all == 1.0
    assert "never" in open_above.rows.loc[name, "scenario"]
    peeled = place(limits, config, draws, {name: 600.0})
    assert peeled.rows.loc[name, "inside"] == 0.0 and peeled.inside_all == 0.0
    unknown = place(limits, config, draws)          # no design maxima: not placed inside
    assert unknown.rows.loc[name, "inside"] == 0.0
    # a switch the calibrated model runs as the box needs is a condition met, not an "if"
    switch = pd.DataFrame({"min": [{"True"}], "max": [{"True"}]}, index=["entrenchment.enabled"])
    met = place(switch, config, draws)
    assert met.switches == [] and met.satisfied == ["entrenchment.enabled in {True}"]
    assert "as the calibrated model runs it" in format_placement(met, "mechanisms")
    off = place(switch, load_config(Path(__file__).resolve().parents[1] / "configs" /
                                    "historical.toml"), draws)
    assert off.switches == ["entrenchment.enabled in {True}"] and off.satisfied == []
