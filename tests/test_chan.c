/* test_chan.c - channels with Go's semantics. */
#include "check.h"

/* Wait (sleeping) until *v >= want, failing after a generous limit. */
static void wait_atleast(atomic_int *v, int want, const char *what) {
    int64_t t0 = roost_now();
    while (atomic_load(v) < want) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "timed out waiting for %s (%d/%d)", what,
                  atomic_load(v), want);
    }
}

/* ------------------------------------------------------------ make: argument checks */

static void t_make_args(void *arg) {
    roost_chan_t *ch = NULL;
    CHECK_ERR(roost_chan_make(4, 0, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_chan_make(0, 0, &ch), ROOST_EINVAL);
    CHECK_ERR(roost_chan_make(0, 10, &ch), ROOST_EINVAL);
    CHECK_ERR(roost_chan_make(ROOST_CHAN_MAX_ELEM + 1, 0, &ch), ROOST_ERANGE);
    CHECK_ERR(roost_chan_make((size_t)-1, 1, &ch), ROOST_ERANGE);
    CHECK_ERR(roost_chan_make(4, ROOST_CHAN_MAX_CAP + 1, &ch), ROOST_ERANGE);
    CHECK_ERR(roost_chan_make(4, (size_t)-1, &ch), ROOST_ERANGE);
    CHECK_ERR(roost_chan_make(ROOST_CHAN_MAX_ELEM, ROOST_CHAN_MAX_CAP + 1, &ch), ROOST_ERANGE);

    /* The limits themselves are accepted. */
    CHECK_OK(roost_chan_make(ROOST_CHAN_MAX_ELEM, 2, &ch));
    CHECK(ch != NULL);
    CHECK_EQ(roost_chan_cap(ch), 2);
    CHECK_EQ(roost_chan_len(ch), 0);
    static unsigned char big[ROOST_CHAN_MAX_ELEM], out[ROOST_CHAN_MAX_ELEM];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 13 + 1);
    CHECK_OK(roost_chan_send(NULL, ch, big));
    CHECK_EQ(roost_chan_len(ch), 1);
    CHECK_OK(roost_chan_recv(NULL, ch, out));
    CHECK(memcmp(big, out, sizeof big) == 0);
    roost_chan_unref(ch);

    CHECK_OK(roost_chan_make(1, 0, &ch));
    CHECK_EQ(roost_chan_cap(ch), 0);
    CHECK_EQ(roost_chan_len(ch), 0);
    roost_chan_unref(ch);
}

/* ------------------------------------------------------------ NULL arguments */

static void t_null_args(void *arg) {
    roost_chan_t *ch;
    int v = 1;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &ch));
    CHECK_ERR(roost_chan_send(NULL, ch, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_chan_send(NULL, NULL, NULL), ROOST_EINVAL); /* a nil channel: checked all the same */
    CHECK_ERR(roost_chan_trysend(ch, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_chan_trysend(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_chan_close(NULL), ROOST_EINVAL); /* Go: panic, close of nil channel */
    CHECK_EQ(roost_chan_len(ch), 0);                 /* the failed calls changed nothing */
    /* recv into NULL discards */
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    CHECK_OK(roost_chan_recv(NULL, ch, NULL));
    CHECK_OK(roost_chan_trysend(ch, &v));
    CHECK_OK(roost_chan_tryrecv(ch, NULL));
    CHECK_EQ(roost_chan_len(ch), 0);
    roost_chan_unref(ch);
}

/* ------------------------------------------------------------ nil channels
 * Go's nil channel: a send or receive blocks for ever (here: until the
 * context ends), and never completes. */

typedef struct {
    int send;
    roost_ctx_t *ctx;
    int rc;
    atomic_int done;
} nil_arg;

static void nil_waiter(void *arg) {
    nil_arg *a = arg;
    int v = 5;
    a->rc = a->send ? roost_chan_send(a->ctx, NULL, &v) : roost_chan_recv(a->ctx, NULL, &v);
    if (!a->send) CHECK_EQ(v, 5); /* untouched: a nil channel has no element size */
    atomic_store(&a->done, 1);
}

/* The parked task's record: the wait reason names the nil channel. */
static void check_nil_record(int reason) {
    roost_task_info_t *v;
    size_t n;
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    for (;;) {
        CHECK_OK(roost_tasks_snapshot(0, &v, &n));
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].state == ROOST_TASK_PARKED && v[i].wait_reason == reason) {
                CHECK(v[i].wait_obj == NULL);
                found++;
            }
        free(v);
        if (found == 1) break;
        CHECK_MSG(roost_now() < end, "no task parked in %s", roost_wait_reason_name(reason));
        CHECK_OK(roost_sleep(NULL, ROOST_MS));
    }
    roost_counts_t c;
    roost_counts(&c);
    CHECK_EQ(c.by_reason[reason], 1);
}

