/* test_stress.c - many senders, receivers and closers on shared channels,
 * across several workers; every message must be received exactly once. */
#include "check.h"

#define NP 8 /* producers */
#define NC 6 /* consumers */
#define NK 3 /* closers */

typedef struct {
    roost_chan_t *ch[2]; /* phase C uses both; others ch[0] only */
    int per;             /* messages per producer */
    int racy;            /* closers close while producers still send */
    int use_select;
    roost_ctx_t *ctx;    /* consumers also select on its done channel */
    atomic_uchar *sent;  /* per message: send returned 0 */
    atomic_uchar *recvd; /* per message: times received */
    atomic_int close_ok, close_already, close_other;
    atomic_long received;
    roost_waitgroup_t prod_wg, cons_wg, close_wg;
    uint64_t seed;
} round_t;

typedef struct {
    round_t *r;
    int id;
} targ;

static void producer(void *arg) {
    targ *a = arg;
    round_t *r = a->r;
    uint64_t rng = r->seed ^ ((uint64_t)a->id * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < r->per; i++) {
        int32_t msg = a->id * r->per + i;
        int rc;
        if (r->use_select) {
            roost_case_t c[2] = {{r->ch[0], ROOST_SEND, &msg, 0}, {r->ch[1], ROOST_SEND, &msg, 0}};
            rc = roost_select(NULL, c, 2, 0);
            CHECK(rc == 0 || rc == 1);
            rc = c[rc].err;
        } else {
            rc = (check_rand(&rng) % 4 == 0) ? roost_chan_trysend(r->ch[0], &msg) : ROOST_EAGAIN;
            if (rc == ROOST_EAGAIN) rc = roost_chan_send(NULL, r->ch[0], &msg);
        }
        if (rc == ROOST_ECLOSED) {
            CHECK_MSG(r->racy, "send failed with ECLOSED before the close");
            break;
        }
        CHECK_OK(rc);
        CHECK_EQ(atomic_exchange(&r->sent[msg], 1), 0);
        if (check_rand(&rng) % 64 == 0) CHECK_OK(roost_yield());
    }
    CHECK_OK(roost_waitgroup_done(&r->prod_wg));
}

static void record(round_t *r, int32_t msg) {
    CHECK_MSG(msg >= 0 && msg < NP * r->per, "received garbage %d", msg);
    int prev = atomic_fetch_add(&r->recvd[msg], 1);
    CHECK_MSG(prev == 0, "message %d received twice", msg);
    atomic_fetch_add(&r->received, 1);
}

static void consumer(void *arg) {
    targ *a = arg;
    round_t *r = a->r;
    if (!r->use_select) {
        int32_t msg;
        int rc;
        while ((rc = roost_chan_recv(NULL, r->ch[0], &msg)) == 0) record(r, msg);
        CHECK_ERR(rc, ROOST_ECLOSED);
        CHECK_EQ(msg, 0);
    } else {
        int32_t m0 = -1, m1 = -1;
        roost_case_t c[3] = {{r->ch[0], ROOST_RECV, &m0, 0},
                             {r->ch[1], ROOST_RECV, &m1, 0},
                             {roost_ctx_done(r->ctx), ROOST_RECV, NULL, 0}};
        int open = 2;
        while (open > 0) {
            int i = roost_select(NULL, c, 3, 0);
            CHECK(i >= 0 && i < 2); /* ctx is never cancelled */
            if (c[i].err == ROOST_ECLOSED) {
                CHECK_EQ(i == 0 ? m0 : m1, 0);
                c[i].chan = NULL; /* Go's nil-channel idiom */
                open--;
                continue;
            }
            CHECK_OK(c[i].err);
            record(r, i == 0 ? m0 : m1);
        }
    }
    CHECK_OK(roost_waitgroup_done(&r->cons_wg));
}

