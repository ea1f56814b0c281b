/* timer.c - sleep, deadlines, time.After, tickers, and sysmon's ticks.
 *
 * The one idea: one binary heap of timers, ordered by expiry, served by one
 * timer thread that sleeps on a futex until the earliest expiry (or forever
 * when there is none: an idle process uses no CPU). While a worker is busy
 * its tick also polls the network poller if no worker does (poll.c).
 *
 * The tasks this thread readies go to the front of the global run queue
 * (sched.c): a sleeper has waited its time already, and runs at a worker's
 * next fairness check however many tasks are queued.
 *
 * Sleep timers (WAKE) fire with the heap lock held, so a sleeper that removes
 * its own timer under that lock knows the timer thread is done with it: the
 * timer lives on the sleeper's stack. Other kinds fire after the lock is
 * dropped and are kept alive by references instead.
 *
 * While any worker is busy the thread also ticks every MONITOR_NS for the
 * scheduler's watchdog (sysmon.c): a worker that made no switch for a whole tick while
 * holding runnable tasks gets a sleeping worker woken to steal them (roost
 * does not preempt; a task that computes for long only delays the tasks
 * queued behind it on its own worker, and only until the next tick).
 *
 * Timers outlive the runtime. roost_shutdown stops the thread once the
 * workers are gone; if timers are still pending (a plain thread asleep or
 * in a timed wait, a roost_after channel someone holds, a context's
 * deadline, a ticker not stopped) a new thread serves them, without the
 * scheduler duties, and exits when the heap is empty; the next runtime
 * start hands it the scheduler duties again. A roost_after channel, or a
 * context, that only its own timer still references is dropped at shutdown
 * instead: nobody could ever see it fire.
 *
 * Invariants, under timers.lock:
 *   - heap_index is a timer's slot in the heap, -1 exactly when it is not
 *     in it; every slot's `when` is >= its parent's.
 *   - A WAKE timer lives on its sleeper's stack: it is fired, and its
 *     park claimed, with the lock held, and the sleeper removes it under
 *     the lock before its frame goes; other kinds are fired after the lock
 *     is dropped, kept alive by a reference.
 *   - A ticker is out of the heap while it fires (`firing`); the firing
 *     re-adds it under the lock unless it was stopped meanwhile, and then
 *     frees it instead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"
#include <stdlib.h>
#include <string.h>

#define MONITOR_NS (2 * ROOST_MS)
/* How long every worker must sit idle, with tasks alive and no timer, before
 * leak.c looks for a global deadlock (long enough that a plain thread
 * feeding tasks now and then is not mistaken for none). */
#define DEADLOCK_NS (1 * ROOST_S)
#define ROOST_TIMER_FIRED (-2) /* park index: woken by its own timer */

static struct {
    int lock; /* spinlock over the heap */
    roost__timer **heap;
    int len, capacity;
    _Atomic uint32_t seq; /* futex word: bumped to wake the thread */
    atomic_bool stop;
    atomic_bool deep;        /* thread sleeps without monitoring: a waking worker pokes */
    int64_t sleeping_until;  /* what the thread waits for (under lock) */
    bool running;            /* a timer thread exists (under lock) */
    bool sched;              /* the runtime is started: the thread also monitors the
                               * scheduler (under lock; false: it only serves timers) */
    _Atomic uint32_t exited; /* futex word: a thread told to stop is gone */
} timers;

static void thread_start_locked(void);

/* ------------------------------------------------------------ heap */

static void heap_set(int i, roost__timer *t) {
    timers.heap[i] = t;
    t->heap_index = i;
}

static void sift_up(int i) {
    roost__timer *t = timers.heap[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (timers.heap[p]->when <= t->when) break;
        heap_set(i, timers.heap[p]);
        i = p;
    }
    heap_set(i, t);
}

static void sift_down(int i) {
    roost__timer *t = timers.heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= timers.len) break;
        if (c + 1 < timers.len && timers.heap[c + 1]->when < timers.heap[c]->when) c++;
        if (t->when <= timers.heap[c]->when) break;
        heap_set(i, timers.heap[c]);
        i = c;
    }
    heap_set(i, t);
}

static void heap_remove(int i) {
    roost__timer *t = timers.heap[i];
    timers.len--;
    if (i != timers.len) {
        heap_set(i, timers.heap[timers.len]);
        sift_down(i);
        sift_up(timers.heap[i]->heap_index);
    }
    /* No stale entry past the end: the reachability proof (reach.c) reads
     * this array as memory, and a stale pointer would keep alive what it
     * points at (a parked task's stack, where its old sleep timer was). */
    timers.heap[timers.len] = NULL;
    t->heap_index = -1;
}

