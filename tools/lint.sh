#!/bin/sh
# tools/lint.sh - `make lint`: every unit of src/ checked on its own.
#
# Three passes over each src/*.c, as the build compiles it (-D_GNU_SOURCE,
# include/ and src/ on the path):
#   1. gcc -fsyntax-only -Wall -Wextra -Wshadow: the unit compiles alone,
#      cleanly (any warning or error is a finding);
#   2. clang --analyze (the Clang static analyzer's default checkers);
#   3. gcc -fanalyzer.
# A finding is keyed by file, tag and message (not the line, which moves
# with every edit). tools/lint.supp lists the findings judged false, each
# under a comment saying why; every entry there excuses one finding. Any
# finding beyond those fails the lint; an entry that excuses nothing is
# reported so that it can be dropped.
#
#   sh tools/lint.sh [src/x.c ...]      (default: every src/*.c)
#   LINT_JOBS=2 CC_LINT=gcc CLANG=clang LINT_VERBOSE=1
set -u
cd "$(dirname "$0")/.."
export LC_ALL=C   # the messages as tools/lint.supp has them (plain quotes), and sort order
CC_LINT=${CC_LINT:-gcc}
CLANG=${CLANG:-clang}
JOBS=${LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}
SUPP=tools/lint.supp
FLAGS="-std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc"

for tool in "$CC_LINT" "$CLANG"; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "lint: $tool not found (Debian: apt-get install -y gcc clang)"; exit 2; }
done

[ $# -gt 0 ] || set -- src/*.c
tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-lint.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# One job per unit and pass; each writes its compiler output to a file.
i=0
for f in "$@"; do
    i=$((i + 1))
    printf '%s\n' "$i syntax $CC_LINT $FLAGS -fsyntax-only -Wall -Wextra -Wshadow $f"
    printf '%s\n' "$i clang $CLANG --analyze $FLAGS -o /dev/null $f"
    printf '%s\n' "$i fanalyzer $CC_LINT $FLAGS -fanalyzer -fdiagnostics-path-format=none -c -o /dev/null $f"
done | xargs -P "$JOBS" -L 1 sh -c 'n=$1 pass=$2; shift 2; "$@" >'"$tmp"'/$n.$pass.log 2>&1; echo $? >'"$tmp"'/$n.$pass.rc' lint
cat "$tmp"/*.log >"$tmp/all" 2>/dev/null

# file|tag|message for every warning or error (a message without a tag
# is tagged by its severity).
sed -n 's/^\(src\/[^:]*\):[0-9]*:[0-9]*: \(warning\|error\): \(.*\)$/\1|\2|\3/p' "$tmp/all" |
    sed 's/^\([^|]*\)|[a-z]*|\(.*\) \[\([^]]*\)\]$/\1|\3|\2/' | sort >"$tmp/found"
grep -v '^[[:space:]]*#' "$SUPP" 2>/dev/null | grep -v '^[[:space:]]*$' | sort >"$tmp/supp"

# Findings beyond what the suppressions excuse (a multiset difference).
new=$(comm -23 "$tmp/found" "$tmp/supp")
stale=$(comm -13 "$tmp/found" "$tmp/supp")
nfound=$(wc -l <"$tmp/found")
failed=0
for rc in "$tmp"/*.rc; do
    [ "$(cat "$rc")" = 0 ] && continue
    log=${rc%.rc}.log
    # A pass that stopped without a diagnostic to key (a crash, a missing header).
    grep -q ': \(warning\|error\): ' "$log" || { echo "lint: a pass failed:"; cat "$log"; failed=1; }
done
if [ -n "$stale" ]; then
    echo "lint: suppressions that excuse nothing now (drop them from $SUPP):"
    printf '%s\n' "$stale" | sed 's/^/    /'
fi
if [ -n "$new" ]; then
    echo "lint: new findings (fix them, or add them to $SUPP under a comment saying why they are false):"
    printf '%s\n' "$new" | sed 's/^/    /'
    echo "lint: where:"
    printf '%s\n' "$new" | while IFS='|' read -r file tag msg; do
        grep -F "$file:" "$tmp/all" | grep -F -- "$msg" | grep -F -- "$tag" | sed 's/^/    /'
    done | sort -u
    [ "${LINT_VERBOSE:-0}" = 1 ] && cat "$tmp/all" || echo "lint: (LINT_VERBOSE=1 prints the compilers' full output)"
    failed=1
fi
[ "$failed" = 0 ] && echo "lint: ok ($# units; $nfound findings, all excused in $SUPP)" || echo "lint: FAILED"
exit "$failed"
