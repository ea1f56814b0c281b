/* select.c - Go's select over any mix of sends and receives.
 *
 * The one idea (Go's selectgo): lock every channel involved, in address
 * order so two selects can never deadlock; take one of the cases that can
 * proceed, drawn uniformly at random (Go's fairness rule); otherwise queue
 * one waiter node per case, all pointing at one park record, and block.
 * Whichever peer claims the park first decides the case; the others find
 * the park claimed and skip the stale nodes, which this task unlinks once it
 * runs again.
 *
 * Before that, a first look (first_look) peeks at each channel without its
 * lock, lists the cases that look ready, and draws among them, each try
 * under its own lock: under load a case is usually ready, and then a select
 * costs one random number and one lock, with no shuffle and no sort. If
 * none is, and other tasks are queued on this worker, the select yields to
 * them all once and looks again before blocking: they are often the very
 * senders it woke, and a blocked select costs a lock, a node and an unlink
 * on every channel (in select4 on one worker no select blocks).
 * roost_select is that first look, in a small frame; the rest
 * (select_slow) has a big one, and is entered only to block, or for more
 * than SMALL cases: the common case pays for no big frame.
 *
 * Cost: the draw is a multiply, not a division; the all-locked pass sorts
 * the distinct channels by insertion (a handful) and takes one lock each;
 * no allocation up to 16 cases.
 *
 * Invariants:
 *   - Every channel of a blocking select is locked, once, in address
 *     order, from the all-locked pass until the task's registers are saved
 *     (roost__block hands the lock list to the next context).
 *   - All of a select's nodes point at one park record; the one waker that
 *     claims it (a CAS) completes exactly one case and sets its index;
 *     every other node is stale from then on: wakers skip it, and this
 *     task unlinks it, under its channel's lock, once it runs again.
 *   - A case completed by a waker has already moved its value: a received
 *     value is in the case's buffer, a sent one has left it, before the
 *     task is readied.
 */
#include "internal.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 16

static void lock_all(roost_chan_t **order, int n) {
    for (int i = 0; i < n; i++) roost__chan_lock(order[i]);
}

static void unlock_all(roost_chan_t **order, int n) {
    for (int i = n - 1; i >= 0; i--) roost__unlock(&order[i]->lock);
}

/* Whether a case looks ready, from a peek without its channel's lock
 * (exact with the lock held, but for stale select nodes). */
static inline bool looks_ready(const roost_case_t *c) {
    return c->chan && roost__chan_maybe_ready(c->chan, c->op == ROOST_SEND);
}

/* List in ready[] the cases that look ready now; returns how many. */
static int list_ready(const roost_case_t *cases, int ncases, uint16_t *ready) {
    int n = 0;
    for (int i = 0; i < ncases; i++)
        if (looks_ready(&cases[i])) ready[n++] = (uint16_t)i;
    return n;
}

/* Uniform in [0, n) from the top 32 bits of r (multiply, no division; the
 * bias is n / 2^32). */
static inline int pick(uint64_t r, int n) { return (int)(((r >> 32) * (uint64_t)n) >> 32); }

/* Take one of the n cases listed in ready[], chosen uniformly at random.
 * Without `locked_peer` each try locks its own channel and wakes the peer
 * it paired with; with it, every channel is already locked and the peer to
 * wake (after unlocking) is stored there. A listed case may turn out not
 * ready (it only looked ready, or its only waiter was a stale select
 * node): it is dropped and another is drawn. Returns the case taken, or -1. */
static inline __attribute__((always_inline)) int take_ready(roost_case_t *cases, uint16_t *ready, int n,
                                                            uint64_t *rng, roost__waiter **locked_peer) {
    bool locked = locked_peer != NULL;
    while (n > 0) {
        int j = pick(roost__xorshift(rng), n), i = ready[j];
        roost_case_t *c = &cases[i];
        roost__waiter *peer;
        int err;
        if (!locked) roost__chan_lock(c->chan);
        bool done = roost__chan_try_locked(c->chan, c->op == ROOST_SEND, c->elem, &err, &peer);
        if (!locked) roost__unlock(&c->chan->lock);
        if (done) {
            c->err = err;
            if (locked)
                *locked_peer = peer;
            else if (peer)
                roost__wake(peer->park, peer->index, 0);
            return i;
        }
        ready[j] = ready[--n];
    }
    return -1;
}

#define NONE_READY INT_MIN

