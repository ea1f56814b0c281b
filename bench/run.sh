#!/bin/sh
# bench/run.sh BUILD - roost against Go, workload by workload, side by side.
#
# Run by `make bench` once the C programs are in BUILD/bench/. Builds the Go
# programs of bench/go/ into BUILD/go/ (installing golang-go with apt-get when
# `go` is missing and we are root), runs every workload on both sides under
# the same worker count, prints a table and writes BUILD/bench.tsv:
#
#   workload<TAB>unit<TAB>roost<TAB>go<TAB>better      (better: lower | higher)
#
# Rows: skynet pingpong yield select4 mpmc parked, plus skynet_w1 and
# pingpong_w1 (one worker: ROOST_WORKERS=1 and GOMAXPROCS=1; yield always runs
# that way). Default rows unset both variables, so each side uses the CPU
# count. A program that crashes, fails its own checks, prints no figure or
# runs past BENCH_TIMEOUT seconds (default 300) gets FAIL in its column; the
# script goes on and exits 1 at the end. It exits 0 only if everything ran.
# Raw output of every run is kept in BUILD/bench-raw/.
set -u

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD" || exit 1
BUILD=$(cd "$BUILD" && pwd)
TIMEOUT=${BENCH_TIMEOUT:-300}
RAW=$BUILD/bench-raw
TSV=$BUILD/bench.tsv
mkdir -p "$RAW" "$BUILD/go"
status=0

# ------------------------------------------------------------ Go toolchain
ensure_go() {
    command -v go >/dev/null 2>&1 && return 0
    echo "bench: go not found; installing golang-go (log: $BUILD/bench-apt.log)"
    if [ "$(id -u)" = 0 ]; then
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go; } \
            >"$BUILD/bench-apt.log" 2>&1
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        { sudo -n apt-get update && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go; } \
            >"$BUILD/bench-apt.log" 2>&1
    else
        echo "bench: not root and no sudo: cannot install golang-go"
    fi
    command -v go >/dev/null 2>&1
}

GO_PROGS="skynet pingpong yield selectb mpmc parked"
go_ok=0
if ensure_go; then
    # The go tool keeps its cache under $HOME; use BUILD when that cannot work.
    if [ -z "${HOME:-}" ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
        GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path
        export GOCACHE GOPATH
    fi
    go_ok=1
    for p in $GO_PROGS; do
        if ! (cd "$ROOT/bench/go" && GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local \
                go build -o "$BUILD/go/$p" "./$p") >"$RAW/go-build-$p.log" 2>&1; then
            echo "bench: go build $p failed:"; sed 's/^/    /' "$RAW/go-build-$p.log"
            go_ok=0
        fi
    done
    echo "bench: $(go version)"
else
    echo "bench: no Go toolchain; the go column will read FAIL"
fi

# ------------------------------------------------------------ running
# figure KEY FILE: the value after the word KEY on the program's line.
figure() {
    awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$2"
}

# measure OUTFILE MODE CMD: run CMD with MODE's worker settings under the
# timeout; print its figure for $key, or FAIL.
measure() {
    out=$1 mode=$2 cmd=$3
    if [ ! -x "$cmd" ]; then
        echo "missing $cmd" >"$out.err"; : >"$out"; echo missing >"$out.rc"
        echo FAIL; return 1
    fi
    if [ "$mode" = w1 ]; then
        env ROOST_WORKERS=1 GOMAXPROCS=1 timeout -k 10 "$TIMEOUT" "$cmd" >"$out" 2>"$out.err"
    else
        env -u ROOST_WORKERS -u GOMAXPROCS timeout -k 10 "$TIMEOUT" "$cmd" >"$out" 2>"$out.err"
    fi
    rc=$?
    echo "$rc" >"$out.rc"
    v=$(figure "$key" "$out")
    if [ "$rc" -ne 0 ] || [ -z "$v" ]; then echo FAIL; return 1; fi
    echo "$v"
}

why() {  # a short reason for a failed run
    rc=$(cat "$1.rc" 2>/dev/null || echo '?')
    case $rc in
        124|137) r="timed out after ${TIMEOUT}s" ;;
        134) r="aborted (SIGABRT)" ;;
        135) r="bus error (SIGBUS)" ;;
        136) r="SIGFPE" ;;
        139) r="segfault (SIGSEGV)" ;;
        0) r="exit 0 but no figure" ;;
        missing) r="no program (not built)" ;;
        *) r="exit status $rc" ;;
    esac
    echo "$r"
}

