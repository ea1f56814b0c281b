/* test_ctx.c - contexts: background, cancel, deadline, timeout, causes,
 * propagation, and cancellation unblocking every kind of blocking call. */
#include "check.h"

static void wait_flag(atomic_int *f, int want) {
    int64_t t0 = roost_now();
    while (atomic_load(f) < want) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "timed out waiting (%d/%d)", atomic_load(f),
                  want);
    }
}

/* The done channel of a cancelled context is closed: tryrecv says ECLOSED. */
static int done_closed(roost_ctx_t *ctx) {
    roost_chan_t *d = roost_ctx_done(ctx);
    CHECK(d != NULL);
    int rc = roost_chan_tryrecv(d, NULL);
    CHECK(rc == ROOST_ECLOSED || rc == ROOST_EAGAIN);
    return rc == ROOST_ECLOSED;
}

/* ------------------------------------------------------------ background */

static void t_background(void *arg) {
    roost_ctx_t *bg = roost_background();
    CHECK(bg != NULL);
    CHECK_PTR(roost_background(), bg);
    CHECK_EQ(roost_ctx_err(bg), 0);
    CHECK_EQ(roost_ctx_cause(bg), 0);
    CHECK_EQ(roost_ctx_deadline(bg), INT64_MAX);
    CHECK(roost_ctx_done(bg) == NULL);
    /* NULL means background. */
    CHECK_EQ(roost_ctx_err(NULL), 0);
    CHECK_EQ(roost_ctx_cause(NULL), 0);
    CHECK_EQ(roost_ctx_deadline(NULL), INT64_MAX);
    CHECK(roost_ctx_done(NULL) == NULL);
    /* Cancelling it does nothing. */
    roost_ctx_cancel(bg);
    roost_ctx_cancel_cause(bg, 5);
    roost_ctx_cancel(NULL);
    CHECK_EQ(roost_ctx_err(bg), 0);
    CHECK_EQ(roost_ctx_cause(bg), 0);
    CHECK_OK(roost_sleep(bg, 1 * ROOST_MS));
    /* ref / unref of background are harmless. */
    CHECK_PTR(roost_ctx_ref(bg), bg);
    roost_ctx_unref(bg);
    roost_ctx_unref(bg);
    CHECK_EQ(roost_ctx_err(roost_background()), 0);

    CHECK_ERR(roost_ctx_with_cancel(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_ctx_with_timeout(NULL, ROOST_S, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_ctx_with_deadline(NULL, roost_now() + ROOST_S, NULL), ROOST_EINVAL);
}

/* ------------------------------------------------------------ with_cancel */

static void t_with_cancel(void *arg) {
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_cancel(NULL, &c));
    CHECK(c != NULL);
    CHECK(c != roost_background());
    CHECK_EQ(roost_ctx_err(c), 0);
    CHECK_EQ(roost_ctx_cause(c), 0);
    CHECK_EQ(roost_ctx_deadline(c), INT64_MAX);
    CHECK(!done_closed(c));
    CHECK_PTR(roost_ctx_done(c), roost_ctx_done(c));
    roost_ctx_cancel(c);
    CHECK_ERR(roost_ctx_err(c), ROOST_ECANCELED);
    CHECK_ERR(roost_ctx_cause(c), ROOST_ECANCELED);
    CHECK(done_closed(c));
    /* The first cancellation wins. */
    roost_ctx_cancel_cause(c, 77);
    CHECK_ERR(roost_ctx_cause(c), ROOST_ECANCELED);
    CHECK_ERR(roost_ctx_err(c), ROOST_ECANCELED);
    roost_ctx_unref(c);

    /* Explicit background parent behaves like NULL. */
    CHECK_OK(roost_ctx_with_cancel(roost_background(), &c));
    CHECK_EQ(roost_ctx_err(c), 0);
    roost_ctx_unref(c);
}

/* ------------------------------------------------------------ causes */

static void t_cause(void *arg) {
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_cancel(NULL, &c));
    roost_ctx_cancel_cause(c, 42);
    CHECK_ERR(roost_ctx_err(c), ROOST_ECANCELED); /* Err is always the kind */
    CHECK_EQ(roost_ctx_cause(c), 42);             /* Cause is what was given */
    roost_ctx_cancel(c);
    CHECK_EQ(roost_ctx_cause(c), 42);
    roost_ctx_unref(c);

    /* A negative ROOST code as the cause. */
    CHECK_OK(roost_ctx_with_cancel(NULL, &c));
    roost_ctx_cancel_cause(c, ROOST_ELEAKED);
    CHECK_ERR(roost_ctx_err(c), ROOST_ECANCELED);
    CHECK_EQ(roost_ctx_cause(c), ROOST_ELEAKED);
    roost_ctx_unref(c);

    /* A cancelled timeout context keeps ECANCELED after its deadline. */
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &c));
    roost_ctx_cancel(c);
    CHECK_OK(roost_sleep(NULL, 40 * ROOST_MS));
    CHECK_ERR(roost_ctx_err(c), ROOST_ECANCELED);
    CHECK_ERR(roost_ctx_cause(c), ROOST_ECANCELED);
    roost_ctx_unref(c);
}