/* With the lock held. Wakes the thread if t is now the earliest. */
static void add_locked(roost__timer *t) {
    ROOST_ASSERT_LOCKED(&timers.lock);
    ROOST_ASSERT(t->heap_index == -1);
    if (timers.len == timers.capacity) {
        int nc = timers.capacity ? 2 * timers.capacity : 64;
        roost__timer **h = realloc(timers.heap, (size_t)nc * sizeof *h);
        if (!h) roost__fatal("out of memory growing the timer heap");
        timers.heap = h, timers.capacity = nc;
    }
    heap_set(timers.len, t);
    sift_up(timers.len++);
    if (ROOST_UNLIKELY(!timers.running)) thread_start_locked(); /* added as the runtime shut down */
    if (t->heap_index == 0 && t->when < timers.sleeping_until) {
        atomic_fetch_add(&timers.seq, 1);
        roost__futex_wake(&timers.seq, 1);
    }
}

int *roost__timer_lock_and_add(roost__timer *t) {
    roost__lock(&timers.lock);
    add_locked(t);
    return &timers.lock;
}

void roost__timer_add(roost__timer *t) {
    roost__lock(&timers.lock);
    add_locked(t);
    roost__unlock(&timers.lock);
}

bool roost__timer_del(roost__timer *t) {
    roost__lock(&timers.lock);
    bool pending = t->heap_index >= 0;
    if (pending) heap_remove(t->heap_index);
    roost__unlock(&timers.lock);
    return pending;
}

/* The scheduler woke a worker: make sure sysmon is ticking. */
void roost__timer_poke(void) {
    if (atomic_load_explicit(&timers.deep, memory_order_seq_cst)) {
        atomic_fetch_add(&timers.seq, 1);
        roost__futex_wake(&timers.seq, 1);
    }
}

/* ------------------------------------------------------------ tickers */

struct roost_ticker {
    roost__timer tm;
    roost_chan_t *ch;
    bool stopped, firing; /* under timers.lock */
};

static void fire(roost__timer *t, int64_t now) {
    switch (t->kind) {
    case ROOST_TIMER_CTX: roost__ctx_deadline_fire(t->arg); break;
    case ROOST_TIMER_CHAN: {
        roost_chan_t *ch = t->arg;
        roost_chan_trysend(ch, &now);
        roost_chan_unref(ch);
        free(t);
        break;
    }
    case ROOST_TIMER_TICKER: {
        struct roost_ticker *tk = t->arg;
        roost_chan_trysend(tk->ch, &now); /* a full buffer drops the tick, as Go does */
        roost__lock(&timers.lock);
        tk->firing = false;
        bool stopped = tk->stopped;
        if (!stopped) {
            t->when = roost__add_sat(t->when, t->period);
            if (t->when <= now) t->when = roost__add_sat(now, t->period); /* skip missed ticks */
            if (t->when < INT64_MAX) add_locked(t);                       /* else it never ticks again */
        }
        roost__unlock(&timers.lock);
        if (stopped) {
            roost_chan_unref(tk->ch);
            free(tk);
        }
        break;
    }
    }
}

