#!/bin/bash
# prom_test.sh - the shipped alert rules (tools/prometheus/roost-alerts.yml),
# checked by promtool and then run by a real Prometheus server against two
# live services.
#
#   bash tests/prom_test.sh [BUILD]
#
# 1. promtool check rules: the file loads.
# 2. promtool test rules tests/prom/roost-alerts.test.yml: the unit tests on
#    synthetic series (a leak fires, overall and at its site, and so does a
#    ramp as long as the window; noise, a jump and a short ramp stay silent).
# 3. A Prometheus server on a free loopback port, with its own storage in a
#    temporary folder, scrapes BUILD/prom/svc leaky and BUILD/prom/svc fixed
#    (tests/prom/svc.c) once a second and evaluates the shipped rules with
#    one substitution: the window's quarter is 3s instead of 15m (the
#    durations 15m, 30m, 45m and 1h become 3s, 6s, 9s and 12s, `for` too);
#    the expressions are otherwise the shipped ones, RISE and STEP included.
#    Then /api/v1/alerts must show RoostTasksGrowing and
#    RoostSiteTasksGrowing (at the leaking spawn site, and only there) firing
#    for the leaky service, and nothing, not even pending, for the fixed one
#    at any point, while the fixed one's series span the whole window.
#
# Each part is skipped, with a line saying so, when its tool is missing
# (CI installs prometheus and python3: .ci/run). Exits 1 if a part fails.
set -u
BUILD=${1:-${BUILD:-build}}
here=$(cd "$(dirname "$0")" && pwd)
rules=$here/../tools/prometheus/roost-alerts.yml
fail=0
bad() {
    echo "FAIL  prom_test: $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/    | /' "$2" | tail -n 40
    fail=1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-prom.XXXXXX") || exit 1
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- 1, 2: promtool
if ! command -v promtool >/dev/null 2>&1; then
    echo "SKIP  prom_test rules: no promtool (Debian package prometheus)"
else
    if ! promtool check rules "$rules" >"$tmp/check.out" 2>&1; then
        bad "promtool check rules $rules" "$tmp/check.out"
    elif ! promtool test rules "$here/prom/roost-alerts.test.yml" >"$tmp/unit.out" 2>&1; then
        bad "promtool test rules tests/prom/roost-alerts.test.yml" "$tmp/unit.out"
    else
        echo "ok    prom_test rules (promtool check rules, unit tests)"
    fi
fi

# ---- 3: a real server
svc=$BUILD/prom/svc
if ! command -v prometheus >/dev/null 2>&1; then
    echo "SKIP  prom_test live: no prometheus"
    exit $fail
elif ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP  prom_test live: no python3"
    exit $fail
elif [ ! -x "$svc" ]; then
    bad "$svc not built"
    exit $fail
fi

# The quarter of the window, in seconds, and the scrape and evaluation
# interval. Three scrapes a quarter: a late one still leaves two.
Q=3
sed -e "s/\[15m\]/[${Q}s]/g; s/\[1h\]/[$((4 * Q))s]/g" \
    -e "s/offset 15m/offset ${Q}s/g; s/offset 30m/offset $((2 * Q))s/g; s/offset 45m/offset $((3 * Q))s/g" \
    -e "s/for: 15m/for: ${Q}s/" "$rules" >"$tmp/rules.yml"
# Every duration in an expression or a `for` must have been replaced: a
# change to the shipped windows has to show up here, not pass unnoticed.
if grep -nE '(\[|offset |for: )[0-9]+[mhd]' "$tmp/rules.yml" >"$tmp/left.out"; then
    bad "durations left in the rules after the substitution (update prom_test.sh)" "$tmp/left.out"
    exit $fail
fi

# start_svc NAME: sets $addr ("host:port") once it serves.
start_svc() {
    : >"$tmp/$1.out"   # there before the loop reads it (the child opens it)
    "$svc" "$1" 90 >"$tmp/$1.out" 2>"$tmp/$1.err" &
    pids+=($!)
    for _ in $(seq 400); do
        addr=$(sed -n 's|^svc: debug endpoint on http://\([^/]*\)/$|\1|p' "$tmp/$1.out")
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    return 1
}
start_svc leaky || { bad "svc leaky did not start" "$tmp/leaky.err"; exit $fail; }
leaky=$addr
start_svc fixed || { bad "svc fixed did not start" "$tmp/fixed.err"; exit $fail; }
fixed=$addr

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: leaky
    static_configs: [{targets: ['$leaky']}]
  - job_name: fixed
    static_configs: [{targets: ['$fixed']}]
EOF

# A free port: bind 0, read it, close; a race with another program taking
# it in between is retried.
for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prom.log" 2>&1 &
    ppid=$!
    up=
    for _ in $(seq 300); do
        kill -0 $ppid 2>/dev/null || break
        if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/-/ready', timeout=2)" 2>/dev/null; then
            up=1; break
        fi
        sleep 0.1
    done
    [ -n "$up" ] && break
    kill $ppid 2>/dev/null; wait $ppid 2>/dev/null
done
if [ -z "$up" ]; then
    bad "prometheus did not start" "$tmp/prom.log"
    exit $fail
fi
pids+=($ppid)

# Poll the alerts once a second for up to 60 s (the leaky one fires about
# 5 quarters after the first scrape), then a few more seconds so that the
# fixed one has been judged over a whole window.
if python3 - "$port" "$Q" >"$tmp/live.out" 2>&1 <<'EOF'; then
import json, sys, time, urllib.parse, urllib.request
port, q = sys.argv[1], int(sys.argv[2])
base = "http://127.0.0.1:%s/api/v1/" % port

def get(path, **params):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        d = json.load(r)
    assert d["status"] == "success", d
    return d["data"]

def value(expr):
    r = get("query", query=expr)["result"]
    return float(r[0]["value"][1]) if r else None

t0 = time.time()
deadline = t0 + 60
fired = None
while time.time() < deadline:
    alerts = get("alerts")["alerts"]
    for a in alerts:
        if a["labels"].get("job") == "fixed":
            sys.exit("the fixed service has an alert: %s" % json.dumps(a))
    firing = {a["labels"]["alertname"]: a for a in alerts
              if a["labels"].get("job") == "leaky" and a["state"] == "firing"}
    # The fixed service must have been judged over a full window: its
    # oldest quarter holds samples.
    judged = value('min_over_time(roost:tasks_alive{job="fixed"}[%ds] offset %ds)' % (q, 3 * q))
    if fired is None and {"RoostTasksGrowing", "RoostSiteTasksGrowing"} <= set(firing):
        fired = time.time()
        print("fired:", json.dumps(firing, indent=1))
        site_alerts = [a for a in alerts if a["labels"]["alertname"] == "RoostSiteTasksGrowing"]
        funcs = sorted(a["labels"].get("func", "") for a in site_alerts)
        assert funcs == ["start_fetch"], "site alerts name %s, not just start_fetch" % funcs
        assert "tests/prom/svc.c:" in firing["RoostSiteTasksGrowing"]["labels"]["site"], firing
    if fired is not None and judged is not None and time.time() > fired + q:
        break
    time.sleep(1)
else:
    for e in ('roost:tasks_alive', 'roost_site_tasks', 'up'):
        print(e, json.dumps(get("query", query=e)["result"]))
    sys.exit("timed out: fired %s, fixed judged %s" % (fired, judged))
print("fired after %.0f s; alive: leaky %.0f, fixed %.0f" % (
    fired - t0, value('roost:tasks_alive{job="leaky"}'), value('roost:tasks_alive{job="fixed"}')))
EOF
    echo "ok    prom_test live (Prometheus: the rules fire for the leaky service, $(tail -n 1 "$tmp/live.out"); silent for the fixed one)"
else
    bad "Prometheus against svc leaky and svc fixed" "$tmp/live.out"
    sed 's/^/    | prometheus: /' "$tmp/prom.log" | tail -n 10
fi
exit $fail