ROWS=""
DETAILS=""
failures=""
# row WORKLOAD UNIT KEY BETTER MODE C_PROGRAM GO_PROGRAM
row() {
    name=$1 unit=$2 key=$3 better=$4 mode=$5 cprog=$6 goprog=$7
    echo "bench: $name ($mode) ..."
    r=$(measure "$RAW/$name.roost" "$mode" "$BUILD/bench/$cprog")
    if [ "$r" = FAIL ]; then
        status=1
        failures="$failures $name"
        echo "    roost: FAIL: $(why "$RAW/$name.roost")"
        tail -n 5 "$RAW/$name.roost.err" 2>/dev/null | sed 's/^/      | /'
    else
        echo "    roost: $(cat "$RAW/$name.roost")"
    fi
    if [ "$go_ok" = 1 ]; then
        g=$(measure "$RAW/$name.go" "$mode" "$BUILD/go/$goprog")
    else
        g=FAIL; echo "go toolchain unavailable" >"$RAW/$name.go.err"; : >"$RAW/$name.go"
    fi
    if [ "$g" = FAIL ]; then
        status=1
        echo "    go:    FAIL: $(why "$RAW/$name.go")"
        tail -n 5 "$RAW/$name.go.err" 2>/dev/null | sed 's/^/      | /'
    else
        echo "    go:    $(cat "$RAW/$name.go")"
    fi
    ROWS="$ROWS$name	$unit	$r	$g	$better
"
    DETAILS="$DETAILS$(printf '  %-12s roost  %s' "$name" "$(head -n 1 "$RAW/$name.roost")")
$(printf '  %-12s go     %s' "$name" "$(head -n 1 "$RAW/$name.go")")
"
}

echo "bench: $(nproc 2>/dev/null || echo '?') CPUs; timeout ${TIMEOUT}s per program"
row skynet      ns/task      ns_per_task           lower default skynet   skynet
row skynet_w1   ns/task      ns_per_task           lower w1      skynet   skynet
row pingpong    ns/roundtrip pingpong_roundtrip_ns lower default pingpong pingpong
row pingpong_w1 ns/roundtrip pingpong_roundtrip_ns lower w1      pingpong pingpong
row yield       ns/switch    yield_switch_ns       lower w1      yield    yield
row select4     ns/op        select4_ns_per_op     lower default select4  selectb
row mpmc        ns/msg       ns_per_msg            lower default mpmc     mpmc
row parked      bytes/task   parked_1M_bytes_per_task lower default parked parked

# ------------------------------------------------------------ report
{
    printf 'workload\tunit\troost\tgo\tbetter\n'
    printf '%s' "$ROWS"
} >"$TSV"

echo
printf '%-12s %-13s %10s %10s %-7s %7s\n' workload unit roost go better ratio
printf '%s' "$ROWS" | awk -F '\t' '{
    ratio = "-"
    if ($3 != "FAIL" && $4 != "FAIL" && $4 + 0 != 0) ratio = sprintf("%.2f", $3 / $4)
    printf "%-12s %-13s %10s %10s %-7s %7s\n", $1, $2, $3, $4, $5, ratio
}'
echo "(ratio = roost / go; with better=lower, below 1 means roost wins)"
echo
echo "details (each program's line; raw output in $RAW):"
printf '%s' "$DETAILS"
echo
echo "wrote $TSV"
if [ "$status" -ne 0 ]; then
    echo "bench: FAILED:${failures:- (go side)}"
fi
exit "$status"
