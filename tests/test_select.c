/* test_select.c - roost_select: Go's select statement. */
#include "check.h"
#include <pthread.h>

static roost_chan_t *mk(size_t elem, size_t cap) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(elem, cap, &ch));
    return ch;
}

static void wait_flag(atomic_int *f, int want) {
    int64_t t0 = roost_now();
    while (atomic_load(f) < want) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "timed out waiting (%d/%d)", atomic_load(f),
                  want);
    }
}

/* ------------------------------------------------------------ arguments */

static void t_args(void *arg) {
    roost_chan_t *a = mk(sizeof(int), 1);
    int v = 0;
    roost_case_t c[2] = {{a, ROOST_RECV, &v, 0}, {a, ROOST_SEND, &v, 0}};
    CHECK_ERR(roost_select(NULL, NULL, 1, 0), ROOST_EINVAL);
    CHECK_ERR(roost_select(NULL, c, -1, 0), ROOST_EINVAL);
    CHECK_ERR(roost_select(NULL, c, ROOST_SELECT_MAX + 1, 0), ROOST_ERANGE);
    roost_case_t bad = {a, 3, &v, 0};
    CHECK_ERR(roost_select(NULL, &bad, 1, ROOST_SELECT_NONBLOCK), ROOST_EINVAL);
    bad.op = 0;
    CHECK_ERR(roost_select(NULL, &bad, 1, ROOST_SELECT_NONBLOCK), ROOST_EINVAL);
    /* A send case needs a value. */
    roost_case_t nosrc = {a, ROOST_SEND, NULL, 0};
    CHECK_ERR(roost_select(NULL, &nosrc, 1, ROOST_SELECT_NONBLOCK), ROOST_EINVAL);
    CHECK_ERR(roost_select(NULL, c, 2, 0x100), ROOST_EINVAL); /* unknown flag */
    CHECK_EQ(roost_chan_len(a), 0);                           /* nothing was performed */
    /* select with only a default: Go's `select { default: }`. */
    CHECK_ERR(roost_select(NULL, c, 0, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    roost_chan_unref(a);
}

/* ------------------------------------------------------------ ready cases */

static void t_ready(void *arg) {
    roost_chan_t *full = mk(sizeof(int), 1), *unbuf = mk(sizeof(int), 0), *empty = mk(sizeof(int), 2);
    int x = 5, got = -1, out = 9;
    CHECK_OK(roost_chan_send(NULL, full, &x));
    /* Only the receive from `full` can proceed. */
    roost_case_t c[3] = {
        {unbuf, ROOST_SEND, &out, 7},
        {full, ROOST_RECV, &got, 7},
        {unbuf, ROOST_RECV, NULL, 7},
    };
    CHECK_EQ(roost_select(NULL, c, 3, 0), 1);
    CHECK_EQ(c[1].err, 0);
    CHECK_EQ(got, 5);
    CHECK_EQ(roost_chan_len(full), 0);
    /* Now only a send to `empty` can proceed. */
    roost_case_t d[3] = {
        {full, ROOST_RECV, &got, 0},
        {unbuf, ROOST_SEND, &out, 0},
        {empty, ROOST_SEND, &out, 0},
    };
    CHECK_EQ(roost_select(NULL, d, 3, ROOST_SELECT_NONBLOCK), 2);
    CHECK_EQ(d[2].err, 0);
    CHECK_EQ(roost_chan_len(empty), 1);
    CHECK_OK(roost_chan_recv(NULL, empty, &got));
    CHECK_EQ(got, 9);
    /* Nothing ready: default, and nothing was touched. */
    got = -1;
    roost_case_t e[3] = {
        {full, ROOST_RECV, &got, 0},
        {unbuf, ROOST_SEND, &out, 0},
        {unbuf, ROOST_RECV, &got, 0},
    };
    CHECK_ERR(roost_select(NULL, e, 3, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    CHECK_EQ(got, -1);
    CHECK_EQ(roost_chan_len(full), 0);
    roost_chan_unref(full);
    roost_chan_unref(unbuf);
    roost_chan_unref(empty);
}

/* ------------------------------------------------------------ blocking: woken by the other side */

typedef struct {
    roost_chan_t *ch;
    int val;
    int64_t delay;
    atomic_int done;
    int rc;
} peer_t;

static void late_sender(void *arg) {
    peer_t *p = arg;
    CHECK_OK(roost_sleep(NULL, p->delay));
    p->rc = roost_chan_send(NULL, p->ch, &p->val);
    atomic_store(&p->done, 1);
}

static void late_receiver(void *arg) {
    peer_t *p = arg;
    CHECK_OK(roost_sleep(NULL, p->delay));
    p->rc = roost_chan_recv(NULL, p->ch, &p->val);
    atomic_store(&p->done, 1);
}

static void t_blocking(void *arg) {
    roost_chan_t *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
    /* Woken by a sender on the second channel. */
    peer_t p = {b, 42, 30 * ROOST_MS, 0, 0};
    CHECK_OK(roost_go(late_sender, &p));
    int ga = -1, gb = -1;
    roost_case_t c[2] = {{a, ROOST_RECV, &ga, 0}, {b, ROOST_RECV, &gb, 0}};
    int64_t t0 = roost_now();
    CHECK_EQ(roost_select(NULL, c, 2, 0), 1);
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    CHECK_EQ(c[1].err, 0);
    CHECK_EQ(gb, 42);
    CHECK_EQ(ga, -1);
    wait_flag(&p.done, 1);
    CHECK_OK(p.rc);

    /* Woken by a receiver: the send case is performed. */
    peer_t q = {a, -1, 30 * ROOST_MS, 0, 0};
    CHECK_OK(roost_go(late_receiver, &q));
    int s1 = 11, s2 = 22;
    roost_case_t d[2] = {{b, ROOST_SEND, &s2, 0}, {a, ROOST_SEND, &s1, 0}};
    CHECK_EQ(roost_select(NULL, d, 2, 0), 1);
    CHECK_EQ(d[1].err, 0);
    wait_flag(&q.done, 1);
    CHECK_OK(q.rc);
    CHECK_EQ(q.val, 11);

    /* A select cannot rendezvous with itself: send and receive on the
     * same unbuffered channel, woken by an outside sender. */
    peer_t r = {a, 99, 30 * ROOST_MS, 0, 0};
    CHECK_OK(roost_go(late_sender, &r));
    int mine = 1, got = -1;
    roost_case_t self[2] = {{a, ROOST_SEND, &mine, 0}, {a, ROOST_RECV, &got, 0}};
    CHECK_ERR(roost_select(NULL, self, 2, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    CHECK_EQ(roost_select(NULL, self, 2, 0), 1);
    CHECK_EQ(got, 99);
    wait_flag(&r.done, 1);
    CHECK_OK(r.rc);
    roost_chan_unref(a);
    roost_chan_unref(b);
}

/* Two selects meeting: one sends, the other receives. */
typedef struct {
    roost_chan_t *x, *y;
    long sum;
    int n;
    atomic_int done;
} ss_t;
static void select_sender(void *arg) {
    ss_t *s = arg;
    for (int i = 1; i <= s->n; i++) {
        roost_case_t c[2] = {{s->x, ROOST_SEND, &i, 0}, {s->y, ROOST_SEND, &i, 0}};
        int r = roost_select(NULL, c, 2, 0);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(c[r].err, 0);
    }
    atomic_store(&s->done, 1);
}

static void t_select_to_select(void *arg) {
    ss_t s = {mk(sizeof(int), 0), mk(sizeof(int), 0), 0, SCALE(20000, 1000), 0};
    CHECK_OK(roost_go(select_sender, &s));
    int seen[2] = {0, 0};
    for (int i = 1; i <= s.n; i++) {
        int v = 0, w = 0;
        roost_case_t c[2] = {{s.y, ROOST_RECV, &w, 0}, {s.x, ROOST_RECV, &v, 0}};
        int r = roost_select(NULL, c, 2, 0);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(c[r].err, 0);
        CHECK_EQ(r == 0 ? w : v, i); /* in order: one sender */
        seen[r]++;
    }
    wait_flag(&s.done, 1);
    CHECK_GT(seen[0], 0);
    CHECK_GT(seen[1], 0);
    roost_chan_unref(s.x);
    roost_chan_unref(s.y);
}

/* ------------------------------------------------------------ NULL channels */

static void t_null_chan(void *arg) {
    roost_chan_t *r = mk(sizeof(int), 1);
    int v = 3, got = 0;
    roost_case_t c[3] = {{NULL, ROOST_RECV, &got, 0}, {NULL, ROOST_SEND, &v, 0}, {r, ROOST_RECV, &got, 0}};
    CHECK_ERR(roost_select(NULL, c, 2, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    for (int i = 0; i < 200; i++) {
        CHECK_OK(roost_chan_send(NULL, r, &i));
        CHECK_EQ(roost_select(NULL, c, 3, 0), 2);
        CHECK_EQ(got, i);
    }
    /* All-NULL blocks forever: only the context ends it. */
    roost_ctx_t *ctx;
    int64_t t0 = roost_now(); /* before the deadline is set */
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    CHECK_ERR(roost_select(ctx, c, 2, 0), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 30 * ROOST_MS);
    CHECK_LT(check_since(t0), 2 * ROOST_S * check_slack());
    roost_ctx_unref(ctx);
    roost_chan_unref(r);
}

/* ------------------------------------------------------------ fairness */

static void t_fairness(void *arg) {
    const int n = SCALE(40000, 8000);
    roost_chan_t *ch[4];
    int vals[4];
    roost_case_t c[4];
    long count[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        ch[i] = mk(sizeof(int), 1);
        CHECK_OK(roost_chan_send(NULL, ch[i], &i));
        c[i] = (roost_case_t){ch[i], ROOST_RECV, &vals[i], 0};
    }
    for (int k = 0; k < n; k++) {
        int r = roost_select(NULL, c, 4, 0);
        CHECK(r >= 0 && r < 4);
        CHECK_EQ(vals[r], r);
        count[r]++;
        CHECK_OK(roost_chan_trysend(ch[r], &r)); /* always ready again */
    }
    for (int i = 0; i < 4; i++) {
        double share = (double)count[i] / n;
        CHECK_MSG(share > 0.22 && share < 0.28, "recv case %d chosen %ld/%d times (%.3f)", i, count[i], n,
                  share);
    }
    /* Send cases: four buffered channels with room. */
    memset(count, 0, sizeof count);
    for (int i = 0; i < 4; i++) {
        int dummy;
        CHECK_OK(roost_chan_recv(NULL, ch[i], &dummy));
        vals[i] = i;
        c[i] = (roost_case_t){ch[i], ROOST_SEND, &vals[i], 0};
    }
    for (int k = 0; k < n; k++) {
        int r = roost_select(NULL, c, 4, 0);
        CHECK(r >= 0 && r < 4);
        count[r]++;
        int got;
        CHECK_OK(roost_chan_tryrecv(ch[r], &got));
        CHECK_EQ(got, r);
    }
    for (int i = 0; i < 4; i++) {
        double share = (double)count[i] / n;
        CHECK_MSG(share > 0.22 && share < 0.28, "send case %d chosen %ld/%d times (%.3f)", i, count[i], n,
                  share);
    }
    /* Not biased by position: two ready cases among several not-ready. */
    roost_chan_t *never = mk(sizeof(int), 0);
    CHECK_OK(roost_chan_send(NULL, ch[0], &vals[0]));
    CHECK_OK(roost_chan_send(NULL, ch[3], &vals[3]));
    int g0, g3, x = 0;
    roost_case_t m[6] = {{never, ROOST_RECV, &x, 0}, {ch[0], ROOST_RECV, &g0, 0},
                         {never, ROOST_RECV, &x, 0}, {never, ROOST_SEND, &x, 0},
                         {NULL, ROOST_RECV, &x, 0},  {ch[3], ROOST_RECV, &g3, 0}};
    long a = 0, b = 0;
    const int n2 = SCALE(20000, 4000);
    for (int k = 0; k < n2; k++) {
        int r = roost_select(NULL, m, 6, ROOST_SELECT_NONBLOCK);
        CHECK(r == 1 || r == 5);
        if (r == 1) {
            a++;
            CHECK_OK(roost_chan_trysend(ch[0], &vals[0]));
        } else {
            b++;
            CHECK_OK(roost_chan_trysend(ch[3], &vals[3]));
        }
    }
    CHECK_MSG((double)a / n2 > 0.45 && (double)a / n2 < 0.55, "two ready cases chosen %ld vs %ld", a, b);
    for (int i = 0; i < 4; i++) roost_chan_unref(ch[i]);
    roost_chan_unref(never);
}

/* ------------------------------------------------------------ closed channels */

typedef struct {
    roost_chan_t *ch;
    int64_t delay;
} closer_t;
static void late_closer(void *arg) {
    closer_t *c = arg;
    CHECK_OK(roost_sleep(NULL, c->delay));
    CHECK_OK(roost_chan_close(c->ch));
}

static void t_closed(void *arg) {
    roost_chan_t *open = mk(sizeof(int), 0), *closed = mk(sizeof(int64_t), 2);
    int64_t seven = 7;
    CHECK_OK(roost_chan_send(NULL, closed, &seven));
    CHECK_OK(roost_chan_close(closed));
    int x = 0;
    int64_t got = -1;
    roost_case_t c[2] = {{open, ROOST_RECV, &x, 0}, {closed, ROOST_RECV, &got, 0}};
    /* Buffered value first, err 0. */
    CHECK_EQ(roost_select(NULL, c, 2, 0), 1);
    CHECK_EQ(c[1].err, 0);
    CHECK_EQ(got, 7);
    /* Then closed: ready at once, err ECLOSED, elem zeroed. */
    for (int i = 0; i < 10; i++) {
        got = -1;
        c[1].err = 0;
        CHECK_EQ(roost_select(NULL, c, 2, 0), 1);
        CHECK_EQ(c[1].err, ROOST_ECLOSED);
        CHECK_EQ(got, 0);
    }
    /* A send case on a closed channel is chosen with ECLOSED. */
    roost_case_t s[2] = {{open, ROOST_SEND, &x, 0}, {closed, ROOST_SEND, &seven, 0}};
    CHECK_EQ(roost_select(NULL, s, 2, ROOST_SELECT_NONBLOCK), 1);
    CHECK_EQ(s[1].err, ROOST_ECLOSED);

    /* Close while the select is blocked wakes it with ECLOSED. */
    roost_chan_t *later = mk(sizeof(int64_t), 0);
    closer_t cl = {later, 30 * ROOST_MS};
    CHECK_OK(roost_go(late_closer, &cl));
    got = -1;
    roost_case_t w[2] = {{open, ROOST_RECV, &x, 0}, {later, ROOST_RECV, &got, 0}};
    int64_t t0 = roost_now();
    CHECK_EQ(roost_select(NULL, w, 2, 0), 1);
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    CHECK_EQ(w[1].err, ROOST_ECLOSED);
    CHECK_EQ(got, 0);

    /* Also for a blocked send case. */
    roost_chan_t *later2 = mk(sizeof(int64_t), 0);
    closer_t cl2 = {later2, 30 * ROOST_MS};
    CHECK_OK(roost_go(late_closer, &cl2));
    roost_case_t ws[2] = {{open, ROOST_RECV, &x, 0}, {later2, ROOST_SEND, &seven, 0}};
    CHECK_EQ(roost_select(NULL, ws, 2, 0), 1);
    CHECK_EQ(ws[1].err, ROOST_ECLOSED);

    roost_chan_unref(open);
    roost_chan_unref(closed);
    roost_chan_unref(later);
    roost_chan_unref(later2);
}

/* ------------------------------------------------------------ contexts */

static void canceller(void *arg) {
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    roost_ctx_cancel((roost_ctx_t *)arg);
    roost_ctx_unref((roost_ctx_t *)arg);
}

static void t_ctx(void *arg) {
    roost_chan_t *a = mk(sizeof(int), 0);
    int x;
    roost_case_t c[1] = {{a, ROOST_RECV, &x, 0}};

    /* Timeout. */
    roost_ctx_t *ctx;
    int64_t t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 40 * ROOST_MS, &ctx));
    CHECK_ERR(roost_select(ctx, c, 1, 0), ROOST_ETIMEDOUT);
    int64_t el = check_since(t0);
    CHECK_GE(el, 40 * ROOST_MS);
    CHECK_LT(el, 2 * ROOST_S * check_slack());
    /* Already expired: returns at once. */
    CHECK_ERR(roost_select(ctx, c, 1, 0), ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx);

    /* Cancel while blocked. */
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    CHECK_OK(roost_go(canceller, roost_ctx_ref(ctx)));
    t0 = roost_now();
    CHECK_ERR(roost_select(ctx, c, 1, 0), ROOST_ECANCELED);
    CHECK_LT(check_since(t0), 2 * ROOST_S * check_slack());
    roost_ctx_unref(ctx);

    /* Misuse is reported before the context's error: a bad case with a
     * cancelled context is still ROOST_EINVAL. */
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_ctx_cancel(ctx);
    roost_case_t bad = {a, ROOST_SEND, NULL, 0};
    CHECK_ERR(roost_select(ctx, &bad, 1, 0), ROOST_EINVAL);
    CHECK_ERR(roost_select(ctx, c, 1, 0), ROOST_ECANCELED);
    roost_ctx_unref(ctx);

    /* Nonblocking with a live ctx: still EAGAIN. */
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_S, &ctx));
    CHECK_ERR(roost_select(ctx, c, 1, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    roost_ctx_unref(ctx);

    /* Select on roost_ctx_done: Go's `case <-ctx.Done():`. */
    CHECK(roost_ctx_done(NULL) == NULL);
    CHECK(roost_ctx_done(roost_background()) == NULL);
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_chan_t *done = roost_ctx_done(ctx);
    CHECK(done != NULL);
    CHECK_PTR(roost_ctx_done(ctx), done);
    roost_case_t d[2] = {{a, ROOST_RECV, &x, 0}, {done, ROOST_RECV, NULL, 0}};
    CHECK_ERR(roost_select(NULL, d, 2, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    CHECK_OK(roost_go(canceller, roost_ctx_ref(ctx)));
    t0 = roost_now();
    CHECK_EQ(roost_select(NULL, d, 2, 0), 1);
    CHECK_EQ(d[1].err, ROOST_ECLOSED);
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    CHECK_ERR(roost_ctx_err(ctx), ROOST_ECANCELED);
    /* Stays ready. */
    d[1].err = 0;
    CHECK_EQ(roost_select(NULL, d, 2, ROOST_SELECT_NONBLOCK), 1);
    CHECK_EQ(d[1].err, ROOST_ECLOSED);
    roost_ctx_unref(ctx);

    /* A timeout's done channel. */
    t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    roost_case_t e[2] = {{a, ROOST_RECV, &x, 0}, {roost_ctx_done(ctx), ROOST_RECV, NULL, 0}};
    CHECK_EQ(roost_select(NULL, e, 2, 0), 1);
    CHECK_GE(check_since(t0), 30 * ROOST_MS);
    CHECK_ERR(roost_ctx_err(ctx), ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx);
    roost_chan_unref(a);
}

/* ------------------------------------------------------------ yield before blocking */

/* A select about to block first lets the tasks queued on its worker run
 * once (select.c). Whatever they do meanwhile must count: a value they
 * send is taken without parking, a context they cancel is reported. */
static void cancel_now(void *arg) {
    roost_ctx_cancel((roost_ctx_t *)arg);
    roost_ctx_unref((roost_ctx_t *)arg);
}

static void send_one(void *arg) {
    roost_chan_t *ch = arg;
    int v = 42;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    roost_chan_unref(ch);
}

typedef struct {
    roost_ctx_t *ctx;
    roost_chan_t *ch;
} cancel_then_send_args; /* references owned by the task */

static void cancel_then_send(void *arg) {
    /* Copied first: once the context is cancelled, the select may return
     * and its loop reuse the arguments' memory. */
    cancel_then_send_args a = *(cancel_then_send_args *)arg;
    int v = 5;
    roost_ctx_cancel(a.ctx);
    CHECK_OK(roost_chan_send(NULL, a.ch, &v));
    roost_ctx_unref(a.ctx);
    roost_chan_unref(a.ch);
}

static void t_yield_first(void *arg) {
    roost_chan_t *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
    int x = -1, y = -1;
    for (int round = 0; round < SCALE(200, 20); round++) {
        /* Spawned tasks start on this worker: the select finds nothing
         * ready, yields, and on its second look finds the sender's value. */
        roost_case_t c[2] = {{a, ROOST_RECV, &x, 7}, {b, ROOST_RECV, &y, 7}};
        CHECK_OK(roost_go(send_one, roost_chan_ref(b)));
        CHECK_EQ(roost_select(NULL, c, 2, 0), 1);
        CHECK_EQ(c[1].err, 0);
        CHECK_EQ(y, 42);
        /* A cancel while it yields: reported, whether it lands before the
         * second look or during the blocked wait. */
        roost_ctx_t *ctx;
        CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
        CHECK_OK(roost_go(cancel_now, roost_ctx_ref(ctx)));
        CHECK_ERR(roost_select(ctx, c, 2, 0), ROOST_ECANCELED);
        roost_ctx_unref(ctx);
        /* Cancelled and then made ready while the select yields: the
         * context is checked again first, so its error is reported (as
         * when the select was not yet in the way of either). */
        roost_chan_t *buf = mk(sizeof(int), 1);
        CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
        cancel_then_send_args cs = {roost_ctx_ref(ctx), roost_chan_ref(buf)};
        CHECK_OK(roost_go(cancel_then_send, &cs));
        roost_case_t e[1] = {{buf, ROOST_RECV, &x, 0}};
        int rc = roost_select(ctx, e, 1, 0);
        if (roost_workers() == 1)
            CHECK_ERR(rc, ROOST_ECANCELED);
        else /* it may run on another worker, send included, while we look */
            CHECK_MSG(rc == ROOST_ECANCELED || (rc == 0 && x == 5), "rc %d x %d", rc, x);
        roost_ctx_unref(ctx);
        roost_chan_unref(buf);
        /* A nonblocking select does not yield and does not wait. */
        CHECK_OK(roost_go(send_one, roost_chan_ref(a)));
        roost_case_t d[1] = {{a, ROOST_RECV, &x, 0}};
        rc = roost_select(NULL, d, 1, ROOST_SELECT_NONBLOCK);
        if (rc == ROOST_EAGAIN) rc = roost_select(NULL, d, 1, 0); /* now take it */
        CHECK_EQ(rc, 0);
        CHECK_EQ(x, 42);
    }
    roost_chan_unref(a);
    roost_chan_unref(b);
}

/* ------------------------------------------------------------ orphaned stale node */

/* A select parked on {a, b} that holds no reference to b (legal: a parked
 * node keeps its channel alive). Another party sends on a, which wakes the
 * select, then drops b's only reference while the select's stale node may
 * still be on b. Whoever drops b's last node must free b exactly once: the
 * select unlinking its node, or the unref that found it there. (Once a
 * double free: the unref dropped b's lock to report the orphaned waiter,
 * and the select freed b in that window.) From a task and from a plain
 * thread, with b in one case and in two. */
typedef struct {
    roost_chan_t *a, *b;   /* a: a reference each side; b: the dropper's only */
    roost_waitgroup_t *wg; /* NULL from a plain thread */
} drop_args;

static void *drop_after_send(void *arg) {
    drop_args *d = arg;
    int v = 7;
    CHECK_OK(roost_chan_send(NULL, d->a, &v));
    roost_chan_unref(d->b);
    roost_chan_unref(d->a);
    if (d->wg) roost_waitgroup_done(d->wg);
    return NULL;
}

static void drop_task(void *arg) { drop_after_send(arg); }

static void t_orphaned_stale_node(void *arg) {
    for (int i = 0; i < SCALE(4000, 200); i++) {
        roost_chan_t *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
        roost_waitgroup_t wg = {0};
        drop_args d = {roost_chan_ref(a), b, (i & 1) ? &wg : NULL};
        pthread_t th;
        if (d.wg) {
            CHECK_OK(roost_waitgroup_add(&wg, 1));
            CHECK_OK(roost_go(drop_task, &d));
        } else {
            CHECK(pthread_create(&th, NULL, drop_after_send, &d) == 0);
        }
        int x = 0, y = 0, z = 0;
        roost_case_t c[3] = {{b, ROOST_RECV, &y, 0}, {a, ROOST_RECV, &x, 0}, {b, ROOST_RECV, &z, 0}};
        CHECK_EQ(roost_select(NULL, c, (i & 2) ? 3 : 2, 0), 1);
        CHECK_EQ(x, 7);
        if (d.wg)
            CHECK_OK(roost_waitgroup_wait(NULL, &wg));
        else
            CHECK(pthread_join(th, NULL) == 0);
        roost_chan_unref(a);
    }
}

/* ------------------------------------------------------------ many cases */

static void t_max_cases(void *arg) {
    static roost_chan_t *ch[ROOST_SELECT_MAX];
    static roost_case_t c[ROOST_SELECT_MAX];
    static int vals[ROOST_SELECT_MAX];
    for (int i = 0; i < ROOST_SELECT_MAX; i++) {
        ch[i] = mk(sizeof(int), 1);
        c[i] = (roost_case_t){ch[i], ROOST_RECV, &vals[i], 0};
    }
    CHECK_ERR(roost_select(NULL, c, ROOST_SELECT_MAX, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    const int probes[] = {ROOST_SELECT_MAX - 1, 0, 517};
    for (int k = 0; k < 3; k++) {
        int i = probes[k];
        int v = 1000 + i;
        CHECK_OK(roost_chan_send(NULL, ch[i], &v));
        CHECK_EQ(roost_select(NULL, c, ROOST_SELECT_MAX, 0), i);
        CHECK_EQ(vals[i], 1000 + i);
    }
    /* Blocking on all of them, woken by the last one. */
    peer_t p = {ch[ROOST_SELECT_MAX - 1], 5, 20 * ROOST_MS, 0, 0};
    CHECK_OK(roost_go(late_sender, &p));
    CHECK_EQ(roost_select(NULL, c, ROOST_SELECT_MAX, 0), ROOST_SELECT_MAX - 1);
    CHECK_EQ(vals[ROOST_SELECT_MAX - 1], 5);
    wait_flag(&p.done, 1);
    for (int i = 0; i < ROOST_SELECT_MAX; i++) roost_chan_unref(ch[i]);
}

int main(void) {
    RUN(t_args);
    RUN(t_ready);
    RUN(t_blocking);
    RUN(t_select_to_select);
    RUN(t_null_chan);
    RUN(t_fairness);
    RUN(t_closed);
    RUN(t_ctx);
    RUN(t_yield_first);
    RUN(t_orphaned_stale_node);
    RUN(t_max_cases);
    check_no_leaks();
    return 0;
}