static void *timer_main(void *arg) {
    (void)arg;
    roost__timer *due[64];
    /* Global deadlock watch: every worker idle, no switch for DEADLOCK_NS
     * and tasks alive (leak.c decides). */
    uint64_t idle_sw = UINT64_MAX, reported_sw = UINT64_MAX;
    int64_t idle_at = 0;
    roost__sched_on_timer_thread();
    while (!atomic_load(&timers.stop)) {
        uint32_t seq = atomic_load(&timers.seq);
        int64_t now = roost_now();
        roost__coarse_refresh(); /* every MONITOR_NS while any worker is busy */
        int ndue = 0;
        roost__lock(&timers.lock);
        bool sched = timers.sched;
        while (timers.len > 0 && timers.heap[0]->when <= now && ndue < 64) {
            roost__timer *t = timers.heap[0];
            heap_remove(0);
            if (t->kind == ROOST_TIMER_WAKE) {
                roost__park *p = t->arg;
                if (roost__claim(p)) roost__wake(p, ROOST_TIMER_FIRED, 0);
                continue;
            }
            if (t->kind == ROOST_TIMER_TICKER) ((struct roost_ticker *)t->arg)->firing = true;
            due[ndue++] = t;
        }
        roost__unlock(&timers.lock);
        for (int i = 0; i < ndue; i++) fire(due[i], now);
        if (ndue == 64) continue;

        bool busy = sched && !roost__sched_all_idle();
        if (busy) roost__sysmon_tick();
        if (busy) roost__netpoll_tick();
        /* Decide how long to sleep from the heap as it is now, under the
         * lock that adders take: a timer added after this point sees
         * sleeping_until and bumps seq if it is earlier; one added before is
         * in the heap. */
        now = roost_now();
        roost__lock(&timers.lock);
        if (!timers.sched && timers.len == 0 &&
            !atomic_load(&timers.stop)) { /* served what a shutdown left */
            timers.running = false;
            roost__unlock(&timers.lock);
            return NULL;
        }
        sched = timers.sched;
        int64_t until = timers.len ? timers.heap[0]->when : INT64_MAX;
        if (busy && until > now + MONITOR_NS) until = now + MONITOR_NS;
        bool heap_empty = timers.len == 0;
        if (sched && !busy && heap_empty) {
            uint64_t sw = roost__sched_switches();
            if (sw != idle_sw) {
                idle_sw = sw, idle_at = now;
            } else if (now - idle_at >= DEADLOCK_NS && reported_sw != sw) {
                reported_sw = sw;
                roost__unlock(&timers.lock);
                roost__leak_idle_check(sw);
                continue;
            }
            if (reported_sw != sw && roost_task_count() > 0) until = idle_at + DEADLOCK_NS;
        }
        timers.sleeping_until = until;
        roost__unlock(&timers.lock);
        if (until <= now) continue;
        /* deep: not monitoring, so a worker that wakes up must poke us (a
         * far timer pending does not make us tick). Then look again: a
         * worker that woke between `busy` above and this store may have
         * found deep still false (both sides are seq_cst: a store, then a
         * load of the other's word). */
        atomic_store(&timers.deep, until == INT64_MAX || !busy);
        if (sched && !busy && !roost__sched_all_idle()) continue;
        if (atomic_load(&timers.seq) != seq) continue;
        ROOST_IDLE(roost__futex_wait(&timers.seq, seq, until == INT64_MAX ? -1 : until - now));
        atomic_store(&timers.deep, false);
        roost__lock(&timers.lock);
        timers.sleeping_until = INT64_MIN; /* awake: adders need not signal */
        roost__unlock(&timers.lock);
    }
    /* Told to stop (roost__timer_stop waits for this): touch nothing after. */
    atomic_store(&timers.exited, 1);
    roost__futex_wake(&timers.exited, 1);
    return NULL;
}

bool roost__timer_pending(void) {
    roost__lock(&timers.lock);
    bool any = timers.len > 0;
    roost__unlock(&timers.lock);
    return any;
}

/* With the lock held and no thread running: start one. Detached: a thread
 * told to stop says so through timers.exited, and one that served the timers
 * left after a shutdown exits on its own. */
static void thread_start_locked(void) {
    atomic_store(&timers.stop, false);
    atomic_store(&timers.exited, 0);
    timers.sleeping_until = INT64_MAX;
    if (roost__thread_start(NULL, timer_main, NULL, "roost-timer", true))
        roost__fatal("cannot start the timer thread");
    timers.running = true;
}

int roost__timer_start(void) {
    roost__lock(&timers.lock);
    timers.sched = true;
    if (timers.running) { /* serving timers since a shutdown: monitor again */
        atomic_fetch_add(&timers.seq, 1);
        roost__futex_wake(&timers.seq, 1);
    } else {
        thread_start_locked();
    }
    roost__unlock(&timers.lock);
    return ROOST_OK;
}

/* With the lock held: take the roost_after channels and contexts whose only
 * reference left is their timer's out of the heap (a thread firing timers
 * only touches those it took out itself). Returns them in a malloc'ed
 * array (*n), to release after unlocking: their release takes context
 * locks, which are taken before this one elsewhere. */
static roost__timer **drop_unseen_locked(int *n) {
    *n = 0;
    roost__timer **out = timers.len ? calloc((size_t)timers.len, sizeof *out) : NULL; /* shutdown only */
    if (!out) return NULL;
    int k = 0;
    for (int i = 0; i < timers.len; i++) {
        roost__timer *t = timers.heap[i];
        bool unseen = false;
        if (t->kind == ROOST_TIMER_CHAN) {
            /* And nobody waits on it (one who does without a reference of
             * its own would still be woken by the timer). The channel's
             * lock inside this one: no one takes the timer lock while
             * holding a channel's (only sleeps arm a timer as they park). */
            roost_chan_t *ch = t->arg;
            if (ROOST_CHAN_REFS(atomic_load(&ch->refs)) == 1) {
                roost__lock(&ch->lock);
                unseen = ch->nwaiters == 0;
                roost__unlock(&ch->lock);
            }
        } else if (t->kind == ROOST_TIMER_CTX) {
            unseen = atomic_load(&((roost_ctx_t *)t->arg)->refs) == 1; /* waiters hold one */
        }
        if (unseen) {
            t->heap_index = -1;
            out[(*n)++] = t;
        } else {
            heap_set(k++, t);
        }
    }
    for (int i = k; i < timers.len; i++) timers.heap[i] = NULL; /* no stale entry (heap_remove) */
    timers.len = k;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(i);
    return out;
}

