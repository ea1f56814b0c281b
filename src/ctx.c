/* ctx.c - contexts, as Go's context package: cancel, deadline, cause, done.
 *
 * The one idea: a context is a tree node with a list of the waiter nodes of
 * every task blocked under it. Cancelling claims those waiters (one CAS
 * each) and wakes them with the error, then does the same for every
 * descendant, top-down, holding each node's lock while it visits the node's
 * children (a child unlinks itself from its parent under the parent's lock,
 * so a child cannot be freed while it is being visited). Done channels are
 * closed, and deadline timers removed, only after every lock is dropped: a
 * task may hold a done channel's lock while it waits for a context lock.
 *
 * Invariants:
 *   - err goes from 0 to an error once, under ctx->lock, and never back;
 *     from then on waiters is empty (the cancellation claimed them) and
 *     registering a waiter returns the error instead.
 *   - A child is in its parent's children list while both are live and
 *     the child is cancellable; it holds a reference on its parent
 *     (`parent`), and unlinks itself under the parent's lock.
 *   - Locks are taken parent before child, never the other way; a done
 *     channel or the timer lock is never taken while a context lock is
 *     held by cancellation.
 *   - The deadline timer holds a reference while armed (timer_armed).
 */
#include "internal.h"
#include <stdlib.h>

static roost_ctx_t background = {.background = true, .deadline = INT64_MAX, .magic = ROOST_CTX_MAGIC};

/* Abort with a report unless ctx is a live context (fatal.c). */
static inline void ctx_check(const roost_ctx_t *ctx, const char *op) {
    if (ROOST_UNLIKELY(ctx->magic != ROOST_CTX_MAGIC)) roost__ctx_bad(ctx, op);
}

roost_ctx_t *roost_background(void) { return &background; }

int roost_ctx_err(roost_ctx_t *ctx) { return roost__ctx_err(ctx); }

int roost_ctx_cause(roost_ctx_t *ctx) {
    if (!roost__ctx_cancellable(ctx) || !roost__ctx_err(ctx)) return 0;
    ctx_check(ctx, "roost_ctx_cause");
    roost__lock(&ctx->lock);
    int c = ctx->cause;
    roost__unlock(&ctx->lock);
    return c;
}

int64_t roost_ctx_deadline(roost_ctx_t *ctx) { return ctx ? ctx->deadline : INT64_MAX; }

roost_ctx_t *roost_ctx_ref(roost_ctx_t *ctx) {
    if (!roost__ctx_cancellable(ctx)) return ctx;
    ctx_check(ctx, "roost_ctx_ref");
    if (ROOST_UNLIKELY(atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed) <= 0))
        roost__misuse(ctx, "roost_ctx_ref of context %p, which has no reference left to copy", (void *)ctx);
    return ctx;
}

static bool ref_if_live(roost_ctx_t *c) {
    int r = atomic_load(&c->refs);
    while (r > 0)
        if (atomic_compare_exchange_weak(&c->refs, &r, r + 1)) return true;
    return false;
}

void roost_ctx_unref(roost_ctx_t *ctx) {
    if (!roost__ctx_cancellable(ctx)) return;
    ctx_check(ctx, "roost_ctx_unref");
    int old = atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel);
    if (ROOST_LIKELY(old > 1)) return;
    if (ROOST_UNLIKELY(old < 1))
        roost__misuse(ctx,
                      "roost_ctx_unref of context %p, which has no reference left "
                      "(reference count below zero: one unref too many)",
                      (void *)ctx);
    roost_ctx_t *p = ctx->parent;
    if (p) {
        roost__lock(&p->lock);
        if (ctx->sib_prev)
            ctx->sib_prev->sib_next = ctx->sib_next;
        else if (p->children == ctx)
            p->children = ctx->sib_next;
        if (ctx->sib_next) ctx->sib_next->sib_prev = ctx->sib_prev;
        roost__unlock(&p->lock);
        roost_ctx_unref(p);
    }
    if (ctx->done) {
        ctx->done->owner = ROOST_CHAN_OWNER_NONE; /* our reference: dropping it is no misuse */
        roost_chan_unref(ctx->done);
    }
    /* Poisoned (fatal.c): a later use finds the magic gone, and a blocking
     * call an err that no live context has. */
    ctx->magic = ROOST_DEAD_MAGIC;
    atomic_store_explicit(&ctx->err, 1, memory_order_relaxed);
    free(ctx);
}

int roost__ctx_lock_register(roost_ctx_t *ctx, roost__waiter *w, int **lockp) {
    ctx_check(ctx, "a blocking call");
    roost__lock(&ctx->lock);
    int err = atomic_load_explicit(&ctx->err, memory_order_relaxed);
    if (err) {
        roost__unlock(&ctx->lock);
        return err;
    }
    roost__waitq_push(&ctx->waiters, w);
    *lockp = &ctx->lock;
    return ROOST_OK;
}

void roost__ctx_unregister(roost_ctx_t *ctx, roost__waiter *w) {
    roost__lock(&ctx->lock);
    roost__waitq_remove(&ctx->waiters, w);
    roost__unlock(&ctx->lock);
}

/* Called with c locked. Marks c and its descendants cancelled, moves their
 * claimed waiters to *wl and the contexts (referenced) to *todo. */
