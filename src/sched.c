/* sched.c - the M:N scheduler: workers, run queues, work stealing, idling.
 *
 * The one idea: a worker runs tasks from, in order, its `runnext` slot (the
 * task it just woke or spawned: it runs next on this warm core, which is what
 * makes a channel round trip cost two switches and no system call), its own
 * ring of 256, the global queue, and other workers' rings (stealing half).
 * Every 61st pick comes from the global queue instead, and moves a ring
 * that runnext kept from being popped along into it (fair_pick): whatever
 * waits goes round one queue, and runs within about one pass over the
 * runnable tasks. The timer thread's wake-ups go to the front of it.
 * Switches go task to task directly; the scheduler loop, on the worker
 * thread's own stack, only runs when a worker has nothing to do. Whatever a
 * task must do *after* its registers are saved (release the locks of the
 * queue it parked on, requeue itself on yield, free its stack on exit) is
 * left in w->after_fn and run by the next context before anything else.
 *
 * Idle workers spin briefly, then sleep on a futex; an idle process uses no
 * CPU. Work pushed where others could steal it (the ring, the global queue)
 * wakes one sleeper. A task readied into runnext wakes nobody: if the
 * current task then runs long, the monitor (timer.c) notices the worker
 * made no progress and wakes a sleeper, which steals it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef ROOST_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef ROOST_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#define SPIN_ROUNDS 64
#define QUIET_ROUNDS 4 /* find_runnable: no switch in this many rounds, before sleeping */
#define ID_BLOCK 1024

/* The worker count, read once by whoever loops over the workers. */
#define NW() atomic_load_explicit(&G.nworkers, memory_order_acquire)

_Thread_local roost__worker *roost__tls_worker __attribute__((tls_model("initial-exec")));

static struct {
    pthread_mutex_t init_lock;
    atomic_bool started;
    atomic_bool stopping;
    /* Workers started: ROOST_WORKERS of them at start-up, plus the spares
     * the monitor starts while workers are blocked (see roost__sched_monitor),
     * up to `cap` slots, all allocated at start-up. It only grows while the
     * runtime runs, and a slot is set up before the count takes it in, so a
     * reader that loops up to a count it read once sees ready workers only. */
    _Atomic int nworkers;
    int base;                     /* ROOST_WORKERS: what roost_workers() says */
    int cap;                      /* slots in `workers` */
    int64_t stall_ns;             /* ROOST_BLOCKED_MS: a worker this long without a switch is blocked */
    roost__worker *workers;
    /* global run queue: tasks readied by plain threads and ring overflow,
     * FIFO; and before it, the tasks the timer thread readied (`tq`: their
     * sleep or deadline is over; served first, but never twice in a row
     * while the other list waits: see gq_next). */
    int gq_lock;                  /* spinlock over both lists: held for a few pointer moves */
    roost__task *gq_head, *gq_tail;
    roost__task *tq_head, *tq_tail;
    bool tq_took;                 /* gq_next's last task came from tq */
    atomic_long gq_len;           /* tasks in both lists: the lock-free "anything?" look */
    /* idle workers */
    pthread_mutex_t idle_lock;
    roost__worker *idle;
    atomic_int nidle;
    atomic_int nretired;          /* spares retired (asleep, not on the idle list) */
    atomic_int nblocked;          /* workers the monitor saw blocked at its last tick */
    _Atomic uint64_t stalls;      /* workers seen blocked, once per episode (the monitor's thread) */
    /* ids and counts for spawns from plain threads */
    atomic_ullong next_id;
    atomic_llong thread_spawned;
} G = {.init_lock = PTHREAD_MUTEX_INITIALIZER,
       .idle_lock = PTHREAD_MUTEX_INITIALIZER,
       .next_id = 1};

static _Thread_local uint64_t id_next, id_end;

/* ------------------------------------------------------------ utilities */

void roost__fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("roost: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void roost__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns) {
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / ROOST_S;
        ts.tv_nsec = timeout_ns % ROOST_S;
        tp = &ts;
    }
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

void roost__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
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
            for (unsigned k = 0; k < backoff; k++) cpu_relax();
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

static _Thread_local uint64_t thread_rng;
uint64_t roost__rand(void) {
    roost__worker *w = roost__worker_self();
    if (w) return roost__xorshift(&w->rng);
    if (!thread_rng) thread_rng = (uint64_t)roost_now() | 1;
    return roost__xorshift(&thread_rng);
}

__attribute__((noinline)) roost__worker *roost__worker_self(void) {
    __asm__ __volatile__("" ::: "memory");
    return roost__tls_worker;
}

__attribute__((noinline)) roost__task *roost__self(void) {
    __asm__ __volatile__("" ::: "memory");
    roost__worker *w = roost__tls_worker;
    return w ? w->current : NULL;
}

int roost_workers(void) { return atomic_load(&G.started) ? G.base : 0; }
int roost__nworkers(void) { return atomic_load(&G.started) ? NW() : 0; }
roost__worker *roost__worker_at(int i) { return &G.workers[i]; }
int64_t roost__thread_spawned(void) { return atomic_load(&G.thread_spawned); }

/* ------------------------------------------------------------ switching */

/* Inline: it runs after every switch, and as a call it was a tenth of a
 * yield's instructions. */
static inline __attribute__((always_inline)) void run_after(roost__worker *w) {
    /* The task that switched out has its registers saved now: observers may
     * copy its stack again (seq even). Before after_fn, which may wake it. */
    /* Neither field is cleared here: every switch sets both first (sw sets
     * switched_out; whoever switches sets after_fn, NULL for nothing). */
    roost__task *out = w->switched_out;
    if (out)
        atomic_store_explicit(&out->seq, atomic_load_explicit(&out->seq, memory_order_relaxed) + 1,
                              memory_order_release);
    void (*f)(roost__worker *, void *) = w->after_fn;
    if (f) f(w, w->after_arg);
}

/* Switch from `from` (NULL: the scheduler loop) to `to` (NULL: the loop).
 * Returns when `from` is resumed, perhaps on another worker. */
