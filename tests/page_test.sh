#!/bin/bash
# page_test.sh - the debug endpoint's live page, loaded by a real browser:
# headless Chromium opens http://HOST:PORT/ of BUILD/prom/svc leaky
# (tests/prom/svc.c) and lets the page's script run (a virtual-time budget
# of 5 s: it polls the endpoint once a second).
#
#   bash tests/page_test.sh [BUILD]
#
# Passes when, after the script ran:
#   - the DOM says the chart drew points (canvas data-points >= 3), the
#     "alive" figure is a count above 0, and the table of largest groups
#     names the leaking spawn site (start_fetch);
#   - a screenshot shows it: the chart's line colour (#1565c0) covers at
#     least 40 pixels over 20 columns (checked by a small PNG reader in
#     python3, standard library only).
# Skipped, with a line saying so, without chromium or python3 (CI installs
# both: .ci/run). Exits 1 on failure.
set -u
BUILD=${1:-${BUILD:-build}}
svc=$BUILD/prom/svc
bad() {
    echo "FAIL  page_test: $1"
    [ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/    | /' "$2" | tail -n 30
    exit 1
}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
if [ -z "$browser" ]; then
    echo "SKIP  page_test: no chromium"
    exit 0
elif ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP  page_test: no python3"
    exit 0
elif [ ! -x "$svc" ]; then
    bad "$svc not built"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-page.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && { kill $pid; wait $pid; } 2>/dev/null; rm -rf "$tmp"' EXIT

# The file exists before the loop reads it (the shell opens it in the child).
: >"$tmp/svc.out"
"$svc" leaky 60 >"$tmp/svc.out" 2>"$tmp/svc.err" &
pid=$!
addr=
for _ in $(seq 400); do
    addr=$(sed -n 's|^svc: debug endpoint on http://\([^/]*\)/$|\1|p' "$tmp/svc.out")
    [ -n "$addr" ] && break
    sleep 0.05
done
[ -n "$addr" ] || bad "svc leaky did not start" "$tmp/svc.err"

# As root Chromium needs --no-sandbox; --disable-dev-shm-usage spares a
# container's small /dev/shm; its own profile folder keeps it off
# the user's; dbus and GPU complaints on stderr are expected here.
chrome() {
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$tmp/profile" --virtual-time-budget=5000 "$@" "http://$addr/" 2>>"$tmp/chrome.err"
}

# ---- the DOM after the script ran
chrome --dump-dom >"$tmp/dom.html" || bad "chromium --dump-dom failed" "$tmp/chrome.err"
python3 - "$tmp/dom.html" >"$tmp/dom.out" 2>&1 <<'EOF' || bad "the page's DOM shows no data" "$tmp/dom.out"
import re, sys
dom = open(sys.argv[1]).read()
m = re.search(r'<canvas id="chart"[^>]*data-points="(\d+)"', dom)
assert m, "no chart canvas with data-points:\n" + dom[:2000]
points = int(m.group(1))
alive = re.search(r'id="alive">(\d+)<', dom)
assert points >= 3, "the chart has %d points" % points
assert alive and int(alive.group(1)) > 0, "alive is not a count above 0"
body = re.search(r'<tbody id="groups">(.*?)</tbody>', dom, re.S)
assert body and "start_fetch" in body.group(1), "the groups table does not name start_fetch"
print("%d points, alive %s" % (points, alive.group(1)))
EOF

# ---- the pixels
chrome --screenshot="$tmp/shot.png" --window-size=960,360 >/dev/null ||
    bad "chromium --screenshot failed" "$tmp/chrome.err"
python3 - "$tmp/shot.png" >"$tmp/png.out" 2>&1 <<'EOF' || bad "the screenshot shows no line on the chart" "$tmp/png.out"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), "PNG depth %d colour type %d" % (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, i = bytearray(stride), [], 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
# The chart's line: #1565c0, give or take the anti-aliasing.
hits, cols = 0, set()
for y, line in enumerate(rows):
    for x in range(w):
        r, g, b = line[x * bpp:x * bpp + 3]
        if abs(r - 0x15) < 40 and abs(g - 0x65) < 40 and abs(b - 0xc0) < 40:
            hits += 1
            cols.add(x)
print("%d line pixels over %d columns" % (hits, len(cols)))
assert hits >= 40 and len(cols) >= 20
EOF
echo "ok    page_test (Chromium: the live chart drew $(cat "$tmp/dom.out"); $(cat "$tmp/png.out"))"
