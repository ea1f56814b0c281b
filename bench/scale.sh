#!/bin/sh
# bench/scale.sh [BUNDLE] - roost against Go as the worker count grows.
#
# Runs from a bundle that `make scale-bundle` builds (build/scale/: this
# script, roost/ with the C benchmark programs linked statically, go/ with
# the Go ones, built static too), so it needs nothing installed: carry the
# folder to a many-core machine and run it there. For each workload and
# each worker count W it runs both sides with ROOST_WORKERS=W and
# GOMAXPROCS=W, keeps the best of SCALE_REPEAT runs (default 3), prints a
# table and writes scale.tsv to $OUT (when set: the device machine's return
# folder) or else the bundle:
#
#   workload<TAB>workers<TAB>unit<TAB>roost<TAB>go<TAB>better
#
# SCALE_WORKERS: the worker counts (default "1 2 4 8 16", less those over
# the CPU count). SCALE_TIMEOUT: seconds a run may take (default 120).
# ROOST_OBSERVE is left at its default (the bookkeeping on, as shipped).
# Exits 1 if any run failed (FAIL in its column), else 0.
set -u
B=$(cd "${1:-$(dirname "$0")}" && pwd) || exit 2
DEST=${OUT:-$B}
mkdir -p "$DEST" || exit 2
REPEAT=${SCALE_REPEAT:-3}
TIMEOUT=${SCALE_TIMEOUT:-120}
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if [ -n "${SCALE_WORKERS:-}" ]; then
    WS=$SCALE_WORKERS
else
    WS=
    for w in 1 2 4 8 16; do [ "$w" -le "$ncpu" ] && WS="$WS $w"; done
fi
TSV=$DEST/scale.tsv
printf 'workload\tworkers\tunit\troost\tgo\tbetter\n' >"$TSV"
status=0

# best PROGRAM KEY W: the best (lowest) figure after KEY over REPEAT runs
# with W workers, or FAIL if any run failed.
best() {
    b=
    i=0
    while [ "$i" -lt "$REPEAT" ]; do
        v=$(env ROOST_WORKERS="$3" GOMAXPROCS="$3" timeout -k 5 "$TIMEOUT" "$1" 2>/dev/null |
            awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }')
        if [ -z "$v" ]; then echo FAIL; return 1; fi
        if [ -z "$b" ] || awk -v x="$v" -v y="$b" 'BEGIN { exit !(x + 0 < y + 0) }'; then b=$v; fi
        i=$((i + 1))
    done
    echo "$b"
}

echo "scale: $ncpu CPUs; workers:$WS; best of $REPEAT"
printf '%-10s %7s %-13s %10s %10s %7s\n' workload workers unit roost go ratio
# workload unit key roost-program go-program
while read -r name unit key cprog goprog; do
    for w in $WS; do
        r=$(best "$B/roost/$cprog" "$key" "$w") || status=1
        g=$(best "$B/go/$goprog" "$key" "$w") || status=1
        ratio=$(awk -v r="$r" -v g="$g" 'BEGIN { if (r + 0 > 0 && g + 0 > 0) printf "%.2f", r / g; else print "-" }')
        printf '%-10s %7s %-13s %10s %10s %7s\n' "$name" "$w" "$unit" "$r" "$g" "$ratio"
        printf '%s\t%s\t%s\t%s\t%s\tlower\n' "$name" "$w" "$unit" "$r" "$g" >>"$TSV"
    done
done <<'ROWS'
skynet ns/task ns_per_task skynet skynet
pingpong ns/roundtrip pingpong_roundtrip_ns pingpong pingpong
select4 ns/op select4_ns_per_op select4 selectb
mpmc ns/msg ns_per_msg mpmc mpmc
ROWS
echo "(ratio = roost / go: below 1, roost is faster; written to $TSV)"
exit $status
