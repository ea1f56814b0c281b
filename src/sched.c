/* sched.c - the M:N scheduler: workers, run queues, work stealing, idling.
 *
 * The one idea: a worker runs tasks from, in order, its `runnext` slot (the
 * task it just woke or spawned: it runs next on this warm core, which is what
 * makes a channel round trip cost two switches and no system call), its own
 * ring of 256 (runq.h), the global queue (runq.c), and other workers'
 * rings (one task at a time, by the steal rule below).
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
 * current task then runs long, sysmon (sysmon.c, ticked by the timer
 * thread) notices the worker made no progress and wakes a sleeper, which
 * steals it. Start-up and shutdown are in init.c, the primitives (futex,
 * spin lock, clock) in prim.c.
 *
 * Invariants:
 *   - A task's state moves RUNNABLE -> RUNNING (enter, on the worker that
 *     will run it) -> PARKED (set by the task itself, before it switches
 *     away) or RUNNABLE again (a yield, requeued once its registers are
 *     saved) or DEAD (task_main, before its last switch). Only roost__ready
 *     makes a PARKED task RUNNABLE, and only the waker that claimed its park
 *     calls it.
 *   - A RUNNABLE task is in exactly one place: a worker's runnext, a ring,
 *     the global queue, or the hands of the worker about to enter it. A
 *     RUNNING task is exactly one worker's `current`.
 *   - A worker's current, after_fn, after_arg, switched_out, fair_left and
 *     ring_popped are touched by its own thread only; runnext is filled by
 *     roost__ready on its own worker only, and emptied by the owner or by a
 *     thief's CAS (when the owner is stalled); the ring's rules are in
 *     runq.h.
 *   - after_fn runs in the next context, first, once the switching task's
 *     registers are saved: whatever could let another worker resume that
 *     task (its queue locks, its requeue after a yield, its stack's reuse)
 *     happens there and not before.
 *   - After a switch point the task may run on another thread: nothing read
 *     from TLS before it is used after it. Code after a switch takes its
 *     worker from self->worker (set by enter), or calls a ROOST_TLS_REREAD
 *     accessor; the inline TLS reads (roost__worker_before_switch) are only
 *     in functions that read no TLS after their switch point, themselves
 *     ROOST_TLS_REREAD so no caller can inline them. A ROOST_DEBUG build
 *     checks the state moves and that self->worker is TLS's worker after
 *     every switch.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"
#include "runq.h"
#include "scheduler.h"
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

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define ROOST_HAVE_MEMCHECK 1
#endif
#ifdef ROOST_ASAN
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/asan_interface.h>
#endif
#ifdef ROOST_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* An idle worker's spin before it sleeps: SPIN_ROUNDS looks at every
 * queue, SPIN_PAUSES pauses apart. The looks decide (the steal rule counts
 * them); the pauses only space them. Short pauses keep the spin short:
 * a spinning worker holds a CPU that, on a machine shared with other
 * programs, the busy workers of this one could have had. */
#define SPIN_ROUNDS 64
#define SPIN_PAUSES 10
#define QUIET_ROUNDS 4 /* find_runnable: no switch in this many rounds, before sleeping */
#define ID_BLOCK 1024

/* The worker count, read once by whoever loops over the workers. */
#define NW() roost__nw()

_Thread_local roost__worker *roost__tls_worker __attribute__((tls_model("initial-exec")));

static _Thread_local uint64_t id_next, id_end;

static _Thread_local uint64_t thread_rng;
uint64_t roost__rand(void) {
    roost__worker *w = roost__worker_self();
    if (w) return roost__xorshift(&w->rng);
    if (!thread_rng) thread_rng = (uint64_t)roost_now() | 1;
    return roost__xorshift(&thread_rng);
}

ROOST_TLS_REREAD roost__worker *roost__worker_self(void) {
    __asm__ __volatile__("" ::: "memory");
    return roost__tls_worker;
}