static void closer(void *arg) {
    targ *a = arg;
    round_t *r = a->r;
    if (r->racy) {
        uint64_t rng = r->seed + (uint64_t)a->id;
        CHECK_OK(roost_sleep(NULL, (int64_t)(check_rand(&rng) % 3000) * ROOST_US));
    } else {
        CHECK_OK(roost_waitgroup_wait(NULL, &r->prod_wg));
    }
    for (int k = 0; k < (r->use_select ? 2 : 1); k++) {
        int rc = roost_chan_close(r->ch[k]);
        if (rc == 0)
            atomic_fetch_add(&r->close_ok, 1);
        else if (rc == ROOST_EALREADY)
            atomic_fetch_add(&r->close_already, 1);
        else
            atomic_fetch_add(&r->close_other, 1);
    }
    CHECK_OK(roost_waitgroup_done(&r->close_wg));
}

static void run_round(int round, size_t cap, int racy, int use_select) {
    static round_t r;
    static targ args[NP + NC + NK];
    roost_waitgroup_t wg0 = ROOST_WAITGROUP_INIT;
    memset(&r, 0, sizeof r);
    r.prod_wg = r.cons_wg = r.close_wg = wg0;
    r.per = SCALE(5000, 150);
    r.racy = racy;
    r.use_select = use_select;
    r.seed = 0x1234567ull + (uint64_t)round * 1000003ull + cap * 31 + (uint64_t)racy * 7;
    size_t n = (size_t)NP * (size_t)r.per;
    r.sent = calloc(n, 1);
    r.recvd = calloc(n, 1);
    CHECK(r.sent && r.recvd);
    CHECK_OK(roost_chan_make(sizeof(int32_t), cap, &r.ch[0]));
    CHECK_OK(roost_chan_make(sizeof(int32_t), use_select ? 8 : cap, &r.ch[1]));
    CHECK_OK(roost_ctx_with_cancel(NULL, &r.ctx));

    CHECK_OK(roost_waitgroup_add(&r.prod_wg, NP));
    CHECK_OK(roost_waitgroup_add(&r.cons_wg, NC));
    CHECK_OK(roost_waitgroup_add(&r.close_wg, NK));
    int k = 0;
    for (int i = 0; i < NC; i++, k++) {
        args[k] = (targ){&r, i};
        CHECK_OK(roost_go(consumer, &args[k]));
    }
    for (int i = 0; i < NP; i++, k++) {
        args[k] = (targ){&r, i};
        CHECK_OK(roost_go(producer, &args[k]));
    }
    for (int i = 0; i < NK; i++, k++) {
        args[k] = (targ){&r, i};
        CHECK_OK(roost_go(closer, &args[k]));
    }
    CHECK_OK(roost_waitgroup_wait(NULL, &r.prod_wg));
    CHECK_OK(roost_waitgroup_wait(NULL, &r.close_wg));
    CHECK_OK(roost_waitgroup_wait(NULL, &r.cons_wg));

    int nchan = use_select ? 2 : 1;
    CHECK_EQ(atomic_load(&r.close_ok), nchan);
    CHECK_EQ(atomic_load(&r.close_already), nchan * (NK - 1));
    CHECK_EQ(atomic_load(&r.close_other), 0);
    long nsent = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_MSG(r.recvd[i] == r.sent[i],
                  "round %d cap %zu racy %d select %d: message %zu sent %d received %d", round, cap, racy,
                  use_select, i, r.sent[i], r.recvd[i]);
        nsent += r.sent[i];
    }
    CHECK_EQ(atomic_load(&r.received), nsent);
    if (!racy) CHECK_EQ(nsent, (long)n);
    CHECK_EQ(roost_chan_len(r.ch[0]), 0);
    CHECK_EQ(roost_chan_len(r.ch[1]), 0);
    roost_chan_unref(r.ch[0]);
    roost_chan_unref(r.ch[1]);
    roost_ctx_unref(r.ctx);
    free(r.sent);
    free(r.recvd);
}

static void t_channels(void *arg) {
    const size_t caps[] = {0, 1, 16};
    const int rounds = SCALE(6, 1);
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < 3; c++)
            for (int racy = 0; racy < 2; racy++)
                for (int sel = 0; sel < 2; sel++) run_round(round, caps[c], racy, sel);
}