static void t_nil_chan(void *arg) {
    int v = 1;
    CHECK(strcmp(roost_wait_reason_name(ROOST_WAIT_CHAN_SEND_NIL), "chan send (nil chan)") == 0);
    CHECK(strcmp(roost_wait_reason_name(ROOST_WAIT_CHAN_RECV_NIL), "chan receive (nil chan)") == 0);
    /* Never ready: the non-blocking forms would block. */
    CHECK_ERR(roost_chan_trysend(NULL, &v), ROOST_EAGAIN);
    CHECK_ERR(roost_chan_tryrecv(NULL, &v), ROOST_EAGAIN);
    CHECK_ERR(roost_chan_tryrecv(NULL, NULL), ROOST_EAGAIN);
    CHECK_EQ(roost_chan_len(NULL), 0);
    CHECK_EQ(roost_chan_cap(NULL), 0);

    /* A context already ended: its error at once. */
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_ctx_cancel(ctx);
    CHECK_ERR(roost_chan_send(ctx, NULL, &v), ROOST_ECANCELED);
    CHECK_ERR(roost_chan_recv(ctx, NULL, &v), ROOST_ECANCELED);
    roost_ctx_unref(ctx);

    /* A deadline: the wait lasts until it, then ROOST_ETIMEDOUT. */
    for (int send = 0; send < 2; send++) {
        int64_t t0 = roost_now(); /* before the deadline is set */
        CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
        v = 5;
        CHECK_ERR(send ? roost_chan_send(ctx, NULL, &v) : roost_chan_recv(ctx, NULL, &v), ROOST_ETIMEDOUT);
        CHECK_GE(check_since(t0), 20 * ROOST_MS);
        CHECK_EQ(v, 5);
        roost_ctx_unref(ctx);
    }

    /* Parked, seen as such, until a cancel. */
    for (int send = 0; send < 2; send++) {
        nil_arg a = {.send = send};
        CHECK_OK(roost_ctx_with_cancel(NULL, &a.ctx));
        CHECK_OK(roost_go(nil_waiter, &a));
        check_nil_record(send ? ROOST_WAIT_CHAN_SEND_NIL : ROOST_WAIT_CHAN_RECV_NIL);
        CHECK_EQ(atomic_load(&a.done), 0);
        roost_ctx_cancel(a.ctx);
        wait_atleast(&a.done, 1, "nil channel waiter");
        CHECK_EQ(a.rc, ROOST_ECANCELED);
        roost_ctx_unref(a.ctx);
    }

    /* In a select, a nil channel's case is never chosen: the idiom that
     * turns a case off. */
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &ch));
    for (int i = 0; i < 50; i++) {
        int in = i, out = -1;
        CHECK_OK(roost_chan_send(NULL, ch, &in));
        roost_case_t cases[] = {
            {.chan = NULL, .op = ROOST_RECV, .elem = &out},
            {.chan = NULL, .op = ROOST_SEND, .elem = &in},
            {.chan = ch, .op = ROOST_RECV, .elem = &out},
        };
        CHECK_EQ(roost_select(NULL, cases, 3, 0), 2);
        CHECK_EQ(out, i);
        CHECK_ERR(roost_select(NULL, cases, 3, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    }
    roost_chan_unref(ch);
}

/* ------------------------------------------------------------ unbuffered rendezvous */

typedef struct {
    roost_chan_t *ch;
    int64_t sent_at;
    int rc;
    int n;
    atomic_int done;
} rv_state;

static void rv_sender(void *arg) {
    rv_state *s = arg;
    int v = 77;
    s->rc = roost_chan_send(NULL, s->ch, &v);
    s->sent_at = roost_now();
    atomic_store(&s->done, 1);
}

static void seq_sender(void *arg) {
    rv_state *s = arg;
    for (int i = 0; i < s->n; i++) CHECK_OK(roost_chan_send(NULL, s->ch, &i));
    atomic_store(&s->done, 1);
}

static void t_unbuffered(void *arg) {
    rv_state s;
    memset(&s, 0, sizeof s);
    CHECK_OK(roost_chan_make(sizeof(int), 0, &s.ch));
    int v = 0;
    /* Nobody is receiving: a non-blocking send cannot complete. */
    CHECK_ERR(roost_chan_trysend(s.ch, &v), ROOST_EAGAIN);
    CHECK_ERR(roost_chan_tryrecv(s.ch, &v), ROOST_EAGAIN);

    /* The send completes only when the receive happens. */
    CHECK_OK(roost_go(rv_sender, &s));
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(NULL, 50 * ROOST_MS));
    CHECK_EQ(atomic_load(&s.done), 0);
    CHECK_EQ(roost_chan_len(s.ch), 0);
    int64_t before_recv = roost_now();
    CHECK_OK(roost_chan_recv(NULL, s.ch, &v));
    CHECK_EQ(v, 77);
    wait_atleast(&s.done, 1, "sender");
    CHECK_OK(s.rc);
    CHECK_GE(s.sent_at, before_recv);
    CHECK_GE(s.sent_at - t0, 50 * ROOST_MS);

    /* A parked sender is taken by tryrecv. */
    atomic_store(&s.done, 0);
    CHECK_OK(roost_go(rv_sender, &s));
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    v = 0;
    int64_t t1 = roost_now();
    int rc;
    while ((rc = roost_chan_tryrecv(s.ch, &v)) == ROOST_EAGAIN) {
        CHECK(check_since(t1) < 5 * ROOST_S * check_slack());
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
    }
    CHECK_OK(rc);
    CHECK_EQ(v, 77);
    wait_atleast(&s.done, 1, "sender");

    /* Many values, in order, one sender one receiver. */
    s.n = SCALE(20000, 2000);
    atomic_store(&s.done, 0);
    CHECK_OK(roost_go(seq_sender, &s));
    for (int i = 0; i < s.n; i++) {
        CHECK_OK(roost_chan_recv(NULL, s.ch, &v));
        CHECK_EQ(v, i);
    }
    wait_atleast(&s.done, 1, "sequence sender");
    CHECK_EQ(roost_chan_len(s.ch), 0);
    roost_chan_unref(s.ch);
}

