#!/usr/bin/env bash
# Soak (issue 15): monocoque/tests/soak.rs runs mixed patterns (PUSH/PULL,
# PUB/SUB, REQ/REP, ROUTER/DEALER and DEALERs that come and go; over tcp,
# ipc and inproc; some with libzmq peers) with every message
# sequence-numbered and checked, for SOAK_SECS (default an hour), sampling
# RSS, VmSize and descriptors every SOAK_SAMPLE_SECS (5). At the end the
# table is printed and written to SOAK_OUT (default
# $CARGO_TARGET_DIR/soak/soak-DATE.md); the run fails if any message was
# lost, reordered, repeated or corrupted. Not part of CI.
#
#   scripts/soak.sh                            # an hour, debug build
#   SOAK_SECS=600 nice -n 10 scripts/soak.sh   # ten minutes
#   SOAK_RELEASE=1 scripts/soak.sh             # release build
#   SOAK_BURST=50 scripts/soak.sh              # faster one-way streams
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECS=${SOAK_SECS:-3600}
export SOAK_SAMPLE_SECS=${SOAK_SAMPLE_SECS:-5}
out_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}/soak")
mkdir -p "$out_dir"
export SOAK_OUT=${SOAK_OUT:-$out_dir/soak-$(date +%Y%m%d-%H%M%S).md}
profile=()
[ -n "${SOAK_RELEASE:-}" ] && profile=(--release)
cargo test "${profile[@]}" -p monocoque --test soak --no-run
echo "soak: ${SOAK_SECS} s, table to $SOAK_OUT"
cargo test "${profile[@]}" -p monocoque --test soak -- soak --exact --ignored --nocapture
