#!/bin/sh
# Reproduce every number and figure in docs/findings.md (run from the repository root).
# The sweep takes about 10 minutes on 2 cores; rerunning it resumes an interrupted store.
# Outputs: results/slower_is_faster.zarr (the cube, not committed) and docs/findings/*.txt, *.png.
set -eu
out=docs/findings
cube=results/slower_is_faster.zarr

rollout sweep configs/slower_is_faster.toml -o "$cube" -q > "$out/sweep.txt"
rollout verify "$cube" --sample 4 > "$out/verify.txt"
rollout compare "$cube" --summary > "$out/summary.txt"
rollout compare "$cube" --format csv > "$out/compare.csv"
for strategy in phased dual_track adaptive; do
    for metric in t_stable net_benefit; do
        rollout sensitivity "$cube" -s "$strategy" -m "$metric" > "$out/sensitivity_${strategy}_${metric}.txt"
    done
done
rollout plot "$cube" -k phase -s phased --x "defects.detectability_median" \
    --y "defects.severity_median" -o "$out/phase_phased.png"
rollout plot "$cube" -k phase -s adaptive --x "defects.detectability_median" \
    --y "defects.severity_median" -o "$out/phase_adaptive.png"
rollout plot "$cube" -k phase -s dual_track --x "defects.detectability_median" \
    --y "defects.severity_median" -o "$out/phase_dual_track.png"
for metric in t_stable net_benefit; do
    rollout plot "$cube" -k sensitivity -m "$metric" -o "$out/sensitivity_${metric}.png"
done
rollout plot "$cube" -k coverage --at point="${POINT_SLOW_WINS:-0}" -o "$out/coverage_point.png"
rollout plot "$cube" -k harm --at point="${POINT_SLOW_WINS:-0}" -o "$out/harm_point.png"
echo "wrote $cube and $out/"