static void sw(roost__worker *w, roost__task *from, roost__task *to, bool dying) {
    void **from_sp = from ? &from->sp : &w->sched_sp;
    void *to_sp = to ? to->sp : w->sched_sp;
    atomic_store_explicit(&w->switches, atomic_load_explicit(&w->switches, memory_order_relaxed) + 1,
                          memory_order_relaxed);
#ifdef ROOST_ASAN
    {
        const void *bot = to ? (const void *)to->stack->lo : w->asan_stack_bottom;
        size_t sz = to ? to->stack->size : w->asan_stack_size;
        void **fake = from ? &from->asan_fake : &w->asan_fake;
        __sanitizer_start_switch_fiber(dying ? NULL : fake, bot, sz);
    }
#endif
#ifdef ROOST_TSAN
    __tsan_switch_to_fiber(to ? to->tsan_fiber : w->tsan_fiber, 0);
#endif
    w->switched_out = from;
    roost__switch(from_sp, to_sp);
#ifdef ROOST_ASAN
    if (from)
        __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
    else
        __sanitizer_finish_switch_fiber(w->asan_fake, NULL, NULL);
#endif
    (void)dying;
}

/* ------------------------------------------------------------ run queues */

/* The ring is a work-stealing deque (Chase-Lev, on a fixed array): the
 * owner pushes and pops at the tail, so spawned trees run depth first and a
 * fork-join workload keeps a few dozen hot stacks instead of a million cold
 * ones; thieves, and the owner's fairness pass, take the oldest task at the
 * head with a CAS. One task per steal: a batch steal could race with the
 * owner's tail pops. */
#define SLOT(w, i) ((_Atomic(roost__task *) *)&(w)->ring[(i) % ROOST_RUNQ_SIZE])

/* head is the oldest task's index (low 32 bits) and a count of head moves
 * (high 32 bits). Head moves down as well as up (ring_put_oldest), so an
 * index alone could return to a value a slow thief read before its CAS,
 * and the thief would take a task already run (ABA); with the count the
 * word cannot (fewer than 2^32 moves never add up to 0 mod 2^64). A move
 * is one add: 2^32 + 1 up, 2^32 - 1 down (the index wraps mod 2^32; its
 * carry or borrow only nudges the count). */
static inline uint32_t hidx(uint64_t h) { return (uint32_t)h; }
static inline uint64_t hup(uint64_t h) { return h + ((uint64_t)1 << 32) + 1; }
static inline uint64_t hdown(uint64_t h) { return h + ((uint64_t)1 << 32) - 1; }

static inline bool ring_put(roost__worker *w, roost__task *t) {
    uint32_t h = hidx(atomic_load_explicit(&w->head, memory_order_acquire));
    uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
    if (tl - h >= ROOST_RUNQ_SIZE) return false;
    atomic_store_explicit(SLOT(w, tl), t, memory_order_relaxed);
    atomic_store_explicit(&w->tail, tl + 1, memory_order_release);
    return true;
}

/* Owner only: put t behind everything queued, at the head. The owner pops
 * the newest first and thieves take the oldest, so t runs after every task
 * queued now: a yield lets them all run, not just the next one (with t at
 * the tail, the owner's next pop would be t again). Head moves down by a
 * CAS, against thieves moving it up; the slot below head is free unless
 * the ring is full, and a thief reads it only once head says it is there. */
static inline __attribute__((always_inline)) bool ring_put_oldest(roost__worker *w, roost__task *t,
                                                                  bool alone) {
    for (;;) {
        uint64_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (tl - hidx(h) >= ROOST_RUNQ_SIZE) return false;
        atomic_store_explicit(SLOT(w, hidx(h) - 1), t, memory_order_relaxed);
        if (alone) { /* one worker, no thief: a plain store */
            atomic_store_explicit(&w->head, hdown(h), memory_order_relaxed);
            return true;
        }
        if (atomic_compare_exchange_weak_explicit(&w->head, &h, hdown(h),
                                                  memory_order_seq_cst, memory_order_relaxed))
            return true;
    }
}

/* Owner only: newest task. */
static inline __attribute__((always_inline)) roost__task *ring_pop(roost__worker *w) {
    uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
    if (hidx(h) == tl) return NULL; /* only the owner adds: empty stays empty */
    tl--;
    if (NW() == 1) { /* no thief: no race for the last one either */
        atomic_store_explicit(&w->tail, tl, memory_order_relaxed);
        return atomic_load_explicit(SLOT(w, tl), memory_order_relaxed);
    }
    /* seq_cst store then load, not a fence: the store must not pass the
     * load, and ThreadSanitizer models seq_cst accesses but not fences. */
    atomic_store_explicit(&w->tail, tl, memory_order_seq_cst);
    h = atomic_load_explicit(&w->head, memory_order_seq_cst);
    roost__task *t = atomic_load_explicit(SLOT(w, tl), memory_order_relaxed);
    /* Others remain: no thief can reach slot tl (only the owner moves head
     * down, and it is here). */
    if ((int32_t)(tl - hidx(h)) > 0) return t;
    if (tl == hidx(h)) {
        /* the last one: race the thieves for it */
        if (!atomic_compare_exchange_strong_explicit(&w->head, &h, hup(h),
                                                     memory_order_seq_cst, memory_order_relaxed))
            t = NULL;
    } else {
        t = NULL; /* a thief took it first */
    }
    atomic_store_explicit(&w->tail, tl + 1, memory_order_relaxed);
    return t;
}

/* Oldest task, with a CAS on head. Thieves load head and tail seq_cst, to
 * order against the owner's tail pop; the owner itself cannot race its own
 * pops, so it reads its tail relaxed. */
static inline roost__task *ring_take_mo(roost__worker *w, memory_order head_mo,
                                        memory_order tail_mo) {
    for (;;) {
        uint64_t h = atomic_load_explicit(&w->head, head_mo);
        uint32_t tl = atomic_load_explicit(&w->tail, tail_mo);
        if ((int32_t)(tl - hidx(h)) <= 0) return NULL;
        roost__task *t = atomic_load_explicit(SLOT(w, hidx(h)), memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->head, &h, hup(h),
                                                  memory_order_seq_cst, memory_order_relaxed))
            return t;
    }
}

static roost__task *ring_take(roost__worker *w) {
    return ring_take_mo(w, memory_order_seq_cst, memory_order_seq_cst);
}

static __attribute__((noinline)) roost__task *ring_take_own_shared(roost__worker *w) {
    return ring_take_mo(w, memory_order_acquire, memory_order_relaxed);
}

