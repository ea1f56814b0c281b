/* sync.c - mutex, read-write mutex, condition variable, wait group, once.
 *
 * The one idea: each object is a spinlock, a little state and FIFO queues of
 * waiter nodes; waiting goes through roost__block like everything else, so
 * every wait takes a context and parks the task, not the thread. Ownership
 * is handed over directly: an unlock that finds a waiter makes it the holder
 * before waking it, so a woken waiter never has to compete again (fair, and
 * the holder is always known, which the leak detector reads). The price is
 * that a contended lock cannot be barged by a running task, which Go's
 * normal mode allows for throughput.
 *
 * Invariants, each under the object's own spin lock:
 *   - mutex: a non-empty waiters queue means locked; holder and holder_id
 *     name the task (or thread) that holds it while locked. An unlock with
 *     a waiter does not unlock: it claims the first waiter and makes it the
 *     holder.
 *   - rwmutex: writer and readers > 0 never hold together; a waiting writer
 *     (wq non-empty) holds back new readers; the last reader out, or the
 *     writer's unlock, hands over directly, as the mutex does.
 *   - wait group: count >= 0; waiters is non-empty only while count > 0
 *     (the add that takes it to 0 claims and wakes them all).
 *   - once: state goes 0 (not run) -> 1 (running) -> 2 (done), never back;
 *     waiters is non-empty only in state 1.
 *   - cond: only waiters queued before a signal can take it; a waiter holds
 *     no mutex while queued, and has it again when its wait returns.
 */
#include "sync.h"

/* The public types are storage the program allocates: the structures must
 * fit it and need no stricter alignment. */
