#!/bin/sh
# Reproduce every number and figure in docs/findings.md (run from the repository root).
# The experiment without mechanisms takes about 13 minutes on 2 cores, the mechanisms' scenarios
# about 13 more, the headline experiment v3 (docs/findings/v3/reproduce.sh, called at the end)
# about 2 hours more (the sweep, its companion, a second stage and the placements); rerunning
# resumes an interrupted store. Outputs: the cubes in results/ (not committed),
# docs/findings/*.txt, *.png and docs/findings/v3/. docs/findings/v2/ holds model v2's results
# (findings_v2.md), which today's code does not reproduce (docs/findings/v2/reproduce.sh says
# how).
# The calibrations are inputs here, not rerun: configs/historical.toml (with its
# configs/historical.abc.csv, which --place reads) and configs/historical_mechanisms.toml come
# from the command in each one's header (rollout calibrate CONFIG -o CONFIG -q --overwrite -w 2;
# about 5 minutes each on a quiet 2-core machine, with the joint point and the posterior predictive).
set -eu
# RECALIBRATE=1 sh docs/findings/reproduce.sh reruns both calibrations first (about 10 minutes)
if [ "${RECALIBRATE:-0}" = 1 ]; then
    rollout calibrate configs/historical.toml -o configs/historical.toml -q --overwrite -w 2
    rollout calibrate configs/historical_mechanisms.toml -o configs/historical_mechanisms.toml \
        -q --overwrite -w 2
fi
out=docs/findings
cube=results/slower_is_faster.zarr

rollout sweep configs/slower_is_faster.toml -o "$cube" -q > "$out/sweep.txt"
rollout verify "$cube" --sample 4 > "$out/verify.txt"
rollout compare "$cube" --summary > "$out/summary.txt"
rollout compare "$cube" --format csv > "$out/compare.csv"
rollout run configs/national.toml -o results/national.zarr --overwrite -q > "$out/national.txt"
rollout run configs/historical.toml -o results/historical.zarr --overwrite -q > "$out/historical.txt"
# what a smaller ABC tolerance would identify (from the calibration's record of its draws)
python docs/findings/abc_tolerance.py > "$out/abc_tolerance.txt"
# why dual track is later than phased: one candidate cause switched off at a time
rollout sweep configs/dual_track_delay.toml -o results/dual_track_delay.zarr -q > /dev/null
rollout compare results/dual_track_delay.zarr --baseline phased > "$out/dual_track_delay.txt"
# the national scenario under each mechanism of issue 11 (docs/model.md section 11)
rollout sweep configs/mechanisms.toml -o results/mechanisms.zarr -q > /dev/null
rollout compare results/mechanisms.zarr > "$out/mechanisms.txt"
for strategy in phased dual_track adaptive; do
    for metric in t_stable net_benefit; do
        rollout sensitivity "$cube" -s "$strategy" -m "$metric" > "$out/sensitivity_${strategy}_${metric}.txt"
    done
done
for strategy in phased dual_track adaptive; do
    rollout plot "$cube" -k phase -s "$strategy" --x "defects.mean_count" \
        --y "defects.severity_median" -o "$out/phase_${strategy}.png"
done
for metric in t_stable net_benefit; do
    rollout plot "$cube" -k sensitivity -m "$metric" -o "$out/sensitivity_${metric}.png"
done
# point 91: where phased gains most net benefit (many severe defects); point 0: a typical one
for point in 91 0; do
    rollout plot "$cube" -k coverage --at point=$point -o "$out/coverage_point$point.png"
    rollout plot "$cube" -k harm --at point=$point -o "$out/harm_point$point.png"
done
echo "wrote $cube and $out/"
sh docs/findings/v3/reproduce.sh
