/* bug.h - the harness shared by the blocking-bug programs in tests/bugs/.
 *
 * Each program is one blocking-bug pattern of the kind found in real Go code,
 * written the way a roost user would write it, in two variants:
 *
 *   prog leaky    the bug
 *   prog fixed    its idiomatic fix
 *
 * The harness runs the variant as the body of roost_run (the program's
 * "main goroutine"), with the leak policy given by the program (REPORT|WAKE
 * unless it says otherwise) and a hook that prints one line per finding:
 *
 *   LEAK <kind name> tasks=<n>       (roost_leak_kind_name; the full report goes to stderr)
 *
 * Once the variant returns it waits 150 ms (so that tasks stuck since then
 * have been parked longer than the 100 ms suspect threshold), runs
 * roost_leak_scan(100 ms), waits until every report so far has been
 * delivered (bug__flush_reports), then roost_check_leaks(0, 200 ms, 1) (its list of the tasks left goes to
 * stdout) and prints
 *
 *   LEFT <n>
 *
 * and exits 0 without roost_shutdown: a leaky variant may leave tasks parked
 * for good, as a Go program would.
 *
 * A variant whose main itself blocks for good (the global deadlock) cannot
 * do that: a watchdog thread notices that the variant has not returned
 * 150 ms after it started, scans from outside the runtime (a plain thread,
 * as a test harness would), waits up to 1.5 s for the variant to come home
 * (long enough for the runtime's own idle-deadlock check, which fires after
 * 1 s with every worker asleep), and otherwise prints LEFT itself and
 * exits 0.
 *
 * Lines starting NOTE are the programs' own log (errors their tasks got,
 * e.g. ROOST_ELEAKED when woken); tests/bugs.sh ignores them.
 *
 * Convention: a task given a channel reference by its spawner takes it over
 * with roost_chan_adopt (released when the task exits; the task does not
 * unref it). That is how the detector learns who holds what.
 *
 * ROOST_BUG_REACH=1 runs a program as code written with no annotation:
 * roost_chan_adopt does nothing (the reference is kept and never dropped,
 * as a task that forgets its unref would), and the harness runs the
 * reachability proof (roost_leak_prove) before the scan, printing
 *
 *   PROVE <available 0|1> leaked=<n>
 *
 * Its findings come out as `LEAK unreachable tasks=<n>` lines.
 */
#ifndef ROOST_BUG_H
#define ROOST_BUG_H

#define _GNU_SOURCE
#include "roost.h"
#include "roost_obs.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__)
#define BUG__UNUSED __attribute__((unused))
#else
#define BUG__UNUSED
#endif

/* A call that cannot fail in these programs (making a channel, spawning):
 * stop with a message if it does. */
#define MUST(call)                                                                                   \
    do {                                                                                             \
        int must__rc = (int)(call);                                                                  \
        if (must__rc < 0) {                                                                          \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, roost_strerror(must__rc)); \
            fflush(stderr);                                                                          \
            _exit(2);                                                                                \
        }                                                                                            \
    } while (0)

static BUG__UNUSED void *bug_alloc(size_t n) {
    void *p = calloc(1, n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        _exit(2);
    }
    return p;
}

/* One NOTE line on stdout, written whole. */
static BUG__UNUSED __attribute__((format(printf, 1, 2))) void bug_note(const char *fmt, ...) {
    char line[256];
    int n = snprintf(line, sizeof line, "NOTE ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(1, line, (size_t)n) < 0) {
    }
}

/* Wait, up to timeout_ns, until at least n tasks are parked for `reason`
 * (enum roost_wait_reason), polling roost_counts. Programs use it to set up
 * the interleaving their bug needs, which production code gets from bad
 * luck, so that the leaky variant goes wrong on every run, under any load.
 * Returns 1 when the count was reached, 0 on timeout. */
static BUG__UNUSED int bug_wait_parked(int reason, int64_t n, int64_t timeout_ns) {
    int64_t end = roost_now() + timeout_ns;
    for (;;) {
        roost_counts_t c;
        roost_counts(&c);
        if (c.by_reason[reason] >= n) return 1;
        if (roost_now() >= end) return 0;
        if (roost_task_id())
            roost_sleep(NULL, 200 * ROOST_US);
        else
            usleep(200);
    }
}

