/* runq.h - the run queues: each worker's ring, and the global queue.
 *
 * The one idea: a worker's ring is a work-stealing deque (Chase-Lev, on a
 * fixed array of ROOST_RUNQ_SIZE slots). The owner pushes and pops at the
 * tail, so spawned trees run depth first and a fork-join workload keeps a
 * few dozen hot stacks instead of a million cold ones; thieves, and the
 * owner's fairness pass, take the oldest task at the head with a CAS. The
 * global queue (runq.c) takes what plain threads and the timer thread
 * ready, and a full ring's overflow.
 *
 * Invariants of a ring (fields head, tail, ring of roost__worker):
 *   - Only the owner writes tail and the slots, and only the owner moves
 *     head down (roost__ring_put_oldest); anyone moves head up, by a CAS.
 *   - tail - index(head) is the number of queued tasks, 0 to
 *     ROOST_RUNQ_SIZE, except for a moment inside roost__ring_pop, where
 *     the owner has taken tail one below a head a thief just moved up.
 *   - The slots from index(head) up to tail hold the queued tasks; a thief
 *     reads a slot before its CAS on head and keeps the task only if the CAS
 *     succeeds, so a task leaves the ring exactly once.
 *   - head's high 32 bits count its moves, so a head word never repeats
 *     within 2^32 moves (no ABA for a thief's CAS, though head moves both
 *     ways).
 *   - `alone` (one worker, so no thief) lets the owner skip the locked
 *     instructions; it must be true only while no other worker exists.
 * One task per CAS: a batch steal could race with the owner's tail pops,
 * which take a slot without a CAS while others remain above head.
 */
#ifndef ROOST_RUNQ_H
#define ROOST_RUNQ_H

#include "internal.h"

#pragma GCC visibility push(hidden)

#define ROOST__SLOT(w, i) ((_Atomic(roost__task *) *)&(w)->ring[(i) % ROOST_RUNQ_SIZE])

/* head is the oldest task's index (low 32 bits) and a count of head moves
 * (high 32 bits). Head moves down as well as up (put_oldest), so an index
 * alone could return to a value a slow thief read before its CAS, and the
 * thief would take a task already run (ABA); with the count the word
 * cannot (fewer than 2^32 moves never add up to 0 mod 2^64). A move is one
 * add: 2^32 + 1 up, 2^32 - 1 down (the index wraps mod 2^32; its carry or
 * borrow only nudges the count). */
static inline uint32_t roost__hidx(uint64_t h) { return (uint32_t)h; }
static inline uint64_t roost__hup(uint64_t h) { return h + ((uint64_t)1 << 32) + 1; }
static inline uint64_t roost__hdown(uint64_t h) { return h + ((uint64_t)1 << 32) - 1; }

/* Owner only: push t at the tail (runs next but one: the owner pops the
 * newest first). False if the ring is full. */
static inline bool roost__ring_put(roost__worker *w, roost__task *t) {
    uint32_t h = roost__hidx(atomic_load_explicit(&w->head, memory_order_acquire));
    uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
    if (tl - h >= ROOST_RUNQ_SIZE) return false;
    atomic_store_explicit(ROOST__SLOT(w, tl), t, memory_order_relaxed);
    atomic_store_explicit(&w->tail, tl + 1, memory_order_release);
    return true;
}

/* Owner only: put t behind everything queued, at the head. The owner pops
 * the newest first and thieves take the oldest, so t runs after every task
 * queued now: a yield lets them all run, not just the next one (with t at
 * the tail, the owner's next pop would be t again). Head moves down by a
 * CAS, against thieves moving it up; the slot below head is free unless
 * the ring is full, and a thief reads it only once head says it is there. */
static inline __attribute__((always_inline)) bool roost__ring_put_oldest(roost__worker *w, roost__task *t,
                                                                         bool alone) {
    for (;;) {
        uint64_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (tl - roost__hidx(h) >= ROOST_RUNQ_SIZE) return false;
        atomic_store_explicit(ROOST__SLOT(w, roost__hidx(h) - 1), t, memory_order_relaxed);
        if (alone) { /* one worker, no thief: a plain store */
            atomic_store_explicit(&w->head, roost__hdown(h), memory_order_relaxed);
            return true;
        }
        if (atomic_compare_exchange_weak_explicit(&w->head, &h, roost__hdown(h), memory_order_seq_cst,
                                                  memory_order_relaxed))
            return true;
    }
}

