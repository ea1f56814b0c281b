#!/bin/sh
# story_demo.sh - the story as services on loopback (make demo).
#
#   usage: sh examples/story_demo.sh [--quick] [BUILD]      (BUILD: default build)
#
# Starts a slow upstream (answers take 0-39 ms) and three front services that
# call it with a 20 ms deadline per request (examples/story_service.c):
#   leaky       the story's leaky fetch: a task stranded per timeout;
#   fixed       buffered channel of one, and the request under the caller's
#               context;
#   leaky+wake  the leaky code under ROOST_LEAK=wake: the leak detector
#               wakes each stranded task with ROOST_ELEAKED.
# A load generator drives each front for a minute (--quick: 4 s); meanwhile
# each front's task count and resident memory are charted in the terminal,
# and each front's debug endpoint (ROOST_DEBUG_ADDR) is named. At the end,
# the leaky front's own reports (leak detector, monitor), then a verdict per
# front. Exits 1 unless leaky climbs and the two others stay flat
# (tests/demo_test.sh runs --quick).
set -eu

quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
BUILD=${1:-build}
bin=$BUILD/examples/story_service
[ -x "$bin" ] || { echo "story: no $bin (make examples)" >&2; exit 1; }

timeout_ms=20 upstream_ms=40
if [ $quick = 1 ]; then
    secs=4 rate=100 conns=4 stats_ms=250
else
    secs=60 rate=200 conns=16 stats_ms=1000
fi
# A front whose task count rises by more than this climbs. A correct front
# holds at most a connection task and a request task per connection of the
# load, and a few of its own, whatever the latencies.
climb=$((4 * conns + 20))