/* A parked receiver is served by trysend. */
typedef struct {
    roost_chan_t *ch;
    int got;
    int rc;
    atomic_int done;
} rr_state;
static void rr_receiver(void *arg) {
    rr_state *s = arg;
    s->rc = roost_chan_recv(NULL, s->ch, &s->got);
    atomic_store(&s->done, 1);
}

static void t_trysend_to_waiting_receiver(void *arg) {
    rr_state s;
    memset(&s, 0, sizeof s);
    CHECK_OK(roost_chan_make(sizeof(int), 0, &s.ch));
    CHECK_OK(roost_go(rr_receiver, &s));
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    int v = 1234, rc;
    int64_t t0 = roost_now();
    while ((rc = roost_chan_trysend(s.ch, &v)) == ROOST_EAGAIN) {
        CHECK_MSG(check_since(t0) < 5 * ROOST_S * check_slack(), "trysend never met the parked receiver");
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
    }
    CHECK_OK(rc);
    wait_atleast(&s.done, 1, "receiver");
    CHECK_OK(s.rc);
    CHECK_EQ(s.got, 1234);
    roost_chan_unref(s.ch);
}

/* ------------------------------------------------------------ buffered */

static void t_buffered_fifo(void *arg) {
    roost_chan_t *ch;
    const int cap = 100;
    CHECK_OK(roost_chan_make(sizeof(int), cap, &ch));
    CHECK_EQ(roost_chan_cap(ch), cap);
    for (int i = 0; i < cap; i++) {
        CHECK_EQ(roost_chan_len(ch), i);
        if (i % 2)
            CHECK_OK(roost_chan_trysend(ch, &i));
        else
            CHECK_OK(roost_chan_send(NULL, ch, &i)); /* must not block */
    }
    CHECK_EQ(roost_chan_len(ch), cap);
    int x = -1;
    CHECK_ERR(roost_chan_trysend(ch, &x), ROOST_EAGAIN);
    CHECK_EQ(roost_chan_len(ch), cap);
    /* Interleave: take one, add one, wrapping the ring several times. */
    int next_in = cap, next_out = 0;
    for (int r = 0; r < 5 * cap + 7; r++) {
        int v;
        CHECK_OK(roost_chan_recv(NULL, ch, &v));
        CHECK_EQ(v, next_out);
        next_out++;
        CHECK_OK(roost_chan_trysend(ch, &next_in));
        next_in++;
        CHECK_EQ(roost_chan_len(ch), cap);
    }
    for (int i = 0; i < cap; i++) {
        int v;
        CHECK_OK(roost_chan_tryrecv(ch, &v));
        CHECK_EQ(v, next_out);
        next_out++;
    }
    CHECK_EQ(next_out, next_in);
    CHECK_EQ(roost_chan_len(ch), 0);
    CHECK_ERR(roost_chan_tryrecv(ch, &x), ROOST_EAGAIN);
    CHECK_EQ(x, -1);
    roost_chan_unref(ch);

    /* Odd element sizes are copied exactly. */
    typedef struct {
        char b[37];
    } odd_t;
    CHECK_OK(roost_chan_make(sizeof(odd_t), 3, &ch));
    for (int i = 0; i < 3; i++) {
        odd_t o;
        memset(&o, 'a' + i, sizeof o);
        CHECK_OK(roost_chan_send(NULL, ch, &o));
    }
    for (int i = 0; i < 3; i++) {
        odd_t o;
        memset(&o, 0, sizeof o);
        CHECK_OK(roost_chan_recv(NULL, ch, &o));
        for (size_t k = 0; k < sizeof o.b; k++) CHECK_EQ(o.b[k], 'a' + i);
    }
    roost_chan_unref(ch);
}

