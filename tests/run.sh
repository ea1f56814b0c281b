#!/bin/sh
# run.sh - run roost's test programs and summarise.
#
#   BUILD=build SAN=asan|tsan|"" [VALGRIND=1] sh tests/run.sh build/tests/test_a ...
#
# Each program runs with ROOST_WORKERS unset (the default worker count) and
# then again with ROOST_WORKERS=1 (skipped under valgrind, which serialises
# threads anyway); test_stress runs a third time with the reachability proof
# running throughout (ROOST_LEAK_PROVE). Under valgrind ROOST_TEST_QUICK=1 is exported so the tests
# scale their loop counts down. Every run has a 300 s timeout. A test's output
# goes to <program>.log (…-w1.log for the second pass) and is shown when it
# fails. Exits 1 if any run failed.

BUILD=${BUILD:-build}
SAN=${SAN:-}
VALGRIND=${VALGRIND:-}
TIMEOUT=${ROOST_TEST_TIMEOUT:-300}

if [ "$#" -eq 0 ]; then
    echo "usage: sh tests/run.sh TEST..." >&2
    exit 2
fi

unset ROOST_WORKERS
wrap=""
if [ -n "$VALGRIND" ] && [ "$VALGRIND" != 0 ]; then
    VALGRIND=1
    ROOST_TEST_QUICK=1
    export ROOST_TEST_QUICK VALGRIND
    # --fair-sched=yes: valgrind runs one thread at a time under a big lock,
    # and its default lock lets a spinning thread take it back at once, so a
    # task computing in a loop starves the workers that should rescue it
    # (test_race's t_monitor_rescues failed 4 runs in 4 without it).
    wrap="valgrind --fair-sched=yes --error-exitcode=99 --quiet"
else
    VALGRIND=""
fi
# RUNNER: a command to run each test under, e.g. an emulator for a
# cross-built suite: RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu".
if [ -n "${RUNNER:-}" ]; then
    wrap="$RUNNER $wrap"
    ROOST_TEST_QUICK=1
    export ROOST_TEST_QUICK
fi
if command -v timeout >/dev/null 2>&1; then
    wrap="timeout $TIMEOUT $wrap"
fi

# Sanitizer defaults, unless the caller chose their own.
case "$SAN" in
asan)
    : "${ASAN_OPTIONS:=abort_on_error=1:detect_leaks=1}"
    : "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
    export ASAN_OPTIONS UBSAN_OPTIONS ;;
tsan)
    : "${TSAN_OPTIONS:=halt_on_error=1:second_deadlock_stack=1}"
    export TSAN_OPTIONS ;;
esac

now_ms() {
    t=$(date +%s%N 2>/dev/null)
    case "$t" in
    *[!0-9]*|"") echo $(( $(date +%s) * 1000 )) ;;
    *) echo $(( t / 1000000 )) ;;
    esac
}

pass=0
fail=0
failed=""

# run_one PROGRAM LABEL LOG [VAR=VALUE...]
run_one() {
    prog=$1; label=$2; log=$3; shift 3
    start=$(now_ms)
    # shellcheck disable=SC2086
    env "$@" $wrap "$prog" >"$log" 2>&1
    rc=$?
    end=$(now_ms)
    ms=$((end - start))
    secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        printf 'PASS  %-28s %8ss\n' "$label" "$secs"
    else
        fail=$((fail + 1))
        why="exit $rc"
        [ "$rc" -eq 124 ] && why="timeout after ${TIMEOUT}s"
        [ "$rc" -eq 99 ] && [ -n "$VALGRIND" ] && why="valgrind errors"
        [ "$rc" -gt 128 ] && why="signal $((rc - 128))"
        printf 'FAIL  %-28s %8ss  (%s; log: %s)\n' "$label" "$secs" "$why" "$log"
        tail -n 40 "$log" | sed 's/^/    | /'
        failed="$failed $label"
    fi
}

mode="default"
[ -n "$SAN" ] && mode="$SAN"
[ -n "$VALGRIND" ] && mode="valgrind"
echo "roost tests ($mode, build $BUILD)"

for t in "$@"; do
    name=$(basename "$t")
    if [ ! -x "$t" ]; then
        fail=$((fail + 1))
        printf 'FAIL  %-28s (not built: %s)\n' "$name" "$t"
        failed="$failed $name"
        continue
    fi
    run_one "$t" "$name" "$t.log"
    if [ -z "$VALGRIND" ]; then
        run_one "$t" "$name [w=1]" "$t-w1.log" ROOST_WORKERS=1
    fi
    # The stress again with the reachability proof running every 20 ms on
    # a thread of its own: every proof of a task there is false, and
    # aborts the run (ROOST_LEAK=abort). Under a sanitizer it must also
    # stay free of reports. (Under valgrind the proof is unavailable.)
    # Under TSan the proof marks with the world stopped (no snapshot), so
    # at 20 ms the stress is stopped most of the time and took 170 s to
    # over 300: every 100 ms there (a few hundred proofs, about 70 s).
    period=0.02
    [ "${SAN:-}" = tsan ] && period=0.1
    if [ "$name" = test_stress ] && [ -z "$VALGRIND" ] && [ -z "${RUNNER:-}" ]; then
        run_one "$t" "$name [proving]" "$t-prove.log" ROOST_LEAK_PROVE=$period ROOST_LEAK=abort
        # Again with the proof's tables kept from one proof to the next
        # (ROOST_REACH_KEEP): each proof starts on what the last one left.
        run_one "$t" "$name [proving, kept]" "$t-prove-kept.log" ROOST_LEAK_PROVE=$period ROOST_LEAK=abort \
            ROOST_REACH_KEEP=1
        # And with the task stacks copied by the fork, as where the kernel
        # refuses the userfaultfd that lets the snapshot leave them out.
        run_one "$t" "$name [proving, stacks forked]" "$t-prove-fork.log" ROOST_LEAK_PROVE=$period \
            ROOST_LEAK=abort ROOST_REACH_SNAP=0
    fi
    # The proof's tests on kept tables filled with junk before each proof:
    # whatever a proof reads that it did not write first shows.
    if [ "$name" = test_reach ] && [ -z "$VALGRIND" ] && [ -z "${RUNNER:-}" ]; then
        run_one "$t" "$name [kept, poisoned]" "$t-kept.log" ROOST_REACH_KEEP=poison
        run_one "$t" "$name [stacks forked]" "$t-fork.log" ROOST_REACH_SNAP=0
    fi
done

echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
    echo "failed:$failed"
    exit 1
fi
exit 0