/* ------------------------------------------------------------ trees */

static void t_tree(void *arg) {
    roost_ctx_t *p, *c1, *c2, *g1, *g2, *gg;
    CHECK_OK(roost_ctx_with_cancel(NULL, &p));
    CHECK_OK(roost_ctx_with_cancel(p, &c1));
    CHECK_OK(roost_ctx_with_timeout(p, 10 * ROOST_S, &c2));
    CHECK_OK(roost_ctx_with_cancel(c1, &g1));
    CHECK_OK(roost_ctx_with_deadline(c2, roost_now() + 20 * ROOST_S, &g2));
    CHECK_OK(roost_ctx_with_cancel(g1, &gg));

    /* Cancelling a child touches neither parent nor sibling. */
    roost_ctx_t *side;
    CHECK_OK(roost_ctx_with_cancel(c1, &side));
    roost_ctx_cancel(side);
    CHECK_EQ(roost_ctx_err(c1), 0);
    CHECK_EQ(roost_ctx_err(g1), 0);
    CHECK_EQ(roost_ctx_err(p), 0);
    roost_ctx_unref(side);

    /* Cancelling the root cancels every descendant at once (no waiting). */
    roost_ctx_cancel_cause(p, 9);
    roost_ctx_t *all[] = {p, c1, c2, g1, g2, gg};
    for (int i = 0; i < 6; i++) {
        CHECK_ERR(roost_ctx_err(all[i]), ROOST_ECANCELED);
        CHECK_EQ(roost_ctx_cause(all[i]), 9); /* the parent's cause */
        CHECK(done_closed(all[i]));
    }
    /* A child of a cancelled parent is born cancelled. */
    roost_ctx_t *late;
    CHECK_OK(roost_ctx_with_cancel(g2, &late));
    CHECK_ERR(roost_ctx_err(late), ROOST_ECANCELED);
    CHECK_EQ(roost_ctx_cause(late), 9);
    CHECK(done_closed(late));
    roost_ctx_unref(late);
    for (int i = 5; i >= 0; i--) roost_ctx_unref(all[i]);

    /* Unref order does not matter: parent dropped first, child still works
     * and is still cancelled through it. */
    CHECK_OK(roost_ctx_with_cancel(NULL, &p));
    CHECK_OK(roost_ctx_with_cancel(p, &c1));
    roost_ctx_t *pref = roost_ctx_ref(p);
    roost_ctx_unref(p);
    CHECK_EQ(roost_ctx_err(c1), 0);
    roost_ctx_cancel(pref);
    CHECK_ERR(roost_ctx_err(c1), ROOST_ECANCELED);
    roost_ctx_unref(pref);
    roost_ctx_unref(c1);

    /* Many children dropped before the parent is cancelled; some of them
     * cancelled first. ASan / valgrind catch a parent touching freed ones. */
    const int n = SCALE(2000, 200);
    CHECK_OK(roost_ctx_with_cancel(NULL, &p));
    for (int i = 0; i < n; i++) {
        roost_ctx_t *c;
        CHECK_OK(i % 3 ? roost_ctx_with_cancel(p, &c) : roost_ctx_with_timeout(p, 10 * ROOST_S, &c));
        if (i % 2) roost_ctx_cancel(c);
        roost_ctx_unref(c);
    }
    roost_ctx_t *keep[10];
    for (int i = 0; i < 10; i++) CHECK_OK(roost_ctx_with_cancel(p, &keep[i]));
    roost_ctx_cancel(p);
    for (int i = 0; i < 10; i++) {
        CHECK_ERR(roost_ctx_err(keep[i]), ROOST_ECANCELED);
        roost_ctx_unref(keep[i]);
    }
    roost_ctx_unref(p);

    /* Deep chain: cancelling the root reaches the leaf. */
    const int depth = 200;
    roost_ctx_t *chain[200];
    CHECK_OK(roost_ctx_with_cancel(NULL, &chain[0]));
    for (int i = 1; i < depth; i++) CHECK_OK(roost_ctx_with_cancel(chain[i - 1], &chain[i]));
    roost_ctx_cancel_cause(chain[0], 3);
    CHECK_EQ(roost_ctx_cause(chain[depth - 1]), 3);
    CHECK(done_closed(chain[depth - 1]));
    for (int i = depth - 1; i >= 0; i--) roost_ctx_unref(chain[i]);
}