static inline roost__task *ring_take_own(roost__worker *w) {
    if (NW() == 1) {
        /* No other worker, so no thief: a plain head bump, no locked CAS. */
        uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
        if ((int32_t)(atomic_load_explicit(&w->tail, memory_order_relaxed) - hidx(h)) <= 0)
            return NULL;
        roost__task *t = atomic_load_explicit(SLOT(w, hidx(h)), memory_order_relaxed);
        atomic_store_explicit(&w->head, hup(h), memory_order_relaxed);
        return t;
    }
    return ring_take_own_shared(w);
}

static inline uint32_t ring_len(roost__worker *w) {
    int32_t n = (int32_t)(atomic_load_explicit(&w->tail, memory_order_acquire) -
                          hidx(atomic_load_explicit(&w->head, memory_order_acquire)));
    return n > 0 ? (uint32_t)n : 0;
}

static bool ring_empty(roost__worker *w) { return ring_len(w) == 0; }

/* Append a list to the global queue, or with `timer` to the timer list. */
static void gq_push_list(roost__task *head, roost__task *tail, long n, bool timer) {
    roost__task **qh = timer ? &G.tq_head : &G.gq_head, **qt = timer ? &G.tq_tail : &G.gq_tail;
    roost__lock(&G.gq_lock);
    tail->next = NULL; /* under the lock, where gq_get read it last (TSan) */
    if (*qt)
        (*qt)->next = head;
    else
        *qh = head;
    *qt = tail;
    atomic_fetch_add(&G.gq_len, n);
    roost__unlock(&G.gq_lock);
}

/* The ring is full: move its older half and t to the global queue. */
static void ring_overflow(roost__worker *w, roost__task *t) {
    roost__task *head = NULL, *tail = NULL;
    long n = 0;
    for (int i = 0; i < ROOST_RUNQ_SIZE / 2; i++) {
        roost__task *x = ring_take_own(w);
        if (!x) break;
        if (tail) tail->next = x; else head = x;
        tail = x, n++;
    }
    if (tail) tail->next = t; else head = t;
    gq_push_list(head, t, n + 1, false);
}

/* With the global queue's lock held: unlink a list's first task. */
static inline roost__task *pop_front(roost__task **head, roost__task **tail) {
    roost__task *t = *head;
    if (t && !(*head = t->next)) *tail = NULL;
    return t;
}

/* With the lock held: the next task to run from the two lists. The timer
 * list goes first, except when the last one taken this way was the timer
 * list's and the global queue waits: a steady stream of timer wake-ups
 * cannot starve it. */
static inline roost__task *gq_next(void) {
    bool from_tq = G.tq_head && (!G.gq_head || !G.tq_took);
    G.tq_took = from_tq;
    return from_tq ? pop_front(&G.tq_head, &G.tq_tail) : pop_front(&G.gq_head, &G.gq_tail);
}

/* Take from the global queue: one task to run and, up to `max` in all, a
 * fair share more into our ring, the timer list's first. */
static roost__task *gq_get(roost__worker *w, long max) {
    if (atomic_load_explicit(&G.gq_len, memory_order_relaxed) == 0) return NULL;
    roost__lock(&G.gq_lock);
    roost__task *t = gq_next();
    if (!t) {
        roost__unlock(&G.gq_lock);
        return NULL;
    }
    long len = atomic_load(&G.gq_len);
    long n = len / NW() + 1;
    if (n > max) n = max;
    long took = 1;
    for (; took < n; took++) {
        bool tq = G.tq_head != NULL;
        roost__task *x = tq ? G.tq_head : G.gq_head;
        if (!x || !ring_put(w, x)) break;
        if (tq)
            pop_front(&G.tq_head, &G.tq_tail);
        else
            pop_front(&G.gq_head, &G.gq_tail);
    }
    atomic_fetch_sub(&G.gq_len, took);
    roost__unlock(&G.gq_lock);
    return t;
}

/* The global queue's next task to run, and `old` (a task waiting in our
 * ring) to its tail, in one go; `old` itself if the queue is empty. */
static roost__task *gq_swap(roost__task *old) {
    if (atomic_load_explicit(&G.gq_len, memory_order_relaxed) == 0) return old;
    roost__lock(&G.gq_lock);
    roost__task *t = gq_next();
    if (t) {
        old->next = NULL;
        if (G.gq_tail)
            G.gq_tail->next = old;
        else
            G.gq_head = old;
        G.gq_tail = old;
    } else {
        t = old;
    }
    roost__unlock(&G.gq_lock);
    return t;
}

/* A thief leaves a short queue to a worker that is getting through it. A
 * task woken by a channel operation runs next to its waker, on a warm core;
 * stolen, every hand-off between the two crosses cores. One receiver
 * selecting over four senders on two workers had the idle worker steal a
 * sender every fifth receive: 110 ns a receive, 70 without the steals (each
 * receive wakes a sender, which displaces the last one woken into the ring).
 * A ring of STEAL_BATCH tasks or more is more than its worker gets through
 * at once (a spawned tree, a burst of wake-ups): taken from at once. A
 * shorter one only once the thief has seen it queued at every look for
 * half a spin (`patient`), or its worker made no switch meanwhile. */
#define STEAL_BATCH 4

/* One task from v: the oldest in its ring, by the rule above; if v is
 * stalled and its ring gave nothing, its runnext. */
static roost__task *steal(roost__worker *v, bool patient, bool stalled) {
    roost__task *t = NULL;
    if (stalled || patient || ring_len(v) >= STEAL_BATCH) t = ring_take(v);
    if (t || !stalled) return t;
    t = atomic_load_explicit(&v->runnext, memory_order_acquire);
    if (t && atomic_compare_exchange_strong(&v->runnext, &t, NULL)) return t;
    return NULL;
}

/* ------------------------------------------------------------ idle workers */

static void wake_one(void) {
    if (atomic_load(&G.nidle) == 0) return;
    pthread_mutex_lock(&G.idle_lock);
    roost__worker *w = G.idle;
    if (w) {
        G.idle = w->idle_next;
        w->idle = false;
        atomic_fetch_sub(&G.nidle, 1);
    }
    pthread_mutex_unlock(&G.idle_lock);
    if (w) {
        atomic_store(&w->wake, 1);
        roost__futex_wake(&w->wake, 1);
        roost__timer_poke();
    }
}