tmp=$(mktemp -d)
pids=
loaders=
cleanup() {
    for p in $pids $loaders; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME ENV... -- ARGS...: run the service in the background, logs in
# $tmp/NAME.out and .err; waits for its "listening on" line, sets $addr.
start() {
    name=$1; shift
    (
        while [ "$1" != -- ]; do export "$1"; shift; done
        shift
        exec "$bin" "$@"
    ) >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids="$pids $!"
    for _ in $(seq 400); do
        addr=$(sed -n 's/.*listening on //p' "$tmp/$name.out" 2>/dev/null || true)
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    echo "story: $name did not start:" >&2
    cat "$tmp/$name.out" "$tmp/$name.err" >&2
    exit 1
}

start upstream -- upstream 127.0.0.1:0 $upstream_ms
up=$addr
# Each front's debug endpoint on a free loopback port of its own.
start leaky ROOST_DEBUG_ADDR=127.0.0.1:0 -- front leaky 127.0.0.1:0 "$up" $timeout_ms $stats_ms
leaky=$addr
start fixed ROOST_DEBUG_ADDR=127.0.0.1:0 -- front fixed 127.0.0.1:0 "$up" $timeout_ms $stats_ms
fixed=$addr
start wake ROOST_DEBUG_ADDR=127.0.0.1:0 ROOST_LEAK=wake -- front leaky 127.0.0.1:0 "$up" $timeout_ms $stats_ms
wake=$addr

echo "story: upstream on $up (answers take 0-$((upstream_ms - 1)) ms); fronts call it with a ${timeout_ms} ms deadline"
echo "story: leaky on $leaky, fixed on $fixed, leaky+wake (ROOST_LEAK=wake) on $wake"
echo "story: load: $rate requests/s on $conns connections at each front, for ${secs}s"
for f in leaky fixed leaky+wake; do
    sed -n "s|^roost: debug endpoint on |story: $f's debug endpoint: |p" "$tmp/${f#leaky+}.err"
done

for f in leaky fixed wake; do
    eval "a=\$$f"
    "$bin" load "$a" $rate $conns $secs >"$tmp/load.$f" 2>&1 &
    loaders="$loaders $!"
done

# chart: the three fronts' stats lines, drawn; then the verdicts (with
# FINAL=1). UTF-8 blocks when the locale says UTF-8, else ASCII.
utf8=0
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in *UTF-8* | *utf8* | *UTF8* | *utf-8*) utf8=1 ;; esac
chart() {
    awk -v utf8=$utf8 -v climb=$climb -v final="$1" -v width=60 -v rows=3 '
    # "stats ms T tasks N rss_kib K requests R timeouts O leaks L"
    $1 == "stats" {
        f = FILENAME; sub(/.*\//, "", f); sub(/\.out$/, "", f)
        i = ++n[f]
        task[f, i] = $5; rss[f, i] = $7 / 1024; req[f] = $9; tmo[f] = $11; leak[f] = $13
        if ($5 > maxt) maxt = $5
        if ($7 / 1024 > maxr) maxr = $7 / 1024
        if (minr == "" || $7 / 1024 < minr) minr = $7 / 1024
        if ($3 > ms) ms = $3
    }
    # The time axis under a chart.
    function axis(    t) {
        t = sprintf("%d s", ms / 1000 + 0.5)
        printf "  %-11s  %-" (cols - length(t)) "s%s\n", "", "0 s", t
    }
    function glyph(k) {
        if (utf8) return k <= 0 ? " " : substr("▁▂▃▄▅▆▇█", 3 * k - 2, 3)
        return k <= 0 ? " " : substr(".,-~=+*#", k, 1)
    }
    # rows lines of width columns: series s of front f, from lo to hi.
    function plot(f, s, lo, hi, label, unit, fmt,    r, c, i, v, lvl, line, k, first, last) {
        for (r = rows - 1; r >= 0; r--) {
            line = ""
            for (c = 0; c < width && c < n[f]; c++) {
                i = n[f] <= width ? c + 1 : 1 + int(c * (n[f] - 1) / (width - 1))
                v = s == "t" ? task[f, i] : rss[f, i]
                lvl = hi > lo ? int((v - lo) / (hi - lo) * rows * 8 + 0.5) : 0
                if (lvl < 1) lvl = 1
                k = lvl - r * 8; if (k > 8) k = 8
                line = line glyph(k)
            }
            for (; c < cols; c++) line = line " "   # (printf pads bytes, not glyphs)
            first = s == "t" ? task[f, 1] : rss[f, 1]
            last = s == "t" ? task[f, n[f]] : rss[f, n[f]]
            printf "  %-11s |%s|", r == rows - 1 ? label : "", line
            if (r == rows - 1) printf " " fmt " -> " fmt "%s", first, last, unit == "" ? "" : " " unit
            printf "\n"
        }
    }
    END {
        if (!n["leaky"] || !n["fixed"] || !n["wake"]) exit 0
        split("leaky fixed wake", fs, " ")
        name["leaky"] = "leaky"; name["fixed"] = "fixed"; name["wake"] = "leaky+wake"
        cols = 0
        for (j = 1; j <= 3; j++) if (n[fs[j]] > cols) cols = n[fs[j]]
        if (cols > width) cols = width
        printf "tasks alive (one scale for the three: 0 to %d)\n", maxt
        for (j = 1; j <= 3; j++) plot(fs[j], "t", 0, maxt, name[fs[j]], "", "%d")
        axis()
        printf "resident memory (one scale: %.1f to %.1f MiB)\n", minr, maxr
        for (j = 1; j <= 3; j++) plot(fs[j], "r", minr, maxr, name[fs[j]], "MiB", "%.1f")
        axis()
        if (!final) exit 0
        bad = 0
        for (j = 1; j <= 3; j++) {
            f = fs[j]; lo = task[f, 1]
            for (i = 1; i <= n[f]; i++) if (task[f, i] < lo) lo = task[f, i]
            grew = task[f, n[f]] - lo
            v = grew > climb ? "CLIMBS" : "flat"
            if ((f == "leaky") != (v == "CLIMBS")) bad = 1
            printf "verdict %-11s %-6s tasks %d -> %d (%+d), RSS %.1f -> %.1f MiB; %d requests, %d timed out, %d leaks proved%s\n",
                name[f] ":", v, task[f, 1], task[f, n[f]], grew, rss[f, 1], rss[f, n[f]], req[f], tmo[f], leak[f],
                f == "wake" ? " (each woken, gone)" : f == "leaky" ? " (each still parked)" : ""
        }
        if (bad) { print "story: unexpected verdict (leaky should climb, fixed and leaky+wake stay flat)"; exit 1 }
    }' "$tmp/leaky.out" "$tmp/fixed.out" "$tmp/wake.out"
}

# While the load runs: the chart, redrawn in place on a terminal.
if [ -t 1 ] && [ $quick = 0 ]; then
    printf '\n'
    lines=0
    while kill -0 $loaders 2>/dev/null; do
        sleep 2
        out=$(chart 0)
        [ $lines -gt 0 ] && printf '\033[%dA' "$lines"
        printf '%s\n' "$out" | sed 's/$/\x1b[K/'
        lines=$(printf '%s\n' "$out" | wc -l)
    done
    [ $lines -gt 0 ] && printf '\033[%dA\033[J' "$lines"
fi
for p in $loaders; do wait "$p" || { echo "story: a load generator failed:" >&2; cat "$tmp"/load.* >&2; exit 1; }; done
loaders=
sleep "$(awk -v ms=$stats_ms 'BEGIN { print 1.5 * ms / 1000 }')"   # a stats line after the load

# Stop the services (SIGTERM: a graceful shutdown) and wait for them.
for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
for p in $pids; do wait "$p" || true; done
pids=
sed -n 's/^load: /story: load: /p' "$tmp"/load.leaky "$tmp"/load.fixed "$tmp"/load.wake
# How the leaky front said so itself, on its stderr: the leak detector's
# first report (the spawn site, the wait, the stack), its per-second
# summary, and the monitor's growth alert.
echo "story: the leaky front's stderr (excerpts):"
awk 'r == 1 { print "  " $0; if ($1 == "created") r = 2; next }
     /^roost: leak: channel/ && !r { r = 1; print "  " $0; next }
     /^roost: leak: [0-9]+ more/ && !m { m = 1; print "  ..."; print "  " $0 }
     /^roost: alert:/ && !a { a = 1; print "  ..."; print "  " $0 }' "$tmp/leaky.err" | cut -c1-200
chart 1