/* ------------------------------------------------------------ deadlines */

static void t_deadline(void *arg) {
    roost_ctx_t *c;
    int64_t dl = roost_now() + 50 * ROOST_MS;
    CHECK_OK(roost_ctx_with_deadline(NULL, dl, &c));
    CHECK_EQ(roost_ctx_deadline(c), dl);
    CHECK_EQ(roost_ctx_err(c), 0);
    CHECK(!done_closed(c));
    CHECK_OK(roost_sleep(NULL, 80 * ROOST_MS));
    CHECK_ERR(roost_ctx_err(c), ROOST_ETIMEDOUT);
    CHECK_ERR(roost_ctx_cause(c), ROOST_ETIMEDOUT);
    CHECK(done_closed(c));
    CHECK_EQ(roost_ctx_deadline(c), dl);
    roost_ctx_unref(c);

    /* A deadline already passed: expired at once. */
    CHECK_OK(roost_ctx_with_deadline(NULL, roost_now() - ROOST_MS, &c));
    CHECK_ERR(roost_ctx_err(c), ROOST_ETIMEDOUT);
    CHECK(done_closed(c));
    roost_ctx_unref(c);
    CHECK_OK(roost_ctx_with_timeout(NULL, 0, &c));
    CHECK_ERR(roost_ctx_err(c), ROOST_ETIMEDOUT);
    roost_ctx_unref(c);
    CHECK_OK(roost_ctx_with_timeout(NULL, -ROOST_S, &c));
    CHECK_ERR(roost_ctx_err(c), ROOST_ETIMEDOUT);
    roost_ctx_unref(c);

    /* Timeout: deadline = now + timeout. */
    int64_t before = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &c));
    int64_t after = roost_now();
    CHECK_GE(roost_ctx_deadline(c), before + 30 * ROOST_MS);
    CHECK_LE(roost_ctx_deadline(c), after + 30 * ROOST_MS);
    /* A blocked receive ends with ETIMEDOUT at the deadline. */
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(4, 0, &ch));
    int v;
    CHECK_ERR(roost_chan_recv(c, ch, &v), ROOST_ETIMEDOUT);
    int64_t el = check_since(before);
    CHECK_GE(el, 30 * ROOST_MS);
    CHECK_LT(el, 2 * ROOST_S * check_slack());
    roost_chan_unref(ch);
    roost_ctx_unref(c);

    /* A child's deadline is never later than its parent's. */
    roost_ctx_t *p, *later, *sooner, *plain, *plain2;
    CHECK_OK(roost_ctx_with_timeout(NULL, 100 * ROOST_MS * check_slack(), &p));
    int64_t pd = roost_ctx_deadline(p);
    CHECK_OK(roost_ctx_with_timeout(p, 10 * ROOST_S, &later));
    CHECK_EQ(roost_ctx_deadline(later), pd);
    CHECK_OK(roost_ctx_with_deadline(p, pd + ROOST_S, &plain2));
    CHECK_EQ(roost_ctx_deadline(plain2), pd);
    roost_ctx_unref(plain2);
    CHECK_OK(roost_ctx_with_cancel(p, &plain));
    CHECK_EQ(roost_ctx_deadline(plain), pd);
    CHECK_OK(roost_ctx_with_timeout(p, 20 * ROOST_MS, &sooner));
    int64_t sd = roost_ctx_deadline(sooner);
    CHECK_LT(sd, pd);
    /* The sooner child expires alone first. */
    CHECK_OK(roost_sleep(NULL, sd + 10 * ROOST_MS - roost_now()));
    CHECK_ERR(roost_ctx_err(sooner), ROOST_ETIMEDOUT);
    if (roost_now() < pd - 5 * ROOST_MS) { /* not checkable on a very slow run */
        CHECK_EQ(roost_ctx_err(p), 0);
        CHECK_EQ(roost_ctx_err(later), 0);
        CHECK_EQ(roost_ctx_err(plain), 0);
    }
    /* Then the parent's deadline takes all of them. */
    CHECK_OK(roost_sleep(NULL, pd + 30 * ROOST_MS - roost_now()));
    CHECK_ERR(roost_ctx_err(p), ROOST_ETIMEDOUT);
    CHECK_ERR(roost_ctx_err(later), ROOST_ETIMEDOUT);
    CHECK_ERR(roost_ctx_err(plain), ROOST_ETIMEDOUT);
    CHECK_ERR(roost_ctx_cause(plain), ROOST_ETIMEDOUT);
    CHECK(done_closed(plain));
    roost_ctx_unref(sooner);
    roost_ctx_unref(plain);
    roost_ctx_unref(later);
    roost_ctx_unref(p);

    /* Dropping a timeout context before it fires is fine (the timer must
     * not touch freed memory: ASan / valgrind). */
    for (int i = 0; i < 100; i++) {
        CHECK_OK(roost_ctx_with_timeout(NULL, (i % 10) * ROOST_MS, &c));
        roost_ctx_unref(c);
    }
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
}