/* Work was put in w's ring, where another worker could take it. A sleeper
 * is woken only once that ring is long enough to be stolen from at once
 * (STEAL_BATCH): a shorter one is w's own to get through, and the monitor
 * wakes a sleeper when it stays queued or w stalls. */
/* After pushing work: wake a sleeping worker if there is one. An RMW, not
 * a fence + load: it orders our push before the read of nidle against a
 * sleeper's increment followed by its re-check. */
static inline void wake_if_idle(void) {
    if (atomic_fetch_add_explicit(&G.nidle, 0, memory_order_seq_cst) > 0) wake_one();
}

static inline void work_added(roost__worker *w) {
    if (NW() == 1) return; /* nobody to wake */
    if (ring_len(w) >= STEAL_BATCH) wake_if_idle();
}

/* ------------------------------------------------------------ blocked workers
 *
 * A task that calls a blocking function directly (read(2) on a blocking
 * descriptor, sleep(3), a slow library call) or computes for long keeps its
 * worker: nothing in the task switches. The monitor sees it as a worker that
 * made no switch for G.stall_ns (ROOST_BLOCKED_MS) while running a task,
 * says so once on stderr (the task, its spawn site, for how long), and,
 * when no worker is idle to take the blocked worker's queued tasks (thieves
 * take from a worker that makes no switch, runnext included), starts a spare
 * worker, as Go hands a processor stuck in a system call to another thread.
 * A spare is a full worker; once no worker is blocked it retires (sleeps,
 * counted as idle, off the idle list) until the monitor needs it again, so
 * that ROOST_WORKERS workers run at a time, give or take a tick. Spares are
 * started only when ROOST_WORKERS >= 2: a one-worker runtime takes paths
 * that assume no thief. */
static void start_worker(int i, bool spare);

/* At most one report every REPORT_EVERY (the monitor's thread only). */
#define REPORT_EVERY (10 * ROOST_S)
static int64_t last_report;
static long unsaid;

static void report_blocked(roost__worker *v, int64_t ns, uint64_t s, int64_t now) {
    if (last_report && now - last_report < REPORT_EVERY) {
        unsaid++;
        return;
    }
    /* The task cannot exit without a switch, so its record is there; read
     * racily (it runs), and dropped if the worker moved on meanwhile. */
    roost__task *t = (roost__task *)(uintptr_t)roost__racy_load64(&v->current);
    if (!t) return;
    uint64_t id = roost__racy_load64(&t->id);
    roost_site_t *site = (roost_site_t *)(uintptr_t)roost__racy_load64(&t->site);
    if (atomic_load_explicit(&v->switches, memory_order_acquire) != s || !site) return;
    fprintf(stderr,
            "roost: worker %d blocked: task %llu (created at %s:%d in %s) has run %lld ms "
            "without a switch (a blocking call, or a long computation); its queued tasks "
            "go to other workers (at most one such line every %d s; %ld not said since the last)\n",
            v->id, (unsigned long long)id, site->file ? site->file : "?", site->line,
            site->func ? site->func : "?", (long long)(ns / ROOST_MS),
            (int)(REPORT_EVERY / ROOST_S), unsaid);
    last_report = now;
    unsaid = 0;
}

/* Get a spare running: a retired one back, or a new one in a free slot. */
static void spare_up(void) {
    int nw = NW();
    for (int i = G.base; i < nw; i++) {
        roost__worker *v = &G.workers[i];
        bool was = true;
        if (atomic_compare_exchange_strong(&v->retired, &was, false)) {
            atomic_fetch_sub(&G.nretired, 1);
            atomic_store(&v->wake, 1);
            roost__futex_wake(&v->wake, 1);
            return;
        }
    }
    if (nw < G.cap && G.base >= 2 && !atomic_load(&G.stopping)) start_worker(nw, true);
}

/* For the monitor, every tick while some worker is busy: is some worker
 * sitting on queued work while another sleeps? Either it made no switch
 * since the last tick (a task runs long), or its ring was queued at this
 * tick and the last (it is not getting through it: say three tasks that
 * compute and yield in turn). Wake a sleeper, which steals by the rule
 * above. At most one wake-up a tick for a ring that only looks busy. And
 * the blocked workers above: reported, and a spare when nobody is idle. */
void roost__sched_monitor(void) {
    int nw = NW(), blocked = 0;
    int64_t now = roost_now();
    bool work = atomic_load(&G.gq_len) > 0;
    for (int i = 0; i < nw; i++) {
        roost__worker *v = &G.workers[i];
        uint64_t s = atomic_load_explicit(&v->switches, memory_order_relaxed);
        bool queued = !ring_empty(v);
        bool has = queued || atomic_load(&v->runnext);
        work |= has;
        if (s != v->mon_switches || !v->mon_since) {
            v->mon_since = now;
            v->mon_said = false;
        } else if (G.stall_ns > 0 && now - v->mon_since >= G.stall_ns &&
                   roost__racy_load64(&v->current)) {
            blocked++;
            if (!v->mon_said) {
                v->mon_said = true;
                atomic_store_explicit(&G.stalls, atomic_load_explicit(&G.stalls, memory_order_relaxed) + 1,
                                      memory_order_relaxed);
                report_blocked(v, now - v->mon_since, s, now);
            }
        }
        if (atomic_load(&G.nidle) > 0 && ((s == v->mon_switches && has) || (queued && v->mon_queued)))
            wake_one();
        v->mon_switches = s;
        v->mon_queued = queued;
    }
    atomic_store(&G.nblocked, blocked);
    if (blocked && work && atomic_load(&G.nidle) == 0) spare_up();
}

bool roost__sched_all_idle(void) {
    return atomic_load(&G.nidle) + atomic_load(&G.nretired) == NW();
}

void roost__sched_figures(roost__sched_figures_t *out) {
    memset(out, 0, sizeof *out);
    int nw = NW();
    for (int i = 0; i < nw; i++) {
        out->switches += atomic_load_explicit(&G.workers[i].switches, memory_order_relaxed);
        out->steals += (uint64_t)atomic_load_explicit(&G.workers[i].steals, memory_order_relaxed);
    }
    out->stalls = atomic_load_explicit(&G.stalls, memory_order_relaxed);
    out->workers = G.base;
    out->started = nw;
    out->idle = atomic_load(&G.nidle) + atomic_load(&G.nretired);
    out->blocked = atomic_load(&G.nblocked);
}

