#!/bin/sh
# install_test.sh - install roost into a temporary prefix and build a program
# against the installed copy, the way a user would.
#
#   usage: sh tests/install_test.sh          (from anywhere; BUILD=, CC= honoured)
#
# 1. `make install PREFIX=$tmp` puts roost.h, libroost.a, libroost.so and
#    roost.pc under $tmp.
# 2. examples/hello.c is compiled with only what pkg-config says (no -I or -L
#    into the source tree): once linked statically against libroost.a, once
#    against libroost.so (run with LD_LIBRARY_PATH).
# 3. Both programs must print exactly what hello.c promises.
# 4. The public header must compile on its own as C99 and as C++.
# 5. `make uninstall PREFIX=$tmp` must remove what install put there.
# 6. With README=1 (CI, as root on a fresh machine): the README's install
#    lines verbatim: `make install` into /usr/local, then the README's taste
#    program built with `cc taste.c $(pkg-config --cflags --libs roost)` and
#    run with no LD_LIBRARY_PATH; then `make uninstall` again.
# Exits non-zero on the first failure.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}

fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
step() { echo "install_test: $*"; }

command -v pkg-config >/dev/null 2>&1 ||
    fail "pkg-config not found; install it (Debian: apt-get install -y pkg-config, as .ci/run does)"
command -v make >/dev/null 2>&1 || fail "make not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/roost-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

# SAN= : the installed library is the plain one whatever the caller's
# environment says; BUILD is passed on so a private build folder works.
step "make install PREFIX=$prefix"
make --no-print-directory install SAN= PREFIX="$prefix" ${BUILD:+BUILD="$BUILD"} >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "make install failed"; }

ver_part() { sed -n "s/^#define ROOST_VERSION_$1 \\([0-9]*\\).*/\\1/p" include/roost.h; }
major=$(ver_part MAJOR) minor=$(ver_part MINOR) patch=$(ver_part PATCH)
if [ "$major" = 0 ]; then soname=libroost.so.$major.$minor; else soname=libroost.so.$major; fi
for f in include/roost.h lib/libroost.a lib/libroost.so lib/$soname lib/libroost.so.$major.$minor.$patch lib/pkgconfig/roost.pc \
         "share/gdb/auto-load$prefix/lib/libroost.so.$major.$minor.$patch-gdb.py"; do
    [ -f "$prefix/$f" ] || fail "make install did not install $f"
done
[ -L "$prefix/lib/libroost.so" ] && [ -L "$prefix/lib/$soname" ] ||
    fail "libroost.so and $soname should be links to libroost.so.$major.$minor.$patch"
if command -v readelf >/dev/null 2>&1; then
    got=$(readelf -d "$prefix/lib/libroost.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
    [ "$got" = "$soname" ] || fail "SONAME is '$got', want $soname"
    step "SONAME $soname: ok"
fi
if grep -q '@' "$prefix/lib/pkgconfig/roost.pc"; then
    fail "roost.pc still has @PLACEHOLDERS@: $(grep '@' "$prefix/lib/pkgconfig/roost.pc")"
fi

PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
pkg-config --exists roost || fail "pkg-config cannot find roost in $PKG_CONFIG_PATH"
version=$(pkg-config --modversion roost)
want_version=$(sed -n 's/^#define ROOST_VERSION_MAJOR \([0-9]*\).*/\1/p' include/roost.h).$(sed -n 's/^#define ROOST_VERSION_MINOR \([0-9]*\).*/\1/p' include/roost.h)
case $version in
    "$want_version" | "$want_version".*) ;;
    *) fail "roost.pc says version $version, roost.h says $want_version" ;;
esac
[ "$(pkg-config --variable=libdir roost)" = "$prefix/lib" ] || fail "libdir is $(pkg-config --variable=libdir roost), want $prefix/lib"
cflags=$(pkg-config --cflags roost)
libs=$(pkg-config --libs roost)
static_libs=$(pkg-config --static --libs roost)
step "pkg-config roost $version: cflags '$cflags' libs '$libs' static '$static_libs'"

# Build outside the tree, so nothing can come from include/ or build/.
cp examples/hello.c "$tmp/hello.c"
cd "$tmp"

expected='sum of squares 1..30 = 9455
recv with 20 ms timeout: timed out
tasks left 0
hello: ok'