/* A sender blocked on a full buffer: its value goes in behind the buffer. */
typedef struct {
    roost_chan_t *ch;
    int from, n;
    atomic_int done;
    int rc;
} bs_state;
static void block_sender(void *arg) {
    bs_state *s = arg;
    for (int i = 0; i < s->n; i++) {
        int v = s->from + i;
        s->rc = roost_chan_send(NULL, s->ch, &v);
        if (s->rc) break;
    }
    atomic_store(&s->done, 1);
}

static void t_buffered_blocking(void *arg) {
    bs_state s;
    memset(&s, 0, sizeof s);
    CHECK_OK(roost_chan_make(sizeof(int), 2, &s.ch));
    s.from = 0;
    s.n = 5;
    CHECK_OK(roost_go(block_sender, &s));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_EQ(atomic_load(&s.done), 0); /* blocked on the third */
    CHECK_EQ(roost_chan_len(s.ch), 2);
    for (int i = 0; i < 5; i++) {
        int v;
        CHECK_OK(roost_chan_recv(NULL, s.ch, &v));
        CHECK_EQ(v, i);
    }
    wait_atleast(&s.done, 1, "sender");
    CHECK_OK(s.rc);
    CHECK_EQ(roost_chan_len(s.ch), 0);
    roost_chan_unref(s.ch);
}

/* ------------------------------------------------------------ close */

static void t_close_drain(void *arg) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int64_t), 4, &ch));
    int64_t v = 10;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    v = 20;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    CHECK_OK(roost_chan_close(ch));
    CHECK_ERR(roost_chan_close(ch), ROOST_EALREADY);
    /* Send on closed: refused, buffer unchanged. */
    v = 30;
    CHECK_ERR(roost_chan_send(NULL, ch, &v), ROOST_ECLOSED);
    CHECK_ERR(roost_chan_trysend(ch, &v), ROOST_ECLOSED);
    CHECK_EQ(roost_chan_len(ch), 2);
    CHECK_EQ(roost_chan_cap(ch), 4);
    /* Drain what was buffered before the close. */
    CHECK_OK(roost_chan_recv(NULL, ch, &v));
    CHECK_EQ(v, 10);
    CHECK_OK(roost_chan_tryrecv(ch, &v));
    CHECK_EQ(v, 20);
    CHECK_EQ(roost_chan_len(ch), 0);
    /* Then ECLOSED with the element zeroed (Go's zero value, ok == false). */
    for (int i = 0; i < 3; i++) {
        v = -1;
        CHECK_ERR(roost_chan_recv(NULL, ch, &v), ROOST_ECLOSED);
        CHECK_EQ(v, 0);
        v = -1;
        CHECK_ERR(roost_chan_tryrecv(ch, &v), ROOST_ECLOSED);
        CHECK_EQ(v, 0);
    }
    CHECK_ERR(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
    CHECK_ERR(roost_chan_close(ch), ROOST_EALREADY);
    roost_chan_unref(ch);

    /* Unbuffered: closed at once. */
    CHECK_OK(roost_chan_make(3, 0, &ch));
    CHECK_OK(roost_chan_close(ch));
    unsigned char b[3] = {9, 9, 9};
    CHECK_ERR(roost_chan_recv(NULL, ch, b), ROOST_ECLOSED);
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0);
    CHECK_ERR(roost_chan_send(NULL, ch, b), ROOST_ECLOSED);
    roost_chan_unref(ch);
}

