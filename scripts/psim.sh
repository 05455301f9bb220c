#!/usr/bin/env bash
# Runs the pattern-layer simulation (monocoque/src/sim/mod.rs) over many
# seeds, in release mode, on every core: scripts/psim.sh [SEEDS] [FIRST].
# Every seed runs (PSIM_ALL); each failing one is listed on a line of its
# own. Replay one with
#   PSIM_SEED=n cargo test -p monocoque --lib sim::
# (PSIM_TRACE=1 adds every delivery to its log).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-100000}
first=${2:-0}
jobs=$(nproc)
logs=${CARGO_TARGET_DIR:-target}
mkdir -p "$logs"
per=$(( (seeds + jobs - 1) / jobs ))
cargo test --release -p monocoque --lib --no-run
start=$(date +%s)
pids=()
for j in $(seq 0 $((jobs - 1))); do
  PSIM_ALL=1 PSIM_STATS=1 PSIM_FIRST=$((first + j * per)) PSIM_SEEDS=$per \
    cargo test --release -q -p monocoque --lib sim::seeds -- --nocapture > "$logs/psim-$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "$seeds seeds from $first in $(( $(date +%s) - start )) s: $([ $status = 0 ] && echo all passed || echo FAILED)"
grep -h "seeds from" "$logs"/psim-*.log || true
[ $status = 0 ] || grep -h "^pattern simulation seed" "$logs"/psim-*.log
exit $status