ROOST_TLS_REREAD roost__task *roost__self(void) {
    __asm__ __volatile__("" ::: "memory");
    roost__worker *w = roost__tls_worker;
    return w ? w->current : NULL;
}

int roost_workers(void) { return atomic_load(&roost__sched.started) ? roost__sched.base : 0; }
int roost__nworkers(void) { return atomic_load(&roost__sched.started) ? NW() : 0; }
roost__worker *roost__worker_at(int i) { return &roost__sched.workers[i]; }
int64_t roost__thread_spawned(void) { return atomic_load(&roost__sched.thread_spawned); }

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

/* ------------------------------------------------------------ stealing */

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
    if (stalled || patient || roost__ring_len(v) >= STEAL_BATCH) t = roost__ring_steal(v);
    if (t || !stalled) return t;
    t = atomic_load_explicit(&v->runnext, memory_order_acquire);
    if (t && atomic_compare_exchange_strong(&v->runnext, &t, NULL)) return t;
    return NULL;
}

/* ------------------------------------------------------------ idle workers */

/* Wake w, asleep on its futex or blocked in epoll_wait as the poller's
 * owner (poll.c says why no wake-up is lost). */
void roost__wake_worker(roost__worker *w) {
    atomic_store(&w->wake, 1);
    if (!roost__netpoll_break(w)) roost__futex_wake(&w->wake, 1);
}

/* An idle worker, the poller's owner last: it readies I/O where it is. */
void roost__wake_one(void) {
    if (atomic_load(&roost__sched.nidle) == 0) return;
    pthread_mutex_lock(&roost__sched.idle_lock);
    roost__worker **p = &roost__sched.idle;
    if (*p && (*p)->idle_next && roost__netpoll_owns(*p)) p = &(*p)->idle_next;
    roost__worker *w = *p;
    if (w) {
        *p = w->idle_next;
        w->idle = false;
        atomic_fetch_sub(&roost__sched.nidle, 1);
    }
    pthread_mutex_unlock(&roost__sched.idle_lock);
    if (w) {
        roost__wake_worker(w);
        roost__timer_poke();
    }
}

/* poll.c: a plain thread waits on a descriptor; if every worker sleeps,
 * one must wake to become the poller's owner. */
void roost__sched_kick_poller(void) {
    if (roost__sched_all_idle()) roost__wake_one();
}

/* Work was put in w's ring, where another worker could take it. A sleeper
 * is woken only once that ring is long enough to be stolen from at once
 * (STEAL_BATCH): a shorter one is w's own to get through, and the monitor
 * wakes a sleeper when it stays queued or w stalls. */
/* After pushing work: wake a sleeping worker if there is one. An RMW, not
 * a fence + load: it orders our push before the read of nidle against a
 * sleeper's increment followed by its re-check. */
static inline void wake_if_idle(void) {
    if (atomic_fetch_add_explicit(&roost__sched.nidle, 0, memory_order_seq_cst) > 0) roost__wake_one();
}

static inline void work_added(roost__worker *w) {
    if (NW() == 1) return; /* nobody to wake */
    if (roost__ring_len(w) >= STEAL_BATCH) wake_if_idle();
}

/* ------------------------------------------------------------ readying */

/* The slot held a task already: it goes to the ring (or, the ring full,
 * the global queue), and an idle worker may take it. Out of line, so that
 * roost__ready's common case needs no frame. */
static __attribute__((noinline)) int ready_spill(roost__worker *w, roost__task *old) {
    if (!roost__ring_put(w, old)) roost__ring_overflow(w, old, NW() == 1);
    work_added(w);
    return ROOST_OK;
}

/* Set on the timer thread: what it readies goes to the timer list. */
static _Thread_local bool timer_thread;

void roost__sched_on_timer_thread(void) { timer_thread = true; }