/* ------------------------------------------------------------ cancellation mid-stream */

/* Producers send with a context, consumers select on the channel and the
 * context's done channel; the context is cancelled at a random moment.
 * Whatever a send reported as delivered must be received exactly once
 * (drained from the buffer afterwards), and nothing else. */
static void cx_producer(void *arg) {
    targ *a = arg;
    round_t *r = a->r;
    for (int i = 0; i < r->per; i++) {
        int32_t msg = a->id * r->per + i;
        int rc = roost_chan_send(r->ctx, r->ch[0], &msg);
        if (rc == ROOST_ECANCELED) break;
        CHECK_OK(rc);
        CHECK_EQ(atomic_exchange(&r->sent[msg], 1), 0);
    }
    CHECK_OK(roost_waitgroup_done(&r->prod_wg));
}

static void cx_consumer(void *arg) {
    targ *a = arg;
    round_t *r = a->r;
    int32_t m = -1;
    for (;;) {
        roost_case_t c[2] = {{roost_ctx_done(r->ctx), ROOST_RECV, NULL, 0}, {r->ch[0], ROOST_RECV, &m, 0}};
        int i;
        if (a->id % 2) { /* the done channel as a case */
            i = roost_select(NULL, c, 2, 0);
            if (i == 0) {
                CHECK_EQ(c[0].err, ROOST_ECLOSED);
                break;
            }
            CHECK_EQ(i, 1);
        } else { /* the context as select's argument */
            i = roost_select(r->ctx, c + 1, 1, 0);
            if (i == ROOST_ECANCELED) break;
            CHECK_EQ(i, 0);
        }
        CHECK_OK(c[1].err);
        record(r, m);
    }
    CHECK_OK(roost_waitgroup_done(&r->cons_wg));
}

static void t_cancel_midstream(void *arg) {
    const size_t caps[] = {0, 1, 16};
    const int rounds = SCALE(6, 2);
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < 3; k++) {
            static round_t r;
            static targ args[NP + NC];
            roost_waitgroup_t wg0 = ROOST_WAITGROUP_INIT;
            memset(&r, 0, sizeof r);
            r.prod_wg = r.cons_wg = wg0;
            r.per = SCALE(20000, 500); /* more than fits in the time before the cancel */
            size_t n = (size_t)NP * (size_t)r.per;
            r.sent = calloc(n, 1);
            r.recvd = calloc(n, 1);
            CHECK(r.sent && r.recvd);
            CHECK_OK(roost_chan_make(sizeof(int32_t), caps[k], &r.ch[0]));
            CHECK_OK(roost_ctx_with_cancel(NULL, &r.ctx));
            CHECK_OK(roost_waitgroup_add(&r.prod_wg, NP));
            CHECK_OK(roost_waitgroup_add(&r.cons_wg, NC));
            for (int i = 0; i < NC; i++) {
                args[i] = (targ){&r, i};
                CHECK_OK(roost_go(cx_consumer, &args[i]));
            }
            for (int i = 0; i < NP; i++) {
                args[NC + i] = (targ){&r, i};
                CHECK_OK(roost_go(cx_producer, &args[NC + i]));
            }
            CHECK_OK(roost_sleep(NULL, (round % 3) * ROOST_MS + 100 * ROOST_US));
            roost_ctx_cancel(r.ctx);
            CHECK_OK(roost_waitgroup_wait(NULL, &r.prod_wg));
            CHECK_OK(roost_waitgroup_wait(NULL, &r.cons_wg));
            int32_t m;
            while (roost_chan_tryrecv(r.ch[0], &m) == 0) record(&r, m);
            long nsent = 0;
            for (size_t i = 0; i < n; i++) {
                CHECK_MSG(r.recvd[i] == r.sent[i], "cancel round %d cap %zu: message %zu sent %d received %d",
                          round, caps[k], i, r.sent[i], r.recvd[i]);
                nsent += r.sent[i];
            }
            CHECK_EQ(atomic_load(&r.received), nsent);
            roost_chan_unref(r.ch[0]);
            roost_ctx_unref(r.ctx);
            free(r.sent);
            free(r.recvd);
        }
    }
}