/* ------------------------------------------------------------ every blocking call unblocks */

enum kind {
    K_SEND,
    K_RECV,
    K_SELECT,
    K_SLEEP,
    K_MUTEX,
    K_RLOCK,
    K_WLOCK,
    K_COND,
    K_WAITGROUP,
    K_ONCE,
    K_SELECT_MANY,
    K__COUNT
};
static const char *kind_name[] = {"chan_send",      "chan_recv",     "select",       "sleep",
                                  "mutex_lock",     "rwmutex_rlock", "rwmutex_lock", "cond_wait",
                                  "waitgroup_wait", "once_do",       "select_many"};

typedef struct {
    enum kind k;
    roost_ctx_t *ctx;
    roost_chan_t *ch; /* unbuffered, nobody on the other side */
    roost_mutex_t mu; /* held by the test while the victim waits */
    roost_rwmutex_t rw;
    roost_cond_t cond;
    roost_waitgroup_t wg;
    roost_once_t once;
    roost_chan_t *once_gate; /* the once function blocks on it */
    atomic_int started, finished, once_runs;
    int rc;
    int extra; /* K_COND: 1 if mu was held again on return */
    int64_t returned_at;
} blk_t;

static void once_fn(void *arg) {
    blk_t *b = arg;
    atomic_fetch_add(&b->once_runs, 1);
    CHECK_ERR(roost_chan_recv(NULL, b->once_gate, NULL), ROOST_ECLOSED);
}

