#!/bin/bash
# io_examples.sh BUILD - the I/O examples, driven as a user would: echo and
# http_hello answer over loopback, and each stops cleanly on SIGTERM with a
# client still connected (the graceful shutdown closes idle connections).
# bash for /dev/tcp. Exits non-zero on the first failure.
set -u
BUILD=${1:-build}
fail() { echo "FAIL  io_examples: $*"; exit 1; }

start() {  # start NAME: the example on a free loopback port ($port), waiting for "listening"
    "$BUILD/examples/$1" "127.0.0.1:0" >"$BUILD/io_examples.$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$BUILD/io_examples.$1.log")
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    fail "$1 did not start: $(cat "$BUILD/io_examples.$1.log")"
}
stop() {  # stop NAME: SIGTERM, and it must exit 0 within 10 s
    kill -TERM "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; fail "$1 did not stop on SIGTERM"; }
    wait "$pid" || fail "$1 exited with status $?: $(cat "$BUILD/io_examples.$1.log")"
}

# echo: a line comes back; an idle client is closed at shutdown.
start echo
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "echo: connect"
printf 'ping roost\n' >&3
read -r -t 20 line <&3 || fail "echo: no answer"
[ "$line" = "ping roost" ] || fail "echo answered '$line'"
stop echo
read -r -t 5 rest <&3; exec 3<&-
grep -q "stopped by signal 15" "$BUILD/io_examples.echo.log" || fail "echo: $(cat "$BUILD/io_examples.echo.log")"

# http_hello: two keep-alive requests on one connection, then shutdown with
# the connection still open and idle.
start http_hello
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "http_hello: connect"
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /again HTTP/1.1\r\nHost: x\r\n\r\n' >&3
n=0
while read -r -t 20 line <&3; do
    case $line in "Hello, world"*) n=$((n + 1)); [ $n = 2 ] && break ;; esac
done
[ $n = 2 ] || fail "http_hello: $n of 2 answers"
stop http_hello
exec 3<&-
grep -q "http_hello: done" "$BUILD/io_examples.http_hello.log" || fail "http_hello: $(cat "$BUILD/io_examples.http_hello.log")"
echo "ok    io_examples (echo, http_hello: answers and graceful SIGTERM)"