uint64_t roost__sched_switches(void) {
    uint64_t n = 0;
    for (int i = 0, nw = NW(); i < nw; i++)
        n += atomic_load_explicit(&G.workers[i].switches, memory_order_relaxed);
    return n;
}

/* ------------------------------------------------------------ readying */

/* The slot held a task already: it goes to the ring (or, the ring full,
 * the global queue), and an idle worker may take it. Out of line, so that
 * roost__ready's common case needs no frame. */
static __attribute__((noinline)) int ready_spill(roost__worker *w, roost__task *old) {
    if (!ring_put(w, old)) ring_overflow(w, old);
    work_added(w);
    return ROOST_OK;
}

/* Set on the timer thread: what it readies goes to the timer list. */
static _Thread_local bool timer_thread;

void roost__sched_on_timer_thread(void) { timer_thread = true; }

static __attribute__((noinline)) int ready_global(roost__task *t) {
    gq_push_list(t, t, 1, timer_thread);
    wake_one();
    return ROOST_OK;
}

/* noinline, so its TLS read stays here: it has no switch point, and no
 * caller that switches can inherit a thread pointer from it. */
__attribute__((noinline)) int roost__ready(roost__task *t) {
    atomic_store_explicit(&t->state, ROOST_T_RUNNABLE, memory_order_relaxed);
    roost__worker *w = roost__worker_before_switch();
    /* No check for shutdown here: roost_shutdown refuses while any task is
     * alive, and only a running task readies through its worker. */
    if (ROOST_LIKELY(w)) {
        roost__task *old = atomic_exchange_explicit(&w->runnext, t, memory_order_acq_rel);
        if (ROOST_LIKELY(!old)) return ROOST_OK;
        return ready_spill(w, old);
    }
    return ready_global(t);
}

/* Whether the calling task's worker has another task queued: a select
 * about to block yields to it first (select.c). noinline: it reads TLS. */
__attribute__((noinline)) bool roost__local_work(void) {
    roost__worker *w = roost__worker_before_switch();
    return w && w->current &&
           (atomic_load_explicit(&w->runnext, memory_order_relaxed) || !ring_empty(w));
}

#define ROOST_FAIR_EVERY 61

/* Every 61st pick (ROOST_FAIR_EVERY), before runnext: the global queue's
 * next task (the timer list's first, see gq_next). If the ring was not
 * popped in those 61 picks, runnext was never empty: a pair of tasks waking
 * each other through it, which would keep the worker for ever; then the
 * ring's oldest task also gets a turn, by going to the global queue's tail
 * (it runs now if that queue is empty). So everything waiting, in the ring
 * or the global queue, goes round one queue in order, one task every 61
 * picks: a task runs within about one pass over the runnable tasks, and one
 * the timer readied at the next fairness check or the one after.
 * One task, not a batch: moved into a ring that is not popped, a batch sat
 * there until the ring overflowed back into the global queue's tail, and a
 * task could go round that loop many times without running (a 10 ms sleep
 * woke seconds late behind 50,000 busy pairs). */
static __attribute__((noinline)) roost__task *fair_pick(roost__worker *w) {
    w->fair_left = ROOST_FAIR_EVERY;
    bool starving = !w->ring_popped;
    w->ring_popped = false;
    roost__task *old = starving ? ring_take_own(w) : NULL;
    return old ? gq_swap(old) : gq_get(w, 1);
}

/* Next task for this worker: runnext, then the newest in the ring (depth
 * first: a spawn tree keeps depth x fan-out live stacks, not the whole
 * tree), then the global queue; every 61st pick, fair_pick first. */
static inline __attribute__((always_inline)) roost__task *local_next(roost__worker *w) {
    roost__task *t;
    /* A countdown: cheaper than a modulo. */
    if (ROOST_UNLIKELY(--w->fair_left == 0) && (t = fair_pick(w))) return t;
    t = atomic_load_explicit(&w->runnext, memory_order_relaxed);
    if (t && atomic_compare_exchange_strong_explicit(&w->runnext, &t, NULL, memory_order_acquire,
                                                     memory_order_relaxed))
        return t;
    if ((t = ring_pop(w))) {
        w->ring_popped = true;
        return t;
    }
    return gq_get(w, 32);
}

/* ------------------------------------------------------------ parking */