static void once_first(void *arg) {
    blk_t *b = arg;
    CHECK_OK(roost_once_do(NULL, &b->once, once_fn, b));
    atomic_fetch_add(&b->started, 1); /* reused as "first caller done" */
}

static void victim(void *arg) {
    blk_t *b = arg;
    int v = 1;
    atomic_fetch_add(&b->started, 1);
    switch (b->k) {
    case K_SEND: b->rc = roost_chan_send(b->ctx, b->ch, &v); break;
    case K_RECV: b->rc = roost_chan_recv(b->ctx, b->ch, &v); break;
    case K_SELECT: {
        roost_case_t c[2] = {{b->ch, ROOST_RECV, &v, 0}, {b->ch, ROOST_SEND, &v, 0}};
        b->rc = roost_select(b->ctx, c, 2, 0);
        break;
    }
    case K_SELECT_MANY: {
        roost_case_t c[3] = {
            {NULL, ROOST_RECV, &v, 0}, {b->ch, ROOST_RECV, &v, 0}, {b->ch, ROOST_RECV, NULL, 0}};
        b->rc = roost_select(b->ctx, c, 3, 0);
        break;
    }
    case K_SLEEP: b->rc = roost_sleep(b->ctx, 60 * ROOST_S); break;
    case K_MUTEX:
        b->rc = roost_mutex_lock(b->ctx, &b->mu);
        if (b->rc == 0) roost_mutex_unlock(&b->mu);
        break;
    case K_RLOCK:
        b->rc = roost_rwmutex_rlock(b->ctx, &b->rw);
        if (b->rc == 0) roost_rwmutex_runlock(&b->rw);
        break;
    case K_WLOCK:
        b->rc = roost_rwmutex_lock(b->ctx, &b->rw);
        if (b->rc == 0) roost_rwmutex_unlock(&b->rw);
        break;
    case K_COND:
        CHECK_OK(roost_mutex_lock(NULL, &b->mu));
        b->rc = roost_cond_wait(b->ctx, &b->cond, &b->mu);
        /* mu is ours again whatever the result: unlocking must succeed. */
        b->extra = roost_mutex_unlock(&b->mu) == 0;
        break;
    case K_WAITGROUP: b->rc = roost_waitgroup_wait(b->ctx, &b->wg); break;
    case K_ONCE: b->rc = roost_once_do(b->ctx, &b->once, once_fn, b); break;
    default: CHECK(0);
    }
    b->returned_at = roost_now();
    atomic_fetch_add(&b->finished, 1);
}

/* Set up the blocking condition for kind k (the test task holds what must
 * be held). */
static void blk_setup(blk_t *b) {
    roost_mutex_t mu0 = ROOST_MUTEX_INIT;
    roost_rwmutex_t rw0 = ROOST_RWMUTEX_INIT;
    roost_cond_t c0 = ROOST_COND_INIT;
    roost_waitgroup_t wg0 = ROOST_WAITGROUP_INIT;
    roost_once_t o0 = ROOST_ONCE_INIT;
    b->mu = mu0;
    b->rw = rw0;
    b->cond = c0;
    b->wg = wg0;
    b->once = o0;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &b->ch));
    CHECK_OK(roost_chan_make(1, 0, &b->once_gate));
    switch (b->k) {
    case K_MUTEX: CHECK_OK(roost_mutex_lock(NULL, &b->mu)); break;
    case K_RLOCK: CHECK_OK(roost_rwmutex_lock(NULL, &b->rw)); break;
    case K_WLOCK: CHECK_OK(roost_rwmutex_rlock(NULL, &b->rw)); break;
    case K_WAITGROUP: CHECK_OK(roost_waitgroup_add(&b->wg, 1)); break;
    case K_ONCE:
        /* Someone else is inside the once function. */
        CHECK_OK(roost_go(once_first, b));
        {
            int64_t t0 = roost_now();
            while (atomic_load(&b->once_runs) < 1) {
                CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
                CHECK(check_since(t0) < 10 * ROOST_S * check_slack());
            }
        }
        break;
    default: break;
    }
}