static __attribute__((noinline)) int ready_global(roost__task *t) {
    roost__gq_push_list(t, t, 1, timer_thread);
    roost__wake_one();
    return ROOST_OK;
}

/* noinline, so its TLS read stays here: it has no switch point, and no
 * caller that switches can inherit a thread pointer from it. */
ROOST_TLS_REREAD int roost__ready(roost__task *t) {
    ROOST_ASSERT(atomic_load_explicit(&t->state, memory_order_relaxed) == ROOST_T_PARKED ||
                 atomic_load_explicit(&t->state, memory_order_relaxed) == ROOST_T_RUNNABLE);
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
ROOST_TLS_REREAD bool roost__local_work(void) {
    roost__worker *w = roost__worker_before_switch();
    return w && w->current &&
           (atomic_load_explicit(&w->runnext, memory_order_relaxed) || !roost__ring_empty(w));
}

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
    roost__task *old = starving ? roost__ring_take_own(w, NW() == 1) : NULL;
    return old ? roost__gq_swap(old) : roost__gq_get(w, 1, NW());
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
    if ((t = roost__ring_pop(w, NW() == 1))) {
        w->ring_popped = true;
        return t;
    }
    return roost__gq_get(w, 32, NW());
}

/* ------------------------------------------------------------ parking */

static inline void enter(roost__worker *w, roost__task *t) {
    ROOST_ASSERT(atomic_load_explicit(&t->state, memory_order_relaxed) == ROOST_T_RUNNABLE);
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
inline __attribute__((always_inline)) void
roost__park_switch(roost__worker *w, roost__task *self, void (*after)(roost__worker *, void *), void *arg) {
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
    ROOST_ASSERT(self->worker == roost__worker_self() && self->worker->current == self);
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
    if (!roost__ring_put_oldest(w, t, false)) roost__ring_overflow(w, t, NW() == 1);
}

static void requeue_oldest_after(roost__worker *w, void *arg) { requeue_oldest(w, arg); }

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
    if (!next) {
        /* Nothing else to run here: the task goes on, but a yield is
         * progress, so sysmon must not take the worker for a blocked one
         * (and start a spare) while its task computes and yields. */
        atomic_store_explicit(&w->switches, atomic_load_explicit(&w->switches, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return ROOST_OK;
    }
    roost__uncount(w, self); /* runnable now, not parked */
    if (NW() == 1) {
        /* No thief can take us off the ring before our registers are
         * saved: queue ourselves now, and skip the after-switch hook (an
         * indirect call and the idle check). */
        atomic_store_explicit(&self->state, ROOST_T_RUNNABLE, memory_order_relaxed);
        if (!roost__ring_put_oldest(w, self, true)) roost__ring_overflow(w, self, NW() == 1);
        w->after_fn = NULL;
    } else {
        w->after_fn = requeue;
        w->after_arg = self;
    }
    enter(w, next);
    sw(w, self, next, false);
    ROOST_ASSERT(self->worker == roost__worker_self() && self->worker->current == self);
    run_after(self->worker);
    return ROOST_OK;
}

/* noinline, both: inlined into a library caller that reads TLS after it,
 * the thread pointer read here could be reused on another thread. */
ROOST_TLS_REREAD int roost_yield(void) { return yield(requeue_after_yield); }

ROOST_TLS_REREAD int roost__yield_local(void) { return yield(requeue_after_local_yield); }

ROOST_TLS_REREAD int roost__yield_quiet(void) { return yield(requeue_oldest_after); }

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
    ROOST_ASSERT(t->worker == roost__worker_self());
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
        id_next = atomic_fetch_add(&roost__sched.next_id, ID_BLOCK);
        id_end = id_next + ID_BLOCK;
    }
    return id_next++;
}

/* Zero the record but `seq`, as a memset would. Unrolled 16-byte stores:
 * gcc makes a memset of this size (or a plain zeroing loop) a `rep stos`,
 * whose start-up alone was a seventh of a spawn's time in a fan-out of
 * tasks that return at once; the empty asm keeps the loop a loop. */
