/* chan.c - channels with Go's semantics: unbuffered and buffered, close,
 * FIFO, of a fixed element size.
 *
 * The one idea: a channel is a lock, a ring buffer and two queues of waiter
 * nodes living on parked tasks' stacks. A send first looks for a waiting
 * receiver and copies straight into its destination (no buffer hop, as in
 * Go); then for buffer room; only then does it queue and park. A receive
 * mirrors it, and on a full buffer also moves one waiting sender's value in
 * behind the one it took, so FIFO order holds.
 *
 * Memory: `refs` counts the program's references. When it reaches zero the
 * channel is orphaned; it is freed once no waiter node is left (nwaiters
 * counts nodes not yet dropped: a waker that claims a node drops it, since
 * its owner will not touch the channel again; a stale node is dropped by
 * its owner, who needs the channel alive until then). An orphaned channel with waiters is a provable leak: nobody can ever
 * reach it again (the hook the leak detector builds on).
 *
 * Invariants, under ch->lock, counting only waiter nodes whose park is not
 * yet claimed (a select's other nodes, claimed through another channel,
 * stay queued until their task unlinks them):
 *   - At least one of recvq and sendq is empty, except when one select
 *     waits on both a send and a receive on this channel.
 *   - A non-empty recvq means the buffer is empty (len == 0); a non-empty
 *     sendq means it is full (len == cap; always, when unbuffered).
 *   - closed: no node joins a queue any more, and both were emptied by the
 *     close (receivers and senders claimed and woken).
 *   - len <= cap; the buffered elements are at recvx .. recvx + len - 1,
 *     modulo cap.
 *   - nwaiters counts the nodes queued here not yet dropped; the channel is
 *     freed when orphaned (refs 0) and nwaiters is 0, by whoever made the
 *     second of the two true.
 * A claimed node is unlinked by its claimer (who then owns the wake-up);
 * the parked task never touches the channel through it again.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* Slot i of the ring, for i < 2 * cap (recvx < cap, len <= cap): a compare,
 * not a division (a 64-bit divide is tens of cycles on every buffered op). */
static inline char *slot(roost_chan_t *ch, size_t i) {
    if (i >= ch->cap) i -= ch->cap;
    return ch->buf + i * ch->elem_size;
}

/* len (like closed and the queue heads) changes under the lock, but with a
 * relaxed atomic store, since select peeks at it without the lock
 * (roost__chan_maybe_ready). */
static inline void set_len(roost_chan_t *ch, size_t n) { __atomic_store_n(&ch->len, n, __ATOMIC_RELAXED); }

/* `word`: the caller checked elem_size == sizeof(void *) already (the fast
 * path, which must not call memcpy: see chan_op). */
static inline __attribute__((always_inline)) void copy(roost_chan_t *ch, void *dst, const void *src,
                                                       bool word) {
    if (!dst) return;
    if (word || ch->elem_size == sizeof(void *))
        memcpy(dst, src, sizeof(void *)); /* the common case, inlined */
    else
        memcpy(dst, src, ch->elem_size);
}

int roost_chan_make(size_t elem_size, size_t cap, roost_chan_t **out) {
    if (!out) return ROOST_EINVAL;
    *out = NULL;
    if (elem_size == 0) return ROOST_EINVAL;
    if (elem_size > ROOST_CHAN_MAX_ELEM || cap > ROOST_CHAN_MAX_CAP) return ROOST_ERANGE;
    if (cap && elem_size > ((size_t)1 << 34) / cap) return ROOST_ERANGE;
    roost_chan_t *ch = calloc(1, sizeof *ch + cap * elem_size);
    if (!ch) return ROOST_ENOMEM;
    atomic_init(&ch->refs, 1);
    ch->elem_size = (uint32_t)elem_size;
    ch->magic = ROOST_CHAN_MAGIC;
    ch->cap = cap;
    ch->buf = (char *)(ch + 1);
    *out = ch;
    return ROOST_OK;
}

roost_chan_t *roost_chan_ref(roost_chan_t *ch) {
    if (!ch) return ch;
    roost__chan_check(ch, "roost_chan_ref");
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    return ch;
}

/* Poisoned first (fatal.c): the magic says "freed" to the checks, and the
 * lock word is left taken, so that a send or receive on the freed channel
 * takes the contended path, which checks. */
void roost__chan_free(roost_chan_t *ch) {
    ch->magic = ROOST_DEAD_MAGIC;
    atomic_store_explicit((atomic_int *)&ch->lock, 1, memory_order_relaxed);
    free(ch);
}