/* ------------------------------------------------------------ daisy chain */

typedef struct {
    roost_chan_t *left, *right;
} link_t;
static void relay(void *arg) {
    link_t *l = arg;
    int v, rc;
    while ((rc = roost_chan_recv(NULL, l->left, &v)) == 0)
        CHECK_OK(roost_chan_send(NULL, l->right, &(int){v + 1}));
    CHECK_ERR(rc, ROOST_ECLOSED);
    CHECK_OK(roost_chan_close(l->right));
    roost_chan_unref(l->left);
    roost_chan_unref(l->right);
}

static void t_daisy_chain(void *arg) {
    const int n = SCALE(5000, 300);
    link_t *links = calloc((size_t)n, sizeof *links);
    CHECK(links);
    roost_chan_t *first, *prev;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &first));
    prev = first;
    for (int i = 0; i < n; i++) {
        roost_chan_t *next;
        CHECK_OK(roost_chan_make(sizeof(int), (size_t)(i % 3 == 0), &next));
        links[i].left = roost_chan_ref(prev);
        links[i].right = roost_chan_ref(next);
        CHECK_OK(roost_go(relay, &links[i]));
        if (prev != first) roost_chan_unref(prev);
        prev = next;
    }
    for (int k = 0; k < 5; k++) {
        CHECK_OK(roost_chan_send(NULL, first, &k));
        int v;
        CHECK_OK(roost_chan_recv(NULL, prev, &v));
        CHECK_EQ(v, k + n);
    }
    CHECK_OK(roost_chan_close(first));
    int v = 1;
    CHECK_ERR(roost_chan_recv(NULL, prev, &v), ROOST_ECLOSED);
    CHECK_EQ(v, 0);
    roost_chan_unref(first);
    roost_chan_unref(prev);
    int64_t t0 = roost_now();
    while (roost_task_count() > 1) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK(check_since(t0) < 10 * ROOST_S * check_slack());
    }
    free(links);
}

/* ------------------------------------------------------------ ping-pong storm */

typedef struct {
    roost_chan_t *a, *b;
    int n;
    roost_waitgroup_t *wg;
} pp_t;
static void pinger(void *arg) {
    pp_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        CHECK_OK(roost_chan_send(NULL, p->a, &i));
        int v;
        CHECK_OK(roost_chan_recv(NULL, p->b, &v));
        CHECK_EQ(v, i * 2);
    }
    CHECK_OK(roost_waitgroup_done(p->wg));
}
static void ponger(void *arg) {
    pp_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        int v;
        CHECK_OK(roost_chan_recv(NULL, p->a, &v));
        CHECK_EQ(v, i);
        v *= 2;
        CHECK_OK(roost_chan_send(NULL, p->b, &v));
    }
    CHECK_OK(roost_waitgroup_done(p->wg));
}

static void t_pingpong(void *arg) {
    enum { PAIRS = 64 };
    static pp_t pp[PAIRS];
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    CHECK_OK(roost_waitgroup_add(&wg, 2 * PAIRS));
    for (int i = 0; i < PAIRS; i++) {
        pp[i].n = SCALE(2000, 100);
        pp[i].wg = &wg;
        CHECK_OK(roost_chan_make(sizeof(int), 0, &pp[i].a));
        CHECK_OK(roost_chan_make(sizeof(int), (size_t)(i % 2), &pp[i].b));
        CHECK_OK(roost_go(pinger, &pp[i]));
        CHECK_OK(roost_go(ponger, &pp[i]));
    }
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    for (int i = 0; i < PAIRS; i++) {
        roost_chan_unref(pp[i].a);
        roost_chan_unref(pp[i].b);
    }
}

int main(void) {
    check_init_workers(4);
    RUN(t_channels);
    RUN(t_cancel_midstream);
    RUN(t_daisy_chain);
    RUN(t_pingpong);
    check_no_leaks();
    return 0;
}
