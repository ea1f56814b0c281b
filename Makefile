# roost - build, test, benchmark, install.
#
#   make              static + shared library in build/
#   make demo         the story as services on loopback: leaky, fixed, wake, charted
#   make check        every test (tests/*.c), each one its own program
#   make check SAN=asan | SAN=tsan     the suite under ASan+UBSan or TSan (build/asan, build/tsan)
#   make check DEBUG=1                 the suite with the invariant checks (build/debug)
#   make valgrind-check                the suite under valgrind
#   make check-aarch64                 the suite cross-built for AArch64, run under qemu-user
#   make bench        roost vs Go, side by side; writes build/bench.tsv
#   make insns        hot-path instruction counts (callgrind) against bench/insns.baseline
#   make lint         each src/*.c alone: -Wall -Wextra -Wshadow, clang --analyze,
#                     gcc -fanalyzer (tools/lint.sh; false findings in tools/lint.supp)
#   make format-check whether the sources follow .clang-format (clang-format)
#   make fuzz [FUZZ_SECONDS=60]        libFuzzer on the debug endpoint's request parser (clang)
#   make scale-bundle build/scale/: static benchmark programs (both sides) and
#                     bench/scale.sh, to carry to a many-core machine
#   make scale        that bundle, run here: roost vs Go at 1..16 workers
#   make install PREFIX=/usr/local     headers, libroost.a, libroost.so, roost.pc
#
# Variables: SAN (none|asan|tsan), BUILD (output folder), CC, PREFIX, DESTDIR,
# LDFLAGS (extra link flags for programs), HAVE_LIBDW (0: build without libdw),
# LTO (0: no link-time optimisation; the default with GCC is 1 unless SAN),
# DEBUG (1: check the core files' invariants, ROOST_DEBUG, in build/debug;
# the sanitizer builds always do).

CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?=
ARCH    ?= $(shell uname -m)

CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=int-conversion -Werror=incompatible-pointer-types -g -fno-omit-frame-pointer -fPIC -fno-semantic-interposition -pthread -Iinclude -Isrc
ifeq ($(SAN),asan)
  BUILD_DEFAULT := build/asan
  CFLAGS := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS_SAN := -fsanitize=address,undefined
else ifeq ($(SAN),tsan)
  BUILD_DEFAULT := build/tsan
  CFLAGS := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=thread -Wno-tsan
  LDFLAGS_SAN := -fsanitize=thread
else
  BUILD_DEFAULT := build
  CFLAGS := $(CFLAGS_BASE) -O2
  LDFLAGS_SAN :=
endif
# Invariant checks (src/internal.h, ROOST_ASSERT): in the sanitizer runs,
# and with DEBUG=1.
ifneq ($(SAN),)
  CFLAGS += -DROOST_DEBUG
else ifeq ($(DEBUG),1)
  BUILD_DEFAULT := build/debug
  CFLAGS += -DROOST_DEBUG
endif
LDLIBS := -pthread
BUILD ?= $(BUILD_DEFAULT)
# The library's own units: GNU extensions (pthread_setname_np, ...).
LIB_CFLAGS := -D_GNU_SOURCE
# Link-time optimisation (GCC), on by default in the plain build: the hot
# paths cross units (a channel operation, its park and the switch are one
# call chain in chan.c, park.c and sched.c) and must inline as one; see
# docs/design.md, "Units". The sanitizer builds compile the units as they
# are. LTO=0 turns it off (any compiler then builds roost, a little slower).
ifeq ($(SAN),)
  LTO ?= $(if $(shell $(CC) -v 2>&1 | grep '^gcc version'),1,0)
endif
ifeq ($(LTO),1)
  LIB_CFLAGS += -flto
endif

# libdw (Debian libdw-dev), optional: with it, stacks in profiles and leak
# reports show file:line; without it, function names only (src/profile.c
# uses it when its header is there, so probe with the same compiler and
# pass -DROOST_NO_LIBDW when it cannot link).
H := \#
# The header alone is not enough: a cross compiler can see the host's
# header without a library of its own architecture to link.
HAVE_LIBDW := $(shell printf '$(H)include <elfutils/libdwfl.h>\nint main(void) { return dwfl_version(0) == 0; }\n' | \
    $(CC) -x c - -ldw -o /dev/null >/dev/null 2>&1 && echo 1)
