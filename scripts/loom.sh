#!/usr/bin/env bash
# loom models of the pipe's protocol and of Bell: the `loom_models` unit
# tests in monocoque/src/pipe/loom_models.rs and monocoque/src/sync/bell.rs,
# built with `--cfg loom` (sync/ then hands out loom's atomics, mutex and
# yield; concurrent-queue and event-listener switch to loom by themselves).
#
#   scripts/loom.sh                       every model, 2 preemptions
#   LOOM_MAX_PREEMPTIONS=3 scripts/loom.sh
#   scripts/loom.sh -- --ignored          the models that find known gaps
#   scripts/loom.sh -- --exact pipe::loom_models::linger_waits_for_leftover
#
# Output goes to target/loom (CARGO_TARGET_DIR overrides), so the usual
# build is not thrown away. The models are unit tests (`--lib`) because
# the pipe is crate-private; under `--cfg loom` the integration tests and
# their dev-dependencies are left out (monocoque/Cargo.toml).
#
# This script is also the build's rustc wrapper: one crate of compio's,
# synchrony, does not build with `--cfg loom` (it asks loom for items loom
# 0.7 lacks), so it is compiled without it. No model runs compio.
set -euo pipefail

if [[ ${MONOCOQUE_LOOM_RUSTC:-} == 1 ]]; then
  rustc=$1
  shift
  args=()
  if [[ " $* " == *" --crate-name synchrony "* ]]; then
    while (($#)); do
      if [[ $1 == --cfg && ${2:-} == loom ]]; then
        shift 2
        continue
      fi
      args+=("$1")
      shift
    done
  else
    args=("$@")
  fi
  exec "$rustc" "${args[@]}"
fi

cd "$(dirname "$0")/.."
export MONOCOQUE_LOOM_RUSTC=1
export RUSTC_WRAPPER="$PWD/scripts/loom.sh"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
exec cargo test --release -p monocoque --lib loom_models "$@"
