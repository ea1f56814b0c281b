#!/bin/sh
# gdb_test.sh BUILD - tools/gdb/roost.py on a running service and on a core.
#
# The story's leaky front (examples/story_service.c) is driven for a second,
# which strands tasks parked on a send in do_request_leaky. Then gdb, in
# batch mode, attached to the running process (or, where ptrace may not
# attach, with the process started under gdb and stopped by a signal):
# 'roost tasks' must list them (chan send, spawned in fetch), 'roost bt' on
# one must show do_request_leaky and on task 1 the accept loop, and
# 'roost gcore' writes a core; gdb on that core must show the same.
set -u
BUILD=${1:-build}
bin=$BUILD/examples/story_service
script=tools/gdb/roost.py
tmp=$BUILD/gdb_test
fail() { echo "FAIL  gdb_test: $*"; exit 1; }

command -v gdb >/dev/null 2>&1 || { echo "SKIP  gdb_test: no gdb"; exit 0; }
# Sanitizer builds reserve terabytes of shadow memory: no core of them.
[ -n "${SAN:-}" ] && { echo "SKIP  gdb_test: plain build only (SAN=$SAN)"; exit 0; }
[ -x "$bin" ] || fail "no $bin"

rm -rf "$tmp" && mkdir -p "$tmp"
pids=
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -f "$tmp/core" "$tmp/core.roost"
}
trap cleanup EXIT

wait_listen() {  # wait_listen LOG: sets $addr from its "listening on" line
    for _ in $(seq 400); do
        addr=$(sed -n 's/.*listening on //p' "$1" 2>/dev/null)
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    fail "no 'listening on' in $1: $(cat "$1")"
}

"$bin" upstream 127.0.0.1:0 >"$tmp/upstream.log" 2>&1 &
pids="$pids $!"
wait_listen "$tmp/upstream.log"
up=$addr

# The gdb commands: the listing, a stranded task's backtrace (the first in
# chan send), task 1's, and a core.
cat >"$tmp/cmds" <<EOF
source $script
roost tasks
python t = [x for x in tasks() if x.reason_name() == "chan send"]; gdb.execute("roost bt %d" % t[0].id) if t else print("no task in chan send")
roost bt 1
roost gcore $tmp/core
EOF

attach=1
[ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)" -ge 1 ] && [ "$(id -u)" != 0 ] && attach=0
[ "${GDB_TEST_NO_ATTACH:-}" = 1 ] && attach=0

if [ $attach = 1 ]; then
    "$bin" front leaky 127.0.0.1:0 "$up" 20 1000 >"$tmp/front.log" 2>"$tmp/front.err" &
    front=$!
    pids="$pids $front"
    wait_listen "$tmp/front.log"
    "$bin" load "$addr" 100 4 1 >"$tmp/load.log" 2>&1 || fail "load: $(cat "$tmp/load.log")"
    timeout 300 gdb -nx -batch -p "$front" -x "$tmp/cmds" >"$tmp/live.out" 2>&1
    how="attached"
    # A container may forbid ptrace attach whatever the settings say.
    if grep -q "ptrace: Operation not permitted\|Could not attach" "$tmp/live.out"; then
        kill -9 "$front"
        rm -f "$tmp/front.log"
        attach=0
    fi
fi
if [ $attach = 0 ]; then
    # Started under gdb, which stops it at SIGUSR1, sent once the load is done.
    timeout 300 gdb -nx -batch -ex "handle SIGUSR1 stop nopass" \
        -ex "run front leaky 127.0.0.1:0 $up 20 1000 >$tmp/front.log 2>$tmp/front.err" \
        -x "$tmp/cmds" -ex kill "$bin" >"$tmp/live.out" 2>&1 &
    gdbpid=$!
    pids="$pids $gdbpid"
    wait_listen "$tmp/front.log"
    "$bin" load "$addr" 100 4 1 >"$tmp/load.log" 2>&1 || fail "load: $(cat "$tmp/load.log")"
    gdb=$(ps -o pid= --ppid "$gdbpid" | head -1)                       # timeout's child
    front=$([ -n "$gdb" ] && ps -o pid= --ppid "$gdb" | head -1)       # gdb's
    [ -n "$front" ] || fail "no process under gdb"
    kill -USR1 $front
    wait "$gdbpid"
    how="started under gdb"
fi

check() {  # check FILE WHAT: the expected lines of a session's output
    out=$1
    grep -q "parked    chan send .* fetch at examples/story_service.c:" "$out" ||
        fail "$2: no task parked in chan send from fetch: $(head -40 "$out")"
    n=$(grep -c "parked    chan send" "$out")
    [ "$n" -ge 5 ] || fail "$2: only $n tasks in chan send: $(head -40 "$out")"
    grep -q "^task [0-9]* \[parked, chan send\]: created by fetch" "$out" || fail "$2: no bt header: $(cat "$out")"
    grep -q "^#0 .*roost__block" "$out" || fail "$2: frame 0 is not the park: $(cat "$out")"
    grep -q "^#[0-9]* .* in do_request_leaky at examples/story_service.c:" "$out" ||
        fail "$2: the stranded task's backtrace lacks do_request_leaky: $(cat "$out")"
    grep -q "^#[0-9]* .*[ (]roost_accept[,) ]" "$out" && grep -q "^#[0-9]* .* in server at examples/story_service.c" "$out" ||
        fail "$2: task 1's backtrace lacks the accept loop: $(cat "$out")"
    grep "tasks$" "$out" | head -1
}
live=$(check "$tmp/live.out" "live ($how)") || { echo "$live"; exit 1; }
grep -q "tasks saved in" "$tmp/live.out" || fail "roost gcore: $(tail -5 "$tmp/live.out")"
[ -s "$tmp/core" ] || fail "no core written"

sed -i '/^roost gcore/d' "$tmp/cmds"
timeout 300 gdb -nx -batch "$bin" "$tmp/core" -x "$tmp/cmds" >"$tmp/core.out" 2>&1
core=$(check "$tmp/core.out" "core") || { echo "$core"; exit 1; }
[ "$live" = "$core" ] || fail "the live process had $live, its core $core"
echo "ok    gdb_test ($how: $live; the same from its core)"
