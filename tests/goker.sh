#!/bin/sh
# goker.sh - GoBench's GoKer blocking kernels, ported to roost
# (tests/goker/NAME.c, built into $BUILD/goker/ by make), each run in both
# variants as code with no annotation (ROOST_BUG_REACH=1: the harness of
# tests/bugs/bug.h runs the reachability proof before its scan).
#
#   BUILD=build sh tests/goker.sh [NAME...]   (default: every tests/goker/*.c)
#
# Per kernel, the leaky variant is
#   proved        the reachability proof named its tasks (LEAK unreachable)
#   other-proof   an instant proof (lock cycle, exact references) named them first
#   not-proved    tasks left, no proof
#   unavailable   the proof cannot run here (sanitizers, valgrind)
# and the fixed twin must be clean: no proof of any kind names a task of
# it, and no task is left. Fails (exit 1) on a fixed twin that is not
# clean, or on a program that errs; prints "proved k of n".

BUILD=${BUILD:-build}
DIR=$BUILD/goker
LOG=$DIR/log
. tests/harness.sh
names=$(harness_names tests/goker "$@")
mkdir -p "$LOG"
fail=0 n=0 np=0 no=0 nu=0
printf '%-18s %-12s %s\n' kernel leaky fixed
for k in $names; do
    bin=$DIR/$k
    if [ ! -x "$bin" ]; then
        printf '%-18s %-12s %s\n' "$k" "not built" "-"
        fail=1
        continue
    fi
    n=$((n + 1))
    for v in leaky fixed; do
        ROOST_BUG_REACH=1 $wrap "$bin" "$v" >"$LOG/$k.$v.out" 2>"$LOG/$k.$v.err"
        echo $? >"$LOG/$k.$v.rc"
    done
    out=$LOG/$k.leaky.out
    if [ "$(cat "$LOG/$k.leaky.rc")" -ne 0 ] || ! grep -q '^LEFT ' "$out"; then
        rl=error
        fail=1
    elif grep -q '^PROVE 0' "$out"; then
        rl=unavailable
        nu=$((nu + 1))
    elif grep -q '^LEAK unreachable ' "$out"; then
        rl=proved
        np=$((np + 1))
    elif grep '^LEAK ' "$out" | grep -qv 'suspect: parked long'; then
        rl=other-proof
        no=$((no + 1))
    else
        rl=not-proved
    fi
    fo=$LOG/$k.fixed.out
    rf=clean
    if [ "$(cat "$LOG/$k.fixed.rc")" -ne 0 ] || ! grep -q '^LEFT 0$' "$fo"; then
        rf="FAIL: error or tasks left"
        fail=1
    elif grep '^LEAK ' "$fo" | grep -qv 'suspect: parked long'; then
        rf="FALSE PROOF"
        fail=1
    fi
    printf '%-18s %-12s %s\n' "$k" "$rl" "$rf"
done
if [ "$nu" -gt 0 ]; then
    echo "goker.sh: reachability proof unavailable here for $nu of $n kernels"
else
    echo "goker.sh: reachability proof, no annotation: proved $np of $n ($no more by an instant proof first), no fixed twin named"
fi
if [ "$fail" -ne 0 ]; then
    echo "goker.sh: FAILED (logs in $LOG)"
    exit 1
fi