/* Release what blk_setup took and check the object is healthy afterwards:
 * the victim that gave up must not have taken or corrupted anything. */
static void blk_teardown(blk_t *b) {
    switch (b->k) {
    case K_MUTEX:
        CHECK_OK(roost_mutex_unlock(&b->mu));
        CHECK_OK(roost_mutex_trylock(&b->mu)); /* the quitter did not take it */
        CHECK_OK(roost_mutex_unlock(&b->mu));
        break;
    case K_RLOCK: {
        CHECK_OK(roost_rwmutex_unlock(&b->rw));
        roost_ctx_t *t;
        CHECK_OK(roost_ctx_with_timeout(NULL, 2 * ROOST_S * check_slack(), &t));
        CHECK_OK(roost_rwmutex_lock(t, &b->rw)); /* no reader left behind */
        CHECK_OK(roost_rwmutex_unlock(&b->rw));
        roost_ctx_unref(t);
        break;
    }
    case K_WLOCK: {
        /* The writer gave up: new readers are no longer held back. */
        roost_ctx_t *t;
        CHECK_OK(roost_ctx_with_timeout(NULL, 2 * ROOST_S * check_slack(), &t));
        CHECK_OK(roost_rwmutex_rlock(t, &b->rw));
        CHECK_OK(roost_rwmutex_runlock(&b->rw));
        CHECK_OK(roost_rwmutex_runlock(&b->rw));
        CHECK_OK(roost_rwmutex_lock(t, &b->rw));
        CHECK_OK(roost_rwmutex_unlock(&b->rw));
        roost_ctx_unref(t);
        break;
    }
    case K_COND:
        CHECK_EQ(b->extra, 1);
        CHECK_OK(roost_cond_signal(&b->cond)); /* nobody left waiting */
        CHECK_OK(roost_mutex_trylock(&b->mu));
        CHECK_OK(roost_mutex_unlock(&b->mu));
        break;
    case K_WAITGROUP: CHECK_OK(roost_waitgroup_done(&b->wg)); break;
    case K_ONCE: {
        CHECK_OK(roost_chan_close(b->once_gate)); /* let the first caller finish */
        int64_t t0 = roost_now();
        while (atomic_load(&b->started) < 2) { /* victim + once_first */
            CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
            CHECK(check_since(t0) < 10 * ROOST_S * check_slack());
        }
        /* Done now: later callers return at once without running fn. */
        CHECK_OK(roost_once_do(NULL, &b->once, once_fn, b));
        CHECK_EQ(atomic_load(&b->once_runs), 1);
        break;
    }
    default: break;
    }
    roost_chan_unref(b->ch);
    roost_chan_unref(b->once_gate);
}

/* mode 0: explicit cancel of a context with a long timeout;
 * mode 1: deadline expiry; mode 2: cancel of the parent of the context;
 * mode 3: cancel_cause with a positive code. */