/* The first look: check every case and peek at each channel without its
 * lock, then take one of the cases that look ready, drawn uniformly (Go's
 * fairness rule), under its own lock. Under load a case is usually ready,
 * and then a select costs one random number and one lock: no shuffle, no
 * sort, no lock per channel. If none is, and other tasks wait to run on
 * this worker, let them all run once (roost__yield_local) and look again:
 * they are often what this select waits for (the senders it just woke),
 * and a blocked select costs a lock, a node and later an unlink on every
 * channel. Whatever it takes was ready when taken; finding nothing proves
 * nothing (a case may have become ready behind us), so that answer comes
 * only from the all-locked pass in select_slow. Returns the case taken, an
 * error, or NONE_READY. `w`: the caller's worker, read before any switch
 * (NULL on a plain thread): its generator is used in place before the
 * yield; after it, TLS is read only through roost__rand (not inline). */
static inline __attribute__((always_inline)) int first_look(roost_ctx_t *ctx, roost_case_t *cases, int ncases,
                                                            int flags, uint16_t *perm, roost__worker *w) {
    int nready = 0;
    for (int i = 0; i < ncases; i++) {
        roost_case_t *c = &cases[i];
        roost_chan_t *ch = c->chan;
        if (c->op == ROOST_RECV) {
            if (ch && roost__chan_maybe_ready(ch, false)) perm[nready++] = (uint16_t)i;
        } else if (c->op == ROOST_SEND) {
            if (ch && !c->elem) return ROOST_EINVAL;
            if (ch && roost__chan_maybe_ready(ch, true)) perm[nready++] = (uint16_t)i;
        } else {
            return ROOST_EINVAL;
        }
    }
    int err = roost__ctx_err(ctx), chosen;
    if (err) return err;
    uint64_t rng;
    if (nready) {
        chosen = w ? take_ready(cases, perm, nready, &w->rng, NULL)
                   : (rng = roost__rand(), take_ready(cases, perm, nready, &rng, NULL));
        if (chosen >= 0) return chosen;
    }
    if ((flags & ROOST_SELECT_NONBLOCK) || !w || !roost__local_work()) return NONE_READY;
    roost__yield_local();
    if ((err = roost__ctx_err(ctx))) return err; /* cancelled meanwhile: say so, as before the yield */
    nready = list_ready(cases, ncases, perm);
    if (!nready) return NONE_READY;
    rng = roost__rand();
    chosen = take_ready(cases, perm, nready, &rng, NULL);
    return chosen >= 0 ? chosen : NONE_READY;
}

/* Everything but a select that finds a case ready at its first look or
 * after its yield: more than SMALL cases, the all-locked pass and blocking.
 * One frame for the whole blocking path (flatten), as chan_op's. `tried`:
 * the caller checked the cases, found none ready, and yielded if it could. */