static inline void enter(roost__worker *w, roost__task *t) {
    __atomic_store_n(&w->current, t, __ATOMIC_RELAXED); /* read by roost_counts */
    t->worker = w;
    /* seq odd: the stack is about to change under observers */
    atomic_store_explicit(&t->seq, atomic_load_explicit(&t->seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&t->state, ROOST_T_RUNNING, memory_order_relaxed);
}

/* Park the running task (its state and wait reason already set) from its
 * worker w (read before this switch point, from TLS or self->worker): switch
 * to the next runnable task, or to the scheduler loop; `after(w, arg)` runs
 * in the next context once our registers are saved. Returns when woken,
 * perhaps on another worker. Inlined into park.c's blocking paths (where
 * the build inlines across units, see internal.h): a parking channel operation is then one
 * frame, where it was four, and each frame's saves and restores had cost a
 * tenth of a ping-pong's instructions. */
inline __attribute__((always_inline)) void roost__park_switch(roost__worker *w, roost__task *self,
                                                              void (*after)(roost__worker *, void *),
                                                              void *arg) {
    if (ROOST_UNLIKELY(self->unguarded)) roost__stack_check(self, __builtin_frame_address(0));
    roost__task *next = local_next(w);
    w->after_fn = after;
    w->after_arg = arg;
    if (next) {
        enter(w, next);
        sw(w, self, next, false);
    } else {
        __atomic_store_n(&w->current, NULL, __ATOMIC_RELAXED);
        sw(w, self, NULL, false);
    }
    run_after(self->worker);
}

/* After a yield, once the yielder's registers are saved: queue it behind
 * everything. A program's roost_yield says "I compute for long": wake a
 * sleeping worker, which takes the yielder or another queued task if this
 * ring stays queued (the steal rule above); left to the monitor, a task
 * that yields between bursts of a busy pair of tasks could stay on their
 * worker for good (measured: 2.6x slower). select's own yield (it lets the
 * senders it woke run) wakes nobody for a short ring. */
static inline void requeue_oldest(roost__worker *w, roost__task *t) {
    atomic_store_explicit(&t->state, ROOST_T_RUNNABLE, memory_order_relaxed);
    if (!ring_put_oldest(w, t, false)) ring_overflow(w, t);
}

static void requeue_after_yield(roost__worker *w, void *arg) {
    requeue_oldest(w, arg);
    wake_if_idle();
}

static void requeue_after_local_yield(roost__worker *w, void *arg) {
    requeue_oldest(w, arg);
    work_added(w);
}

static inline __attribute__((always_inline)) int yield(void (*requeue)(roost__worker *, void *)) {
    /* No TLS after the switch. The worker straight from TLS, not through
     * current->worker: a yield loop is bound by its chain of dependent
     * loads (which task runs next, then its stack pointer, then its saved
     * registers), and this takes two loads off it. */
    roost__worker *w = roost__worker_before_switch();
    roost__task *self = w ? w->current : NULL;
    if (!self) {
        sched_yield();
        return ROOST_OK;
    }
    /* We go behind every task queued (ring_put_oldest), and the next one
     * is picked as always (runnext, then the newest): all run before us.
     * Not the oldest: that is where we go, and two yielders would then
     * swap places at the head for ever, past everything else queued. */
    roost__task *next = local_next(w);
    if (!next) return ROOST_OK;
    roost__uncount(w, self); /* runnable now, not parked */
    if (NW() == 1) {
        /* No thief can take us off the ring before our registers are
         * saved: queue ourselves now, and skip the after-switch hook (an
         * indirect call and the idle check). */
        atomic_store_explicit(&self->state, ROOST_T_RUNNABLE, memory_order_relaxed);
        if (!ring_put_oldest(w, self, true)) ring_overflow(w, self);
        w->after_fn = NULL;
    } else {
        w->after_fn = requeue;
        w->after_arg = self;
    }
    enter(w, next);
    sw(w, self, next, false);
    run_after(self->worker);
    return ROOST_OK;
}

/* noinline, both: inlined into a library caller that reads TLS after it,
 * the thread pointer read here could be reused on another thread. */
__attribute__((noinline)) int roost_yield(void) { return yield(requeue_after_yield); }

__attribute__((noinline)) int roost__yield_local(void) { return yield(requeue_after_local_yield); }

/* ------------------------------------------------------------ spawn and exit */

static void free_after_exit(roost__worker *w, void *arg) {
    roost__task *t = arg;
#ifdef ROOST_TSAN
    __tsan_destroy_fiber(t->tsan_fiber);
#endif
    roost__stack_put(w, t->stack);
}

static void task_main(void *arg) {
    roost__task *t = arg;
#ifdef ROOST_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    run_after(t->worker);
    /* Read now, while the record is hot: at exit it may have left L1, and
     * the exit count's address depends on it (measured: 3 ns a task). */
    int site_id = t->site_id;
    t->fn(t->arg);
    /* Exit: count it, then switch away for good; the next context frees our stack. */
    if (ROOST_UNLIKELY(t->nowned)) roost__task_release_owned(t); /* adopted refs */
    roost__worker *w = roost__worker_self();
    if (roost__observe) roost__site_count(w, site_id, 1);
    roost__uncount(w, t);
    atomic_store_explicit(&t->state, ROOST_T_DEAD, memory_order_relaxed);
    atomic_store_explicit(&w->exited, atomic_load_explicit(&w->exited, memory_order_relaxed) + 1,
                          memory_order_release);
    roost__task *next = local_next(w);
    w->after_fn = free_after_exit;
    w->after_arg = t;
    if (next) {
        enter(w, next);
        sw(w, t, next, true);
    } else {
        __atomic_store_n(&w->current, NULL, __ATOMIC_RELAXED);
        sw(w, t, NULL, true);
    }
    __builtin_unreachable();
}

static uint64_t new_id(void) {
    if (id_next == id_end) {
        id_next = atomic_fetch_add(&G.next_id, ID_BLOCK);
        id_end = id_next + ID_BLOCK;
    }
    return id_next++;
}

int roost_go_site(roost_fn fn, void *arg, const roost_task_opts_t *opts, roost_site_t *site) {
    if (!fn || !site) return ROOST_EINVAL;
    if (opts && opts->stack_size > ROOST_STACK_MAX) return ROOST_ERANGE;
    int rc = roost__ensure_started();
    if (rc) return rc;
    roost__worker *w = roost__worker_self();
    roost__stack *s = roost__stack_get(w, opts ? opts->stack_size : 0);
    if (!s) return ROOST_ENOMEM;
    int site_id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);
    if (ROOST_UNLIKELY(!site_id)) site_id = roost__site_id(site);
    roost__task *t = roost__stack_task(s);
    /* seq odd while the record is rewritten; it survives the memset (it is
     * the first field), so an observer that copied the previous task's
     * record sees it change. */
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed) | 1;
    atomic_store_explicit(&t->seq, seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memset((char *)t + sizeof t->seq, 0, sizeof *t - sizeof t->seq);
    roost__task *parent = w ? w->current : NULL;
    t->fn = fn, t->arg = arg, t->stack = s;
    t->unguarded = !s->guarded;
    t->id = new_id();
    t->parent_id = parent ? parent->id : 0;
    t->site = site;
    t->site_id = site_id;
    t->name = opts ? opts->name : NULL;
    if (parent && parent->nlabels) {
        t->nlabels = parent->nlabels;
        memcpy(t->labels, parent->labels, sizeof t->labels);
    }
    /* The coarse clock, not roost_now(): a vDSO clock_gettime was a sixth
     * of a spawn's cost. Plain threads read the TSC: the coarse clock only
     * advances while workers are busy. */
    t->created_tick = w ? roost__park_clock() : roost__tick();
    if (roost__observe) roost__site_count(w, site_id, 0);
    t->sp = roost__ctx_init(t, task_main, t);
#ifdef ROOST_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    atomic_store_explicit(&t->seq, seq + 1, memory_order_release); /* even: complete */
    if (w)
        atomic_store_explicit(&w->spawned,
                              atomic_load_explicit(&w->spawned, memory_order_relaxed) + 1,
                              memory_order_release);
    else
        atomic_fetch_add(&G.thread_spawned, 1);
    roost__ready(t);
    /* A spawn is new work, not a hand-off: if it pushed a task into our
     * ring, wake a sleeper whatever the ring's length. It takes the task
     * once the ring stays queued for half its spin (the steal rule), so a
     * fan-out of two or three long tasks runs in parallel within tens of
     * microseconds, not at the monitor's next ticks. */
    if (w && NW() > 1 && ring_len(w) - 1 < STEAL_BATCH - 1) /* longer: woken already */
        wake_if_idle();
    return ROOST_OK;
}

