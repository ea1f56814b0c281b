# bench/gobuild.sh - the Go side's toolchain, sourced by bench/run.sh (make
# bench) and bench/scale-bundle.sh (make scale-bundle).
#
# go_build_all OUTDIR LOGDIR [PROGRAMS]: make sure `go` is there (installing
# Debian's golang-go with apt-get when it is missing and we are root, or
# have password-less sudo), then build each program of bench/go/ into
# OUTDIR. Static binaries (CGO_ENABLED=0), so they run on a machine with
# no Go and another libc. Sets go_ok=1 when every build worked, else 0;
# build logs go to LOGDIR/go-build-NAME.log.
GO_PROGS="skynet pingpong yield selectb mpmc parked profile100k group_fanout mutex_contended echo_rtt echo_conns http_hello timer_lateness debug_scrape"

ensure_go() {  # LOGDIR
    command -v go >/dev/null 2>&1 && return 0
    echo "bench: go not found; installing golang-go (log: $1/bench-apt.log)"
    if [ "$(id -u)" = 0 ]; then
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go; } \
            >"$1/bench-apt.log" 2>&1
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        { sudo -n apt-get update && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go; } \
            >"$1/bench-apt.log" 2>&1
    else
        echo "bench: not root and no sudo: cannot install golang-go"
    fi
    command -v go >/dev/null 2>&1
}

go_build_all() {  # OUTDIR LOGDIR [PROGRAMS]
    go_ok=0
    mkdir -p "$1" "$2"
    if ! ensure_go "$2"; then
        echo "bench: no Go toolchain; the go column will read FAIL"
        return 1
    fi
    # The go tool keeps its cache under $HOME; use LOGDIR when that cannot work.
    if [ -z "${HOME:-}" ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
        GOCACHE=$2/go-cache GOPATH=$2/go-path
        export GOCACHE GOPATH
    fi
    go_ok=1
    for p in ${3:-$GO_PROGS}; do
        if ! (cd "$ROOT/bench/go" && CGO_ENABLED=0 GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local \
                go build -o "$1/$p" "./$p") >"$2/go-build-$p.log" 2>&1; then
            echo "bench: go build $p failed:"; sed 's/^/    /' "$2/go-build-$p.log"
            go_ok=0
        fi
    done
    echo "bench: $(go version)"
}
