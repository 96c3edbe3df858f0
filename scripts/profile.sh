#!/usr/bin/env bash
# `make profile`: where the CPU goes, by perf, in the replicator's bench cases and the writer at one
# caller (the bench built with `--profile profiling`: symbols kept, frame pointers on). Prints,
# per case, the top frames by self time and dyno's own frames by time spent in them and below.
# PROFILE_CASES=10k-distinct,writer-1 picks cases; BENCH_SCALE shrinks them as for the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "profile: perf is missing (Debian: apt-get install linux-perf)" >&2; exit 1; }
# The bench binary (benches/, both groups' cases) of the profiling build.
bench=target/profiling/bench
[ -x "$bench" ] || { echo "profile: no bench binary in target/profiling: run make profile" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cases=${PROFILE_CASES:-10k-distinct,10k-over-2k,targets-3,writer-1}
IFS=, read -r -a wanted <<<"$cases"
for case in "${wanted[@]}"; do
  echo "== $case"
  BENCH_CASES=$case perf record -q -F 1999 -g -o "$work/$case.data" -- "$bench" >"$work/$case.out" 2>&1 \
    || { tail -n 20 "$work/$case.out" >&2; exit 1; }
  grep -E "^bench case=" "$work/$case.out" | head -n 4 || true
  # The bench's own threads only (its main thread and tokio's workers), not the servers'.
  comms="$(basename "$bench" | cut -c1-15),tokio-runtime-w"
  echo "-- top frames by self time, % of the bench's own samples"
  perf report -i "$work/$case.data" --comms "$comms" --no-children --sort symbol -g none \
    --percentage relative --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -n 15 | cut -c1-140 \
    || true # head stops reading early: perf's broken pipe is not a failure
  echo "-- dyno's own frames, by time in them and below"
  perf report -i "$work/$case.data" --comms "$comms" --children --sort symbol -g none \
    --percentage relative --stdio 2>/dev/null | grep -E '^ +[0-9.]+% +[0-9.]+%.*dyno::' \
    | head -n 15 | cut -c1-160 || true
done