void roost__chan_lock_slow(roost_chan_t *ch) {
    roost__chan_check(ch, "a channel operation");
    roost__spin_slow((atomic_int *)&ch->lock);
}

/* After unlocking: wake the leaked waiters leak.c claimed, then hand the
 * report to the reporter thread. */
static void leaked_wake_post(roost__waiter *wake, roost__leak_ev *ev) {
    for (roost__waiter *x = wake, *nx; x; x = nx) {
        nx = x->next;
        roost__wake(x->park, 0, ROOST_ELEAKED);
    }
    roost__leak_post(ev);
}

/* With ch locked: the leak is proved; report it, wake what the policy says,
 * unlock. */
static void chan_leaked_unlock(roost_chan_t *ch) {
    roost__waiter *wake = NULL;
    roost__leak_ev *ev = roost__leak_chan_locked(ch, NULL, &wake, NULL);
    roost__unlock(&ch->lock);
    leaked_wake_post(wake, ev);
}

void roost_chan_unref(roost_chan_t *ch) {
    if (!ch) return;
    roost__chan_check(ch, "roost_chan_unref");
    uint64_t old = atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel);
    uint32_t left = ROOST_CHAN_REFS(old) - 1;
    if ((int32_t)left > 0) { /* signed: a count taken below zero goes on, to the check below */
        /* Every reference left held by a task parked here that only this
         * channel could wake: nobody can ever complete their operations. One
         * load when no task adopted a reference. The channel cannot go away
         * meanwhile: its holders are those parked tasks. */
        if (ROOST_UNLIKELY(ROOST_CHAN_STRANDED(old) == left)) {
            roost__lock(&ch->lock);
            uint64_t now = atomic_load(&ch->refs);
            if (ROOST_CHAN_REFS(now) == ROOST_CHAN_STRANDED(now) && ch->nwaiters)
                chan_leaked_unlock(ch);
            else
                roost__unlock(&ch->lock);
        }
        return;
    }
    if (ROOST_UNLIKELY(left))
        roost__misuse(ch,
                      "roost_chan_unref of channel %p, which has no reference left "
                      "(reference count below zero: one unref too many)",
                      (void *)ch);
    roost__lock(&ch->lock);
    if (ROOST_UNLIKELY(ch->owner))
        roost__misuse(ch,
                      "roost_chan_unref of channel %p dropped the reference its context holds "
                      "(a context's done channel belongs to the context: do not unref it "
                      "unless you took a reference of your own)",
                      (void *)ch);
    ch->orphaned = true;
    bool now = ch->nwaiters == 0;
    if (!now) {
        /* Orphaned with waiters: those only this channel could wake are
         * leaked (they used it without a reference of their own). While
         * the lock is dropped to report them, a waiter that drops its node
         * (woken, or a select's stale one) could find nwaiters 0 and free
         * the channel under us: count ourselves as one more waiter
         * meanwhile, and decide after. */
        ch->nwaiters++;
        chan_leaked_unlock(ch);
        roost__lock(&ch->lock);
        now = --ch->nwaiters == 0;
    }
    roost__unlock(&ch->lock);
    if (now) roost__chan_free(ch);
}

bool roost__chan_drop_waiter_locked(roost_chan_t *ch, roost__waiter *w) {
    ROOST_ASSERT_LOCKED(&ch->lock);
    roost__waitq_remove(w->is_send ? &ch->sendq : &ch->recvq, w);
    roost__chan_unstrand(ch, w);
    return --ch->nwaiters == 0 && ch->orphaned;
}

static inline __attribute__((always_inline)) bool chan_try(roost_chan_t *ch, bool is_send, void *elem,
                                                           bool word, int *err, roost__waiter **peer) {
    roost__waiter *w;
    *peer = NULL;
    *err = 0;
    if (is_send) {
        if (ch->closed) {
            *err = ROOST_ECLOSED;
            return true;
        }
        if ((w = roost__waitq_claim(&ch->recvq))) {
            copy(ch, w->elem, elem, word);
            roost__chan_unstrand(ch, w);
            ch->nwaiters--;
            *peer = w;
            return true;
        }
        if (ch->len < ch->cap) {
            copy(ch, slot(ch, ch->recvx + ch->len), elem, word);
            set_len(ch, ch->len + 1);
            return true;
        }
        return false;
    }
    if (ch->len > 0) {
        copy(ch, elem, slot(ch, ch->recvx), word);
        ch->recvx = ch->recvx + 1 == ch->cap ? 0 : ch->recvx + 1;
        set_len(ch, ch->len - 1);
        /* A sender waits only when the buffer was full: its value goes in
         * at the tail, behind everything already queued. */
        if ((w = roost__waitq_claim(&ch->sendq))) {
            copy(ch, slot(ch, ch->recvx + ch->len), w->elem, word);
            set_len(ch, ch->len + 1);
            roost__chan_unstrand(ch, w);
            ch->nwaiters--;
            *peer = w;
        }
        return true;
    }
    if ((w = roost__waitq_claim(&ch->sendq))) {
        copy(ch, elem, w->elem, word);
        roost__chan_unstrand(ch, w);
        ch->nwaiters--;
        *peer = w;
        return true;
    }
    if (ch->closed) {
        if (elem) memset(elem, 0, word ? sizeof(void *) : ch->elem_size);
        *err = ROOST_ECLOSED;
        return true;
    }
    return false;
}

