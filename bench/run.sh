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
# Core rows: skynet pingpong yield select4 mpmc parked group_fanout, plus skynet_w1 and
# pingpong_w1 (one worker: ROOST_WORKERS=1 and GOMAXPROCS=1; yield always runs
# that way). Default rows unset both variables, so each side uses the CPU
# count. Each core row's roost figure is taken with ROOST_OBSERVE=0 (the
# observability bookkeeping off: the baseline), and a <workload>+obs row
# follows with ROOST_OBSERVE=1; its go column repeats the base row's Go
# figure. Base and +obs runs alternate (base, obs, obs, base, ...) and each
# keeps the best of BENCH_REPEAT runs (default 3; the Go side too), so that
# the overhead summary printed at the end (target: +obs at most 3% worse)
# is not just this machine's noise.
#
# Latency rows, one run each side (Go: best of BENCH_REPEAT), ROOST_OBSERVE=1:
#   timer_lateness_p50 us   median lateness of 10 ms sleeps while 50,000
#                           ping-pong pairs keep every worker busy
#   timer_lateness_p99 us   their 99th percentile (the same runs)
#
# roost-only rows (go column "-" where Go has no twin), with ROOST_OBSERVE=1:
#   profile100k        ms   a grouped task profile of 100,000 parked tasks
#                           (Go: pprof goroutine profile, debug=1)
#   profile100k_pause  ms   the longest any other worker was kept from running
#                           tasks while that profile was taken
#   leak_latency       us   median delay from a leak becoming provable to its
#                           report (Go: none)
#   reach100k          ms   one reachability proof (roost_leak_prove) with
#                           100,000 parked tasks and 256 MiB of live malloc'd
#                           objects full of pointers (Go: no twin; its leak
#                           profile runs inside a GC cycle)
#   reach100k_stop     ms   how long every other thread was stopped for it
#   reach100k_walk, reach100k_mark  ms   of reach100k, the walk (roots, tasks,
#                           the heap's chunks and their index) and the mark
#   reach100k_median   ms   the median of its 5 proofs (reach100k is the best)
#   reach100k_keep, reach100k_keep_median  ms   the same with the proof's
#                           tables kept between proofs (ROOST_REACH_KEEP=1)
#   reach100k_fork_stop ms  reach100k_stop when the fork copies the task
#                           stacks too (ROOST_REACH_SNAP=0; what the stop is
#                           where the kernel refuses a userfaultfd)
#   reach10k, reach10k_stop   the same with 10,000 tasks and 32 MiB
#   debug_metrics      ms   a /metrics scrape of the debug endpoint over
#                           loopback with 100,000 parked tasks (bench/debug_scrape;
#                           Go: net/http/pprof and runtime/metrics as text)
#   debug_metrics_stall ms  the longest a worker was kept from running tasks
#                           meanwhile, beyond the machine's own noise (median)
#   debug_goroutine1   ms   /debug/pprof/goroutine?debug=1, the same way
#   debug_goroutine1_stall ms  its stall, as above
#   debug_idle_cpu     ms   CPU the process used over 2 s idle with the
#                           endpoint started (the same without: ~0.2 ms)
#   mutex_contended    ns/op 8 tasks on one mutex, yielding with it held, under
#                           the default leak policy (Go: sync.Mutex, Gosched)
#   mutex_leak_off     ns/op the same with ROOST_LEAK=off: the program runs
#                           both policies in turns in one process and prints
#                           both (target: the default at most 3% worse)
#
# I/O rows: echo_rtt, echo_conns (+obs each), http_hello; each followed by its
# ceiling, the same work as a plain epoll loop per thread in C with no roost:
#   echo_epoll_msgs    msgs/s   echo_conns's exchange (bench/echo_epoll.c); its go
#                           column repeats echo_conns's, so its ratio is the
#                           most any runtime could gain over Go on this machine
#   echo_epoll_cpu     us/msg   its process CPU time a round trip (user + system),
#                           against Go's in echo_conns: on a busy machine the
#                           rates follow each side's share of the CPUs, the
#                           CPU time a message much less
#   echo_conns_cpu     us/msg   the same figure of echo_conns's best runs
#   http_epoll_rps     req/s    http_hello's server (bench/http_epoll.c)
#
# BENCH_ONLY="echo_rtt http_hello ...": run only those workloads (an also_row
# follows its source row).
#
# A program that crashes, fails its own checks, prints no figure or runs past
# BENCH_TIMEOUT seconds (default 300) gets FAIL in its column; the script goes
# on and exits 1 at the end. It exits 0 only if everything ran. Raw output of
# every run is kept in BUILD/bench-raw/ (NAME.roost.N, NAME+obs.roost.N,
# NAME.go.N per run; NAME.roost, NAME.go: the best one).
set -u

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD" || exit 1
BUILD=$(cd "$BUILD" && pwd)
TIMEOUT=${BENCH_TIMEOUT:-300}
REPEAT=${BENCH_REPEAT:-3}
case $REPEAT in ''|*[!0-9]*|0) echo "bench: BENCH_REPEAT must be a positive integer, not '$REPEAT'"; exit 2 ;; esac
RAW=$BUILD/bench-raw
TSV=$BUILD/bench.tsv
mkdir -p "$RAW" "$BUILD/go"
status=0