static void cancel_locked(roost_ctx_t *c, int err, int cause, roost__waiter **wl, roost_ctx_t **todo) {
    ROOST_ASSERT_LOCKED(&c->lock);
    if (atomic_load_explicit(&c->err, memory_order_relaxed)) return;
    c->cause = cause;
    atomic_store_explicit(&c->err, err, memory_order_release);
    roost__waiter *w;
    while ((w = roost__waitq_claim(&c->waiters))) w->next = *wl, *wl = w;
    if (ref_if_live(c)) c->todo_next = *todo, *todo = c;
    for (roost_ctx_t *ch = c->children; ch; ch = ch->sib_next) {
        roost__lock(&ch->lock);
        cancel_locked(ch, err, cause, wl, todo);
        roost__unlock(&ch->lock);
    }
}

static void cancel(roost_ctx_t *ctx, int err, int cause) {
    if (!roost__ctx_cancellable(ctx)) return;
    ctx_check(ctx, "roost_ctx_cancel");
    if (atomic_load(&ctx->err)) return;
    roost__waiter *wl = NULL;
    roost_ctx_t *todo = NULL;
    roost__lock(&ctx->lock);
    cancel_locked(ctx, err, cause, &wl, &todo);
    roost__unlock(&ctx->lock);
    /* Our claims keep those tasks parked, so their nodes stay valid here. */
    while (wl) {
        roost__waiter *next = wl->next;
        roost__wake(wl->park, -1, err); /* calls report Err(); Cause() has the cause */
        wl = next;
    }
    while (todo) {
        roost_ctx_t *c = todo;
        todo = c->todo_next;
        roost__lock(&c->lock);
        roost_chan_t *done = c->done ? roost_chan_ref(c->done) : NULL;
        bool armed = c->timer_armed;
        c->timer_armed = false;
        roost__unlock(&c->lock);
        if (done) {
            roost_chan_close(done);
            roost_chan_unref(done);
        }
        if (armed && roost__timer_del(&c->timer)) roost_ctx_unref(c); /* the timer's reference */
        roost_ctx_unref(c);
    }
}

void roost_ctx_cancel(roost_ctx_t *ctx) { cancel(ctx, ROOST_ECANCELED, ROOST_ECANCELED); }

void roost_ctx_cancel_cause(roost_ctx_t *ctx, int cause) {
    roost__note_thread();
    cancel(ctx, ROOST_ECANCELED, cause ? cause : ROOST_ECANCELED);
}

void roost__ctx_deadline_fire(roost_ctx_t *ctx) {
    cancel(ctx, ROOST_ETIMEDOUT, ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx); /* the timer's reference */
}

static int make_child(roost_ctx_t *parent, int64_t deadline, roost_ctx_t **out) {
    if (!out) return ROOST_EINVAL;
    *out = NULL;
    int rc = roost__ensure_started();
    if (rc) return rc;
    roost_ctx_t *c = calloc(1, sizeof *c);
    if (!c) return ROOST_ENOMEM;
    atomic_init(&c->refs, 1);
    c->magic = ROOST_CTX_MAGIC;
    c->timer.heap_index = -1;
    int64_t pd = roost_ctx_deadline(parent);
    c->deadline = deadline < pd ? deadline : pd;
    if (roost__ctx_cancellable(parent)) {
        c->parent = roost_ctx_ref(parent); /* checks parent */
        roost__lock(&parent->lock);
        int perr = atomic_load(&parent->err);
        if (perr) {
            c->cause = parent->cause;
            atomic_store(&c->err, perr);
        } else {
            c->sib_next = parent->children;
            if (parent->children) parent->children->sib_prev = c;
            parent->children = c;
        }
        roost__unlock(&parent->lock);
    }
    *out = c;
    if (c->deadline < pd || (!roost__ctx_cancellable(parent) && c->deadline < INT64_MAX)) {
        if (c->deadline <= roost_now()) {
            cancel(c, ROOST_ETIMEDOUT, ROOST_ETIMEDOUT);
        } else if (!atomic_load(&c->err)) {
            roost__lock(&c->lock);
            c->timer_armed = true;
            roost_ctx_ref(c);
            c->timer.when = c->deadline;
            c->timer.kind = ROOST_TIMER_CTX;
            c->timer.arg = c;
            roost__unlock(&c->lock);
            roost__timer_add(&c->timer);
        }
    }
    return ROOST_OK;
}

int roost_ctx_with_cancel(roost_ctx_t *parent, roost_ctx_t **out) {
    return make_child(parent, INT64_MAX, out);
}

int roost_ctx_with_deadline(roost_ctx_t *parent, int64_t deadline, roost_ctx_t **out) {
    return make_child(parent, deadline, out);
}

int roost_ctx_with_timeout(roost_ctx_t *parent, int64_t timeout_ns, roost_ctx_t **out) {
    return make_child(parent, roost__deadline_after(timeout_ns), out);
}

roost_chan_t *roost_ctx_done(roost_ctx_t *ctx) {
    if (!roost__ctx_cancellable(ctx)) return NULL;
    ctx_check(ctx, "roost_ctx_done");
    roost__lock(&ctx->lock);
    if (!ctx->done && roost_chan_make(1, 0, &ctx->done) == ROOST_OK) {
        ctx->done->owner = ROOST_CHAN_OWNER_CTX;
        if (atomic_load(&ctx->err)) roost_chan_close(ctx->done); /* nobody else can hold its lock yet */
    }
    roost_chan_t *d = ctx->done;
    roost__unlock(&ctx->lock);
    return d;
}