/* roost_shutdown, after the workers are gone: stop the thread, then have a
 * new one serve whatever timers are left, without the scheduler. */
void roost__timer_stop(void) {
    roost__lock(&timers.lock);
    timers.sched = false;
    bool running = timers.running;
    if (running) {
        atomic_store(&timers.stop, true);
        atomic_fetch_add(&timers.seq, 1);
        roost__futex_wake(&timers.seq, 1);
    }
    roost__unlock(&timers.lock);
    if (running)
        while (!atomic_load(&timers.exited)) roost__futex_wait(&timers.exited, 0, -1);
    roost__lock(&timers.lock);
    if (running) timers.running = false;
    /* Until none is left: dropping a context drops its reference to its
     * parent, whose timer may then be the parent's last reference. */
    for (;;) {
        int n;
        roost__timer **drop = drop_unseen_locked(&n);
        if (!n) {
            free(drop);
            break;
        }
        roost__unlock(&timers.lock);
        for (int i = 0; i < n; i++) {
            roost__timer *t = drop[i];
            if (t->kind == ROOST_TIMER_CHAN) {
                roost_chan_unref(t->arg);
                free(t);
            } else {
                roost_ctx_unref(t->arg); /* the timer's reference: the last */
            }
        }
        free(drop);
        roost__lock(&timers.lock);
    }
    if (timers.len && !timers.running) thread_start_locked();
    roost__unlock(&timers.lock);
}

/* ------------------------------------------------------------ public API */

int roost_sleep(roost_ctx_t *ctx, int64_t ns) {
    int err = roost__ctx_err(ctx);
    if (err) return err;
    if (ns <= 0) return roost_yield();
    int rc = roost__ensure_started();
    if (rc) return rc;
    roost__park p;
    roost__park_init(&p, roost__self());
    int *locks[2];
    /* A sleep past the clock's range still arms a timer (one that never
     * fires): a sleeper is asleep on a timer, for the leak detector too. */
    int64_t deadline = roost__deadline_after(ns);
    if (deadline == INT64_MAX) deadline = INT64_MAX - 1;
    rc = roost__block(&p, ctx, deadline, locks, 0, ROOST_WAIT_SLEEP, NULL);
    if (rc) return rc;
    return p.index == ROOST_TIMER_FIRED ? ROOST_OK : p.err;
}

int roost_after(int64_t ns, roost_chan_t **out) {
    if (!out) return ROOST_EINVAL;
    *out = NULL;
    int rc = roost__ensure_started();
    if (rc) return rc;
    roost__timer *t = calloc(1, sizeof *t);
    if (!t) return ROOST_ENOMEM;
    rc = roost_chan_make(sizeof(int64_t), 1, out);
    if (rc) {
        free(t);
        return rc;
    }
    t->heap_index = -1;
    t->when = roost__deadline_after(ns);
    if (t->when == INT64_MAX) { /* beyond the clock's range: never fires, no timer */
        free(t);
        return ROOST_OK;
    }
    t->kind = ROOST_TIMER_CHAN;
    t->arg = roost_chan_ref(*out);
    roost__timer_add(t);
    return ROOST_OK;
}

int roost_ticker_make(int64_t period_ns, roost_ticker_t **out) {
    if (!out) return ROOST_EINVAL;
    *out = NULL;
    if (period_ns <= 0) return ROOST_EINVAL;
    int rc = roost__ensure_started();
    if (rc) return rc;
    struct roost_ticker *tk = calloc(1, sizeof *tk);
    if (!tk) return ROOST_ENOMEM;
    rc = roost_chan_make(sizeof(int64_t), 1, &tk->ch);
    if (rc) {
        free(tk);
        return rc;
    }
    tk->tm.heap_index = -1;
    tk->tm.when = roost__deadline_after(period_ns);
    tk->tm.period = period_ns;
    tk->tm.kind = ROOST_TIMER_TICKER;
    tk->tm.arg = tk;
    if (tk->tm.when < INT64_MAX) roost__timer_add(&tk->tm); /* else it never ticks */
    *out = tk;
    return ROOST_OK;
}

roost_chan_t *roost_ticker_chan(roost_ticker_t *t) { return t ? t->ch : NULL; }

int roost_ticker_stop(roost_ticker_t *t) {
    if (!t) return ROOST_EINVAL;
    roost__lock(&timers.lock);
    if (t->stopped) {
        roost__unlock(&timers.lock);
        return ROOST_EALREADY;
    }
    t->stopped = true;
    if (t->tm.heap_index >= 0) heap_remove(t->tm.heap_index);
    bool firing = t->firing;
    roost__unlock(&timers.lock);
    if (!firing) { /* else the timer thread frees it when the tick is done */
        roost_chan_unref(t->ch);
        free(t);
    }
    return ROOST_OK;
}
