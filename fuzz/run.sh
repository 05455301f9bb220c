#!/usr/bin/env bash
# Runs one fuzz target for SECONDS (default 600) on one core. New inputs go
# to a scratch corpus outside the repository ($FUZZ_WORK/TARGET); the
# committed seeds in corpus/TARGET are only read. Crashes land in
# artifacts/TARGET/; libFuzzer's log is kept as $FUZZ_WORK/TARGET.log.
#   fuzz/run.sh decoder 600
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh TARGET [SECONDS]}
secs=${2:-600}
work=${FUZZ_WORK:-/tmp/monocoque-fuzz}
mkdir -p "$work/$target"
# libFuzzer runs in-process (no -jobs, which would write fuzz-0.log here and
# clash with a second target running beside this one); its output is teed.
cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
  -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 | tee "$work/$target.log"
exit "${PIPESTATUS[0]}"