typedef struct bug_def {
    void (*leaky)(void);
    void (*fixed)(void);
    int policy; /* roost_leak_policy flags; 0: ROOST_LEAK_REPORT | ROOST_LEAK_WAKE */
} bug_def;

/* ------------------------------------------------------------ harness */

static const bug_def *bug__def;
static int bug__leaky;
static _Atomic int bug__stage;       /* 0 starting, 1 variant running, 2 variant returned, 3 done */
static _Atomic int64_t bug__started; /* roost_now() when the variant started */

/* Reports travel through the runtime's reporter thread, which symbolizes
 * the stacks first (tens of ms, hundreds under load): a program that exits
 * right after a leak can exit before its report is out. To know that every
 * report posted so far has been delivered, the harness posts one more, a
 * leak of its own on a sentinel channel, and waits for it: the reporter
 * delivers in order. The hook swallows the sentinel's report. */
static roost_chan_t *_Atomic bug__sentinel_ch;
static _Atomic int bug__sentinel_seen;

static void bug__on_leak(const roost_leak_t *l, void *arg) {
    (void)arg;
    if (l->obj && l->obj == (const void *)atomic_load(&bug__sentinel_ch)) {
        atomic_store(&bug__sentinel_seen, 1);
        return;
    }
    char line[200];
    int n = snprintf(line, sizeof line, "LEAK %s tasks=%zu\n", roost_leak_kind_name(l->kind), l->ntasks);
    if (write(1, line, (size_t)n) < 0) {
    }
    if (l->text && write(2, l->text, strlen(l->text)) < 0) {
    }
}

static void bug__print_left(int64_t left) {
    char line[64];
    int n = snprintf(line, sizeof line, "LEFT %" PRId64 "\n", left);
    if (write(1, line, (size_t)n) < 0) {
    }
}

static void bug__sentinel(void *arg) {
    roost_chan_t *ch = arg;
    (roost_chan_adopt)(ch);          /* the real one, whatever ROOST_BUG_REACH says */
    roost_chan_recv(NULL, ch, NULL); /* stranded: woken with ROOST_ELEAKED */
}

static int bug__wait_stage(int want, int64_t ns);
static void bug__nap(int64_t ns);

/* Wait (up to 3 s) until every report posted so far has reached the hook. */
static void bug__flush_reports(void) {
    roost_chan_t *ch;
    if (roost_chan_make(1, 0, &ch) != 0) return;
    int old = roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE); /* the sentinel must come home */
    atomic_store(&bug__sentinel_seen, 0);
    atomic_store(&bug__sentinel_ch, ch);
    if (roost_go(bug__sentinel, roost_chan_ref(ch)) != 0) roost_chan_unref(ch);
    roost_chan_unref(ch);
    int64_t end = roost_now() + 3 * ROOST_S;
    while (!atomic_load(&bug__sentinel_seen) && roost_now() < end) {
        if (roost_task_id())
            roost_sleep(NULL, ROOST_MS);
        else
            bug__nap(ROOST_MS);
    }
    if (!atomic_load(&bug__sentinel_seen)) bug_note("harness: reports not flushed after 3 s");
    roost_leak_policy(old);
}

/* ROOST_BUG_REACH: no annotation, and the reachability proof. */
static BUG__UNUSED int bug__reach_mode(void) {
    static _Atomic int m = -1; /* read from tasks and the watchdog thread alike */
    int v = atomic_load_explicit(&m, memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("ROOST_BUG_REACH");
        v = e && *e && strcmp(e, "0") != 0;
        atomic_store_explicit(&m, v, memory_order_relaxed);
    }
    return v;
}

static BUG__UNUSED int bug__adopt(roost_chan_t *ch) {
    if (bug__reach_mode()) return 0;
    return (roost_chan_adopt)(ch);
}
#define roost_chan_adopt(ch) bug__adopt(ch)

static __attribute__((noinline)) void bug__prove_print(const roost_leak_proof_t *st) {
    char line[96];
    int n = snprintf(line, sizeof line, "PROVE %d leaked=%lld\n", st->available, (long long)st->leaked);
    if (write(1, line, (size_t)n) < 0) {
    }
}

/* The proof scans the caller's frames as roots (it is running): whatever
 * stale words they hold count. The result is printed from a frame of its
 * own, so that the proving frame carries no uninitialised buffer. */
