/* park.c - blocking: park records, wait queues, and the one way to block.
 *
 * The one idea: every blocking call in roost (channel ops, select, sleep,
 * locks, wait groups) ends in roost__block, with the queues it joined still
 * locked. roost__block adds the context's waiter list and, for a sleep, the
 * timer heap, then switches away; the locks are dropped by the next context
 * once this task's registers are saved. From then on any waker (a channel
 * peer, a cancelling context, the timer thread) may claim the park record
 * with one CAS and make the task runnable. The woken task unlinks its stale
 * nodes itself: the waker never touches another queue.
 *
 * Plain OS threads can block too: the park has no task, so the thread
 * sleeps on a futex in the park record instead of switching.
 *
 * Invariants:
 *   - A park record is claimed at most once (claimed goes 0 -> 1 by CAS);
 *     only the claimer writes index and err, and then readies the task (or
 *     wakes the thread), exactly once.
 *   - The locks of the queues a task parked on are released only by the
 *     after-switch hook (release_locks, unlock_one), in the next context:
 *     no waker can reach a node of a task that has not finished switching
 *     out, so none can ready it before its registers are saved.
 *   - The park record and the nodes live on the parked task's stack; they
 *     are valid until roost__block returns, and a waker touches them only
 *     under the queue's lock or after winning the claim.
 *   - Between park_task's state store (PARKED) and its resumption, the
 *     task runs no code: what runs "for it" (releasing the locks) runs on
 *     the next context.
 */
#include "internal.h"

/* ------------------------------------------------------------ parking */

/* A plain thread sleeps on its park (park_thread). Out of line: a channel
 * operation that wakes a task ends in a tail call, and needs no frame. */
static __attribute__((noinline)) int wake_thread(roost__park *p) {
    /* After this store the waiter may return and its frame die; the futex
     * call only uses the address as a key. */
    atomic_store_explicit(&p->thread_done, 1, memory_order_release);
    roost__futex_wake(&p->thread_done, 1);
    return ROOST_OK;
}

int roost__wake(roost__park *p, int index, int err) {
    roost__task *t = p->task;
    p->index = index;
    p->err = err;
    if (t) return roost__ready(t);
    return wake_thread(p);
}

struct lockset {
    int **locks;
    int n;
};

/* Runs in the next context after the parking task has switched out (w set),
 * or directly on an error path or for a plain thread (w NULL, nothing parked).
 * Once the first lock is released a waker may wake the parked task, which
 * may return and reuse the frame holding *ls on another worker: so the lock
 * pointers are copied out before any is released. */
static void release_locks(roost__worker *w, void *arg) {
    struct lockset *ls = arg;
    int n = ls->n;
    int *small[16], **locks = ls->locks;
    if (w) {
        locks = n <= 16 ? small : w->lockbuf;
        for (int i = 0; i < n; i++) locks[i] = ls->locks[i];
    }
    for (int i = n - 1; i >= 0; i--) roost__unlock(locks[i]);
}

static void unlock_one(roost__worker *w, void *lock) {
    (void)w;
    roost__unlock(lock);
}

/* Say what we wait on, for observers and the leak detector, then switch
 * away; `after` runs in the next context and releases our queue locks. */
static inline __attribute__((always_inline)) void park_task(roost__worker *w, roost__task *self,
                                                            bool with_ctx, int reason, const void *obj,
                                                            void (*after)(roost__worker *, void *),
                                                            void *arg) {
    /* Atomic (plain stores on x86): the lock-cycle check reads them from
     * other tasks. */
    __atomic_store_n(&self->wait_reason, reason, __ATOMIC_RELAXED);
    __atomic_store_n(&self->wait_obj, obj, __ATOMIC_RELAXED);
    __atomic_store_n(&self->cancellable, with_ctx, __ATOMIC_RELAXED);
    if (roost__observe) {
        /* The park time (a load of the coarse clock) and, unless the task
         * is still counted under this reason from its last park, the move
         * to it in the by-reason counts (single-writer adds on this
         * worker's own line). Nothing to undo once woken: see `counted`. */
        self->park_tick = roost__park_clock();
        int was = atomic_load_explicit(&self->counted, memory_order_relaxed);
        if (ROOST_UNLIKELY(was != reason)) {
            if (was) roost__ctr_add(&w->parked[was], -1);
            roost__ctr_add(&w->parked[reason], 1);
            atomic_store_explicit(&self->counted, (uint8_t)reason, memory_order_relaxed);
        }
    }
    atomic_store_explicit(&self->state, ROOST_T_PARKED, memory_order_relaxed);
    roost__park_switch(w, self, after, arg);
    /* An opaque copy: else the compiler keeps these fields' addresses from
     * before the switch in two more saved registers. */
    roost__task *me = self;
    __asm__("" : "+r"(me));
    __atomic_store_n(&me->wait_reason, ROOST_WAIT_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&me->wait_obj, NULL, __ATOMIC_RELAXED);
}

/* A plain thread has no task to switch away from: it sleeps on the park.
 * Out of line: inlined, its system call's set-up took registers from the
 * parking task's path. */
static __attribute__((noinline, cold)) void park_thread(roost__park *p) {
    while (!atomic_load_explicit(&p->thread_done, memory_order_acquire))
        roost__futex_wait(&p->thread_done, 0, -1);
}

/* roost__block for the commonest wait: one queue lock, no context, no
 * deadline. The same steps with nothing to register, and the lock handed
 * to the next context as is. */
inline __attribute__((always_inline)) int roost__block_plain(roost__park *p, roost__worker *w,
                                                             roost__task *self, int *lock, int reason,
                                                             const void *obj) {
    if (self) {
        park_task(w, self, false, reason, obj, unlock_one, lock);
    } else {
        roost__unlock(lock);
        park_thread(p);
    }
    return ROOST_OK;
}

int roost__block(roost__park *p, roost_ctx_t *ctx, int64_t deadline, int **locks, int nlocks, int reason,
                 const void *obj) {
    roost__waiter cw; /* only initialised when used: this is the hot path */
    roost__timer tm;
    bool with_ctx = roost__ctx_cancellable(ctx), with_timer = deadline < INT64_MAX;
    struct lockset ls = {locks, nlocks};
    if (with_ctx) {
        cw = (roost__waiter){.park = p};
        /* Hold a reference while blocked: the owner may drop theirs. */
        roost_ctx_ref(ctx);
        int rc = roost__ctx_lock_register(ctx, &cw, &locks[ls.n]);
        if (rc) {
            /* Nobody has seen our nodes yet (we hold their queues' locks);
             * claim our own park so nobody can once the locks are gone. */
            roost__claim(p);
            release_locks(NULL, &ls);
            roost_ctx_unref(ctx);
            return rc;
        }
        ls.n++;
        if (p->task) p->task->wait_ctx = ctx;
    }
    if (with_timer) {
        tm = (roost__timer){.when = deadline, .heap_index = -1, .kind = ROOST_TIMER_WAKE, .arg = p};
        locks[ls.n++] = roost__timer_lock_and_add(&tm);
    }
    if (p->task) {
        if (ls.n == 1) /* one lock: hand it over as is, no list to copy */
            park_task(p->task->worker, p->task, with_ctx, reason, obj, unlock_one, locks[0]);
        else
            park_task(p->task->worker, p->task, with_ctx, reason, obj, release_locks, &ls);
    } else {
        release_locks(NULL, &ls);
        park_thread(p);
    }
    if (with_ctx) {
        roost__ctx_unregister(ctx, &cw);
        roost_ctx_unref(ctx);
    }
    if (with_timer) roost__timer_del(&tm);
    return ROOST_OK;
}
