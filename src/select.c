/* select.c - Go's select over any mix of sends and receives.
 *
 * The one idea (Go's selectgo): lock every channel involved, in address
 * order so two selects can never deadlock; poll the cases in a fresh random
 * order and take the first that can proceed, which makes the choice uniform
 * among the ready ones; otherwise queue one waiter node per case, all
 * pointing at one park record, and block. Whichever peer claims the park
 * first decides the case; the others find the park claimed and skip the
 * stale nodes, which this task unlinks once it runs again.
 *
 * Before that, a first pass peeks at each channel without its lock and
 * tries the ones that look ready, each under its own lock: under load a
 * case is usually ready, and then a select takes one lock instead of one
 * per channel.
 *
 * Cost: O(n log n)-free for small n (insertion sort of at most a handful of
 * channels), one lock per distinct channel, no allocation up to 16 cases.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

#define SMALL 16

static void lock_all(roost_chan_t **order, int n) {
    for (int i = 0; i < n; i++) roost__lock(&order[i]->lock);
}

static void unlock_all(roost_chan_t **order, int n) {
    for (int i = n - 1; i >= 0; i--) roost__unlock(&order[i]->lock);
}

__attribute__((flatten)) /* one frame for the whole blocking path, as chan_op */
int roost_select(roost_ctx_t *ctx, roost_case_t *cases, int ncases, int flags) {
    roost__note_thread();
    if (ncases < 0 || (ncases > 0 && !cases) || (flags & ~ROOST_SELECT_NONBLOCK))
        return ROOST_EINVAL;
    if (ncases > ROOST_SELECT_MAX) return ROOST_ERANGE;
    for (int i = 0; i < ncases; i++) {
        if (cases[i].op != ROOST_RECV && cases[i].op != ROOST_SEND) return ROOST_EINVAL;
        if (cases[i].op == ROOST_SEND && cases[i].chan && !cases[i].elem) return ROOST_EINVAL;
        cases[i].err = 0;
    }
    int err = roost__ctx_err(ctx);
    if (err) return err;

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

    /* Random poll order (Fisher-Yates) and address-sorted distinct channels. */
    int nlock = 0;
    uint64_t rng = roost__rand(); /* one TLS trip; xorshift locally after */
    for (int i = 0; i < ncases; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int j = (int)((rng >> 32) % (uint32_t)(i + 1));
        perm[i] = perm[j];
        perm[j] = (uint16_t)i;
        roost_chan_t *c = cases[i].chan;
        if (!c) continue;
        int k = nlock;
        while (k > 0 && (uintptr_t)order[k - 1] > (uintptr_t)c) k--;
        if (k > 0 && order[k - 1] == c) continue;
        for (int m = nlock; m > k; m--) order[m] = order[m - 1];
        order[k] = c;
        nlock++;
    }

    /* First pass, one channel lock at a time, and only on channels that
     * look ready without a lock: when a case is ready (the common case
     * under load) this takes one lock, not one per channel. Each try is
     * atomic on its own channel, so whatever it takes was ready when
     * taken. Finding nothing proves nothing (a case may have become ready
     * behind us), so that answer, blocking or not, comes only from the
     * all-locked pass below. */
    int chosen = -1;
    roost__waiter *peer = NULL;
    for (int i = 0; i < ncases; i++) {
        roost_case_t *c = &cases[perm[i]];
        if (!c->chan || !roost__chan_maybe_ready(c->chan, c->op == ROOST_SEND)) continue;
        roost__lock(&c->chan->lock);
        bool done = roost__chan_try_locked(c->chan, c->op == ROOST_SEND, c->elem, &err, &peer);
        roost__unlock(&c->chan->lock);
        if (done) {
            if (peer) roost__wake(peer->park, peer->index, 0);
            c->err = err;
            chosen = perm[i]; /* perm may live in heap */
            free(heap);
            return chosen;
        }
    }
    lock_all(order, nlock);
    for (int i = 0; i < ncases; i++) {
        roost_case_t *c = &cases[perm[i]];
        if (c->chan && roost__chan_try_locked(c->chan, c->op == ROOST_SEND, c->elem, &err, &peer)) {
            chosen = perm[i];
            c->err = err;
            break;
        }
    }
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
     * select has no channel at all). Proved and woken: do not park, unlink
     * every node below (the locks are still held). */
    int rc;
    if (ROOST_UNLIKELY(p.task && (p.task->nowned || !nlock) && !roost__ctx_cancellable(ctx)) &&
        roost__leak_select(p.task, order, nlock)) {
        rc = ROOST_ELEAKED;
        goto unlink;
    }
    if (p.task) p.task->sel_n = ncases, p.task->sel_cases = cases;
    for (int i = 0; i < nlock; i++) locks[i] = &order[i]->lock;
    rc = roost__block(&p, ctx, INT64_MAX, locks, nlock, ROOST_WAIT_SELECT,
                      nlock ? (const void *)order[0] : NULL);

    /* Unlink the stale nodes (the winning case's node was dropped by its
     * waker). A channel orphaned meanwhile reports "free me" from exactly
     * one node (its last waiter); free it after unlocking.
     * perm is done with and holds those case indices. */
    lock_all(order, nlock);
unlink:;
    int nfree = 0;
    for (int i = 0; i < ncases; i++)
        if (cases[i].chan && (rc || i != p.index) &&
            roost__chan_drop_waiter_locked(cases[i].chan, &nodes[i]))
            perm[nfree++] = (uint16_t)i;
    unlock_all(order, nlock);
    for (int i = 0; i < nfree; i++) roost__chan_free(cases[perm[i]].chan);
    free(heap);
    if (rc) return rc;
    if (p.index < 0) return p.err;
    cases[p.index].err = p.err;
    return p.index;
}