typedef struct {
    roost_chan_t *ch;
    atomic_int started, finished;
    atomic_int bad;
} cw_state;

static void closed_receiver(void *arg) {
    cw_state *s = arg;
    int64_t v = 0x55;
    atomic_fetch_add(&s->started, 1);
    int rc = roost_chan_recv(NULL, s->ch, &v);
    if (rc != ROOST_ECLOSED || v != 0) atomic_fetch_add(&s->bad, 1);
    atomic_fetch_add(&s->finished, 1);
}

static void closed_sender(void *arg) {
    cw_state *s = arg;
    int64_t v = 0x66;
    atomic_fetch_add(&s->started, 1);
    int rc = roost_chan_send(NULL, s->ch, &v);
    if (rc != ROOST_ECLOSED) atomic_fetch_add(&s->bad, 1);
    atomic_fetch_add(&s->finished, 1);
}

static void t_close_wakes(void *arg) {
    const int n = 20;
    /* Blocked receivers on an unbuffered and on an empty buffered channel. */
    for (int cap = 0; cap <= 4; cap += 4) {
        cw_state s;
        memset(&s, 0, sizeof s);
        CHECK_OK(roost_chan_make(sizeof(int64_t), (size_t)cap, &s.ch));
        for (int i = 0; i < n; i++) CHECK_OK(roost_go(closed_receiver, &s));
        wait_atleast(&s.started, n, "receivers to start");
        CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
        CHECK_EQ(atomic_load(&s.finished), 0);
        CHECK_OK(roost_chan_close(s.ch));
        wait_atleast(&s.finished, n, "receivers woken by close");
        CHECK_EQ(atomic_load(&s.bad), 0);
        roost_chan_unref(s.ch);
    }
    /* Blocked senders on an unbuffered and on a full buffered channel. */
    for (int cap = 0; cap <= 2; cap += 2) {
        cw_state s;
        memset(&s, 0, sizeof s);
        CHECK_OK(roost_chan_make(sizeof(int64_t), (size_t)cap, &s.ch));
        for (int i = 0; i < cap; i++) {
            int64_t v = 100 + i;
            CHECK_OK(roost_chan_send(NULL, s.ch, &v));
        }
        for (int i = 0; i < n; i++) CHECK_OK(roost_go(closed_sender, &s));
        wait_atleast(&s.started, n, "senders to start");
        CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
        CHECK_EQ(atomic_load(&s.finished), 0);
        CHECK_OK(roost_chan_close(s.ch));
        wait_atleast(&s.finished, n, "senders woken by close");
        CHECK_EQ(atomic_load(&s.bad), 0);
        /* The buffered values are still there; the blocked senders' are not. */
        CHECK_EQ(roost_chan_len(s.ch), cap);
        for (int i = 0; i < cap; i++) {
            int64_t v;
            CHECK_OK(roost_chan_recv(NULL, s.ch, &v));
            CHECK_EQ(v, 100 + i);
        }
        int64_t v = 1;
        CHECK_ERR(roost_chan_recv(NULL, s.ch, &v), ROOST_ECLOSED);
        CHECK_EQ(v, 0);
        roost_chan_unref(s.ch);
    }
}

/* ------------------------------------------------------------ references */

typedef struct {
    roost_chan_t *ch;
    int n;
    roost_waitgroup_t *wg;
    long sum;
} ref_arg;

static void ref_producer(void *arg) {
    ref_arg *a = arg;
    for (int i = 1; i <= a->n; i++) CHECK_OK(roost_chan_send(NULL, a->ch, &i));
    CHECK_OK(roost_chan_close(a->ch));
    roost_chan_unref(a->ch); /* drop this task's reference */
    CHECK_OK(roost_waitgroup_done(a->wg));
}