# ------------------------------------------------------------ Go toolchain
. "$ROOT/bench/gobuild.sh"
go_build_all "$BUILD/go" "$RAW"

# ------------------------------------------------------------ running
# figure KEY FILE: the value after the word KEY on the program's line.
figure() {
    awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$2"
}

# measure OUTFILE MODE CMD [OBS]: run CMD with MODE's worker settings (and
# ROOST_OBSERVE=OBS when given) under the timeout; print its figure for $key,
# or FAIL.
measure() {
    out=$1 mode=$2 cmd=$3 obs=${4:-}
    if [ ! -x "$cmd" ]; then
        echo "missing $cmd" >"$out.err"; : >"$out"; echo missing >"$out.rc"
        echo FAIL; return 1
    fi
    if [ "$mode" = w1 ]; then
        env ROOST_WORKERS=1 GOMAXPROCS=1 ${obs:+ROOST_OBSERVE=$obs} \
            timeout -k 10 "$TIMEOUT" "$cmd" >"$out" 2>"$out.err"
    else
        env -u ROOST_WORKERS -u GOMAXPROCS ${obs:+ROOST_OBSERVE=$obs} \
            timeout -k 10 "$TIMEOUT" "$cmd" >"$out" 2>"$out.err"
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
        nogo) r="no Go toolchain, or a Go build failed" ;;
        *) r="exit status $rc" ;;
    esac
    echo "$r"
}