static void unblock_one(enum kind k, int mode) {
    static blk_t b;
    memset(&b, 0, sizeof b);
    b.k = k;
    blk_setup(&b);
    roost_ctx_t *parent = NULL;
    const int64_t long_timeout = 20 * ROOST_S;
    int64_t t_start = roost_now();
    switch (mode) {
    case 0: CHECK_OK(roost_ctx_with_timeout(NULL, long_timeout, &b.ctx)); break;
    case 1: CHECK_OK(roost_ctx_with_timeout(NULL, 60 * ROOST_MS * check_slack(), &b.ctx)); break;
    case 2:
        CHECK_OK(roost_ctx_with_cancel(NULL, &parent));
        CHECK_OK(roost_ctx_with_timeout(parent, long_timeout, &b.ctx));
        break;
    case 3: CHECK_OK(roost_ctx_with_cancel(NULL, &b.ctx)); break;
    }
    CHECK_OK(roost_go(victim, &b));
    wait_flag(&b.started, 1);
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_MSG(atomic_load(&b.finished) == 0, "%s returned %d before cancellation", kind_name[k], b.rc);
    int64_t t_cancel = roost_now();
    int want = ROOST_ECANCELED;
    switch (mode) {
    case 0: roost_ctx_cancel(b.ctx); break;
    case 1: want = ROOST_ETIMEDOUT; break;
    case 2: roost_ctx_cancel(parent); break;
    case 3: roost_ctx_cancel_cause(b.ctx, 4242); break; /* calls report Err(), not the cause */
    }
    int64_t t0 = roost_now();
    while (atomic_load(&b.finished) < 1) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 5 * ROOST_S * check_slack(), "%s (mode %d) not unblocked by its context",
                  kind_name[k], mode);
    }
    CHECK_MSG(b.rc == want, "%s (mode %d) returned %d (%s), expected %d", kind_name[k], mode, b.rc,
              roost_strerror(b.rc), want);
    /* Promptly: well under the long timeout. */
    if (mode == 1) {
        CHECK_GE(b.returned_at - t_start, 60 * ROOST_MS * check_slack());
        CHECK_LT(b.returned_at - t_start, 1 * ROOST_S * check_slack());
    } else {
        CHECK_LT(b.returned_at - t_cancel, 1 * ROOST_S * check_slack());
    }
    blk_teardown(&b);
    roost_ctx_unref(b.ctx);
    if (parent) roost_ctx_unref(parent);
}

static void t_unblock_all(void *arg) {
    for (int mode = 0; mode < 3; mode++)
        for (int k = 0; k < K__COUNT; k++) unblock_one((enum kind)k, mode);
}

/* roost.h, CONTEXTS: blocking calls return ROOST_ECANCELED (Go's Err()) even
 * when a cause was given; the cause is read with roost_ctx_cause. (A positive
 * cause could not be told from a select case index.) */
static void t_calls_return_cause(void *arg) {
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_cancel(NULL, &c));
    roost_ctx_cancel_cause(c, 1234);
    CHECK_ERR(roost_sleep(c, 10 * ROOST_S), ROOST_ECANCELED);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(4, 0, &ch));
    int v;
    CHECK_ERR(roost_chan_recv(c, ch, &v), ROOST_ECANCELED);
    CHECK_EQ(roost_ctx_cause(c), 1234);
    roost_chan_unref(ch);
    roost_ctx_unref(c);
    /* The same for calls already blocked when the cause arrives. */
    for (int k = 0; k < K__COUNT; k++) unblock_one((enum kind)k, 3);
}

/* Already-cancelled context: blocking calls that would block return at once. */
static void t_precancelled(void *arg) {
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_cancel(NULL, &c));
    roost_ctx_cancel(c);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    int v = 0;
    int64_t t0 = roost_now();
    CHECK_ERR(roost_sleep(c, 10 * ROOST_S), ROOST_ECANCELED);
    CHECK_ERR(roost_chan_recv(c, ch, &v), ROOST_ECANCELED);
    CHECK_ERR(roost_chan_send(c, ch, &v), ROOST_ECANCELED);
    roost_case_t cs[1] = {{ch, ROOST_RECV, &v, 0}};
    CHECK_ERR(roost_select(c, cs, 1, 0), ROOST_ECANCELED);
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    CHECK_OK(roost_mutex_lock(NULL, &mu));
    int rc = roost_mutex_lock(c, &mu); /* held by us: either refusal is fine, but at once */
    CHECK_MSG(rc == ROOST_EDEADLK || rc == ROOST_ECANCELED, "relock with cancelled ctx: %d", rc);
    CHECK_OK(roost_mutex_unlock(&mu));
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    CHECK_OK(roost_waitgroup_add(&wg, 1));
    CHECK_ERR(roost_waitgroup_wait(c, &wg), ROOST_ECANCELED);
    CHECK_OK(roost_waitgroup_done(&wg));
    rc = roost_waitgroup_wait(c, &wg); /* nothing to wait for */
    CHECK_MSG(rc == 0 || rc == ROOST_ECANCELED, "waitgroup_wait at zero: %d", rc);
    CHECK_LT(check_since(t0), 1 * ROOST_S * check_slack());
    roost_chan_unref(ch);
    roost_ctx_unref(c);
}

