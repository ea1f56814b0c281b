/* init.c - the runtime's lifecycle and configuration: start-up (explicit
 * with roost_init, or on first use), the environment's settings, roost_run,
 * and shutdown.
 *
 * The one idea: everything is decided and allocated once, at start-up,
 * under init_lock: the worker count and the slots for spares, the stack
 * size, the observability level, the blocked-worker threshold. The hot
 * paths then read plain fields that never change while the runtime runs
 * (base, cap, stall_ns), and nworkers, which only grows (scheduler.h).
 *
 * Invariants:
 *   - started goes from false to true only after every worker thread runs
 *     and the timer thread is up; from true to false only in
 *     roost_shutdown, with no task alive and every worker joined.
 *   - A refused configuration (roost_init's EINVAL, ERANGE) changes
 *     nothing: every check comes before the first allocation.
 */
#include "scheduler.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ROOST_HAVE_VALGRIND 1
#endif
#endif

struct roost__sched roost__sched = {
    .init_lock = PTHREAD_MUTEX_INITIALIZER, .idle_lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

/* An integer setting from the environment, with an optional k, m or g
 * suffix. 0 (use the default) when unset; also when it does not parse or
 * is out of [lo, hi], and then a warning says so, once per variable (bit:
 * its flag in `warned`). */
static int env_int(const char *name, unsigned bit, long lo, long hi, long *out) {
    static _Atomic unsigned warned;
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    int shift = 0;
    if (end != s && *end && strchr("kK", *end))
        shift = 10, end++;
    else if (end != s && *end && strchr("mM", *end))
        shift = 20, end++;
    else if (end != s && *end && strchr("gG", *end))
        shift = 30, end++;
    if (end == s || *end || errno || v < 0 || v > (hi >> shift) || (v << shift) < lo) {
        if (!(atomic_fetch_or(&warned, bit) & bit))
            fprintf(stderr, "roost: ignoring %s=%s (not an integer from %ld to %ld); using the default\n",
                    name, s, lo, hi);
        return 0;
    }
    *out = v << shift;
    return 1;
}

/* Set up slot i and start its thread; a spare (started by the monitor while
 * the runtime runs) is counted in only once it is set up. */
void roost__start_worker(int i, bool spare) {
    roost__worker *w = &roost__sched.workers[i];
    w->id = i;
    w->spare = spare;
    w->fair_left = ROOST_FAIR_EVERY;
    atomic_store(&w->site_ctr[0], w->site_ctr0);
    w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ (uint64_t)roost_now();
    char name[24]; /* thread.c keeps the first 15 */
    snprintf(name, sizeof name, spare ? "roost-spare%d" : "roost-w%d", i);
    if (roost__thread_start(&w->thread, roost__worker_main, w, name, false)) {
        if (!spare) roost__fatal("cannot start worker threads");
        return; /* no spare this tick: the next may try again */
    }
    if (spare) {
        atomic_store(&roost__sched.nworkers, i + 1);
        fprintf(stderr, "roost: started spare worker %d while %d worker(s) are blocked\n", i,
                atomic_load(&roost__sched.nblocked));
    }
}

static int start_locked(const roost_config_t *cfg) {
    /* Check everything before anything is set up: a refused config leaves
     * the runtime as it was, not started. */
    if (cfg && (cfg->workers < 0 || cfg->observe < -1 || cfg->observe > 2)) return ROOST_EINVAL;
    if (cfg && (cfg->workers > ROOST_WORKERS_MAX || cfg->stack_size > ROOST_STACK_MAX)) return ROOST_ERANGE;
    long n = cfg && cfg->workers > 0 ? cfg->workers : 0;
    if (!n && !env_int("ROOST_WORKERS", 1, 1, ROOST_WORKERS_MAX, &n)) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n > ROOST_WORKERS_MAX) n = ROOST_WORKERS_MAX;
    }
    long ss = cfg && cfg->stack_size ? (long)cfg->stack_size : 0;
    if (!ss && !env_int("ROOST_STACK_SIZE", 2, 16 << 10, (long)ROOST_STACK_MAX, &ss)) ss = 64 << 10;
    int rc = roost__stack_init((size_t)ss);
    if (rc) return rc;
    long obs = cfg && cfg->observe ? (cfg->observe > 0 ? cfg->observe : 0) : 1;
    if (!(cfg && cfg->observe)) env_int("ROOST_OBSERVE", 4, 0, 2, &obs);
    roost__observe = (int)obs;
    roost__registry_init();
    /* Room for spares (blocked workers' stand-ins): as many again, at most 64. */
    roost__sched.base = (int)n;
    roost__sched.cap = (int)n + (n >= 2 ? (n < 64 ? (int)n : 64) : 0);
    long blocked_ms = 20;
    env_int("ROOST_BLOCKED_MS", 8, 0, 3600 * 1000, &blocked_ms);
    roost__sched.stall_ns = blocked_ms * ROOST_MS;
    /* Under valgrind and the sanitizers everything is slower: so is what
     * counts as blocked. */