/* With ch locked, before parking w (plain) on it: count the references its
 * task adopted as stranded, and if that leaves every reference stranded,
 * the leak is proved now. True if the policy woke w itself (ch unlocked). */
static __attribute__((noinline, cold)) bool chan_strand_locked(roost_chan_t *ch, roost__waiter *w) {
    int own = roost__owned_count(w->park->task, ch);
    w->stranded = own;
    uint64_t now = atomic_fetch_add(&ch->refs, (uint64_t)own << 32) + ((uint64_t)own << 32);
    if (ROOST_CHAN_REFS(now) != ROOST_CHAN_STRANDED(now)) return false;
    roost__waiter *wake = NULL;
    bool self_woken = false;
    roost__leak_ev *ev = roost__leak_chan_locked(ch, w, &wake, &self_woken);
    if (self_woken) {
        /* A receive gets the zero value. Before unlocking: after that the
         * channel may be gone. */
        if (!w->is_send && w->elem) memset(w->elem, 0, ch->elem_size);
        roost__unlock(&ch->lock);
        leaked_wake_post(wake, ev);
        return true;
    }
    /* Reported, not woken (nothing to wake): park as the program asked.
     * The report goes out from the reporter thread. */
    roost__leak_post(ev);
    return false;
}

bool roost__chan_try_locked(roost_chan_t *ch, bool is_send, void *elem, int *err, roost__waiter **peer) {
    ROOST_ASSERT_LOCKED(&ch->lock);
    return chan_try(ch, is_send, elem, false, err, peer);
}

static int chan_locked_send(roost_ctx_t *ctx, roost_chan_t *ch, void *elem, bool block);
static int chan_locked_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem, bool block);
static int chan_park_send(roost_ctx_t *ctx, roost_chan_t *ch, void *elem);
static int chan_park_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem);
static int chan_park_ctx(roost_ctx_t *ctx, roost_chan_t *ch, void *elem, bool is_send);

/* With ch locked and nothing to pair with: queue and park. Plain (no
 * cancellable context, the hot case) and with a context are separate
 * functions: the plain one keeps fewer values live across the switch, so
 * it saves fewer registers. */
static inline __attribute__((always_inline)) int chan_park(roost_ctx_t *ctx, roost_chan_t *ch, bool is_send,
                                                           void *elem) {
    return is_send ? chan_park_send(ctx, ch, elem) : chan_park_recv(ctx, ch, elem);
}

/* With ch locked: complete the operation if it can be, else wait (or, not
 * blocking, give up): for another element size than a word, and after a
 * contended lock. Waiting is chan_park_send/recv, one frame down to the
 * switch (that inlining took pingpong from 781 to 645 instructions a round
 * trip, skynet -8%). What must stay out of line is the cold part: leak
 * proofs and context registration (roost__block); an earlier version
 * flattened those in too, and its 2 KB frame spilled every argument. */
static inline __attribute__((always_inline)) int chan_locked(roost_ctx_t *ctx, roost_chan_t *ch, bool is_send,
                                                             void *elem, bool block) {
    int err;
    roost__waiter *peer;
    if (chan_try(ch, is_send, elem, false, &err, &peer)) {
        roost__unlock(&ch->lock);
        if (peer) return roost__wake(peer->park, peer->index, 0);
        return err;
    }
    if (!block) {
        roost__unlock(&ch->lock);
        return ROOST_EAGAIN;
    }
    return chan_park(ctx, ch, is_send, elem);
}

/* Another holds the lock: spin for it (roost__lock), then go on as chan_locked. */
static __attribute__((noinline)) int chan_contended(roost_ctx_t *ctx, roost_chan_t *ch, void *elem,
                                                    bool is_send, bool block) {
    roost__chan_lock_slow(ch);
    return is_send ? chan_locked_send(ctx, ch, elem, block) : chan_locked_recv(ctx, ch, elem, block);
}

