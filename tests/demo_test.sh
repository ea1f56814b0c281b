#!/bin/sh
# demo_test.sh BUILD - make demo's story, in its quick form, must tell the
# truth: over real loopback sockets the leaky front's task count climbs and
# the fixed front's and the leaky front's under ROOST_LEAK=wake stay flat
# (examples/story_demo.sh checks the verdicts and exits 1 otherwise; this
# checks that it said so, and names each front's debug endpoint when the
# library has one).
set -u
BUILD=${1:-build}
out=$BUILD/demo_test.out
fail() { echo "FAIL  demo_test: $*"; cat "$out"; exit 1; }

sh examples/story_demo.sh --quick "$BUILD" >"$out" 2>&1 || fail "story_demo.sh --quick exited with $?"
grep -q "^verdict leaky: *CLIMBS" "$out" || fail "the leaky front did not climb"
grep -q "^verdict fixed: *flat" "$out" || fail "the fixed front did not stay flat"
grep -q "^verdict leaky+wake: *flat" "$out" || fail "the leaky front under ROOST_LEAK=wake did not stay flat"
if grep -q "roost_debug_start" include/*.h; then
    n=$(grep -c "debug endpoint: http://" "$out")
    [ "$n" = 3 ] || fail "$n of 3 fronts named their debug endpoint"
fi
echo "ok    demo_test ($(grep "^verdict leaky:" "$out" | sed 's/^verdict leaky: *CLIMBS *//; s/;.*//'))"
