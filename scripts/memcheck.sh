#!/usr/bin/env bash
# Runs the allocator's tests under a memory checker: valgrind memcheck by
# default (stable Rust, what CI runs), or AddressSanitizer with
# `--asan` where a nightly toolchain is installed (optional, never in CI).
# Use-after-free, reads of uninitialised bytes and leaks fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--asan" ]; then
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu \
    -p monocoque-core --lib --test alloc_counting -- alloc
  exit
fi

command -v valgrind >/dev/null || { echo "memcheck: valgrind not installed" >&2; exit 1; }
bins=$(cargo test -p monocoque-core --lib --test alloc_counting --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
[ -n "$bins" ] || { echo "memcheck: no test binary built" >&2; exit 1; }
for bin in $bins; do
  echo "memcheck: $(basename "$bin")"
  valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    "$bin" alloc warm_arena --test-threads=1 -q
done
