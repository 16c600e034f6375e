#!/bin/sh
# The headline experiment v3 (configs/slower_is_faster_v3.toml and its companion
# configs/slower_is_faster_v3_order.toml; issue 23): run them and write every table and figure of
# docs/findings/v3/ (run from the repository root). The headline is 61,440 runs of 30 years
# (rollout plan: docs/findings/v3/plan.txt); rerunning resumes an interrupted store, and a
# finished store is not run again. The calibrations (configs/historical.toml,
# configs/historical_mechanisms.toml) are inputs here; RECALIBRATE=1 sh docs/findings/reproduce.sh
# reruns them first.
set -eu
out=docs/findings/v3
cube=results/slower_is_faster_v3.zarr
order=results/slower_is_faster_v3_order.zarr
mkdir -p "$out"

for pair in "configs/slower_is_faster_v3.toml $cube" "configs/slower_is_faster_v3_order.toml $order"; do
    set -- $pair
    if ! rollout info "$2" 2>/dev/null | grep -q "^complete  True"; then
        rollout sweep "$1" -o "$2" -q > "$out/sweep_$(basename "$2" .zarr).txt"
    fi
done
rollout plan configs/slower_is_faster_v3.toml -w 2 > "$out/plan.txt"     # its time line is this machine's
rollout verify "$cube" --sample 4 > "$out/verify.txt"
rollout verify "$order" --sample 2 > "$out/verify_order.txt"
rollout compare "$cube" --summary > "$out/summary.txt"
# the per-point tables, gzipped (pandas and R read them as they are)
rollout compare "$cube" --format csv > "$out/compare.csv" && gzip -n -9 -f "$out/compare.csv"
rollout compare "$order" --format csv > "$out/compare_order.csv" && gzip -n -9 -f "$out/compare_order.csv"
rollout compare "$order" --summary > "$out/summary_order.txt"
python docs/findings/v3/tables.py > "$out/tables.txt"
python docs/findings/v3/order.py > "$out/order.txt"
python docs/findings/v3/structures.py > "$out/structures.txt"
python docs/findings/v3/robustness.py > "$out/robustness.txt"
# the referee's checks: fresh replicate worlds, legitimacy's channels, Spearman, matched shifts
python docs/findings/v3/checks.py > "$out/checks.txt"
# scenario discovery, two at a time (one per core); a claim that holds nowhere is reported as
# such (exit status 2, one line)
# (every claim for phased; the two headline claims for the other designs)
{
    for claim in full_later stable_first overtakes net_benefit_higher; do echo "phased $claim"; done
    for strategy in big_bang_matched dual_track adaptive; do
        for claim in full_later stable_first; do echo "$strategy $claim"; done
    done
} | xargs -P 2 -n 2 sh -c 'rollout discover "$0" -s "$2" -c "$3" --resamples 20 \
    --place configs/historical_mechanisms.toml --plot "$1/discover_$2_$3.png" \
    > "$1/discover_$2_$3.txt" 2>&1 || true' "$cube" "$out"
# a second stage: 8 more replicates at the points where phased's stable first is undecided
# (all of them: 424 rows of the 1,536, 16,960 runs, about 40 minutes on 2 cores)
rollout refine "$cube" -s phased -c stable_first --budget 3392 --add 8 -q \
    > "$out/refine_phased_stable_first.txt"
# China by posterior- and prior-predictive simulation, per calibrated structure (phased). The
# swept parameters the dates do not identify are sampled over the sweep's ranges (--evidence),
# not fixed at the historical config's defaults (phased's paid pilot months would otherwise be
# the historical preset's 0); support.teams keeps the evidence's 32 (the dates reject its low end:
# docs/findings.md). Stable first rests on entrenchment, which no date informs, so its placement
# is the prior's (said next to the number in docs/findings.md).
unidentified="--evidence regions.capacity_low --evidence adoption.steering \
    --evidence learning.report_prob --evidence learning.report_delay_mean \
    --evidence strategies.phased.pilot_paying_months --evidence defects.mean_count \
    --evidence entrenchment.residue_share --evidence entrenchment.residue_months \
    --evidence entrenchment.imitation --evidence entrenchment.enforcement.lag_months \
    --evidence entrenchment.enforcement.months"
# every claim placed on the same runs (one call per structure); 32 posterior and 32 prior draws
claims="-c full_later -c stable_first -c overtakes -c net_benefit_higher"
rollout place configs/slower_is_faster_v3_place_on.toml $unidentified \
    --calibrated configs/historical_mechanisms.toml -s phased $claims -q \
    --draws 32 --prior-draws 32 > "$out/place_on_phased.txt"
rollout place configs/slower_is_faster_v3_place_off.toml $unidentified \
    --calibrated configs/historical.toml -s phased $claims -q \
    --draws 32 --prior-draws 32 > "$out/place_off_phased.txt"
echo "wrote $cube, $order and $out/"