ROWS=""
DETAILS=""
# wanted NAME: is workload NAME selected (BENCH_ONLY unset: all are)?
wanted() {
    [ -z "${BENCH_ONLY:-}" ] && return 0
    case " $BENCH_ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}
OVERHEAD=""
failures=""

# better_than BETTER A B: true if figure A beats figure B.
better_than() {
    awk -v b="$1" -v x="$2" -v y="$3" 'BEGIN { exit !(b == "higher" ? x + 0 > y + 0 : x + 0 < y + 0) }'
}

# Best-of series, named by a prefix S: S_v (best figure so far, or FAIL once
# any run failed) and S_f (that run's raw file).
series_init() { eval "${1}_v= ${1}_f="; }
series_add() {  # S FILE FIGURE
    eval "cur=\$${1}_v"
    [ "$cur" = FAIL ] && return 0
    if [ "$3" = FAIL ] || [ -z "$cur" ] || better_than "$better" "$3" "$cur"; then
        eval "${1}_v=\$3 ${1}_f=\$2"
    fi
}
# keep SRC DST: a run's raw files (output, stderr, status) as DST's.
keep() {
    for x in "" .err .rc; do cp "$1$x" "$2$x" 2>/dev/null || : >"$2$x"; done
}

# report LABEL RAWFILE FIGURE: one side's outcome, for the log.
report() {
    if [ "$3" = FAIL ]; then
        status=1
        echo "    $1 FAIL: $(why "$2")"
        tail -n 5 "$2.err" 2>/dev/null | sed 's/^/      | /'
    else
        echo "    $1 $(head -n 1 "$2")"
    fi
}

# go_side NAME MODE GO_PROGRAM: the Go figure for $key, best of REPEAT runs
# ("-" for GO_PROGRAM -: roost only).
go_side() {
    if [ "$3" = - ]; then
        g=-; : >"$RAW/$1.go"; rm -f "$RAW/$1.go.err" "$RAW/$1.go.rc"; return
    fi
    if [ "$go_ok" != 1 ]; then
        g=FAIL; echo "go toolchain unavailable" >"$RAW/$1.go.err"; : >"$RAW/$1.go"
        echo nogo >"$RAW/$1.go.rc"
        report "go:         " "$RAW/$1.go" FAIL; return
    fi
    series_init G
    i=1
    while [ "$i" -le "$REPEAT" ]; do
        series_add G "$RAW/$1.go.$i" "$(measure "$RAW/$1.go.$i" "$2" "$BUILD/go/$3")"
        i=$((i + 1))
    done
    g=$G_v
    keep "$G_f" "$RAW/$1.go"
    report "go:         " "$RAW/$1.go" "$g"
}

add_row() {  # NAME UNIT ROOST GO BETTER
    ROWS="$ROWS$1	$2	$3	$4	$5
"
}
add_details() {  # NAME RAWNAME [GO_RAWNAME]
    DETAILS="$DETAILS$(printf '  %-18s roost  %s' "$1" "$(head -n 1 "$RAW/$2.roost")")
"
    if [ -n "${3:-}" ] && [ -s "$RAW/$3.go" ]; then
        DETAILS="$DETAILS$(printf '  %-18s go     %s' "$1" "$(head -n 1 "$RAW/$3.go")")
"
    fi
}

# obs_row WORKLOAD UNIT KEY BETTER MODE C_PROGRAM GO_PROGRAM: the workload's
# row (ROOST_OBSERVE=0) and its +obs row (ROOST_OBSERVE=1), runs interleaved,
# best of REPEAT each.
obs_row() {
    wanted "$1" || return 0
    name=$1 unit=$2 key=$3 better=$4 mode=$5 cprog=$6 goprog=$7
    echo "bench: $name and $name+obs ($mode; best of $REPEAT, interleaved) ..."
    series_init B
    series_init O
    i=1
    while [ "$i" -le "$REPEAT" ]; do
        if [ $((i % 2)) = 1 ]; then order="0 1"; else order="1 0"; fi
        for o in $order; do
            if [ "$o" = 0 ]; then
                f=$RAW/$name.roost.$i
                series_add B "$f" "$(measure "$f" "$mode" "$BUILD/bench/$cprog" 0)"
            else
                f=$RAW/$name+obs.roost.$i
                series_add O "$f" "$(measure "$f" "$mode" "$BUILD/bench/$cprog" 1)"
            fi
        done
        i=$((i + 1))
    done
    r=$B_v ro=$O_v
    keep "$B_f" "$RAW/$name.roost"
    keep "$O_f" "$RAW/$name+obs.roost"
    [ "$r" = FAIL ] && failures="$failures $name"
    [ "$ro" = FAIL ] && failures="$failures $name+obs"
    report "roost:      " "$RAW/$name.roost" "$r"
    report "roost+obs:  " "$RAW/$name+obs.roost" "$ro"
    go_side "$name" "$mode" "$goprog"
    add_row "$name" "$unit" "$r" "$g" "$better"
    add_row "$name+obs" "$unit" "$ro" "$g" "$better"
    add_details "$name" "$name" "$name"
    add_details "$name+obs" "$name+obs"
    OVERHEAD="$OVERHEAD$name	$r	$ro	$better
"
}

# row WORKLOAD UNIT KEY BETTER MODE C_PROGRAM GO_PROGRAM: a roost-only
# workload (ROOST_OBSERVE=1), one run; GO_PROGRAM - for no Go side.
row() {
    wanted "$1" || return 0
    name=$1 unit=$2 key=$3 better=$4 mode=$5 cprog=$6 goprog=$7
    echo "bench: $name ($mode) ..."
    r=$(measure "$RAW/$name.roost" "$mode" "$BUILD/bench/$cprog" 1)
    [ "$r" = FAIL ] && failures="$failures $name"
    report "roost:      " "$RAW/$name.roost" "$r"
    go_side "$name" "$mode" "$goprog"
    add_row "$name" "$unit" "$r" "$g" "$better"
    add_details "$name" "$name" "$name"
}

# also_row WORKLOAD UNIT KEY BETTER FROM: another figure (KEY) of workload
# FROM's runs, without running anything again.
also_row() {
    wanted "$5" || return 0
    name=$1 unit=$2 key=$3 better=$4 from=$5
    r=FAIL g=-
    [ -s "$RAW/$from.roost.rc" ] && [ "$(cat "$RAW/$from.roost.rc")" = 0 ] &&
        r=$(figure "$key" "$RAW/$from.roost")
    [ -n "$r" ] || r=FAIL
    if [ -f "$RAW/$from.go.rc" ]; then      # the Go twin ran (or failed)
        g=
        [ "$(cat "$RAW/$from.go.rc")" = 0 ] && g=$(figure "$key" "$RAW/$from.go")
        [ -n "$g" ] || g=FAIL
    fi
    [ "$r" = FAIL ] && { status=1; failures="$failures $name"; }
    [ "$g" = FAIL ] && status=1
    add_row "$name" "$unit" "$r" "$g" "$better"
}

# ------------------------------------------------------------ HTTP with wrk
# serve_wrk OUT SERVER...: start the server on a free loopback port, wait
# for its "listening" line, drive it with wrk (WRK_CONNS connections, two
# wrk threads, WRK_SECONDS), stop it with SIGTERM; OUT gets wrk's report
# and a line "http_rps R p99_ms P". Prints R, or FAIL.
WRK_CONNS=${WRK_CONNS:-100}
WRK_SECONDS=${WRK_SECONDS:-5}
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ]; then
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; } >"$RAW/bench-apt-wrk.log" 2>&1
    fi
    command -v wrk >/dev/null 2>&1
}
serve_wrk() {
    out=$1; shift
    : >"$out"
    if [ ! -x "$1" ]; then echo "missing $1" >"$out.err"; echo missing >"$out.rc"; echo FAIL; return; fi
    port=$((20000 + $$ % 20000))
    while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
    "$@" "127.0.0.1:$port" >"$out.server" 2>&1 &
    spid=$!
    i=0
    while ! grep -q listening "$out.server" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    timeout -k 5 $((WRK_SECONDS + 30)) wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency \
        "http://127.0.0.1:$port/" >"$out.wrk" 2>"$out.err"
    rc=$?
    kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    echo "$rc" >"$out.rc"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out.wrk")
    p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                             if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.3f", v }' "$out.wrk")
    errs=$(awk '/Non-2xx|Socket errors/' "$out.wrk")
    if [ "$rc" -ne 0 ] || [ -z "$rps" ] || [ -n "$errs" ]; then
        [ -n "$errs" ] && echo "$errs" >>"$out.err"
        echo FAIL; return
    fi
    echo "http_rps $rps p99_ms $p99" >"$out"
    echo "$rps"
}
# The http_hello rows: requests/s and p99 latency of examples/http_hello.c
# (roost) against Go's net/http twin (bench/go/http_hello), driven by wrk,
# best of REPEAT; and the same server as a plain epoll loop per thread in C
# (bench/http_epoll.c, the ceiling) as row http_epoll.
http_rows() {
    wanted http_hello || return 0
    echo "bench: http_hello (wrk, $WRK_CONNS connections, ${WRK_SECONDS}s; best of $REPEAT) ..."
    if ! ensure_wrk; then
        echo "    wrk not found and not installable: http rows FAIL"
        status=1; failures="$failures http_hello"
        add_row http_hello_rps req/s FAIL FAIL higher
        add_row http_hello_p99 ms FAIL FAIL lower
        add_row http_epoll_rps req/s FAIL - higher
        return
    fi
    for side in roost go epoll; do
        case $side in
            roost) prog=$BUILD/examples/http_hello ;;
            go) prog=$BUILD/go/http_hello ;;
            epoll) prog=$BUILD/bench/http_epoll ;;
        esac
        best= bestf=
        i=1
        while [ "$i" -le "$REPEAT" ]; do
            f=$RAW/http_hello.$side.$i
            v=$(serve_wrk "$f" "$prog")
            if [ "$v" = FAIL ]; then best=FAIL; bestf=$f; break; fi
            if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a + 0 > b + 0) }'; then best=$v bestf=$f; fi
            i=$((i + 1))
        done
        keep "$bestf" "$RAW/http_hello.$side"
        cp "$bestf.wrk" "$RAW/http_hello.$side.wrk" 2>/dev/null
        eval "h_$side=\$best"
        if [ "$best" = FAIL ]; then
            status=1; failures="$failures http_hello($side)"
            echo "    $side FAIL: $(why "$bestf")"; tail -n 3 "$bestf.err" 2>/dev/null | sed 's/^/      | /'
            eval "p_$side=FAIL"
        else
            echo "    $side: $(cat "$RAW/http_hello.$side")"
            eval "p_$side=\$(figure p99_ms \"\$RAW/http_hello.\$side\")"
        fi
    done
    add_row http_hello_rps req/s "$h_roost" "$h_go" higher
    add_row http_hello_p99 ms "$p_roost" "$p_go" lower
    add_row http_epoll_rps req/s "$h_epoll" - higher
    if [ "$h_roost" != FAIL ] && [ "$h_epoll" != FAIL ]; then
        HTTP_NOTE="http_hello: roost serves $(awk -v a="$h_roost" -v b="$h_epoll" 'BEGIN { printf "%.0f", a * 100 / b }')% of the plain epoll server's requests/s (target: at least 80%)"
    fi
}
HTTP_NOTE=""