ifeq ($(HAVE_LIBDW),1)
  LDLIBS += -ldw
  PC_REQUIRES_PRIVATE := libdw  # its own .pc brings libelf, zlib, ... for static links
else
  CFLAGS += -DROOST_NO_LIBDW
endif

# One context-switch file per architecture; ucontext is the portable fallback.
ifeq ($(ARCH),x86_64)
  SWITCH_SRC := src/arch/switch_x86_64.S
else ifeq ($(ARCH),aarch64)
  SWITCH_SRC := src/arch/switch_aarch64.S
else
  SWITCH_SRC := src/arch/switch_ucontext.c
endif

# The version, read from the public header (its one home).
version_part = $(shell sed -n 's/^$(H)define ROOST_VERSION_$(1) \([0-9][0-9]*\).*/\1/p' include/roost.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION_MINOR := $(call version_part,MINOR)
VERSION_PATCH := $(call version_part,PATCH)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
# SONAME: MAJOR.MINOR while MAJOR is 0 (a 0.x minor release may break the
# ABI), MAJOR alone from 1.0 on. The real file carries the full version;
# libroost.so (for -lroost) and the SONAME are links to it.
ifeq ($(VERSION_MAJOR),0)
  SONAME := libroost.so.$(VERSION_MAJOR).$(VERSION_MINOR)
else
  SONAME := libroost.so.$(VERSION_MAJOR)
endif
SOREAL := libroost.so.$(VERSION)

# What the objects were built with. The file changes (and everything is
# rebuilt) when the compiler, the flags or the libdw probe change, so a
# library built without libdw is never installed with a roost.pc asking
# for it, nor the other way round.
CONFIG_STAMP := $(BUILD)/config.stamp
CONFIG_LINE := CC=$(CC) CFLAGS=$(CFLAGS) LIB_CFLAGS=$(LIB_CFLAGS) LDLIBS=$(LDLIBS) SWITCH=$(SWITCH_SRC) VERSION=$(VERSION)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(CONFIG_STAMP) 2>/dev/null)" = '$(CONFIG_LINE)' ] || printf '%s\n' '$(CONFIG_LINE)' > $(CONFIG_STAMP); })