#define FITS(internal, public)                                                         \
    _Static_assert(sizeof(internal) <= sizeof(public), #internal " outgrew " #public); \
    _Static_assert(_Alignof(internal) <= _Alignof(public),                             \
                   #internal " needs a stricter alignment than " #public)
FITS(roost__mutex, roost_mutex_t);
FITS(roost__rwmutex, roost_rwmutex_t);
FITS(roost__cond, roost_cond_t);
FITS(roost__waitgroup, roost_waitgroup_t);
FITS(roost__once, roost_once_t);

/* Queue a waiter on q (locked by *lock) and block. On return the node is
 * unlinked; the result is the park's error, or the registration error. */
static int wait_on(roost_ctx_t *ctx, int *lock, roost__waitq_t *q, int reason, const void *obj) {
    roost__park p;
    roost__park_init(&p, roost__self());
    roost__waiter w = {.park = &p, .obj = (void *)obj};
    roost__waitq_push(q, &w);
    int *locks[3] = {lock};
    int rc = roost__block(&p, ctx, INT64_MAX, locks, 1, reason, obj);
    roost__lock(lock);
    roost__waitq_remove(q, &w);
    roost__unlock(lock);
    return rc ? rc : p.err;
}

static void wake_list(roost__waiter *list) {
    while (list) {
        roost__waiter *w = list;
        list = w->next;
        roost__wake(w->park, 0, 0);
    }
}

static roost__waiter *claim_all(roost__waitq_t *q) {
    roost__waiter *list = NULL, *w;
    while ((w = roost__waitq_claim(q))) w->next = list, list = w;
    return list;
}

/* ------------------------------------------------------------ mutex */

int roost_mutex_lock(roost_ctx_t *ctx, roost_mutex_t *mu_) {
    roost__mutex *mu = (roost__mutex *)(void *)mu_;
    if (!mu) return ROOST_EINVAL;
    int err = roost__ctx_err(ctx);
    if (err) return err;
    roost__task *self = roost__self();
    roost__lock(&mu->lock);
    if (!mu->locked) {
        mu->locked = 1;
        mu->holder = self;
        mu->holder_id = self ? self->id : 0;
        roost__unlock(&mu->lock);
        return ROOST_OK;
    }
    if (self && mu->holder == self && mu->holder_id == self->id) { /* not a reused record */
        roost__unlock(&mu->lock);
        roost__leak_relock(self, mu, ROOST_WAIT_MUTEX); /* reports the re-lock */
        return ROOST_EDEADLK;
    }
    if (self && (err = roost__leak_lock_check(self, mu, ROOST_WAIT_MUTEX, ctx))) {
        roost__unlock(&mu->lock);
        return err;
    }
    /* On success the unlocker has made us the holder already. */
    return wait_on(ctx, &mu->lock, &mu->waiters, ROOST_WAIT_MUTEX, mu);
}

int roost_mutex_trylock(roost_mutex_t *mu_) {
    roost__mutex *mu = (roost__mutex *)(void *)mu_;
    if (!mu) return ROOST_EINVAL;
    roost__lock(&mu->lock);
    int rc = ROOST_EAGAIN;
    if (!mu->locked) {
        mu->locked = 1;
        roost__task *self = roost__self();
        mu->holder = self;
        mu->holder_id = self ? self->id : 0;
        rc = ROOST_OK;
    }
    roost__unlock(&mu->lock);
    return rc;
}

int roost_mutex_unlock(roost_mutex_t *mu_) {
    roost__mutex *mu = (roost__mutex *)(void *)mu_;
    if (!mu) return ROOST_EINVAL;
    roost__note_thread();
    roost__lock(&mu->lock);
    if (!mu->locked) {
        roost__unlock(&mu->lock);
        return ROOST_ESTATE;
    }
    roost__waiter *w = roost__waitq_claim(&mu->waiters);
    if (w) {
        roost__task *t = w->park->task; /* read before the stores, which may alias anything */
        mu->holder = t;                 /* handed over: stays locked */
        mu->holder_id = t ? t->id : 0;
    } else {
        mu->locked = 0, mu->holder = NULL, mu->holder_id = 0;
    }
    roost__unlock(&mu->lock);
    if (w) roost__wake(w->park, 0, 0);
    return ROOST_OK;
}

/* ------------------------------------------------------------ rwmutex */

/* Hand the lock to whoever may have it now. After a writer's unlock the
 * waiting readers go first; otherwise a waiting writer holds new readers
 * back, and readers are let in only when no writer waits. */
static roost__waiter *rw_grant_locked(roost__rwmutex *rw, bool readers_first) {
    ROOST_ASSERT_LOCKED(&rw->lock);
    ROOST_ASSERT(!(rw->writer && rw->readers > 0));
    roost__waiter *list = NULL, *w;
    if (rw->writer) return NULL;
    if (readers_first || roost__waitq_empty(&rw->wq)) {
        while ((w = roost__waitq_claim(&rw->rq))) {
            rw->readers++;
            w->next = list, list = w;
        }
        if (list) return list;
    }
    if (rw->readers == 0 && (w = roost__waitq_claim(&rw->wq))) {
        rw->writer = 1;
        roost__task *t = w->park->task; /* read before the stores, which may alias anything */
        rw->holder = t;
        rw->holder_id = t ? t->id : 0;
        w->next = NULL, list = w;
    }
    return list;
}

static int rw_wait(roost_ctx_t *ctx, roost__rwmutex *rw, bool writer) {
    int rc = wait_on(ctx, &rw->lock, writer ? &rw->wq : &rw->rq,
                     writer ? ROOST_WAIT_RWMUTEX_W : ROOST_WAIT_RWMUTEX_R, rw);
    if (rc && writer) {
        /* A writer that gave up may have been holding readers back. */
        roost__lock(&rw->lock);
        roost__waiter *list = rw_grant_locked(rw, false);
        roost__unlock(&rw->lock);
        wake_list(list);
    }
    return rc;
}

int roost_rwmutex_rlock(roost_ctx_t *ctx, roost_rwmutex_t *rw_) {
    roost__rwmutex *rw = (roost__rwmutex *)(void *)rw_;
    if (!rw) return ROOST_EINVAL;
    int err = roost__ctx_err(ctx);
    if (err) return err;
    roost__lock(&rw->lock);
    if (!rw->writer && roost__waitq_empty(&rw->wq)) {
        rw->readers++;
        roost__unlock(&rw->lock);
        return ROOST_OK;
    }
    roost__task *self = roost__self();
    if (self && rw->writer && (err = roost__leak_lock_check(self, rw, ROOST_WAIT_RWMUTEX_R, ctx))) {
        roost__unlock(&rw->lock);
        return err;
    }
    return rw_wait(ctx, rw, false);
}

int roost_rwmutex_runlock(roost_rwmutex_t *rw_) {
    roost__rwmutex *rw = (roost__rwmutex *)(void *)rw_;
    if (!rw) return ROOST_EINVAL;
    roost__note_thread();
    roost__lock(&rw->lock);
    if (rw->readers <= 0) {
        roost__unlock(&rw->lock);
        return ROOST_ESTATE;
    }
    rw->readers--;
    roost__waiter *list = rw_grant_locked(rw, false);
    roost__unlock(&rw->lock);
    wake_list(list);
    return ROOST_OK;
}

int roost_rwmutex_lock(roost_ctx_t *ctx, roost_rwmutex_t *rw_) {
    roost__rwmutex *rw = (roost__rwmutex *)(void *)rw_;
    if (!rw) return ROOST_EINVAL;
    int err = roost__ctx_err(ctx);
    if (err) return err;
    roost__task *self = roost__self();
    roost__lock(&rw->lock);
    if (!rw->writer && rw->readers == 0) {
        rw->writer = 1;
        rw->holder = self;
        rw->holder_id = self ? self->id : 0;
        roost__unlock(&rw->lock);
        return ROOST_OK;
    }
    if (self && rw->writer && rw->holder == self && rw->holder_id == self->id) {
        roost__unlock(&rw->lock);
        roost__leak_relock(self, rw, ROOST_WAIT_RWMUTEX_W); /* reports the re-lock */
        return ROOST_EDEADLK;
    }
    if (self && rw->writer && (err = roost__leak_lock_check(self, rw, ROOST_WAIT_RWMUTEX_W, ctx))) {
        roost__unlock(&rw->lock);
        return err;
    }
    return rw_wait(ctx, rw, true);
}

int roost_rwmutex_unlock(roost_rwmutex_t *rw_) {
    roost__rwmutex *rw = (roost__rwmutex *)(void *)rw_;
    if (!rw) return ROOST_EINVAL;
    roost__note_thread();
    roost__lock(&rw->lock);
    if (!rw->writer) {
        roost__unlock(&rw->lock);
        return ROOST_ESTATE;
    }
    rw->writer = 0;
    rw->holder = NULL;
    rw->holder_id = 0;
    roost__waiter *list = rw_grant_locked(rw, true);
    roost__unlock(&rw->lock);
    wake_list(list);
    return ROOST_OK;
}

/* ------------------------------------------------------------ cond */

int roost_cond_wait(roost_ctx_t *ctx, roost_cond_t *c_, roost_mutex_t *mu) {
    roost__cond *c = (roost__cond *)(void *)c_;
    if (!c || !mu) return ROOST_EINVAL;
    roost__park p;
    roost__park_init(&p, roost__self());
    roost__waiter w = {.park = &p, .obj = c};
    roost__lock(&c->lock);
    roost__waitq_push(&c->waiters, &w);
    /* Unlock mu while holding c->lock: a signal cannot slip in between. */
    int rc = roost_mutex_unlock(mu);
    if (rc) {
        roost__waitq_remove(&c->waiters, &w);
        roost__unlock(&c->lock);
        return rc;
    }
    int *locks[3] = {&c->lock};
    rc = roost__block(&p, ctx, INT64_MAX, locks, 1, ROOST_WAIT_COND, c);
    roost__lock(&c->lock);
    roost__waitq_remove(&c->waiters, &w);
    roost__unlock(&c->lock);
    roost_mutex_lock(NULL, mu); /* always re-taken, as the contract says */
    return rc ? rc : p.err;
}

int roost_cond_signal(roost_cond_t *c_) {
    roost__cond *c = (roost__cond *)(void *)c_;
    roost__note_thread();
    if (!c) return ROOST_EINVAL;
    roost__lock(&c->lock);
    roost__waiter *w = roost__waitq_claim(&c->waiters);
    roost__unlock(&c->lock);
    if (w) roost__wake(w->park, 0, 0);
    return ROOST_OK;
}

int roost_cond_broadcast(roost_cond_t *c_) {
    roost__cond *c = (roost__cond *)(void *)c_;
    roost__note_thread();
    if (!c) return ROOST_EINVAL;
    roost__lock(&c->lock);
    roost__waiter *list = claim_all(&c->waiters);
    roost__unlock(&c->lock);
    wake_list(list);
    return ROOST_OK;
}

/* ------------------------------------------------------------ waitgroup */

int roost_waitgroup_add(roost_waitgroup_t *wg_, int64_t delta) {
    roost__waitgroup *wg = (roost__waitgroup *)(void *)wg_;
    roost__note_thread();
    if (!wg) return ROOST_EINVAL;
    roost__lock(&wg->lock);
    if (delta > 0 && wg->count > INT64_MAX - delta) { /* the sum would overflow */
        roost__unlock(&wg->lock);
        return ROOST_ERANGE;
    }
    int64_t n = wg->count + delta;
    if (n < 0) {
        roost__unlock(&wg->lock);
        return ROOST_ESTATE;
    }
    wg->count = n;
    roost__waiter *list = n == 0 ? claim_all(&wg->waiters) : NULL;
    roost__unlock(&wg->lock);
    wake_list(list);
    return ROOST_OK;
}

int roost_waitgroup_done(roost_waitgroup_t *wg_) { return roost_waitgroup_add(wg_, -1); }

int roost_waitgroup_wait(roost_ctx_t *ctx, roost_waitgroup_t *wg_) {
    roost__waitgroup *wg = (roost__waitgroup *)(void *)wg_;
    if (!wg) return ROOST_EINVAL;
    int err = roost__ctx_err(ctx);
    if (err) return err;
    roost__lock(&wg->lock);
    if (wg->count == 0) {
        roost__unlock(&wg->lock);
        return ROOST_OK;
    }
    return wait_on(ctx, &wg->lock, &wg->waiters, ROOST_WAIT_WAITGROUP, wg);
}

/* ------------------------------------------------------------ once */

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_DONE = 2 };

int roost_once_do(roost_ctx_t *ctx, roost_once_t *o_, roost_fn fn, void *arg) {
    roost__once *o = (roost__once *)(void *)o_;
    if (!o || !fn) return ROOST_EINVAL;
    if (atomic_load_explicit(&o->state, memory_order_acquire) == ONCE_DONE) return ROOST_OK;
    roost__lock(&o->lock);
    int st = atomic_load_explicit(&o->state, memory_order_relaxed);
    if (st == ONCE_DONE) {
        roost__unlock(&o->lock);
        return ROOST_OK;
    }
    if (st == ONCE_RUNNING) {
        /* fn calling back into its own once would wait for itself: refused,
         * as a re-locked mutex is (task ids are never reused). */
        roost__task *self = roost__self();
        if (self && o->runner == self->id) {
            roost__unlock(&o->lock);
            roost__leak_relock(self, o, ROOST_WAIT_ONCE);
            return ROOST_EDEADLK;
        }
        int err = roost__ctx_err(ctx);
        if (err) {
            roost__unlock(&o->lock);
            return err;
        }
        return wait_on(ctx, &o->lock, &o->waiters, ROOST_WAIT_ONCE, o);
    }
    atomic_store_explicit(&o->state, ONCE_RUNNING, memory_order_relaxed);
    roost__task *self = roost__self();
    o->runner = self ? self->id : 0;
    roost__unlock(&o->lock);
    fn(arg);
    roost__lock(&o->lock);
    o->runner = 0;
    atomic_store_explicit(&o->state, ONCE_DONE, memory_order_release);
    roost__waiter *list = claim_all(&o->waiters);
    roost__unlock(&o->lock);
    wake_list(list);
    return ROOST_OK;
}
