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
status=0
cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
  -max_total_time="$secs" -jobs=1 -workers=1 -max_len=4096 -print_final_stats=1 || status=$?
# With -jobs, libFuzzer writes its output to fuzz-0.log here.
if [ -f fuzz-0.log ]; then mv fuzz-0.log "$work/$target.log"; fi
exit $status
