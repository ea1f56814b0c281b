/* check.h - the test suite's assertions and helpers. Header only.
 *
 * Assertions are never compiled out (no NDEBUG dependence): a failed check
 * prints file:line, the expression and the values, then aborts the whole
 * process, whichever task or thread it failed on.
 *
 *   CHECK(cond)           cond must be true
 *   CHECK_EQ(a, b)        integer equality, both values printed
 *   CHECK_NE/LT/LE/GT/GE  integer comparisons
 *   CHECK_OK(expr)        expr must return ROOST_OK (prints roost_strerror)
 *   CHECK_ERR(expr, code) expr must return the ROOST_E* code `code`
 *   CHECK_PTR(a, b)       pointer equality
 *
 * Running tests:
 *   run_test("name", fn)  runs fn(NULL) as a task with roost_run, checks that
 *                         it returned 0, that no task it spawned is still
 *                         alive, and prints "ok name".
 *   check_no_leaks()      every program ends with it: roost_check_leaks
 *                         (roost_obs.h) waits (up to 2 s, scaled under
 *                         valgrind) for the live task count to reach 0 and
 *                         fails, listing every task left with its spawn
 *                         site, wait reason and stack, if it does not.
 *
 * Scaling: check_quick() is true under valgrind (VALGRIND or
 * ROOST_TEST_QUICK set) and TSan; use SCALE(normal, quick) for loop counts and
 * check_slack() for timing upper bounds.
 */
#ifndef ROOST_TEST_CHECK_H
#define ROOST_TEST_CHECK_H

#define _GNU_SOURCE
#include "roost.h"
#include "roost_obs.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#if defined(__GNUC__)
#define CHECK__UNUSED __attribute__((unused))
#else
#define CHECK__UNUSED
#endif

static CHECK__UNUSED void check__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static CHECK__UNUSED void check__fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " [task %" PRIu64 "]\n", roost_task_id());
    fflush(stderr);
    abort();
}

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) check__fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)

