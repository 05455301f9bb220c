#!/usr/bin/env bash
# The seed's rule, checked: `unsafe` may appear only in
# monocoque-core/src/alloc/slab.rs and monocoque-core/src/alloc/arena.rs.
# Lint names (unsafe_code, unsafe_op_in_unsafe_fn, ...) and comments do not
# count; an `unsafe` block, fn, impl or trait anywhere else fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed='^\./monocoque-core/src/alloc/(slab|arena)\.rs:'
# Every .rs file tracked or not, outside build output.
# Lint names are removed from each line before looking again, so a line
# that names a lint and also holds an `unsafe` block still fails.
hits=$(grep -rnE '\bunsafe\b' --include='*.rs' . \
  --exclude-dir=target --exclude-dir=.git \
  | grep -vE "$allowed" \
  | sed -E 's/^([^:]+:[0-9]+:)(.*)$/\1 \2/; s#//.*$##' \
  | sed -E 's/(clippy::)?[a-z_]*unsafe_[a-z_]+|[a-z_]+_unsafe[a-z_]*//g' \
  | grep -E ':[0-9]+: .*\bunsafe\b' \
  || true)
if [ -n "$hits" ]; then
  echo "check-unsafe: 'unsafe' outside monocoque-core/src/alloc/{slab,arena}.rs:" >&2
  echo "$hits" | sed 's/^/    /' >&2
  exit 1
fi

# Inside the two files, every unsafe block and impl needs a `// SAFETY:`
# comment in the comment block right above it (clippy checks blocks too;
# this also covers `unsafe impl`).
status=0
for f in monocoque-core/src/alloc/slab.rs monocoque-core/src/alloc/arena.rs; do
  awk -v f="$f" '
    { line[NR] = $0 }
    /unsafe[ ]*(\{|impl)/ && $0 !~ /^[ ]*\/\// {
      ok = 0
      for (i = NR - 1; i > 0 && line[i] ~ /^[ ]*(\/\/|#\[)/; i--) if (line[i] ~ /SAFETY:/) { ok = 1; break }
      if (!ok) { printf "check-unsafe: %s:%d: unsafe without a // SAFETY: comment right above\n", f, NR > "/dev/stderr"; bad = 1 }
    }
    END { exit bad }
  ' "$f" || status=1
done
exit $status
