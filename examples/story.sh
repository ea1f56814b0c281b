#!/bin/sh
# story.sh - run the story's client leaky and fixed, side by side (make demo).
#
#   usage: sh examples/story.sh PATH/TO/story [SECONDS]
#
# Both modes run at once, each in its own process; every line names its mode.
# Watch the task count: leaky climbs by about one per timeout (each timeout
# leaves a task parked forever on a send nobody will receive), and the leak
# detector reports each one as the caller walks away; leaky-wake is the same
# code under the wake policy (stranded tasks get ROOST_ELEAKED and exit), and
# stays flat like fixed. bench/go/story is the same program in Go.
set -eu

bin=${1:?usage: story.sh PATH/TO/story [SECONDS]}
secs=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "story: leaky and fixed clients for ${secs}s, 10 ms caller timeout, requests take 0-19 ms"
for mode in leaky leaky-wake fixed; do
    ( rc=0; "$bin" "$mode" "$secs" || rc=$?; echo "$rc" > "$tmp/$mode.rc" ) \
        2>&1 | tee "$tmp/$mode.out" &
done
wait

status=0
for mode in leaky leaky-wake fixed; do
    rc=$(cat "$tmp/$mode.rc" 2>/dev/null || echo 1)
    if [ "$rc" != 0 ]; then
        echo "story: $mode exited with status $rc" >&2
        status=1
    fi
done
[ "$status" = 0 ] || exit "$status"

# "<mode> final tasks N timeouts M"
final() { awk -v k="$2" '$2 == "final" { for (i = 3; i < NF; i++) if ($i == k) print $(i + 1) }' "$tmp/$1.out"; }
lt=$(final leaky tasks); lo=$(final leaky timeouts)
ft=$(final fixed tasks); fo=$(final fixed timeouts)
wt=$(final leaky-wake tasks); wo=$(final leaky-wake timeouts)
lr=$(final leaky leaks-reported)
echo "story: leaky ended with $lt live tasks after $lo timeouts ($lr leaks proved and reported);"
echo "story: the same leaky code with ROOST_LEAK=wake ended with $wt after $wo; fixed with $ft after $fo"
