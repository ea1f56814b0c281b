/* scheduler.h - the scheduler's shared state, for its own files: sched.c (the
 * worker loop: picking, stealing, idling, switching), init.c (start-up,
 * configuration, shutdown) and sysmon.c (the watchdog for blocked workers).
 *
 * Invariants (the fields are described below):
 *   - nworkers only grows while the runtime runs, and slot i is set up
 *     before nworkers takes it in: a reader that loops up to a count it read
 *     once sees set-up workers only. It is reset only by roost_shutdown,
 *     once every worker thread has been joined.
 *   - A worker is on the idle list (idle, linked by idle_next) exactly
 *     when its `idle` flag is set, both under idle_lock; nidle counts them.
 *     A retired spare is asleep but on no list (counted by nretired).
 *   - A worker sleeps on its `wake` futex word only after putting itself
 *     on the idle list (or retiring) and looking for work once more; a
 *     waker takes it off the list before setting wake to 1. So work pushed
 *     and then followed by a look at nidle (an RMW: see wake_if_idle) is
 *     never left with every worker asleep.
 *   - started is set under init_lock, after every worker is running;
 *     stopping is set only by roost_shutdown, with no task alive.
 */
#ifndef ROOST_SCHEDULER_H
#define ROOST_SCHEDULER_H

#include "internal.h"

#pragma GCC visibility push(hidden)

#define ROOST_WORKERS_MAX 1024
#define ROOST_FAIR_EVERY 61 /* picks between two fairness checks (sched.c, local_next) */

struct roost__sched {
    pthread_mutex_t init_lock; /* over start-up and shutdown */
    atomic_bool started;
    atomic_bool stopping; /* shutdown: workers leave their loops */
    /* Workers started: ROOST_WORKERS of them at start-up, plus the spares
     * sysmon starts while workers are blocked (sysmon.c), up to `cap`
     * slots, all allocated at start-up (see the invariants). */
    _Atomic int nworkers;
    int base;         /* ROOST_WORKERS: what roost_workers() says */
    int cap;          /* slots in `workers` */
    int64_t stall_ns; /* ROOST_BLOCKED_MS: a worker this long without a switch is blocked */
    roost__worker *workers;
    /* idle workers */
    pthread_mutex_t idle_lock;
    roost__worker *idle;     /* the idle list, under idle_lock */
    atomic_int nidle;        /* workers on it */
    atomic_int nretired;     /* spares retired (asleep, not on the idle list) */
    atomic_int nblocked;     /* workers sysmon saw blocked at its last tick */
    _Atomic uint64_t stalls; /* workers seen blocked, once per episode (sysmon only) */
    /* ids and counts for spawns from plain threads */
    atomic_ullong next_id;
    atomic_llong thread_spawned;
};
extern struct roost__sched roost__sched;

/* The worker count, read once by whoever loops over the workers. */
static inline int roost__nw(void) {
    return atomic_load_explicit(&roost__sched.nworkers, memory_order_acquire);
}

/* sched.c: a worker thread's body; wake one idle worker, if any. */
void *roost__worker_main(void *arg);
void roost__wake_one(void);
/* Wake w from its futex, or from epoll_wait if it owns the poller. */
void roost__wake_worker(roost__worker *w);
/* init.c: set up slot i and start its thread (a spare: counted in only once
 * it is set up). */
void roost__start_worker(int i, bool spare);

#pragma GCC visibility pop

#endif
