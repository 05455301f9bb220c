#!/usr/bin/env bash
# Loss at a crash, Monocoque against libzmq (issue 15): for each pattern
# (PUSH->PULL, DEALER->ROUTER, PUB->SUB, REQ->REP) and send rate, a
# receiving peer process is killed with SIGKILL three times a run and
# started again on the same endpoint while the sender, in the test
# process, goes on; what the sender had accepted and no receiver ever
# got is counted at each kill. Prints a markdown table of medians.
#
#   scripts/crash_loss.sh [REPS]        (default 3 runs per cell)
#   CRASH_PATS=PUSH->PULL CRASH_RATES=20000,0 scripts/crash_loss.sh 5
#   CRASH_SIZE=65536 CRASH_PATS=PUSH->PULL scripts/crash_loss.sh
#   PROFILE=release scripts/crash_loss.sh    (a release build)
#
# The per-run detail goes to stderr; the table to stdout. About 8
# minutes with the defaults on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_REPS="${1:-3}"
profile=()
if [[ "${PROFILE:-debug}" == release ]]; then
  profile=(--release)
fi
exec nice -n 10 cargo test -q -p monocoque "${profile[@]}" --test partitions -- \
  --ignored --exact crash_loss --nocapture --test-threads=1
