/* prim.c - the low-level primitives the runtime is built on: the futex
 * calls, the spin lock's slow path, the monotonic clock, and the fatal
 * error exit.
 *
 * The one idea: each is a thin layer over one system facility, with no
 * state of its own, so that every other file can use them at any moment
 * (on a worker, on a plain thread, in a signal-free helper thread).
 *
 * Invariants:
 *   - A spin lock (internal.h) is an int: 0 free, 1 held; only its holder
 *     stores 0. roost__spin_slow returns holding it.
 *   - roost__futex_wait may return spuriously: callers loop on their word.
 */
#include "scheduler.h"
#include "heaptrack.h"
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void roost__fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("roost: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void roost__assert_fail(const char *file, int line, const char *expr) {
    roost__misuse(NULL,
                  "internal invariant broken at %s:%d: %s (a bug in roost, or its memory "
                  "overwritten by the program)",
                  file, line, expr);
}

void roost__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns) {
    struct timespec ts, *tp = NULL;
#ifdef ROOST_TSAN
    /* TSan holds an asynchronous signal back until the thread next leaves
     * one of its interceptors, and the kernel restarts a futex wait: a
     * thread asleep here would never take the reachability proof's stop
     * signal (reach.c). So wait 10 ms at most (a spurious return), then
     * pass through an interceptor, where a signal held back is handled. */
    if (timeout_ns < 0 || timeout_ns > 10 * ROOST_MS) timeout_ns = 10 * ROOST_MS;
#endif
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / ROOST_S;
        ts.tv_nsec = timeout_ns % ROOST_S;
        tp = &ts;
    }
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
#ifdef ROOST_TSAN
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    roost__heaptrack_quiesce(); /* not inside a realloc: what it freed leaves the table */
#endif
}

void roost__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Contended: back off exponentially between looks, so the waiters do not
 * keep pulling the lock's cache line away from its holder; after a while
 * give the OS thread up (the holder may have been preempted). */
void roost__spin_slow(atomic_int *l) {
    unsigned backoff = 1;
    for (unsigned i = 0;; i++) {
        if (!atomic_load_explicit(l, memory_order_relaxed) &&
            !atomic_exchange_explicit(l, 1, memory_order_acquire))
            return;
        if (i < 64) {
            for (unsigned k = 0; k < backoff; k++) roost__cpu_relax();
            if (backoff < 64) backoff <<= 1;
        } else {
            sched_yield();
        }
    }
}

int64_t roost_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * ROOST_S + ts.tv_nsec;
}