/* Owner only: the newest task, or NULL. */
static inline __attribute__((always_inline)) roost__task *roost__ring_pop(roost__worker *w, bool alone) {
    uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
    if (roost__hidx(h) == tl) return NULL; /* only the owner adds: empty stays empty */
    tl--;
    if (alone) { /* no thief: no race for the last one either */
        atomic_store_explicit(&w->tail, tl, memory_order_relaxed);
        return atomic_load_explicit(ROOST__SLOT(w, tl), memory_order_relaxed);
    }
    /* The store must not pass the load of head. A seq_cst exchange, not a
     * seq_cst store and not a fence: ThreadSanitizer models seq_cst
     * accesses but not fences; x86 compiles a seq_cst store to this same
     * xchg anyway; and an emulator may not keep AArch64's stlr-then-ldar
     * order (qemu-user on x86 turns both into plain moves, and the store
     * then waits in the store buffer while the load goes ahead: thieves
     * and the owner both took the last task), where it must keep an
     * atomic exchange's. */
    (void)atomic_exchange_explicit(&w->tail, tl, memory_order_seq_cst);
    h = atomic_load_explicit(&w->head, memory_order_seq_cst);
    roost__task *t = atomic_load_explicit(ROOST__SLOT(w, tl), memory_order_relaxed);
    /* Others remain: no thief can reach slot tl (only the owner moves head
     * down, and it is here). */
    if ((int32_t)(tl - roost__hidx(h)) > 0) return t;
    if (tl == roost__hidx(h)) {
        /* the last one: race the thieves for it */
        if (!atomic_compare_exchange_strong_explicit(&w->head, &h, roost__hup(h), memory_order_seq_cst,
                                                     memory_order_relaxed))
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
static inline roost__task *roost__ring_take_mo(roost__worker *w, memory_order head_mo, memory_order tail_mo) {
    for (;;) {
        uint64_t h = atomic_load_explicit(&w->head, head_mo);
        uint32_t tl = atomic_load_explicit(&w->tail, tail_mo);
        if ((int32_t)(tl - roost__hidx(h)) <= 0) return NULL;
        roost__task *t = atomic_load_explicit(ROOST__SLOT(w, roost__hidx(h)), memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->head, &h, roost__hup(h), memory_order_seq_cst,
                                                  memory_order_relaxed))
            return t;
    }
}

/* A thief (any thread but the owner): v's oldest task, or NULL. */
static inline roost__task *roost__ring_steal(roost__worker *v) {
    return roost__ring_take_mo(v, memory_order_seq_cst, memory_order_seq_cst);
}

/* Owner only: its oldest task (the fairness pass, an overflow). */
roost__task *roost__ring_take_own_shared(roost__worker *w);
static inline roost__task *roost__ring_take_own(roost__worker *w, bool alone) {
    if (alone) {
        /* No other worker, so no thief: a plain head bump, no locked CAS. */
        uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
        if ((int32_t)(atomic_load_explicit(&w->tail, memory_order_relaxed) - roost__hidx(h)) <= 0)
            return NULL;
        roost__task *t = atomic_load_explicit(ROOST__SLOT(w, roost__hidx(h)), memory_order_relaxed);
        atomic_store_explicit(&w->head, roost__hup(h), memory_order_relaxed);
        return t;
    }
    return roost__ring_take_own_shared(w);
}

/* Tasks queued in w's ring: exact for the owner, a hint for others. */
static inline uint32_t roost__ring_len(roost__worker *w) {
    int32_t n = (int32_t)(atomic_load_explicit(&w->tail, memory_order_acquire) -
                          roost__hidx(atomic_load_explicit(&w->head, memory_order_acquire)));
    return n > 0 ? (uint32_t)n : 0;
}

static inline bool roost__ring_empty(roost__worker *w) { return roost__ring_len(w) == 0; }

/* ------------------------------------------------------------ the global queue (runq.c)
 * Two FIFO lists under one spin lock: the timer list (tasks the timer
 * thread readied: their sleep or deadline is over), served first but never
 * twice in a row while the other waits, and the global queue proper (tasks
 * readied by plain threads, and rings' overflow). roost__gq_len counts the
 * tasks in both: the lock-free "anything?" look. */
extern atomic_long roost__gq_len;

/* Append the list head..tail (n tasks linked by next) to the global queue,
 * or with `timer` to the timer list. */
void roost__gq_push_list(roost__task *head, roost__task *tail, long n, bool timer);
/* Take one task to run and, up to `max` in all, a fair share (of nw
 * workers) more into w's ring (w's owner only), the timer list's first. */
roost__task *roost__gq_get_slow(roost__worker *w, long max, int nw);
static inline roost__task *roost__gq_get(roost__worker *w, long max, int nw) {
    if (atomic_load_explicit(&roost__gq_len, memory_order_relaxed) == 0) return NULL;
    return roost__gq_get_slow(w, max, nw);
}
/* The global queue's next task to run, and `old` (a task waiting in a
 * ring) to its tail, in one go; `old` itself if the queue is empty. */
roost__task *roost__gq_swap(roost__task *old);
/* Owner only: w's ring is full; move its older half and t to the global
 * queue. */
void roost__ring_overflow(roost__worker *w, roost__task *t, bool alone);

#pragma GCC visibility pop

#endif
