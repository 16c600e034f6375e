#!/bin/sh
# The headline experiment v2 (configs/slower_is_faster_v2.toml; issue 12): run it and write every
# table and figure of docs/findings/v2/ (run from the repository root). The sweep is 73,728 runs
# (about an hour on 2 cores; rerunning resumes an interrupted store, and a finished store is not
# run again); the analyses take about a quarter of an hour.
# Model v2's results: written by this script at commit a367e10 (model v2). Model v3 (issue 20)
# changed the mechanisms, so today's code gives other numbers for every mechanism-on point; to
# reproduce docs/findings/v2/ check out that commit. docs/findings/reproduce.sh no longer calls
# this script (docs/findings/v3/reproduce.sh is the headline experiment now).
set -eu
out=docs/findings/v2
cube=results/slower_is_faster_v2.zarr
mkdir -p "$out"

if ! rollout info "$cube" 2>/dev/null | grep -q "^complete  True"; then
    rollout sweep configs/slower_is_faster_v2.toml -o "$cube" -q > "$out/sweep.txt"
fi
rollout verify "$cube" --sample 4 > "$out/verify.txt"
rollout compare "$cube" --summary > "$out/summary.txt"
rollout compare "$cube" --format csv > "$out/compare.csv"
python docs/findings/v2/tables.py > "$out/combos.txt"
# scenario discovery for every design and claim, two at a time (one per core); a claim that
# holds nowhere is reported as such (exit status 2, one line)
for strategy in phased dual_track adaptive; do
    for claim in stable_first net_benefit_higher slower_is_faster faster_full; do
        echo "$strategy $claim"
    done
done | xargs -P 2 -n 2 sh -c 'rollout discover "$0" -s "$2" -c "$3" --resamples 20 \
    --place configs/historical.toml --plot "$1/discover_$2_$3.png" \
    > "$1/discover_$2_$3.txt" 2>&1 || true' "$cube" "$out"
# phased's boxes placed on the calibration with the five mechanisms on (section 3.4)
for claim in stable_first net_benefit_higher slower_is_faster faster_full; do
    echo "$claim"
done | xargs -P 2 -n 1 sh -c 'rollout discover "$0" -s phased -c "$2" --resamples 20 \
    --place configs/historical_mechanisms.toml > "$1/place_mechanisms_phased_$2.txt" 2>&1 \
    || true' "$cube" "$out"
for strategy in phased dual_track adaptive; do
    for metric in t_stable net_benefit; do
        rollout sensitivity "$cube" -s "$strategy" -m "$metric" \
            > "$out/sensitivity_${strategy}_${metric}.txt"
    done
done
echo "wrote $cube and $out/"