# The ceiling of echo_conns: the same exchange as a plain epoll loop per
# thread in C (bench/echo_epoll.c), best of REPEAT, run when echo_conns is,
# right after it (its roost and Go figures are still in r and g).
echo_epoll_row() {
    wanted echo_conns || return 0
    e_roost=$r e_go=$g key=echo_conns_msgs_per_s better=higher
    echo "bench: echo_epoll (the plain epoll loop; best of $REPEAT) ..."
    series_init E
    i=1
    while [ "$i" -le "$REPEAT" ]; do
        f=$RAW/echo_epoll.roost.$i
        series_add E "$f" "$(measure "$f" default "$BUILD/bench/echo_epoll")"
        i=$((i + 1))
    done
    keep "$E_f" "$RAW/echo_epoll.roost"
    [ "$E_v" = FAIL ] && failures="$failures echo_epoll"
    report "epoll:      " "$RAW/echo_epoll.roost" "$E_v"
    add_row echo_epoll_msgs msgs/s "$E_v" "$e_go" higher
    c=FAIL
    [ "$E_v" != FAIL ] && c=$(figure cpu_us_per_msg "$RAW/echo_epoll.roost")
    gc=$(figure cpu_us_per_msg "$RAW/echo_conns.go" 2>/dev/null)
    add_row echo_epoll_cpu us/msg "${c:-FAIL}" "${gc:-FAIL}" lower
    if [ "$e_roost" != FAIL ] && [ "$E_v" != FAIL ]; then
        ECHO_NOTE="echo_conns: roost carries $(awk -v a="$e_roost" -v b="$E_v" 'BEGIN { printf "%.0f", a * 100 / b }')% of the plain epoll loop's messages/s (echo_epoll_msgs's ratio: the most any runtime can gain over Go here)"
    fi
}
ECHO_NOTE=""