typedef uint64_t zero16v __attribute__((vector_size(16)));
typedef zero16v zero16 __attribute__((aligned(8), may_alias));
typedef uint64_t zero8 __attribute__((aligned(8), may_alias));
static inline __attribute__((always_inline)) void zero_record(roost__task *t) {
    _Static_assert(offsetof(roost__task, state) == 4 && offsetof(roost__task, sp) == 8 && sizeof *t % 8 == 0,
                   "zero_record's layout");
    atomic_store_explicit(&t->state, 0, memory_order_relaxed);
    *(zero8 *)((char *)t + 8) = 0;
    char *p = (char *)t + 16;
#pragma GCC unroll 64
    for (size_t i = 0; i < (sizeof *t - 16) / 16; i++) {
        *(zero16 *)(p + 16 * i) = (zero16){0, 0};
        __asm__ volatile("");
    }
    if ((sizeof *t - 16) % 16) *(zero8 *)((char *)t + sizeof *t - 8) = 0;
}

/* A spawn; `quiet` (a constant in each caller): wake no idle worker for
 * it (see roost__go_quiet). With ncopy bytes to copy (roost__go_copy), the
 * task's argument is their copy at the top of its own stack. */
static inline __attribute__((always_inline)) int spawn(roost_fn fn, void *arg, const roost_task_opts_t *opts,
                                                       roost_site_t *site, bool quiet, const void *copy,
                                                       size_t ncopy) {
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
    zero_record(t);
    void *top = t;
    if (ncopy) {
        top = (char *)t - ncopy;
#ifdef ROOST_ASAN
        /* a frame of the slot's last task may have left its redzones here */
        __asan_unpoison_memory_region(top, ncopy);
#endif
#ifdef ROOST_HAVE_MEMCHECK
        /* and memcheck took the frames it returned from for gone: the copy
         * and the first frame (roost__ctx_init's, at most a ucontext) now
         * sit lower than any record-only spawn's */
        VALGRIND_MAKE_MEM_UNDEFINED(top - 1024, ncopy + 1024);
#endif
        /* 16 bytes at a time, not a memcpy call: a group's record is a few
         * of them (the empty asm keeps the loop a loop) */
        for (size_t i = 0; i < ncopy / 16; i++) {
            ((zero16 *)top)[i] = ((const zero16 *)copy)[i];
            __asm__ volatile("");
        }
        arg = top;
    }
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
    t->sp = roost__ctx_init(top, task_main, t);
#ifdef ROOST_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    atomic_store_explicit(&t->seq, seq + 1, memory_order_release); /* even: complete */
    if (w)
        atomic_store_explicit(&w->spawned, atomic_load_explicit(&w->spawned, memory_order_relaxed) + 1,
                              memory_order_release);
    else
        atomic_fetch_add(&roost__sched.thread_spawned, 1);
    if (quiet && w) {
        /* Into the ring's tail, less roost__ready's wake-up; counted for
         * sysmon, which then leaves this worker's queue to it while it
         * progresses. Not into runnext as a wake-up goes: the ring's tail
         * is popped next all the same (after runnext), and putting it there
         * is two plain stores, where runnext's exchange is a locked
         * instruction, a tenth of a fan-out's spawn. */
        atomic_store_explicit(&w->quiet, atomic_load_explicit(&w->quiet, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        atomic_store_explicit(&t->state, ROOST_T_RUNNABLE, memory_order_relaxed);
        if (!roost__ring_put(w, t)) roost__ring_overflow(w, t, NW() == 1);
        return ROOST_OK;
    }
    roost__ready(t);
    /* A spawn is new work, not a hand-off: if it pushed a task into our
     * ring, wake a sleeper whatever the ring's length. It takes the task
     * once the ring stays queued for half its spin (the steal rule), so a
     * fan-out of two or three long tasks runs in parallel within tens of
     * microseconds, not at the monitor's next ticks. */
    if (w && NW() > 1 && roost__ring_len(w) - 1 < STEAL_BATCH - 1) /* longer: woken already */
        wake_if_idle();
    return ROOST_OK;
}

int roost_go_site(roost_fn fn, void *arg, const roost_task_opts_t *opts, roost_site_t *site) {
    return spawn(fn, arg, opts, site, false, NULL, 0);
}

int roost__go_quiet(roost_fn fn, void *arg, roost_site_t *site) {
    return spawn(fn, arg, NULL, site, true, NULL, 0);
}

int roost__go_copy(roost_fn fn, const void *copy, size_t ncopy, roost_site_t *site, bool quiet) {
    if (ncopy > ROOST__GO_COPY_MAX || ncopy % 16) return ROOST_ERANGE;
    return quiet ? spawn(fn, NULL, NULL, site, true, copy, ncopy)
                 : spawn(fn, NULL, NULL, site, false, copy, ncopy);
}

uint64_t roost_task_id(void) {
    roost__task *t = roost__self();
    return t ? t->id : 0;
}

int64_t roost_task_count(void) {
    if (!atomic_load(&roost__sched.started)) return 0;
    /* Every exit first, then every spawn: a task's spawn is counted before
     * it can exit, so each exit read here has its spawn in the sum below,
     * and the count is never short (a spawn after the exits were read
     * counts a live task). Read worker by worker instead, a task spawned
     * on one worker after that worker was read and exited on a later one
     * went uncounted: roost_wait_tasks returned with a task still alive. */
    int64_t n = 0;
    for (int i = 0, nw = NW(); i < nw; i++)
        n -= atomic_load_explicit(&roost__sched.workers[i].exited, memory_order_acquire);
    n += atomic_load_explicit(&roost__sched.thread_spawned, memory_order_acquire);
    for (int i = 0, nw = NW(); i < nw; i++)
        n += atomic_load_explicit(&roost__sched.workers[i].spawned, memory_order_acquire);
    return n;
}

int roost_wait_tasks(int64_t expected, int64_t timeout_ns) {
    if (expected < 0) return ROOST_EINVAL; /* a count never below zero */
    int64_t end = roost__deadline_after(timeout_ns);
    if (roost__self()) expected++; /* the caller is alive and counted */
    for (;;) {
        if (roost_task_count() <= expected) return ROOST_OK;
        if (roost_now() >= end) return ROOST_ETIMELIMIT;
        if (roost__self())
            roost_sleep(NULL, ROOST_MS);
        else {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

/* ------------------------------------------------------------ worker threads */

/* w leaves the idle list, if nobody took it off already (a waker does). */
void roost__sched_unidle(roost__worker *w) {
    pthread_mutex_lock(&roost__sched.idle_lock);
    if (w->idle) {
        for (roost__worker **p = &roost__sched.idle; *p; p = &(*p)->idle_next)
            if (*p == w) {
                *p = w->idle_next;
                break;
            }
        w->idle = false;
        atomic_fetch_sub(&roost__sched.nidle, 1);
    }
    pthread_mutex_unlock(&roost__sched.idle_lock);
    roost__timer_poke(); /* busy again: the monitor must tick */
}

static roost__task *find_runnable(roost__worker *w) {
    for (;;) {
        if (atomic_load_explicit(&roost__sched.stopping, memory_order_relaxed)) return NULL;
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
            snap[i] = atomic_load_explicit(&roost__sched.workers[i].switches, memory_order_relaxed);
            drained[i] = false;
        }
        for (int round = 0; round < SPIN_ROUNDS; round++) {
            if ((t = roost__gq_get(w, 32, NW()))) return t;
            int start = (int)(roost__xorshift(&w->rng) % (uint64_t)nw);
            bool half = round >= SPIN_ROUNDS / 2;
            for (int i = 0; i < nw; i++) {
                int k = (start + i) % nw;
                roost__worker *v = &roost__sched.workers[k];
                if (v == w) continue;
                if (roost__ring_empty(v)) drained[k] = true;
                bool stalled = half && atomic_load_explicit(&v->switches, memory_order_relaxed) == snap[k];
                if ((t = steal(v, half && !drained[k], stalled))) {
                    roost__ctr_add(&w->steals, 1);
                    return t;
                }
            }
            for (int k = 0; k < SPIN_PAUSES; k++) roost__cpu_relax();
            if ((t = local_next(w))) return t;
            if (roost__netpoll_try() && (t = local_next(w))) return t;
            /* The last one awake, while tasks wait on descriptors: cut the
             * spin short, to the quiet rounds; it is about to wait in
             * epoll_wait, which readiness ends at once (poll.c), and the
             * rounds spent here are CPU a busy I/O server wants. */
            if (round == 3 && nw > 1 && roost__netpoll_waiting() &&
                atomic_load(&roost__sched.nidle) + atomic_load(&roost__sched.nretired) == nw - 1)
                round = SPIN_ROUNDS - QUIET_ROUNDS - 2;
            if (round == SPIN_ROUNDS - QUIET_ROUNDS - 1) /* see `quiet` below */
                for (int i = 0; i < nw; i++)
                    late[i] = atomic_load_explicit(&roost__sched.workers[i].switches, memory_order_relaxed);
        }
        /* A spare with no blocked worker left retires: asleep off the idle
         * list until the monitor calls it back (spare_up). */
        if (w->spare && atomic_load(&roost__sched.nblocked) == 0) {
            atomic_store(&w->wake, 0);
            atomic_store(&w->retired, true);
            atomic_fetch_add(&roost__sched.nretired, 1);
            roost__stack_flush(w);
            while (atomic_load(&w->wake) == 0) roost__futex_wait(&w->wake, 0, -1);
            bool was = true; /* woken by shutdown rather than by spare_up */
            if (atomic_compare_exchange_strong(&w->retired, &was, false))
                atomic_fetch_sub(&roost__sched.nretired, 1);
            roost__coarse_refresh();
            continue;
        }
        /* Sleep: get on the idle list, look once more, then wait. Not if a
         * worker holds queued work and made no switch in the last
         * QUIET_ROUNDS rounds (`quiet`): it may be settling into a long
         * task after queueing work this spin saw too late (its ring seen
         * empty, or its switches moving, early on), and the next spin takes
         * it. A worker busy switching with a short ring is left to it. */
        pthread_mutex_lock(&roost__sched.idle_lock);
        atomic_store(&w->wake, 0);
        w->idle = true;
        w->idle_next = roost__sched.idle;
        roost__sched.idle = w;
        atomic_fetch_add(&roost__sched.nidle, 1);
        pthread_mutex_unlock(&roost__sched.idle_lock);
        bool work = atomic_load(&roost__gq_len) > 0 || atomic_load(&roost__sched.stopping);
        for (int i = 0; i < nw && !work; i++) {
            roost__worker *v = &roost__sched.workers[i];
            bool quiet = atomic_load_explicit(&v->switches, memory_order_relaxed) == late[i];
            work = roost__ring_len(v) >= STEAL_BATCH ||
                   (quiet && (!roost__ring_empty(v) || atomic_load(&v->runnext)));
        }
        if (work) {
            roost__sched_unidle(w);
            continue;
        }
        roost__stack_flush(w); /* idle workers keep no private stacks */
        /* The last idle worker, while a task waits on a descriptor, waits
         * in epoll_wait instead (poll.c). */
        if (!roost__netpoll_block(w))
            while (atomic_load(&w->wake) == 0) roost__futex_wait(&w->wake, 0, -1);
        roost__coarse_refresh(); /* the timer thread may have been asleep too */
    }
}

void *roost__worker_main(void *arg) {
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