#define CHECK_MSG(cond, ...)                                       \
    do {                                                           \
        if (!(cond)) check__fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define CHECK__CMP(a, b, op)                                                                        \
    do {                                                                                            \
        long long check__a = (long long)(a), check__b = (long long)(b);                             \
        if (!(check__a op check__b))                                                                \
            check__fail(__FILE__, __LINE__, "CHECK(%s %s %s): %lld vs %lld", #a, #op, #b, check__a, \
                        check__b);                                                                  \
    } while (0)

#define CHECK_EQ(a, b) CHECK__CMP(a, b, ==)
#define CHECK_NE(a, b) CHECK__CMP(a, b, !=)
#define CHECK_LT(a, b) CHECK__CMP(a, b, <)
#define CHECK_LE(a, b) CHECK__CMP(a, b, <=)
#define CHECK_GT(a, b) CHECK__CMP(a, b, >)
#define CHECK_GE(a, b) CHECK__CMP(a, b, >=)

#define CHECK_PTR(a, b)                                                                                   \
    do {                                                                                                  \
        const void *check__a = (const void *)(a), *check__b = (const void *)(b);                          \
        if (check__a != check__b)                                                                         \
            check__fail(__FILE__, __LINE__, "CHECK_PTR(%s == %s): %p vs %p", #a, #b, check__a, check__b); \
    } while (0)

/* expr must return `code` (a ROOST_E* value or 0). */
#define CHECK_ERR(expr, code)                                                                           \
    do {                                                                                                \
        int check__got = (int)(expr), check__want = (int)(code);                                        \
        if (check__got != check__want)                                                                  \
            check__fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)", #expr, check__got, \
                        roost_strerror(check__got), check__want, roost_strerror(check__want));          \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, ROOST_OK)

/* ------------------------------------------------------------ environment */

#if defined(__SANITIZE_THREAD__)
#define CHECK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_TSAN 1
#endif
#endif

/* True under valgrind (VALGRIND or ROOST_TEST_QUICK set) and under TSan:
 * TSan is slow at task creation and counts every live task (fiber) against
 * its limit of 8128 threads, so tests keep far fewer tasks alive there. */
static CHECK__UNUSED int check_quick(void) {
#ifdef CHECK_TSAN
    return 1;
#endif
    const char *v = getenv("VALGRIND");
    const char *q = getenv("ROOST_TEST_QUICK");
    return (v && *v && strcmp(v, "0") != 0) || (q && *q && strcmp(q, "0") != 0);
}

/* A loop count: `normal` normally, `quick` under valgrind / ROOST_TEST_QUICK. */
#define SCALE(normal, quick) (check_quick() ? (quick) : (normal))

/* Multiplier for timing upper bounds (sanitizers and valgrind are slow). */
static CHECK__UNUSED int64_t check_slack(void) {
    const char *v = getenv("VALGRIND");
    const char *q = getenv("ROOST_TEST_QUICK");
    if ((v && *v && strcmp(v, "0") != 0) || (q && *q && strcmp(q, "0") != 0)) return 10;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return 3;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
    return 3;
#endif
#endif
    return 1;
}

/* Nanoseconds since t0 (a roost_now() value). */
static CHECK__UNUSED int64_t check_since(int64_t t0) { return roost_now() - t0; }

/* Start the runtime with `workers` worker threads unless $ROOST_WORKERS is
 * set (run.sh's second pass sets it to 1), in which case the variable wins.
 * Call from main before anything else touches roost. */
static CHECK__UNUSED void check_init_workers(int workers) {
    const char *e = getenv("ROOST_WORKERS");
    roost_config_t cfg = {0};
    cfg.workers = (e && *e) ? 0 : workers;
    CHECK_OK(roost_init(&cfg));
    CHECK_GE(roost_workers(), 1);
    if (!(e && *e)) CHECK_EQ(roost_workers(), workers);
}

/* Tiny xorshift for tests (per-caller state, no shared globals). */
static CHECK__UNUSED uint64_t check_rand(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* ------------------------------------------------------------ running */

/* Output is line buffered so a log shows how far a hung test got, and a
 * watchdog (SIGALRM) names the test that hangs and aborts before run.sh's
 * own timeout kills the program silently. */
static const char *volatile check__current = "(main)";

static CHECK__UNUSED void check__on_alarm(int sig) {
    static const char pre[] = "\nFAILED: watchdog: test '";
    static const char post[] = "' hung\n";
    const char *n = check__current;
    (void)sig;
    if (write(2, pre, sizeof pre - 1) < 0) {
    }
    if (write(2, n, strlen(n)) < 0) {
    }
    if (write(2, post, sizeof post - 1) < 0) {
    }
    abort();
}

/* Arm the watchdog for the named step: normally 60 s, longer under
 * sanitizers, but always under run.sh's 300 s. 0 seconds disarms it. */
static CHECK__UNUSED void check_watchdog(const char *name) {
    check__current = name ? name : "(main)";
    if (!name) {
        alarm(0);
        return;
    }
    signal(SIGALRM, check__on_alarm);
    int64_t secs = 60 * check_slack();
    if (secs > 280) secs = 280;
    alarm((unsigned)secs);
}

__attribute__((constructor)) static void check__init(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

static CHECK__UNUSED void check_no_leaks(void) {
    int64_t timeout = 2 * ROOST_S * check_slack();
    check_watchdog("check_no_leaks");
    /* roost's goleak: lists each task left (site, wait reason, stack). */
    int64_t left = roost_check_leaks(0, timeout, 2);
    if (left) {
        fflush(stdout);
        fprintf(stderr, "FAILED: %" PRId64 " task(s) still alive after the test\n", left);
        fflush(stderr);
        abort();
    }
    CHECK_EQ(roost_task_count(), 0);
    check_watchdog(NULL);
}

static CHECK__UNUSED void check__run_test(const char *name, void (*fn)(void *)) {
    int64_t t0 = roost_now();
    check_watchdog(name);
    int rc = roost_run(fn, NULL);
    if (rc != ROOST_OK) {
        fflush(stdout);
        fprintf(stderr, "FAILED: roost_run(%s) returned %d (%s)\n", name, rc, roost_strerror(rc));
        abort();
    }
    /* Every test cleans up after itself: attribute stray tasks to it. */
    int64_t left = roost_check_leaks(0, 2 * ROOST_S * check_slack(), 2);
    if (left) {
        fflush(stdout);
        fprintf(stderr, "FAILED: %s left %" PRId64 " task(s) alive\n", name, left);
        abort();
    }
    check_watchdog(NULL);
    printf("ok %s (%.1f ms)\n", name, (double)check_since(t0) / 1e6);
    fflush(stdout);
}
#define run_test(name, fn) check__run_test((name), (fn))
#define RUN(fn) check__run_test(#fn, (fn))

#endif