echo "bench: $(nproc 2>/dev/null || echo '?') CPUs; timeout ${TIMEOUT}s per program; best of $REPEAT"
obs_row skynet      ns/task      ns_per_task           lower default skynet   skynet
obs_row skynet_w1   ns/task      ns_per_task           lower w1      skynet   skynet
obs_row pingpong    ns/roundtrip pingpong_roundtrip_ns lower default pingpong pingpong
obs_row pingpong_w1 ns/roundtrip pingpong_roundtrip_ns lower w1      pingpong pingpong
obs_row yield       ns/switch    yield_switch_ns       lower w1      yield    yield
obs_row select4     ns/op        select4_ns_per_op     lower default select4  selectb
obs_row mpmc        ns/msg       ns_per_msg            lower default mpmc     mpmc
obs_row parked      bytes/task   parked_1M_bytes_per_task lower default parked parked
obs_row group_fanout us/round    group_fanout_us       lower default group_fanout group_fanout
row     timer_lateness_p50 us    timer_lateness_p50_us lower default timer_lateness timer_lateness
also_row timer_lateness_p99 us   timer_lateness_p99_us lower timer_lateness_p50
row     profile100k ms           profile100k_ms        lower default profile100k profile100k
also_row profile100k_pause ms    pause_ms              lower profile100k
row     leak_latency us          leak_latency_us       lower default leak_latency -
row     debug_metrics ms         metrics_ms            lower default debug_scrape debug_scrape
also_row debug_metrics_stall ms  metrics_stall_ms      lower debug_metrics
also_row debug_goroutine1 ms     goroutine1_ms         lower debug_metrics
also_row debug_goroutine1_stall ms goroutine1_stall_ms lower debug_metrics
also_row debug_idle_cpu ms       idle_cpu_ms           lower debug_metrics
row     mutex_contended ns/op    mutex_contended_ns    lower default mutex_contended mutex_contended
row     reach100k ms             reach100k_ms          lower default reach -
also_row reach100k_stop ms       reach100k_stop_ms     lower reach100k
also_row reach100k_walk ms       reach100k_walk_ms     lower reach100k
also_row reach100k_mark ms       reach100k_mark_ms     lower reach100k
also_row reach100k_median ms     reach100k_median_ms   lower reach100k
also_row reach100k_keep ms       reach100k_keep_ms     lower reach100k
also_row reach100k_keep_median ms reach100k_keep_median_ms lower reach100k
also_row reach100k_fork_stop ms  reach100k_fork_stop_ms lower reach100k
also_row reach10k ms             reach10k_ms           lower reach100k
also_row reach10k_stop ms        reach10k_stop_ms      lower reach100k
also_row mutex_leak_off ns/op     leak_off_ns           lower mutex_contended
obs_row echo_rtt    ns/roundtrip echo_rtt_ns           lower default echo_rtt echo_rtt
obs_row echo_conns  msgs/s       echo_conns_msgs_per_s higher default echo_conns echo_conns
echo_epoll_row
also_row echo_conns_cpu us/msg   cpu_us_per_msg        lower echo_conns
http_rows