check_run() {   # check_run NAME COMMAND...
    name=$1; shift
    rc=0
    out=$("$@" 2>"$tmp/$name.err") || rc=$?
    if [ "$rc" != 0 ]; then
        printf '%s\n' "$out" >&2
        cat "$tmp/$name.err" >&2
        fail "$name exited with status $rc"
    fi
    if [ "$out" != "$expected" ]; then
        printf 'install_test: %s printed:\n%s\n--- expected:\n%s\n' "$name" "$out" "$expected" >&2
        cat "$tmp/$name.err" >&2
        fail "$name: unexpected output"
    fi
    step "$name: ok"
}

needed() { readelf -d "$1" 2>/dev/null | grep NEEDED || true; }

# Static: libroost.a, with the private libraries pkg-config lists for it.
step "static: $CC hello.c $cflags -Wl,-Bstatic $static_libs -Wl,-Bdynamic"
$CC -Wall -Werror -o hello-static hello.c $cflags -Wl,-Bstatic $static_libs -Wl,-Bdynamic ||
    fail "static build against the installed roost failed"
if command -v readelf >/dev/null 2>&1 && needed hello-static | grep -q libroost; then
    fail "hello-static still needs libroost.so: $(needed hello-static)"
fi
check_run hello-static ./hello-static

# Shared: libroost.so, found at run time through LD_LIBRARY_PATH.
step "shared: $CC hello.c $cflags $libs"
$CC -Wall -Werror -o hello-shared hello.c $cflags $libs ||
    fail "shared build against the installed roost failed"
if command -v readelf >/dev/null 2>&1 && ! needed hello-shared | grep -q libroost; then
    fail "hello-shared does not link libroost.so: $(needed hello-shared)"
fi
check_run hello-shared env LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ./hello-shared

# The installed header stands alone, in C99 and in C++.
printf '#include <roost.h>\nint main(void) { return roost_strerror(ROOST_OK) == 0; }\n' > alone.c
$CC -std=c99 -Wall -Wextra -pedantic -Werror $cflags -c alone.c -o alone.o ||
    fail "roost.h does not compile alone as C99"
if command -v "$CXX" >/dev/null 2>&1; then
    cp alone.c alone.cc
    $CXX -Wall -Wextra -Werror $cflags -c alone.cc -o alone-cc.o || fail "roost.h does not compile as C++"
    step "roost.h compiles alone as C99 and C++: ok"
else
    step "roost.h compiles alone as C99: ok ($CXX not found, C++ skipped)"
fi

cd "$root"
step "make uninstall PREFIX=$prefix"
make --no-print-directory uninstall PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1 ||
    { cat "$tmp/uninstall.log" >&2; fail "make uninstall failed"; }
left=$(find "$prefix" -type f | sed "s|^$prefix/||")
[ -z "$left" ] || fail "make uninstall left files behind: $left"

# The README's lines, verbatim, on the real system (CI only: it writes to
# /usr/local and runs ldconfig).
if [ "${README:-0}" = 1 ]; then
    [ "$(id -u)" = 0 ] || fail "README=1 needs root (it installs into /usr/local)"
    taste=$tmp/taste.c
    # The README's "A taste" block: the first ```c block after that heading.
    awk '/^## A taste/ { t = 1 } t && /^```c$/ { c = 1; next } c && /^```$/ { exit } c { print }' README.md >"$taste"
    grep -q 'roost_run' "$taste" || fail "could not extract the taste program from README.md"
    step "README: make install (PREFIX=/usr/local, ldconfig)"
    make --no-print-directory install SAN= ${BUILD:+BUILD="$BUILD"} >"$tmp/sysinstall.log" 2>&1 ||
        { cat "$tmp/sysinstall.log" >&2; fail "make install failed"; }
    ( cd "$tmp" && unset PKG_CONFIG_PATH && cc taste.c $(pkg-config --cflags --libs roost) -o taste ) ||
        fail "the README's build line failed"
    out=$(env -u LD_LIBRARY_PATH "$tmp/taste") || fail "the README's taste program failed"
    printf '%s\n' "$out" | grep -q 'got 3' || fail "taste printed: $out"
    step "README: taste ran: $(printf '%s' "$out" | tr '\n' ' ')"
    make --no-print-directory uninstall >/dev/null 2>&1 || fail "make uninstall (/usr/local) failed"
fi

step "PASS"
