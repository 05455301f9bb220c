#!/usr/bin/env bash
# The library's tests under a sanitizer, with the nightly toolchain that is
# installed here (its sanitizer runtimes are present; rust-src is not, so
# std itself is not instrumented): scripts/sanitize.sh asan|tsan [TEST...]
# Not part of CI. Without TEST names it runs every monocoque test binary
# (unit and integration). docs/RELIABILITY.md records the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-asan}
shift || true
case "$mode" in
  asan) flags="-Zsanitizer=address"
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}" ;;
  # TSan refuses to link against an uninstrumented std unless told; the
  # reports std's own synchronisation hides are what tsan.supp is for.
  tsan) flags="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer"
        # std is not instrumented: what it synchronises is invisible to
        # TSan; the suppressions name those reports (see the file).
        export TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp halt_on_error=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [TEST...]" >&2; exit 2 ;;
esac
target=x86_64-unknown-linux-gnu   # so build scripts and proc macros are not instrumented
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/san-$mode}
export RUSTFLAGS="$flags --cfg poly1305_force_soft"
export RUSTDOCFLAGS="$flags"
tests=()
for t in "$@"; do tests+=(--test "$t"); done
if [ ${#tests[@]} -eq 0 ]; then tests=(--lib --tests); fi
cargo +nightly test --target "$target" -p monocoque "${tests[@]}" -- --test-threads=2