/* A nil channel (NULL), as in Go: never ready. A blocking send or receive
 * parks, with no queue to be on, until its context ends, and returns the
 * context's error (elem untouched: a nil channel has no element size); with
 * no cancellable context it never returns, which the leak detector proves
 * at once. The non-blocking forms say ROOST_EAGAIN, as a nil channel's case
 * in a select with a default does. */
static ROOST_TLS_REREAD __attribute__((cold)) int chan_nil(roost_ctx_t *ctx, bool is_send, void *elem,
                                                           bool block) {
    if (is_send && !elem) return ROOST_EINVAL;
    roost__note_thread();
    int err = roost__ctx_err(ctx);
    if (err) return err;
    if (!block) return ROOST_EAGAIN;
    int reason = is_send ? ROOST_WAIT_CHAN_SEND_NIL : ROOST_WAIT_CHAN_RECV_NIL;
    roost__park p;
    roost__park_init(&p, roost__self());
    if (p.task && !roost__ctx_cancellable(ctx) && roost__leak_nil(p.task, reason)) return ROOST_ELEAKED;
    int *locks[3] = {NULL};
    int rc = roost__block(&p, ctx, INT64_MAX, locks, 0, reason, NULL);
    return rc ? rc : p.err;
}

/* One send or receive, blocking unless `block` is false. Inlined into each
 * entry point is only what completes a word-sized operation at once (a
 * waiting peer, buffer room or a buffered value), and it ends in tail
 * calls only: so it needs no frame and saves no registers (16 instructions
 * fewer a completed operation). Anything else (the lock taken, another
 * element size, nothing to pair with) jumps to a function that does it. */
static inline __attribute__((always_inline)) int chan_op(roost_ctx_t *ctx, roost_chan_t *ch, bool is_send,
                                                         void *elem, bool block) {
    if (ROOST_UNLIKELY(!ch)) return chan_nil(ctx, is_send, elem, block);
    if (is_send && !elem) return ROOST_EINVAL;
    roost__note_thread();
    int err = roost__ctx_err_raw(ctx);
    if (err) return err;
    if (ROOST_UNLIKELY(!roost__trylock(&ch->lock))) return chan_contended(ctx, ch, elem, is_send, block);
    if (ROOST_LIKELY(ch->elem_size == sizeof(void *))) {
        roost__waiter *peer;
        if (chan_try(ch, is_send, elem, true, &err, &peer)) {
            roost__unlock(&ch->lock);
            if (peer) return roost__wake(peer->park, peer->index, 0);
            return err;
        }
        if (!block) {
            roost__unlock(&ch->lock);
            return ROOST_EAGAIN;
        }
        return chan_park(ctx, ch, is_send, elem);
    }
    return is_send ? chan_locked_send(ctx, ch, elem, block) : chan_locked_recv(ctx, ch, elem, block);
}

/* With ch locked and nothing to pair with: queue, park, and sort out how
 * we were woken. */
static inline __attribute__((always_inline)) int chan_wait(roost_ctx_t *ctx, roost_chan_t *ch, bool is_send,
                                                           void *elem, bool plain) {
    roost__park p;
    roost__worker *wk = roost__worker_before_switch(); /* no TLS read after parking */
    roost__task *self = wk ? wk->current : NULL;
    if (plain)
        roost__park_init_plain(&p, self);
    else
        roost__park_init(&p, self);
    roost__waiter w = {.park = &p, .elem = elem, .is_send = is_send, .obj = ch, .plain = plain};
    roost__waitq_push(is_send ? &ch->sendq : &ch->recvq, &w);
    ch->nwaiters++;
    /* Leak check (leak.c): is every reference left held by tasks parked
     * here for good? Costs nothing unless this task adopted a reference to
     * ch (or the channel has none left). Locals, not p's and w's fields:
     * those escaped into the queue, and would be reloaded. */
    if (ROOST_UNLIKELY(
            self && plain &&
            (self->nowned || !ROOST_CHAN_REFS(atomic_load_explicit(&ch->refs, memory_order_relaxed)))) &&
        chan_strand_locked(ch, &w)) {
        /* Proved leaked and woken at once, by the wake policy: ch is
         * unlocked, and a receive's value zeroed. */
        return ROOST_ELEAKED;
    }
    int reason = is_send ? ROOST_WAIT_CHAN_SEND : ROOST_WAIT_CHAN_RECV, rc;
    if (plain) {
        /* Only the channel can wake a plain waiter (a peer, close, or the
         * leak detector's wake policy), always as case 0: it unlinked our
         * node and dropped it from nwaiters, and we must not touch the
         * channel again. */
        roost__block_plain(&p, wk, self, &ch->lock, reason, ch);
        return p.err;
    }
    int *locks[3] = {&ch->lock};
    rc = roost__block(&p, ctx, INT64_MAX, locks, 1, reason, ch);
    /* Woken by a peer or by close (index 0): as above. Otherwise (context,
     * registration error) the node is ours to drop. */
    if (!rc && p.index == 0) return p.err;
    size_t size = ch->elem_size;
    roost__lock(&ch->lock);
    bool dead = roost__chan_drop_waiter_locked(ch, &w);
    roost__unlock(&ch->lock);
    if (dead) roost__chan_free(ch);
    if (rc) {
        if (!is_send && elem) memset(elem, 0, size);
        return rc;
    }
    return p.err;
}

