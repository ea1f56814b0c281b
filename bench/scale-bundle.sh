#!/bin/sh
# bench/scale-bundle.sh BUNDLE CBUILD - gather what bench/scale.sh needs into
# BUNDLE: the script, the C programs CBUILD/bench/* (make scale-bundle links
# them statically, without libdw) and the Go programs, built here.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1/roost" "$1/go" || exit 1
BUNDLE=$(cd "$1" && pwd)
for p in skynet pingpong select4 mpmc; do cp "$2/bench/$p" "$BUNDLE/roost/" || exit 1; done
cp "$ROOT/bench/scale.sh" "$BUNDLE/scale.sh" && chmod +x "$BUNDLE/scale.sh"
. "$ROOT/bench/gobuild.sh"
go_build_all "$BUNDLE/go" "$BUNDLE/logs" "skynet pingpong selectb mpmc"
[ "$go_ok" = 1 ] || exit 1
echo "scale-bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)); run $BUNDLE/scale.sh"
