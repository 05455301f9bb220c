#!/usr/bin/env bash
# Runs the deterministic simulation (monocoque-zmtp/tests/sim.rs) over many
# seeds, in release mode, on every core: scripts/sim.sh [SEEDS] [FIRST].
# A failing seed prints itself; replay it with
#   SIM_SEED=n cargo test -p monocoque-zmtp --test sim
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-1000000}
first=${2:-0}
jobs=$(nproc)
logs=${CARGO_TARGET_DIR:-target}
mkdir -p "$logs"
per=$(( (seeds + jobs - 1) / jobs ))
cargo test --release -p monocoque-zmtp --test sim --no-run
start=$(date +%s)
pids=()
for j in $(seq 0 $((jobs - 1))); do
  SIM_FIRST=$((first + j * per)) SIM_SEEDS=$per \
    cargo test --release -q -p monocoque-zmtp --test sim > "$logs/sim-$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "$seeds seeds from $first in $(( $(date +%s) - start )) s: $([ $status = 0 ] && echo all passed || echo FAILED)"
[ $status = 0 ] || grep -h "simulation seed" "$logs"/sim-*.log
exit $status