/* ------------------------------------------------------------ many waiters, one cancel */

typedef struct {
    roost_ctx_t *ctx;
    roost_chan_t *ch;
    atomic_int done, bad;
} herd_t;
static void herd_member(void *arg) {
    herd_t *h = arg;
    int v;
    int rc = (roost_task_id() % 2) ? roost_chan_recv(h->ctx, h->ch, &v) : roost_sleep(h->ctx, 60 * ROOST_S);
    if (rc != ROOST_ECANCELED) atomic_fetch_add(&h->bad, 1);
    atomic_fetch_add(&h->done, 1);
}

static void t_herd(void *arg) {
    herd_t h;
    memset(&h, 0, sizeof h);
    roost_ctx_t *root;
    CHECK_OK(roost_ctx_with_cancel(NULL, &root));
    CHECK_OK(roost_ctx_with_cancel(root, &h.ctx));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &h.ch));
    const int n = SCALE(1000, 100);
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(herd_member, &h));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_EQ(atomic_load(&h.done), 0);
    int64_t t0 = roost_now();
    roost_ctx_cancel(root);
    wait_flag(&h.done, n);
    CHECK_LT(check_since(t0), 2 * ROOST_S * check_slack());
    CHECK_EQ(atomic_load(&h.bad), 0);
    roost_chan_unref(h.ch);
    roost_ctx_unref(h.ctx);
    roost_ctx_unref(root);
}

/* Cancellation racing completion: every call returns exactly once, with
 * either success or the context error, and values are never lost. */
typedef struct {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    atomic_long got, sent;
    atomic_int done;
} race_t;
static void race_recv(void *arg) {
    race_t *r = arg;
    int v, rc;
    while ((rc = roost_chan_recv(r->ctx, r->ch, &v)) == 0) atomic_fetch_add(&r->got, 1);
    CHECK_ERR(rc, ROOST_ECANCELED);
    atomic_fetch_add(&r->done, 1);
}
static void race_send(void *arg) {
    race_t *r = arg;
    int v = 1, rc;
    while ((rc = roost_chan_send(r->ctx, r->ch, &v)) == 0) atomic_fetch_add(&r->sent, 1);
    CHECK_ERR(rc, ROOST_ECANCELED);
    atomic_fetch_add(&r->done, 1);
}

static void t_cancel_race(void *arg) {
    const int rounds = SCALE(50, 5);
    for (int i = 0; i < rounds; i++) {
        race_t r;
        memset(&r, 0, sizeof r);
        CHECK_OK(roost_chan_make(sizeof(int), 0, &r.ch));
        CHECK_OK(roost_ctx_with_cancel(NULL, &r.ctx));
        for (int k = 0; k < 4; k++) {
            CHECK_OK(roost_go(race_recv, &r));
            CHECK_OK(roost_go(race_send, &r));
        }
        CHECK_OK(roost_sleep(NULL, (i % 5) * ROOST_MS));
        roost_ctx_cancel(r.ctx);
        wait_flag(&r.done, 8);
        /* unbuffered: a send succeeded iff its value was received */
        CHECK_EQ(atomic_load(&r.sent), atomic_load(&r.got));
        roost_chan_unref(r.ch);
        roost_ctx_unref(r.ctx);
    }
}

int main(void) {
    RUN(t_background);
    RUN(t_with_cancel);
    RUN(t_cause);
    RUN(t_tree);
    RUN(t_deadline);
    RUN(t_precancelled);
    RUN(t_unblock_all);
    RUN(t_herd);
    RUN(t_cancel_race);
    RUN(t_calls_return_cause);
    check_no_leaks();
    return 0;
}
