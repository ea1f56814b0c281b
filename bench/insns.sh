#!/bin/sh
# bench/insns.sh BUILD - the hot paths' instruction counts, checked against
# the baseline in bench/insns.baseline (run by `make insns`).
#
# Each program runs once under callgrind with ROOST_WORKERS=1 and
# ROOST_OBSERVE=0: one worker makes the count nearly deterministic (the
# timer and watchdog threads add well under 0.1%), and it is the count that
# the one-worker rows of `make bench` turn into nanoseconds. Whole-program
# counts are divided by the operations each program does (the counts in
# its opening comment); start-up is under 0.5% of every one.
#
# A program more than INSNS_TOLERANCE percent (default 3) above its
# baseline fails the check; one more than that below it is reported, so the
# baseline can be lowered to keep the gain (UPDATE=1 rewrites it from this
# run). Wall time is not measured here: on a shared VM it swings 10-50%.
#
#   INSNS_TOLERANCE=3 UPDATE=0 sh bench/insns.sh build
set -u

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=$ROOT/bench/insns.baseline
TOL=${INSNS_TOLERANCE:-3}
UPDATE=${UPDATE:-0}

command -v valgrind >/dev/null 2>&1 || { echo "insns: valgrind not found (Debian: apt-get install -y valgrind)"; exit 2; }

# name and the operations its whole run performs
PROGRAMS="pingpong:2000000 yield:10000000 select4:1000000 mpmc:8000000 skynet:5555555"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-insns.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

status=0
new=$tmp/baseline
printf '%-10s %10s %10s %8s  %s\n' program baseline now change verdict
for p in $PROGRAMS; do
    name=${p%%:*} ops=${p#*:}
    prog=$BUILD/bench/$name
    if [ ! -x "$prog" ]; then echo "insns: $prog missing"; status=1; continue; fi
    ROOST_WORKERS=1 ROOST_OBSERVE=0 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null "$prog" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/$name.err" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$total" ]; then
        echo "insns: $name failed (exit $rc):"; cat "$tmp/$name.err"; status=1; continue
    fi
    now=$(awk -v t="$total" -v n="$ops" 'BEGIN { printf "%.1f", t / n }')
    echo "$name $now" >>"$new"
    base=$(awk -v k="$name" '$1 == k { print $2 }' "$BASE" 2>/dev/null)
    if [ -z "$base" ]; then
        printf '%-10s %10s %10s %8s  %s\n' "$name" - "$now" - "no baseline"
        [ "$UPDATE" = 1 ] || status=1
        continue
    fi
    verdict=$(awk -v b="$base" -v n="$now" -v t="$TOL" 'BEGIN {
        c = (n - b) * 100 / b
        v = "ok"; if (c > t) v = "REGRESSION"; else if (c < -t) v = "better: lower the baseline (UPDATE=1)"
        printf "%+.1f%% %s", c, v }')
    printf '%-10s %10s %10s %8s  %s\n' "$name" "$base" "$now" "${verdict%% *}" "${verdict#* }"
    case $verdict in *REGRESSION*) status=1 ;; esac
done

if [ "$UPDATE" = 1 ] && [ "$status" = 0 ]; then
    {
        echo "# Instructions per operation at one worker, ROOST_OBSERVE=0 (bench/insns.sh)."
        echo "# Rewritten by 'make insns UPDATE=1'; a rise over INSNS_TOLERANCE% fails 'make insns'."
        cat "$new"
    } >"$BASE"
    echo "insns: baseline rewritten: $BASE"
fi
[ "$status" = 0 ] && echo "insns: ok (tolerance ${TOL}%)" || echo "insns: FAILED"
exit "$status"