uint64_t roost_task_id(void) {
    roost__task *t = roost__self();
    return t ? t->id : 0;
}

int64_t roost_task_count(void) {
    if (!atomic_load(&G.started)) return 0;
    int64_t n = atomic_load(&G.thread_spawned);
    for (int i = 0, nw = NW(); i < nw; i++) {
        /* exited first: a task is counted as spawned before it can exit */
        n -= atomic_load_explicit(&G.workers[i].exited, memory_order_acquire);
        n += atomic_load_explicit(&G.workers[i].spawned, memory_order_acquire);
    }
    return n;
}

int roost_wait_tasks(int64_t expected, int64_t timeout_ns) {
    int64_t end = roost__deadline_after(timeout_ns);
    if (roost__self()) expected++; /* the caller is alive and counted */
    for (;;) {
        if (roost_task_count() <= expected) return ROOST_OK;
        if (roost_now() >= end) return ROOST_ETIMEDOUT;
        if (roost__self())
            roost_sleep(NULL, ROOST_MS);
        else {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

/* ------------------------------------------------------------ worker threads */

static roost__task *find_runnable(roost__worker *w) {
    for (;;) {
        if (atomic_load_explicit(&G.stopping, memory_order_relaxed)) return NULL;
        roost__task *t = local_next(w);
        if (t) return t;
        if (roost__netpoll_try() && (t = local_next(w))) return t;
        /* Spin: look everywhere for a while before paying for a futex sleep.
         * A victim's runnext is taken only if the victim made no progress
         * meanwhile: an active worker will run it itself, on a warm cache. */
        int nw = NW(); /* once: spares started meanwhile wait for the next pass */
        uint64_t snap[nw], late[nw];
        bool drained[nw]; /* its ring was seen empty during this spin */
        for (int i = 0; i < nw; i++) {
            snap[i] = atomic_load_explicit(&G.workers[i].switches, memory_order_relaxed);
            drained[i] = false;
        }
        for (int round = 0; round < SPIN_ROUNDS; round++) {
            if ((t = gq_get(w, 32))) return t;
            int start = (int)(roost__xorshift(&w->rng) % (uint64_t)nw);
            bool half = round >= SPIN_ROUNDS / 2;
            for (int i = 0; i < nw; i++) {
                int k = (start + i) % nw;
                roost__worker *v = &G.workers[k];
                if (v == w) continue;
                if (ring_empty(v)) drained[k] = true;
                bool stalled =
                    half && atomic_load_explicit(&v->switches, memory_order_relaxed) == snap[k];
                if ((t = steal(v, half && !drained[k], stalled))) {
                    roost__ctr_add(&w->steals, 1);
                    return t;
                }
            }
            for (int k = 0; k < 50; k++) cpu_relax();
            if ((t = local_next(w))) return t;
            if (roost__netpoll_try() && (t = local_next(w))) return t;
            if (round == SPIN_ROUNDS - QUIET_ROUNDS - 1) /* see `quiet` below */
                for (int i = 0; i < nw; i++)
                    late[i] = atomic_load_explicit(&G.workers[i].switches, memory_order_relaxed);
        }
        /* A spare with no blocked worker left retires: asleep off the idle
         * list until the monitor calls it back (spare_up). */
        if (w->spare && atomic_load(&G.nblocked) == 0) {
            atomic_store(&w->wake, 0);
            atomic_store(&w->retired, true);
            atomic_fetch_add(&G.nretired, 1);
            roost__stack_flush(w);
            while (atomic_load(&w->wake) == 0) roost__futex_wait(&w->wake, 0, -1);
            bool was = true; /* woken by shutdown rather than by spare_up */
            if (atomic_compare_exchange_strong(&w->retired, &was, false))
                atomic_fetch_sub(&G.nretired, 1);
            roost__coarse_refresh();
            continue;
        }
        /* Sleep: get on the idle list, look once more, then wait. Not if a
         * worker holds queued work and made no switch in the last
         * QUIET_ROUNDS rounds (`quiet`): it may be settling into a long
         * task after queueing work this spin saw too late (its ring seen
         * empty, or its switches moving, early on), and the next spin takes
         * it. A worker busy switching with a short ring is left to it. */
        pthread_mutex_lock(&G.idle_lock);
        atomic_store(&w->wake, 0);
        w->idle = true;
        w->idle_next = G.idle;
        G.idle = w;
        atomic_fetch_add(&G.nidle, 1);
        pthread_mutex_unlock(&G.idle_lock);
        bool work = atomic_load(&G.gq_len) > 0 || atomic_load(&G.stopping);
        for (int i = 0; i < nw && !work; i++) {
            roost__worker *v = &G.workers[i];
            bool quiet = atomic_load_explicit(&v->switches, memory_order_relaxed) == late[i];
            work = ring_len(v) >= STEAL_BATCH ||
                   (quiet && (!ring_empty(v) || atomic_load(&v->runnext)));
        }
        if (work) {
            pthread_mutex_lock(&G.idle_lock);
            if (w->idle) {
                for (roost__worker **p = &G.idle; *p; p = &(*p)->idle_next)
                    if (*p == w) {
                        *p = w->idle_next;
                        break;
                    }
                w->idle = false;
                atomic_fetch_sub(&G.nidle, 1);
            }
            pthread_mutex_unlock(&G.idle_lock);
            roost__timer_poke(); /* busy again: the monitor must tick */
            continue;
        }
        roost__stack_flush(w); /* idle workers keep no private stacks */
        while (atomic_load(&w->wake) == 0) roost__futex_wait(&w->wake, 0, -1);
        roost__coarse_refresh(); /* the timer thread may have been asleep too */
    }
}

static void *worker_main(void *arg) {
    roost__worker *w = arg;
    roost__tls_worker = w;
    w->frames_top = __builtin_frame_address(0);
    roost__stack_thread_init();
#ifdef ROOST_TSAN
    w->tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef ROOST_ASAN
    {
        pthread_attr_t a;
        void *addr;
        size_t sz;
        pthread_getattr_np(pthread_self(), &a);
        pthread_attr_getstack(&a, &addr, &sz);
        pthread_attr_destroy(&a);
        w->asan_stack_bottom = addr, w->asan_stack_size = sz;
    }
#endif
    for (;;) {
        run_after(w);
        roost__task *t = find_runnable(w);
        if (!t) break;
        w->after_fn = NULL; /* nothing to do after this switch */
        enter(w, t);
        sw(w, NULL, t, false);
    }
    roost__stack_flush(w);
    roost__stack_thread_fini();
    roost__tls_worker = NULL;
    return NULL;
}

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
    if (end != s && *end && strchr("kK", *end)) shift = 10, end++;
    else if (end != s && *end && strchr("mM", *end)) shift = 20, end++;
    else if (end != s && *end && strchr("gG", *end)) shift = 30, end++;
    if (end == s || *end || errno || v < 0 || v > (hi >> shift) || (v << shift) < lo) {
        if (!(atomic_fetch_or(&warned, bit) & bit))
            fprintf(stderr, "roost: ignoring %s=%s (not an integer from %ld to %ld); using the default\n",
                    name, s, lo, hi);
        return 0;
    }
    *out = v << shift;
    return 1;
}

#define ROOST_WORKERS_MAX 1024

/* Set up slot i and start its thread; a spare (started by the monitor while
 * the runtime runs) is counted in only once it is set up. */
static void start_worker(int i, bool spare) {
    roost__worker *w = &G.workers[i];
    w->id = i;
    w->spare = spare;
    w->fair_left = ROOST_FAIR_EVERY;
    atomic_store(&w->site_ctr[0], w->site_ctr0);
    w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ (uint64_t)roost_now();
    char name[24];               /* thread.c keeps the first 15 */
    snprintf(name, sizeof name, spare ? "roost-spare%d" : "roost-w%d", i);
    if (roost__thread_start(&w->thread, worker_main, w, name, false)) {
        if (!spare) roost__fatal("cannot start worker threads");
        return;                  /* no spare this tick: the next may try again */
    }
    if (spare) {
        atomic_store(&G.nworkers, i + 1);
        fprintf(stderr, "roost: started spare worker %d while %d worker(s) are blocked\n", i,
                atomic_load(&G.nblocked));
    }
}

static int start_locked(const roost_config_t *cfg) {
    /* Check everything before anything is set up: a refused config leaves
     * the runtime as it was, not started. */
    if (cfg && (cfg->workers < 0 || cfg->observe < -1 || cfg->observe > 2)) return ROOST_EINVAL;
    if (cfg && (cfg->workers > ROOST_WORKERS_MAX || cfg->stack_size > ROOST_STACK_MAX))
        return ROOST_ERANGE;
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
    G.base = (int)n;
    G.cap = (int)n + (n >= 2 ? (n < 64 ? (int)n : 64) : 0);
    long blocked_ms = 20;
    env_int("ROOST_BLOCKED_MS", 8, 0, 3600 * 1000, &blocked_ms);
    G.stall_ns = blocked_ms * ROOST_MS;
    /* Under valgrind and the sanitizers everything is slower: so is what
     * counts as blocked. */
#ifdef ROOST_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND) G.stall_ns *= 50;
#endif
#if defined(ROOST_TSAN)
    G.stall_ns *= 10;
#elif defined(ROOST_ASAN)
    G.stall_ns *= 3;
#endif
    atomic_store(&G.nretired, 0);
    atomic_store(&G.nblocked, 0);
    G.workers = aligned_alloc(64, sizeof(roost__worker) * (size_t)G.cap);
    if (!G.workers) return ROOST_ENOMEM;
    memset(G.workers, 0, sizeof(roost__worker) * (size_t)G.cap);
    atomic_store(&G.nworkers, 0);
    atomic_store(&G.stopping, false);
    rc = roost__timer_start();
    if (rc) return rc;
    atomic_store(&G.nworkers, (int)n);
    for (int i = 0; i < n; i++) start_worker(i, false);
    atomic_store(&G.started, true);
    roost__profile_start();
    roost__reach_start();
    return ROOST_OK;
}

int roost__ensure_started(void) {
    if (ROOST_LIKELY(atomic_load_explicit(&G.started, memory_order_acquire))) return ROOST_OK;
    pthread_mutex_lock(&G.init_lock);
    bool was = atomic_load(&G.started);
    int rc = was ? ROOST_OK : start_locked(NULL);
    pthread_mutex_unlock(&G.init_lock);
    if (!rc && !was) roost__debug_autostart(); /* outside the lock: it spawns */
    return rc;
}

int roost_init(const roost_config_t *cfg) {
    pthread_mutex_lock(&G.init_lock);
    int rc = atomic_load(&G.started) ? ROOST_ESTATE : start_locked(cfg);
    pthread_mutex_unlock(&G.init_lock);
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
    pthread_mutex_lock(&G.init_lock);
    if (!atomic_load(&G.started)) {
        pthread_mutex_unlock(&G.init_lock);
        return ROOST_OK;
    }
    if (roost_task_count() != 0) {
        pthread_mutex_unlock(&G.init_lock);
        return ROOST_ESTATE;
    }
    roost_monitor_stop();
    atomic_store(&G.stopping, true);
    for (int i = 0; i < NW(); i++) {
        atomic_store(&G.workers[i].wake, 1);
        roost__futex_wake(&G.workers[i].wake, 1);
    }
    for (int i = 0; i < NW(); i++) pthread_join(G.workers[i].thread, NULL);
    roost__timer_stop();
    atomic_store(&G.started, false);
    G.idle = NULL;
    atomic_store(&G.nidle, 0);
    atomic_store(&G.thread_spawned, 0);
    for (int i = 0; i < NW(); i++) roost__registry_worker_fini(&G.workers[i]);
    free(G.workers);
    G.workers = NULL;
    atomic_store(&G.nworkers, 0);
    roost__stack_fini();
    pthread_mutex_unlock(&G.init_lock);
    return ROOST_OK;
}