#ifdef ROOST_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) roost__sched.stall_ns *= 50;
#endif
#if defined(ROOST_TSAN)
    roost__sched.stall_ns *= 10;
#elif defined(ROOST_ASAN)
    roost__sched.stall_ns *= 3;
#endif
    atomic_store(&roost__sched.nretired, 0);
    atomic_store(&roost__sched.nblocked, 0);
    roost__sched.workers = aligned_alloc(64, sizeof(roost__worker) * (size_t)roost__sched.cap);
    if (!roost__sched.workers) return ROOST_ENOMEM;
    memset(roost__sched.workers, 0, sizeof(roost__worker) * (size_t)roost__sched.cap);
    atomic_store(&roost__sched.nworkers, 0);
    atomic_store(&roost__sched.stopping, false);
    rc = roost__timer_start();
    if (rc) return rc;
    atomic_store(&roost__sched.nworkers, (int)n);
    for (int i = 0; i < n; i++) roost__start_worker(i, false);
    atomic_store(&roost__sched.started, true);
    roost__profile_start();
    roost__reach_start();
    return ROOST_OK;
}

int roost__ensure_started(void) {
    if (ROOST_LIKELY(atomic_load_explicit(&roost__sched.started, memory_order_acquire))) return ROOST_OK;
    pthread_mutex_lock(&roost__sched.init_lock);
    bool was = atomic_load(&roost__sched.started);
    int rc = was ? ROOST_OK : start_locked(NULL);
    pthread_mutex_unlock(&roost__sched.init_lock);
    if (!rc && !was) roost__debug_autostart(); /* outside the lock: it spawns */
    return rc;
}

int roost_init(const roost_config_t *cfg) {
    pthread_mutex_lock(&roost__sched.init_lock);
    int rc = atomic_load(&roost__sched.started) ? ROOST_ESTATE : start_locked(cfg);
    pthread_mutex_unlock(&roost__sched.init_lock);
    if (!rc) roost__debug_autostart();
    return rc;
}

struct run_rec {
    void (*fn)(void *);
    void *arg;
    _Atomic uint32_t done;
};

static void run_main(void *arg) {
    struct run_rec *r = arg;
    r->fn(r->arg);
    atomic_store(&r->done, 1);
    roost__futex_wake(&r->done, 1);
}

int roost_run(void (*fn)(void *), void *arg) {
    if (!fn) return ROOST_EINVAL;
    if (roost__self()) return ROOST_ESTATE;
    struct run_rec r = {fn, arg, 0};
    int rc = roost_go(run_main, &r);
    if (rc) return rc;
    while (!atomic_load(&r.done)) roost__futex_wait(&r.done, 0, -1);
    return ROOST_OK;
}

int roost_shutdown(void) {
    if (roost__self()) return ROOST_ESTATE;
    roost_debug_stop(); /* its tasks would keep the runtime alive */
    pthread_mutex_lock(&roost__sched.init_lock);
    if (!atomic_load(&roost__sched.started)) {
        pthread_mutex_unlock(&roost__sched.init_lock);
        return ROOST_OK;
    }
    if (roost_task_count() != 0) {
        pthread_mutex_unlock(&roost__sched.init_lock);
        return ROOST_ESTATE;
    }
    roost_monitor_stop();
    atomic_store(&roost__sched.stopping, true);
    for (int i = 0; i < roost__nw(); i++) roost__wake_worker(&roost__sched.workers[i]);
    for (int i = 0; i < roost__nw(); i++) pthread_join(roost__sched.workers[i].thread, NULL);
    roost__timer_stop();
    atomic_store(&roost__sched.started, false);
    roost__sched.idle = NULL;
    atomic_store(&roost__sched.nidle, 0);
    atomic_store(&roost__sched.thread_spawned, 0);
    for (int i = 0; i < roost__nw(); i++) roost__registry_worker_fini(&roost__sched.workers[i]);
    free(roost__sched.workers);
    roost__sched.workers = NULL;
    atomic_store(&roost__sched.nworkers, 0);
    roost__stack_fini();
    pthread_mutex_unlock(&roost__sched.init_lock);
    return ROOST_OK;
}