# ------------------------------------------------------------ report
{
    printf 'workload\tunit\troost\tgo\tbetter\n'
    printf '%s' "$ROWS"
} >"$TSV"

echo
printf '%-18s %-13s %10s %10s %-7s %7s\n' workload unit roost go better ratio
printf '%s' "$ROWS" | awk -F '\t' '{
    ratio = "-"
    if ($3 != "FAIL" && $4 != "FAIL" && $4 != "-" && $4 + 0 != 0) ratio = sprintf("%.2f", $3 / $4)
    printf "%-18s %-13s %10s %10s %-7s %7s\n", $1, $2, $3, $4, $5, ratio
}'
echo "(ratio = roost / go; with better=lower, below 1 means roost wins; go \"-\": no Go twin)"
[ -n "$HTTP_NOTE" ] && echo "$HTTP_NOTE"
[ -n "$ECHO_NOTE" ] && echo "$ECHO_NOTE"
echo
echo "observability overhead: +obs (ROOST_OBSERVE=1) against ROOST_OBSERVE=0, best of $REPEAT each (target: at most 3% worse):"
printf '  %-12s %10s %10s %9s\n' workload base +obs overhead
printf '%s' "$OVERHEAD" | awk -F '\t' '{
    if ($2 == "FAIL" || $3 == "FAIL" || $2 + 0 == 0) { printf "  %-12s %10s %10s %9s\n", $1, $2, $3, "-"; next }
    p = ($4 == "higher" ? ($2 - $3) : ($3 - $2)) * 100 / $2
    printf "  %-12s %10s %10s %+8.1f%%%s\n", $1, $2, $3, p, (p > 3 ? "  over 3%" : "")
}'
echo "(overhead: how much worse +obs is; negative: +obs came out better, i.e. noise)"
echo
echo "details (each program's line; raw output in $RAW):"
printf '%s' "$DETAILS"
echo
echo "wrote $TSV"
if [ "$status" -ne 0 ]; then
    echo "bench: FAILED:${failures:- (go side)}"
fi
exit "$status"