# Every src/*.c is a unit of its own (one object each), plus the switch.
LIB_SRCS := $(wildcard src/*.c)
UNIT_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
ifeq ($(LTO),1)
  LIB_OBJS := $(BUILD)/obj/roost.o $(BUILD)/obj/switch.o
else
  LIB_OBJS := $(UNIT_OBJS) $(BUILD)/obj/switch.o
endif
TEST_SRCS := $(wildcard tests/*.c)
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))
# The blocking-bug patterns (docs/leaks.md): each a leaky and a fixed variant.
BUG_SRCS := $(wildcard tests/bugs/*.c)
BUGS := $(patsubst tests/bugs/%.c,$(BUILD)/bugs/%,$(BUG_SRCS))
# GoBench's GoKer blocking kernels ported to roost (tests/goker.sh).
GOKER_SRCS := $(wildcard tests/goker/*.c)
GOKERS := $(patsubst tests/goker/%.c,$(BUILD)/goker/%,$(GOKER_SRCS))
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
HEADERS := $(wildcard include/*.h)
INTERNAL := $(wildcard src/*.h)

.PHONY: lint format-check fuzz insns bugs all lib check check-aarch64 valgrind-check demo bench scale scale-bundle examples install uninstall clean
all: lib
lib: $(BUILD)/libroost.a $(BUILD)/libroost.so

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(INTERNAL) $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -c $< -o $@

# LTO=1: the units optimised together at link time into one plain object
# (a relocatable link), so that the static library needs no LTO from the
# programs that link it, and the shared one is made from the same object.
$(BUILD)/obj/roost.o: $(UNIT_OBJS)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -flto=auto -r -flinker-output=nolto-rel $^ -o $@

$(BUILD)/obj/switch.o: $(SWITCH_SRC) $(INTERNAL) $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libroost.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libroost.so: $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $(BUILD)/$(SOREAL) $^ $(LDFLAGS_SAN) $(LDLIBS)
	ln -sf $(SOREAL) $(BUILD)/$(SONAME)
	ln -sf $(SOREAL) $@

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bugs/%: tests/bugs/%.c tests/bugs/bug.h $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/bugs $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDLIBS)

$(BUILD)/goker/%: tests/goker/%.c tests/bugs/bug.h $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/bugs $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDLIBS)

# The services tests/prom_test.sh and tests/page_test.sh point real tools at.
$(BUILD)/prom/%: tests/prom/%.c $(BUILD)/libroost.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(BUILD)/libroost.a $(LDFLAGS_SAN) $(LDLIBS)

# The fuzz target's checks without libFuzzer, over the seed corpus: the
# request parser alone, with whatever compiler and sanitizer the suite uses.
$(BUILD)/fuzz/replay_http: tests/fuzz/fuzz_http.c src/http_parse.c src/http_parse.h $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY_MAIN $< src/http_parse.c -o $@ $(LDFLAGS_SAN)

examples: $(EXAMPLES)

# Every bug pattern, both variants, classed against docs/leaks.md's table.
bugs: $(BUGS) $(GOKERS)
	@BUILD=$(BUILD) sh tests/bugs.sh
	@BUILD=$(BUILD) sh tests/goker.sh

# Each test is its own program; tests/run.sh runs them all and summarises.
check: $(TESTS) $(EXAMPLES) $(BUGS) $(GOKERS) $(BUILD)/prom/svc $(BUILD)/fuzz/replay_http
	@BUILD=$(BUILD) SAN=$(SAN) RUNNER="$(RUNNER)" sh tests/run.sh $(TESTS)
	@if [ -z "$(RUNNER)" ]; then BUILD=$(BUILD) sh tests/bugs.sh; fi
	@if [ -z "$(RUNNER)" ]; then BUILD=$(BUILD) sh tests/goker.sh; fi
	@if [ -z "$(RUNNER)" ]; then sh tests/pprof_test.sh $(BUILD)/tests/test_profile; fi
	@if [ -z "$(RUNNER)" ]; then sh tests/debug_test.sh $(BUILD); fi
	@# Not under TSan: it runs a signal handler only at the receiving thread's
	@# next intercepted call, and the main thread sits in roost_run's futex.
	@if [ -z "$(RUNNER)" ] && [ "$(SAN)" != tsan ]; then bash tests/io_examples.sh $(BUILD); fi
	@$(RUNNER) $(BUILD)/examples/groups >$(BUILD)/examples/groups.log 2>&1 || { cat $(BUILD)/examples/groups.log; exit 1; }
	@$(RUNNER) $(BUILD)/fuzz/replay_http tests/fuzz/corpus >$(BUILD)/fuzz/replay.log 2>&1 || { cat $(BUILD)/fuzz/replay.log; exit 1; }
	@# Prometheus with the shipped alert rules, and Chromium on the live page,
	@# against tests/prom/svc: what the tools see, which the plain and ASan
	@# runs cover (TSan would only slow them down).
	@if [ -z "$(RUNNER)" ] && [ "$(SAN)" != tsan ]; then bash tests/prom_test.sh $(BUILD); fi
	@if [ -z "$(RUNNER)" ] && [ "$(SAN)" != tsan ]; then bash tests/page_test.sh $(BUILD); fi
	@# The story over loopback (make demo --quick) and the gdb extension on it.
	@if [ -z "$(RUNNER)" ] && [ "$(SAN)" != tsan ]; then sh tests/demo_test.sh $(BUILD); fi
	@if [ -z "$(RUNNER)" ]; then SAN=$(SAN) sh tests/gdb_test.sh $(BUILD); fi

# The suite cross-built for AArch64 and run under qemu-user: checks
# src/arch/switch_aarch64.S on an x86_64 machine (Debian packages
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user).
check-aarch64:
	$(MAKE) check CC=aarch64-linux-gnu-gcc ARCH=aarch64 BUILD=build/aarch64 \
	    RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"

valgrind-check: $(TESTS)
	@BUILD=$(BUILD) VALGRIND=1 sh tests/run.sh $(TESTS)

# libFuzzer on the debug endpoint's request parser: clang (Debian clang and
# libclang-rt-14-dev) with ASan and UBSan. Seeds in tests/fuzz/corpus (read
# only); what it finds that is new goes to $(BUILD)/fuzz/corpus, a crashing
# input to $(BUILD)/fuzz/crash-*. Stops after FUZZ_SECONDS.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/fuzz_http: tests/fuzz/fuzz_http.c src/http_parse.c src/http_parse.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
	    $< src/http_parse.c -o $@

fuzz: $(BUILD)/fuzz/fuzz_http
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_http -max_total_time=$(FUZZ_SECONDS) -max_len=9000 -timeout=10 \
	    -dict=tests/fuzz/http.dict -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus

# The story as services on loopback, charted (examples/story_demo.sh; a
# minute; DEMO_FLAGS=--quick: 4 s).
demo: $(BUILD)/examples/story_service
	sh examples/story_demo.sh $(DEMO_FLAGS) $(BUILD)

bench: $(BENCHES) $(BUILD)/examples/http_hello
	sh bench/run.sh $(BUILD)

# Instruction counts of the hot paths at one worker, against
# bench/insns.baseline (fails on a rise over INSNS_TOLERANCE%, default 3;
# UPDATE=1 rewrites the baseline). Needs valgrind. Always the plain -O2 build.
INSNS_PROGS := pingpong yield select4 mpmc skynet
insns: $(patsubst %,$(BUILD)/bench/%,$(INSNS_PROGS))
	@UPDATE=$(UPDATE) sh bench/insns.sh $(BUILD)

# Static analysis of each unit on its own (Debian packages gcc, clang):
# fails on any finding not excused in tools/lint.supp.
lint:
	@sh tools/lint.sh

# The C sources against .clang-format; lists the files that differ.
FORMAT_SRCS := $(wildcard src/*.c src/*.h src/arch/*.c include/*.h tests/*.c tests/*.h \
    tests/bugs/*.c tests/bugs/*.h tests/goker/*.c tests/fuzz/*.c tests/prom/*.c bench/*.c bench/*.h examples/*.c)
format-check:
	@bad=; for f in $(FORMAT_SRCS); do \
	    clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || bad="$$bad $$f"; done; \
	if [ -n "$$bad" ]; then echo "format-check: not as .clang-format says (clang-format -i FILE):$$bad"; exit 1; fi; \
	echo "format-check: ok"

# Scaling runs (docs/design.md, "Scaling"): the programs must run on a
# machine where nothing can be installed, so link them statically and
# without libdw, in a build folder of their own.
SCALE_BUILD := build/scale-build
scale-bundle:
	$(MAKE) BUILD=$(SCALE_BUILD) HAVE_LIBDW=0 LDFLAGS=-static \
	    $(SCALE_BUILD)/bench/skynet $(SCALE_BUILD)/bench/pingpong \
	    $(SCALE_BUILD)/bench/select4 $(SCALE_BUILD)/bench/mpmc
	sh bench/scale-bundle.sh build/scale $(SCALE_BUILD)

scale: scale-bundle
	sh build/scale/scale.sh build/scale

# A real install as root refreshes the dynamic linker's cache from
# /etc/ld.so.conf (which names /usr/local/lib on Debian), so programs find
# the library at once. Staged (DESTDIR) and non-root installs leave that to
# the packager, or to LD_LIBRARY_PATH for a prefix the cache does not know.
LDCONFIG := if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then echo ldconfig; ldconfig; fi

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libroost.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/$(SOREAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(SOREAL) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SOREAL) $(DESTDIR)$(PREFIX)/lib/libroost.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES_PRIVATE)|g' \
	    roost.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc
	install -d $(DESTDIR)$(PREFIX)/share/gdb/auto-load$(PREFIX)/lib
	install -m 644 tools/gdb/roost.py $(DESTDIR)$(PREFIX)/share/gdb/auto-load$(PREFIX)/lib/$(SOREAL)-gdb.py
	@$(LDCONFIG)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/roost*.h $(DESTDIR)$(PREFIX)/lib/libroost.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc
	rm -f $(DESTDIR)$(PREFIX)/share/gdb/auto-load$(PREFIX)/lib/libroost.so.*-gdb.py
	@$(LDCONFIG)

clean:
	rm -rf build
