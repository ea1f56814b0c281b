#!/bin/sh
# bugs.sh - run the blocking-bug programs (tests/bugs/NN_name.c, built into
# $BUILD/bugs/ by make) in both variants and say what the leak detector made
# of each.
#
#   BUILD=build sh tests/bugs.sh [NAME...]      (default: every tests/bugs/*.c)
#
# Each program prints `LEAK <kind> tasks=<n>` per finding and `LEFT <n>`
# (tasks still alive at the end); see tests/bugs/bug.h. A run is classed:
#
#   proved    a LEAK line of a kind other than "suspect: parked long"
#   suspect   only "suspect: parked long" LEAK lines
#   missed    no LEAK line, but LEFT > 0
#   clean     nothing
#   error     the program failed, hung, or printed no LEFT line
#
# Fails (exit 1) if a fixed twin is not clean, or if a leaky variant's class
# (and, for proved, the kinds proved) differs from the expectation below
# (alternatives separated by |):
# a change in the detector shows up here. Output of each run goes to
# $BUILD/bugs/log/<name>.<variant>.{out,err}.

BUILD=${BUILD:-build}
DIR=$BUILD/bugs
LOG=$DIR/log

# What the detector says about each leaky variant (the run docs/leaks.md records).
expect() {
    case "$1" in
    01_forgotten_receiver)   echo "proved (channel unreachable)" ;;
    02_early_return)         echo "proved (channel unreachable)" ;;
    03_double_send)          echo "proved (channel unreachable)" ;;
    04_range_never_closed)   echo "proved (channel unreachable)" ;;
    05_abandoned_producer)   echo "proved (channel unreachable)" ;;
    # Proved as the worker's select parks, or, if the owner's last unref
    # lands after that park (a race between workers), by the scan.
    06_select_no_cancel)     echo "proved (select on unreachable channels)|proved (tasks only each other could wake)" ;;
    07_cancel_never_called)  echo "suspect" ;;
    08_waitgroup_never_done) echo "suspect" ;;
    09_unlock_missed_on_error) echo "proved (lock held by an exited task)" ;;
    10_relock_by_holder)     echo "proved (lock cycle)" ;;
    11_lock_order_inversion) echo "proved (lock cycle)" ;;
    12_lock_held_across_send) echo "proved (tasks only each other could wake)" ;;
    13_send_to_each_other)   echo "proved (tasks only each other could wake)" ;;
    14_rlock_retaken)        echo "suspect" ;;
    15_cond_never_signalled) echo "suspect" ;;
    16_global_deadlock)      echo "proved (all tasks are asleep - deadlock)" ;;
    17_stopped_ticker)       echo "proved (channel unreachable)" ;;
    18_first_response_wins)  echo "proved (channel unreachable)" ;;
    19_nil_channel_select)   echo "proved (select on unreachable channels)" ;;
    20_once_reentrant)       echo "proved (lock cycle)" ;;
    *)                       echo "(no expectation)" ;;
    esac
}

. tests/harness.sh
names=$(harness_names tests/bugs "$@")
if [ -z "$names" ]; then
    echo "bugs.sh: no programs in tests/bugs" >&2
    exit 2
fi
mkdir -p "$LOG"

# classify OUTFILE RC -> one line: class, with the kinds proved
classify() {
    out=$1 rc=$2
    if [ "$rc" -ne 0 ]; then
        echo "error (exit $rc)"
        return
    fi
    left=$(sed -n 's/^LEFT \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
    if [ -z "$left" ]; then
        echo "error (no LEFT line)"
        return
    fi
    kinds=$(sed -n 's/^LEAK \(.*\) tasks=[0-9][0-9]*$/\1/p' "$out" | grep -v '^suspect: parked long$' |
        sort -u | awk 'NR > 1 { printf ", " } { printf "%s", $0 } END { if (NR) print "" }')
    if [ -n "$kinds" ]; then
        echo "proved ($kinds)"
    elif grep -q '^LEAK ' "$out"; then
        echo "suspect"
    elif [ "$left" -gt 0 ]; then
        echo "missed"
    else
        echo "clean"
    fi
}

fail=0
printf '%-28s %-46s %-8s %s\n' pattern "leaky" fixed verdict
for n in $names; do
    bin=$DIR/$n
    if [ ! -x "$bin" ]; then
        printf '%-28s %-46s %-8s %s\n' "$n" "error (not built: $bin)" "-" FAIL
        fail=1
        continue
    fi
    for v in leaky fixed; do
        $wrap "$bin" "$v" >"$LOG/$n.$v.out" 2>"$LOG/$n.$v.err"
        rc=$?
        c=$(classify "$LOG/$n.$v.out" "$rc")
        if [ "$v" = leaky ]; then cl=$c; else cf=$c; fi
    done
    want=$(expect "$n")
    verdict=ok
    if [ "$cf" != clean ]; then
        verdict="FAIL: the fixed twin is not clean"
        fail=1
    elif ! printf '%s\n' "$want" | tr '|' '\n' | grep -qxF -- "$cl"; then
        verdict="FAIL: expected $want"
        fail=1
    fi
    printf '%-28s %-46s %-8s %s\n' "$n" "$cl" "$cf" "$verdict"
done

# The reachability proof on code with no annotation: every program again
# with ROOST_BUG_REACH=1 (roost_chan_adopt does nothing; the harness runs
# roost_leak_prove before its scan). A leaky variant counts as proved when
# the proof names its tasks (LEAK unreachable); a fixed twin must never be
# named. Where the proof is unavailable (sanitizers, valgrind), it says so.
if [ "${ROOST_BUGS_REACH:-1}" != 0 ]; then
    printf '\n%-28s %-12s %s\n' "no annotation" "reachability" fixed
    nreach=0 nall=0 nunavail=0 nother=0
    for n in $names; do
        bin=$DIR/$n
        [ -x "$bin" ] || continue
        nall=$((nall + 1))
        for v in leaky fixed; do
            ROOST_BUG_REACH=1 $wrap "$bin" "$v" >"$LOG/$n.$v.reach.out" 2>"$LOG/$n.$v.reach.err"
        done
        out=$LOG/$n.leaky.reach.out
        if grep -q '^PROVE 0' "$out"; then
            rl=unavailable
            nunavail=$((nunavail + 1))
        elif grep -q '^LEAK unreachable ' "$out"; then
            rl=proved
            nreach=$((nreach + 1))
        elif awk '/^LEAK / && !/suspect: parked long/ { p = 1; sub(/.*tasks=/, ""); named += $1 }
                  /^LEFT / { left = $2 } END { exit !(p && named >= left) }' "$out"; then
            # An instant proof came first (lock cycle, select on nothing,
            # a lock its holder exited with, global deadlock) and named
            # every task left, or woke them all.
            rl=other-proof
            nother=$((nother + 1))
        else
            rl=not-proved
        fi
        rf=clean
        if grep -q '^LEAK unreachable ' "$LOG/$n.fixed.reach.out"; then
            rf="FALSE PROOF"
            fail=1
        fi
        printf '%-28s %-12s %s\n' "$n" "$rl" "$rf"
    done
    if [ "$nunavail" -gt 0 ]; then
        echo "bugs.sh: reachability proof unavailable here for $nunavail of $nall programs"
    else
        echo "bugs.sh: reachability proof, no annotation: $nreach of $nall leaky variants proved ($nother more by an instant proof first), no fixed twin named"
    fi
fi

if [ "$fail" -ne 0 ]; then
    echo "bugs.sh: FAILED (logs in $LOG)"
    exit 1
fi
echo "bugs.sh: all as expected"
