# harness.sh - sourced by bugs.sh and goker.sh, which run programs built on
# tests/bugs/bug.h in their leaky and fixed variants. Sets `wrap` (a time
# limit per run, ROOST_BUG_TIMEOUT seconds, where timeout(1) exists) and the
# sanitizers' options; harness_names DIR [NAME...] prints the programs to run
# (the NAMEs given, else every DIR/*.c).

TIMEOUT=${ROOST_BUG_TIMEOUT:-20}

# Leaky variants exit with tasks parked for good: their memory is a leak
# LeakSanitizer would report, on purpose. TSan sleeps 1 s at exit by
# default, which only slows the runs down.
: "${ASAN_OPTIONS:=detect_leaks=0}"
: "${TSAN_OPTIONS:=halt_on_error=1:atexit_sleep_ms=0}"
export ASAN_OPTIONS TSAN_OPTIONS

wrap=""
if command -v timeout >/dev/null 2>&1; then wrap="timeout $TIMEOUT"; fi

harness_names() {
    dir=$1
    shift
    if [ "$#" -gt 0 ]; then
        echo "$*"
    else
        for f in "$dir"/*.c; do basename "$f" .c; done
    fi
}
