#!/bin/sh
# pprof_test.sh - the machine-readable task profiles, read by the tools that
# consume them: the pprof form by `go tool pprof`, the JSON form by python3.
#
#   sh tests/pprof_test.sh [build/tests/test_profile]
#
# test_profile --write FORMAT FILE parks 7 tasks in chan send (spawned at
# spawn_senders) and 3 in chan receive (spawn_receivers, label role=reader),
# writes the profile to FILE and exits. Each check is skipped, with a line
# saying so, when its tool is not installed; exits 1 if a check fails.

prog=${1:-${BUILD:-build}/tests/test_profile}
if [ ! -x "$prog" ]; then
    echo "FAIL  pprof_test: $prog not built"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-pprof.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() {
    echo "FAIL  pprof_test: $1"
    [ -f "$2" ] && sed 's/^/    | /' "$2" | head -n 40
    fail=1
}

# ---- JSON
if ! "$prog" --write json "$tmp/p.json" >"$tmp/json.log" 2>&1; then
    bad "test_profile --write json failed" "$tmp/json.log"
elif ! command -v python3 >/dev/null 2>&1; then
    echo "skip  pprof_test json: python3 not installed"
elif python3 - "$tmp/p.json" >"$tmp/json.out" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
tasks = d["tasks"]
assert d["total"] == len(tasks), (d["total"], len(tasks))
send = [t for t in tasks if t["wait_reason"] == "chan send"]
recv = [t for t in tasks if t["wait_reason"] == "chan receive"]
assert len(send) == 7 and len(recv) == 3, (len(send), len(recv))
assert all(t["created_at"]["func"] == "spawn_senders" for t in send)
assert all(t["labels"] == {"role": "reader"} and t["name"] == "reader" for t in recv)
assert all(t["state"] == "parked" and t["waiting_s"] >= 0 for t in send + recv)
assert all(any(f["func"] == "send_deep" for f in t["stack"]) for t in send)
assert all(f["pc"].startswith("0x") for t in tasks for f in t["stack"])
print("json ok: %d tasks" % len(tasks))
EOF
then
    echo "ok    pprof_test json ($(cat "$tmp/json.out"))"
else
    bad "the JSON profile does not read back" "$tmp/json.out"
fi

# ---- pprof
if ! "$prog" --write pprof "$tmp/p.pb" >"$tmp/pb.log" 2>&1; then
    bad "test_profile --write pprof failed" "$tmp/pb.log"
elif ! command -v go >/dev/null 2>&1; then
    echo "skip  pprof_test pprof: go not installed"
else
    # pprof keeps its state under $HOME/pprof; keep it out of the real one.
    if ! HOME="$tmp" go tool pprof -raw "$tmp/p.pb" >"$tmp/raw.out" 2>&1; then
        bad "go tool pprof -raw cannot read the profile" "$tmp/raw.out"
    # Each sample is "  COUNT: LOCATION IDS" then a line of its labels; the
    # library may park on more than one path, so a site's count can be
    # spread over several samples: add them up by wait reason.
    elif ! awk '/^ +[0-9]+: / { n = $1 + 0; next }
                /wait_reason:\[chan send\]/ { send += n }
                /wait_reason:\[chan receive\]/ && /role:\[reader\]/ { recv += n }
                END { exit !(send == 7 && recv == 3) }' "$tmp/raw.out" ||
        ! grep -q '^goroutine/count' "$tmp/raw.out" ||
        ! grep -q ' send_deep ' "$tmp/raw.out"; then
        bad "go tool pprof -raw: samples, labels or functions missing" "$tmp/raw.out"
    elif ! HOME="$tmp" go tool pprof -top "$tmp/p.pb" >"$tmp/top.out" 2>&1 ||
        ! grep -Eq ' 7 +[0-9.]+% +send_deep$' "$tmp/top.out"; then
        bad "go tool pprof -top: send_deep does not account for the 7 senders" "$tmp/top.out"
    else
        echo "ok    pprof_test pprof (go tool pprof reads 7 + 3 tasks)"
    fi
fi
exit $fail