static __attribute__((noinline, flatten)) int select_slow(roost_ctx_t *ctx, roost_case_t *cases, int ncases,
                                                          int flags, bool tried) {
    uint16_t perm_s[SMALL];
    roost_chan_t *order_s[SMALL];
    roost__waiter nodes_s[SMALL];
    int *locks_s[SMALL + 2];
    uint16_t *perm = perm_s;
    roost_chan_t **order = order_s;
    roost__waiter *nodes = nodes_s;
    int **locks = locks_s;
    void *heap = NULL;
    if (ncases > SMALL) {
        size_t n = (size_t)ncases;
        heap = malloc(n * (sizeof *perm + sizeof *order + sizeof *nodes) + (n + 2) * sizeof *locks);
        if (!heap) return ROOST_ENOMEM;
        nodes = heap;
        order = (roost_chan_t **)(nodes + n);
        locks = (int **)(order + n);
        perm = (uint16_t *)(locks + n + 2);
    }

    int chosen;
    if (!tried) { /* more than SMALL cases: roost_select's first look, here */
        chosen = first_look(ctx, cases, ncases, flags, perm, roost__worker_before_switch());
        if (chosen != NONE_READY) {
            free(heap);
            return chosen;
        }
    }
    uint64_t rng = roost__rand(); /* not inline: we may have yielded */

    /* All locked: the distinct channels in address order (so two selects
     * never deadlock), then the same draw among the cases ready now. */
    int nlock = 0;
    for (int i = 0; i < ncases; i++) {
        roost_chan_t *c = cases[i].chan;
        if (!c) continue;
        int k = nlock;
        while (k > 0 && (uintptr_t)order[k - 1] > (uintptr_t)c) k--;
        if (k > 0 && order[k - 1] == c) continue;
        for (int m = nlock; m > k; m--) order[m] = order[m - 1];
        order[k] = c;
        nlock++;
    }
    lock_all(order, nlock);
    int nready = list_ready(cases, ncases, perm);
    roost__waiter *peer = NULL;
    chosen = take_ready(cases, perm, nready, &rng, &peer);
    if (chosen >= 0 || (flags & ROOST_SELECT_NONBLOCK)) {
        unlock_all(order, nlock);
        if (peer) roost__wake(peer->park, peer->index, 0);
        if (heap) free(heap);
        return chosen >= 0 ? chosen : ROOST_EAGAIN;
    }

    /* Nothing ready: queue on every channel and block. */
    roost__park p;
    roost__park_init(&p, roost__self());
    for (int i = 0; i < ncases; i++) {
        roost_chan_t *ch = cases[i].chan;
        if (!ch) continue;
        roost__waiter *w = &nodes[i];
        memset(w, 0, sizeof *w);
        w->park = &p;
        w->elem = cases[i].elem;
        w->index = i;
        w->is_send = cases[i].op == ROOST_SEND;
        w->obj = ch;
        roost__waitq_push(w->is_send ? &ch->sendq : &ch->recvq, w);
        ch->nwaiters++;
    }
    /* Leak check (leak.c): nothing but the caller can reach any of these
     * channels. Costs a branch unless the task adopted references (or the
     * select has no channel at all). Proved and woken: do not park; claim
     * our own park, so that nobody can complete a case once the locks are
     * dropped, and unlink every node below. */
    int rc;
    if (ROOST_UNLIKELY(p.task && (p.task->nowned || !nlock) && !roost__ctx_cancellable(ctx)) &&
        roost__leak_select(p.task, order, nlock)) {
        rc = ROOST_ELEAKED;
        roost__claim(&p);
        unlock_all(order, nlock);
        goto unlink;
    }
    if (p.task) p.task->sel_n = ncases, p.task->sel_cases = cases;
    for (int i = 0; i < nlock; i++) locks[i] = &order[i]->lock;
    rc = roost__block(&p, ctx, INT64_MAX, locks, nlock, ROOST_WAIT_SELECT,
                      nlock ? (const void *)order[0] : NULL);

    /* Unlink the stale nodes, one channel lock at a time: the park is
     * claimed, so nobody else completes a case meanwhile, and each node is
     * only ever on its own channel's queue. The winning case's node was
     * dropped by its waker, and its channel is not locked again. A channel orphaned meanwhile
     * reports "free me" from exactly one node (its last waiter); after
     * that no later case can have a node on it, so it is freed at once. */
unlink:
    for (int i = 0; i < ncases; i++) {
        roost_chan_t *ch = cases[i].chan;
        if (!ch || (!rc && i == p.index)) continue;
        roost__lock(&ch->lock);
        bool dead = roost__chan_drop_waiter_locked(ch, &nodes[i]);
        roost__unlock(&ch->lock);
        if (dead) roost__chan_free(ch);
    }
    if (heap) free(heap);
    if (rc) return rc;
    if (p.index < 0) return p.err;
    cases[p.index].err = p.err;
    return p.index;
}

/* The common case, in a small frame: up to SMALL cases, checked and peeked
 * at without locks in one pass, and one of those that look ready taken
 * under its own lock, drawn uniformly (Go's fairness rule). Under load a
 * case is usually ready, and then a select costs one random number and one
 * lock: no shuffle, no sort, no lock per channel. Whatever it takes was
 * ready when taken; finding nothing proves nothing (a case may have become
 * ready behind us), so that answer, blocking or not, comes only from the
 * all-locked pass in select_slow. Only the chosen case's err is written. */
/* The common case, in a small frame: up to SMALL cases, and a case ready
 * at the first look (first_look). Only the chosen case's err is written. */
__attribute__((flatten)) int roost_select(roost_ctx_t *ctx, roost_case_t *cases, int ncases, int flags) {
    roost__note_thread();
    if (ncases < 0 || (ncases > 0 && !cases) || (flags & ~ROOST_SELECT_NONBLOCK)) return ROOST_EINVAL;
    if (ncases > ROOST_SELECT_MAX) return ROOST_ERANGE;
    if (ncases > SMALL) return select_slow(ctx, cases, ncases, flags, false);
    uint16_t perm[SMALL];
    int chosen = first_look(ctx, cases, ncases, flags, perm, roost__worker_before_switch());
    if (chosen != NONE_READY) return chosen;
    return select_slow(ctx, cases, ncases, flags, true);
}