/* noinline, each: chan_wait reads TLS inline before it parks, which is only
 * safe when the caller reads none after (see roost__self_before_switch);
 * their callers return what they return. */
/* The plain wait (ctx NULL or background) and, out of line, the one with a
 * cancellable context. One function per direction, taking (ctx, ch, elem)
 * as the entry points do: with a second call target in the fast path GCC
 * shuffled every operation's arguments first (3 instructions each). */
static ROOST_TLS_REREAD int chan_park_send(roost_ctx_t *ctx, roost_chan_t *ch, void *elem) {
    if (ROOST_UNLIKELY(roost__ctx_cancellable(ctx))) return chan_park_ctx(ctx, ch, elem, true);
    return chan_wait(NULL, ch, true, elem, true);
}

static ROOST_TLS_REREAD int chan_park_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem) {
    if (ROOST_UNLIKELY(roost__ctx_cancellable(ctx))) return chan_park_ctx(ctx, ch, elem, false);
    return chan_wait(NULL, ch, false, elem, true);
}

static ROOST_TLS_REREAD int chan_park_ctx(roost_ctx_t *ctx, roost_chan_t *ch, void *elem, bool is_send) {
    return is_send ? chan_wait(ctx, ch, true, elem, false) : chan_wait(ctx, ch, false, elem, false);
}

static __attribute__((noinline)) int chan_locked_send(roost_ctx_t *ctx, roost_chan_t *ch, void *elem,
                                                      bool block) {
    return chan_locked(ctx, ch, true, elem, block);
}

static __attribute__((noinline)) int chan_locked_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem,
                                                      bool block) {
    return chan_locked(ctx, ch, false, elem, block);
}

/* The entry points are noinline too, for the same reason: a library caller
 * might read TLS after them. */
ROOST_TLS_REREAD int roost_chan_send(roost_ctx_t *ctx, roost_chan_t *ch, const void *elem) {
    return chan_op(ctx, ch, true, (void *)elem, true);
}

ROOST_TLS_REREAD int roost_chan_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem) {
    return chan_op(ctx, ch, false, elem, true);
}

int roost_chan_trysend(roost_chan_t *ch, const void *elem) {
    return chan_op(NULL, ch, true, (void *)elem, false);
}

int roost_chan_tryrecv(roost_chan_t *ch, void *elem) { return chan_op(NULL, ch, false, elem, false); }

int roost_chan_close(roost_chan_t *ch) {
    if (!ch) return ROOST_EINVAL;
    roost__note_thread();
    roost__chan_check(ch, "roost_chan_close");
    roost__lock(&ch->lock);
    if (ch->closed) {
        roost__unlock(&ch->lock);
        return ROOST_EALREADY;
    }
    __atomic_store_n(&ch->closed, true, __ATOMIC_RELAXED); /* peeked by select */
    /* Claim every waiter now; wake them after unlocking (their nodes stay
     * valid: a claimed task stays parked until we wake it). */
    roost__waiter *list = NULL, *w;
    while ((w = roost__waitq_claim(&ch->recvq))) {
        if (w->elem) memset(w->elem, 0, ch->elem_size);
        roost__chan_unstrand(ch, w);
        ch->nwaiters--;
        w->next = list, list = w;
    }
    while ((w = roost__waitq_claim(&ch->sendq))) {
        roost__chan_unstrand(ch, w);
        ch->nwaiters--;
        w->next = list, list = w;
    }
    roost__unlock(&ch->lock);
    while (list) {
        w = list, list = w->next;
        roost__wake(w->park, w->index, ROOST_ECLOSED);
    }
    return ROOST_OK;
}

size_t roost_chan_len(roost_chan_t *ch) {
    if (!ch) return 0;
    roost__chan_lock(ch);
    size_t n = ch->len;
    roost__unlock(&ch->lock);
    return n;
}

size_t roost_chan_cap(roost_chan_t *ch) { return ch ? ch->cap : 0; }
