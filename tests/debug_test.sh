#!/bin/sh
# debug_test.sh - the debug endpoint, read by the tools that consume it:
# `promtool check metrics` on /metrics, `go tool pprof` on
# /debug/pprof/goroutine, curl on the page; and ROOST_DEBUG_ADDR on a real
# program (examples/http_hello).
#
#   sh tests/debug_test.sh [BUILD]
#
# The subject is `test_debug --serve 40`: 40 tasks leaked from one site
# (leak_here, parked in chan send), the endpoint on a free loopback port,
# served until its stdin closes. Each check is skipped, with a line saying
# so, when its tool is not installed (.ci/run installs them all); exits 1
# if a check fails.

build=${1:-${BUILD:-build}}
prog=$build/tests/test_debug
hello=$build/examples/http_hello
lib=$build/libroost.a
for f in "$prog" "$hello" "$lib"; do
    if [ ! -e "$f" ]; then
        echo "FAIL  debug_test: $f not built"
        exit 1
    fi
done
if ! command -v curl >/dev/null 2>&1; then
    echo "skip  debug_test: curl not installed"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-debug.XXXXXX") || exit 1
pid=
cleanup() {
    exec 3>&- 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

bad() {
    echo "FAIL  debug_test: $1"
    [ -f "$2" ] && sed 's/^/    | /' "$2" | head -n 40
    fail=1
}

# Wait (up to 20 s) until file $1 has a line matching $2; print that line.
wait_line() {
    i=0
    while [ $i -lt 200 ]; do
        l=$(grep -m1 "$2" "$1" 2>/dev/null) && { echo "$l"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# ---- the subject, stopped by closing its stdin (fd 3)
mkfifo "$tmp/in"
"$prog" --serve 40 <"$tmp/in" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
exec 3>"$tmp/in"
if ! addr=$(wait_line "$tmp/serve.out" '^127\.0\.0\.1:[0-9]*$'); then
    bad "test_debug --serve printed no address" "$tmp/serve.err"
    exit 1
fi
url=http://$addr

# ---- /metrics: promtool
if ! curl -sSf "$url/metrics" >"$tmp/metrics.txt" 2>"$tmp/curl.err"; then
    bad "GET /metrics failed" "$tmp/curl.err"
elif ! grep -q '^roost_site_tasks{site="[^"]*",func="leak"} 40$' "$tmp/metrics.txt"; then
    bad "/metrics does not count the 40 leaked tasks at their site" "$tmp/metrics.txt"
elif ! command -v promtool >/dev/null 2>&1; then
    echo "skip  debug_test promtool: promtool not installed (Debian package prometheus)"
elif ! promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1; then
    bad "promtool check metrics refuses /metrics" "$tmp/promtool.out"
else
    echo "ok    debug_test promtool check metrics ($(grep -c '^# TYPE' "$tmp/metrics.txt") metrics)"
fi

# ---- /debug/pprof/goroutine: go tool pprof over HTTP
# The innermost frames are roost's own (where a task parks, as
# runtime.gopark in Go): the leaky site is the first function of the
# program's own, and it holds the 40 tasks. Entries in brackets are the
# stand-ins for tasks without a stack ("[running, no stack]": the
# connection's task, which takes the profile itself), not functions.
if ! command -v go >/dev/null 2>&1; then
    echo "skip  debug_test pprof: go not installed"
elif ! HOME="$tmp" go tool pprof -top "$url/debug/pprof/goroutine" >"$tmp/top.out" 2>&1; then
    bad "go tool pprof -top $url/debug/pprof/goroutine failed" "$tmp/top.out"
else
    nm "$lib" 2>/dev/null | awk '$2 ~ /^[tTwW]$/ { sub(/\..*/, "", $3); print $3 }' | sort -u >"$tmp/roost.syms"
    first=$(awk 'NR == FNR { roost[$1] = 1; next }
                 /^ +[0-9]+ +[0-9.]+% / && $6 !~ /^\[/ { f = $6; sub(/\..*/, "", f); if (!(f in roost)) { print $4, $6; exit } }' \
        "$tmp/roost.syms" "$tmp/top.out")
    if [ "$first" != "40 leak_here" ]; then
        bad "go tool pprof -top: the program's top function is '$first', not leak_here with 40 tasks" "$tmp/top.out"
    else
        echo "ok    debug_test go tool pprof -top over HTTP (leak_here: 40 tasks)"
    fi
fi

# ---- the page and the JSON it polls
if ! curl -sSf "$url/" >"$tmp/page.html" 2>"$tmp/curl.err"; then
    bad "GET / failed" "$tmp/curl.err"
elif ! grep -q '<canvas' "$tmp/page.html" || grep -Eq '(src|href)="(https?:)?//' "$tmp/page.html"; then
    bad "the page has no chart, or fetches something from outside" "$tmp/page.html"
elif ! curl -sSf "$url/debug/roost/summary.json?groups=1" >"$tmp/summary.json" 2>"$tmp/curl.err" ||
    ! grep -q '"func":"leak","state":"chan send","count":40,' "$tmp/summary.json"; then
    bad "summary.json does not show the leaked group" "$tmp/summary.json"
else
    echo "ok    debug_test page and summary.json"
fi

exec 3>&-
if ! wait "$pid"; then
    bad "test_debug --serve did not stop cleanly" "$tmp/serve.err"
fi
pid=

# ---- ROOST_DEBUG_ADDR on a real program
ROOST_DEBUG_ADDR=127.0.0.1:0 "$hello" 127.0.0.1:0 >"$tmp/hello.out" 2>"$tmp/hello.err" &
pid=$!
if ! line=$(wait_line "$tmp/hello.err" '^roost: debug endpoint on http://127\.0\.0\.1:[0-9]*/$'); then
    bad "ROOST_DEBUG_ADDR: no 'roost: debug endpoint on' line" "$tmp/hello.err"
else
    durl=${line#roost: debug endpoint on }
    if ! curl -sSf "${durl}metrics" >"$tmp/hello.metrics" 2>"$tmp/curl.err" ||
        ! grep -q '^roost_tasks{state="parked"} ' "$tmp/hello.metrics"; then
        bad "ROOST_DEBUG_ADDR: ${durl}metrics does not answer" "$tmp/curl.err"
    else
        echo "ok    debug_test ROOST_DEBUG_ADDR (http_hello serves ${durl})"
    fi
fi
# Its graceful stop is io_examples.sh's test; here it only has to end. Under
# TSan a signal waits for the receiving thread's next intercepted call, and
# http_hello's main thread sleeps in a raw futex: SIGTERM would never land.
kill -TERM "$pid" 2>/dev/null
n=0
while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
exit $fail