static void ref_consumer(void *arg) {
    ref_arg *a = arg;
    int v, rc;
    a->sum = 0;
    while ((rc = roost_chan_recv(NULL, a->ch, &v)) == 0) a->sum += v;
    CHECK_ERR(rc, ROOST_ECLOSED);
    roost_chan_unref(a->ch);
    CHECK_OK(roost_waitgroup_done(a->wg));
}

static void t_refs(void *arg) {
    for (size_t cap = 0; cap <= 8; cap += 8) {
        roost_chan_t *ch;
        roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
        CHECK_OK(roost_chan_make(sizeof(int), cap, &ch));
        CHECK_PTR(roost_chan_ref(ch), ch);
        CHECK_PTR(roost_chan_ref(ch), ch);
        ref_arg p = {ch, SCALE(5000, 500), &wg, 0}, c = {ch, 0, &wg, 0};
        CHECK_OK(roost_waitgroup_add(&wg, 2));
        CHECK_OK(roost_go(ref_producer, &p));
        CHECK_OK(roost_go(ref_consumer, &c));
        roost_chan_unref(ch); /* the creator's reference goes first */
        CHECK_OK(roost_waitgroup_wait(NULL, &wg));
        CHECK_EQ(c.sum, (long)p.n * (p.n + 1) / 2);
    }
    /* Many refs and unrefs balance out (ASan / valgrind see a leak or a
     * double free otherwise). */
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(8, 1, &ch));
    for (int i = 0; i < 100; i++) roost_chan_ref(ch);
    for (int i = 0; i < 100; i++) roost_chan_unref(ch);
    int64_t x = 5;
    CHECK_OK(roost_chan_send(NULL, ch, &x)); /* still alive */
    roost_chan_unref(ch);                    /* freed with a value in it */
}

/* ------------------------------------------------------------ many senders, many receivers */

typedef struct {
    roost_chan_t *ch;
    int per;
    atomic_long sum;
    atomic_int count;
    roost_waitgroup_t swg, rwg;
} mm_state;

static void mm_send(void *arg) {
    mm_state *s = arg;
    for (int i = 1; i <= s->per; i++) CHECK_OK(roost_chan_send(NULL, s->ch, &i));
    CHECK_OK(roost_waitgroup_done(&s->swg));
}

static void mm_recv(void *arg) {
    mm_state *s = arg;
    int v, rc;
    while ((rc = roost_chan_recv(NULL, s->ch, &v)) == 0) {
        atomic_fetch_add(&s->sum, v);
        atomic_fetch_add(&s->count, 1);
    }
    CHECK_ERR(rc, ROOST_ECLOSED);
    CHECK_EQ(v, 0);
    CHECK_OK(roost_waitgroup_done(&s->rwg));
}

static void t_many_to_many(void *arg) {
    const size_t caps[] = {0, 1, 7};
    const int ns = 8, nr = 5;
    for (int k = 0; k < 3; k++) {
        static mm_state s;
        roost_waitgroup_t wg0 = ROOST_WAITGROUP_INIT;
        memset(&s, 0, sizeof s);
        s.swg = wg0;
        s.rwg = wg0;
        s.per = SCALE(2000, 200);
        CHECK_OK(roost_chan_make(sizeof(int), caps[k], &s.ch));
        CHECK_OK(roost_waitgroup_add(&s.swg, ns));
        CHECK_OK(roost_waitgroup_add(&s.rwg, nr));
        for (int i = 0; i < ns; i++) CHECK_OK(roost_go(mm_send, &s));
        for (int i = 0; i < nr; i++) CHECK_OK(roost_go(mm_recv, &s));
        CHECK_OK(roost_waitgroup_wait(NULL, &s.swg));
        CHECK_OK(roost_chan_close(s.ch));
        CHECK_OK(roost_waitgroup_wait(NULL, &s.rwg));
        CHECK_EQ(atomic_load(&s.count), ns * s.per);
        CHECK_EQ(atomic_load(&s.sum), (long)ns * s.per * (s.per + 1) / 2);
        CHECK_EQ(roost_chan_len(s.ch), 0);
        roost_chan_unref(s.ch);
    }
}

int main(void) {
    RUN(t_make_args);
    RUN(t_null_args);
    RUN(t_nil_chan);
    RUN(t_unbuffered);
    RUN(t_trysend_to_waiting_receiver);
    RUN(t_buffered_fifo);
    RUN(t_buffered_blocking);
    RUN(t_close_drain);
    RUN(t_close_wakes);
    RUN(t_refs);
    RUN(t_many_to_many);
    check_no_leaks();
    return 0;
}