static __attribute__((noinline)) void bug__prove(void) {
    if (!bug__reach_mode()) return;
    roost_leak_proof_t st;
    roost_leak_prove(&st);
    bug__prove_print(&st);
}

static void bug__body(void *arg) {
    (void)arg;
    roost_leak_policy(bug__def->policy ? bug__def->policy : ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    roost_leak_hook(bug__on_leak, NULL);
    atomic_store(&bug__started, roost_now());
    atomic_store(&bug__stage, 1);
    (bug__leaky ? bug__def->leaky : bug__def->fixed)();
    atomic_store(&bug__stage, 2);
    roost_sleep(NULL, 150 * ROOST_MS); /* let stuck tasks qualify as suspects */
    bug__prove();
    roost_leak_scan(100 * ROOST_MS);
    bug__flush_reports();
    bug__print_left(roost_check_leaks(0, 200 * ROOST_MS, 1));
    /* The experiment is over. Exiting can take a while (TSan sleeps 1 s at
     * exit), long enough for the runtime's idle-deadlock check to see the
     * leftover tasks: keep that out of the results. */
    roost_leak_policy(ROOST_LEAK_OFF);
    atomic_store(&bug__stage, 3);
}

static void bug__nap(int64_t ns) {
    struct timespec ts = {(time_t)(ns / ROOST_S), (long)(ns % ROOST_S)};
    nanosleep(&ts, NULL);
}

/* Wait up to ns for the stage to reach `want`. */
static int bug__wait_stage(int want, int64_t ns) {
    int64_t end = roost_now() + ns;
    while (atomic_load(&bug__stage) < want) {
        if (roost_now() >= end) return 0;
        bug__nap(ROOST_MS);
    }
    return 1;
}

static void bug__hung(void) {
    fprintf(stderr, "bug: the program hung\n");
    _exit(3);
}

static void *bug__watchdog(void *arg) {
    (void)arg;
    if (!bug__wait_stage(1, 5 * ROOST_S)) bug__hung();
    int64_t due = atomic_load(&bug__started) + 150 * ROOST_MS;
    while (atomic_load(&bug__stage) < 2 && roost_now() < due) bug__nap(ROOST_MS);
    if (atomic_load(&bug__stage) < 2) {
        /* The variant's main is stuck: look from outside the runtime. */
        bug__prove();
        roost_leak_scan(100 * ROOST_MS);
        /* 1.5 s: long enough for the runtime's own idle check (every
         * worker asleep for 1 s, src/timer.c) to have its say too. */
        if (!bug__wait_stage(2, 1500 * ROOST_MS)) {
            bug__flush_reports();
            bug_note("main: still blocked; the watchdog ends the program");
            bug__print_left(roost_check_leaks(0, 200 * ROOST_MS, 1));
            roost_leak_policy(ROOST_LEAK_OFF);
            _exit(0);
        }
    }
    /* The body does the rest. */
    if (!bug__wait_stage(3, 5 * ROOST_S)) bug__hung();
    return NULL;
}

static BUG__UNUSED int bug_main(int argc, char **argv, const bug_def *def) {
    if (argc < 2 || (strcmp(argv[1], "leaky") != 0 && strcmp(argv[1], "fixed") != 0)) {
        fprintf(stderr, "usage: %s leaky|fixed\n", argv[0]);
        return 2;
    }
    bug__def = def;
    bug__leaky = strcmp(argv[1], "leaky") == 0;
    pthread_t th;
    if (pthread_create(&th, NULL, bug__watchdog, NULL) != 0) {
        fprintf(stderr, "bug: no watchdog thread\n");
        return 2;
    }
    pthread_detach(th);
    MUST(roost_run(bug__body, NULL));
    fflush(stdout);
    /* Leaked tasks may be parked for good: roost_shutdown would refuse. */
    exit(0);
}

/* BUG_MAIN(leaky, fixed) or BUG_MAIN_POLICY(leaky, fixed, ROOST_LEAK_REPORT). */
#define BUG_MAIN_POLICY(leaky_fn, fixed_fn, pol)                             \
    int main(int argc, char **argv) {                                        \
        static const bug_def bug__the_def = {(leaky_fn), (fixed_fn), (pol)}; \
        return bug_main(argc, argv, &bug__the_def);                          \
    }
#define BUG_MAIN(leaky_fn, fixed_fn) BUG_MAIN_POLICY(leaky_fn, fixed_fn, 0)

#endif
