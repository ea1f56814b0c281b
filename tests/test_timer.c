/* test_timer.c - sleep accuracy, roost_after, tickers. */
#include "check.h"

/* ------------------------------------------------------------ sleep */

static void t_sleep_accuracy(void *arg) {
    const int64_t durs[] = {1 * ROOST_MS, 5 * ROOST_MS, 20 * ROOST_MS, 50 * ROOST_MS};
    for (int i = 0; i < 4; i++) {
        for (int rep = 0; rep < 3; rep++) {
            int64_t t0 = roost_now();
            CHECK_OK(roost_sleep(NULL, durs[i]));
            int64_t el = check_since(t0);
            CHECK_MSG(el >= durs[i], "sleep(%lld ns) returned after %lld ns", (long long)durs[i],
                      (long long)el);
            CHECK_MSG(el < durs[i] + 200 * ROOST_MS * check_slack(), "sleep(%lld ms) took %lld ms",
                      (long long)(durs[i] / ROOST_MS), (long long)(el / ROOST_MS));
        }
    }
    /* A long sleep with a ctx that outlives it: 0 at the sleep's end. */
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_S, &c));
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(c, 30 * ROOST_MS));
    CHECK_GE(check_since(t0), 30 * ROOST_MS);
    roost_ctx_unref(c);
    /* A ctx deadline before the sleep's end: the context's error, at the
     * deadline ("0, or the context's error"). */
    t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &c));
    int rc = roost_sleep(c, 10 * ROOST_S);
    int64_t el = check_since(t0);
    CHECK_LT(el, 2 * ROOST_S * check_slack());
    CHECK_GE(el, 30 * ROOST_MS);
    CHECK_ERR(rc, ROOST_ETIMEDOUT);
    roost_ctx_unref(c);
}

/* Many concurrent sleepers each wake no earlier than asked, and all wake. */
typedef struct {
    int64_t dur;
    atomic_int *done;
    atomic_int *early;
} sl_arg;
static void sleeper(void *arg) {
    sl_arg *a = arg;
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(NULL, a->dur));
    if (check_since(t0) < a->dur) atomic_fetch_add(a->early, 1);
    atomic_fetch_add(a->done, 1);
}

static void t_many_sleepers(void *arg) {
    const int n = SCALE(10000, 500);
    sl_arg *args = calloc((size_t)n, sizeof *args);
    CHECK(args);
    atomic_int done = 0, early = 0;
    uint64_t rng = 12345;
    int64_t t0 = roost_now();
    for (int i = 0; i < n; i++) {
        args[i].dur = (int64_t)(check_rand(&rng) % 50) * ROOST_MS + (int64_t)(check_rand(&rng) % 1000);
        args[i].done = &done;
        args[i].early = &early;
        CHECK_OK(roost_go(sleeper, &args[i]));
    }
    while (atomic_load(&done) < n) {
        CHECK_OK(roost_sleep(NULL, 2 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "sleepers: %d/%d woke", atomic_load(&done),
                  n);
    }
    CHECK_EQ(atomic_load(&early), 0);
    free(args);
}

/* ------------------------------------------------------------ after */

static void t_after(void *arg) {
    roost_chan_t *c;
    CHECK_ERR(roost_after(10 * ROOST_MS, NULL), ROOST_EINVAL);

    int64_t t0 = roost_now();
    CHECK_OK(roost_after(50 * ROOST_MS, &c));
    CHECK(c != NULL);
    int64_t v = 0;
    CHECK_ERR(roost_chan_tryrecv(c, &v), ROOST_EAGAIN); /* not yet */
    CHECK_OK(roost_chan_recv(NULL, c, &v));
    int64_t t1 = roost_now();
    CHECK_GE(t1 - t0, 50 * ROOST_MS);
    CHECK_LT(t1 - t0, 50 * ROOST_MS + 500 * ROOST_MS * check_slack());
    CHECK_GE(v, t0 + 50 * ROOST_MS); /* the value is roost_now() at firing */
    CHECK_LE(v, t1);
    /* Exactly once: nothing more arrives. */
    CHECK_OK(roost_sleep(NULL, 60 * ROOST_MS));
    v = 77;
    int rc = roost_chan_tryrecv(c, &v);
    CHECK_MSG(rc == ROOST_EAGAIN || rc == ROOST_ECLOSED, "after delivered a second time (rc %d, v %lld)", rc,
              (long long)v);
    roost_chan_unref(c);

    /* Not read for a while: the value waits in the channel. */
    CHECK_OK(roost_after(5 * ROOST_MS, &c));
    CHECK_OK(roost_sleep(NULL, 40 * ROOST_MS));
    CHECK_EQ(roost_chan_len(c), 1);
    CHECK_OK(roost_chan_tryrecv(c, &v));
    roost_chan_unref(c);

    /* Zero and negative durations fire promptly. */
    for (int64_t ns = 0; ns >= -ROOST_MS; ns -= ROOST_MS) {
        t0 = roost_now();
        CHECK_OK(roost_after(ns, &c));
        CHECK_OK(roost_chan_recv(NULL, c, &v));
        CHECK_LT(check_since(t0), 500 * ROOST_MS * check_slack());
        roost_chan_unref(c);
    }

    /* Dropping the reference before it fires is fine (the timer holds its
     * own); ASan / valgrind check the memory. */
    for (int i = 0; i < 200; i++) {
        CHECK_OK(roost_after((i % 20) * ROOST_MS, &c));
        roost_chan_unref(c);
    }
    CHECK_OK(roost_sleep(NULL, 40 * ROOST_MS));

    /* Used in a select with a timeout pattern: the earlier timer wins. */
    roost_chan_t *slow, *fast;
    CHECK_OK(roost_after(2 * ROOST_S, &slow));
    CHECK_OK(roost_after(20 * ROOST_MS, &fast));
    int64_t a = 0, b = 0;
    roost_case_t cs[2] = {{slow, ROOST_RECV, &a, 0}, {fast, ROOST_RECV, &b, 0}};
    CHECK_EQ(roost_select(NULL, cs, 2, 0), 1);
    CHECK_GT(b, 0);
    roost_chan_unref(slow);
    roost_chan_unref(fast);
}

/* Short timers back to back, nothing else going on: each must fire on time.
 * (A timer thread that misses a timer added while it is between scanning its
 * heap and going to sleep would fire it only at the next wake-up: here the
 * guard context's deadline, seconds later, or never.) */
static void t_after_short_repeated(void *arg) {
    const int n = SCALE(2000, 100);
    for (int i = 0; i < n; i++) {
        roost_ctx_t *guard;
        CHECK_OK(roost_ctx_with_timeout(NULL, 3 * ROOST_S * check_slack(), &guard));
        roost_chan_t *c;
        int64_t t0 = roost_now(), v;
        CHECK_OK(roost_after((i % 4) * 50 * ROOST_US, &c));
        int rc = roost_chan_recv(guard, c, &v);
        int64_t el = check_since(t0);
        CHECK_MSG(rc == 0, "after(%d us) #%d never fired (recv: %s)", (i % 4) * 50, i, roost_strerror(rc));
        CHECK_MSG(el < 500 * ROOST_MS * check_slack(), "after(%d us) #%d fired after %lld ms", (i % 4) * 50,
                  i, (long long)(el / ROOST_MS));
        roost_chan_unref(c);
        roost_ctx_unref(guard);
    }
}

/* ------------------------------------------------------------ ticker */

static void t_ticker(void *arg) {
    roost_ticker_t *t = NULL;
    CHECK_ERR(roost_ticker_make(0, &t), ROOST_EINVAL);
    CHECK_ERR(roost_ticker_make(-ROOST_MS, &t), ROOST_EINVAL);
    CHECK_ERR(roost_ticker_make(ROOST_MS, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_ticker_stop(NULL), ROOST_EINVAL);

    const int64_t period = 10 * ROOST_MS;
    int64_t t0 = roost_now();
    CHECK_OK(roost_ticker_make(period, &t));
    CHECK(t != NULL);
    roost_chan_t *c = roost_ticker_chan(t);
    CHECK(c != NULL);
    CHECK_PTR(roost_ticker_chan(t), c);
    CHECK_EQ(roost_chan_cap(c), 1);
    int64_t prev = t0, ticks[6];
    for (int i = 0; i < 6; i++) {
        CHECK_OK(roost_chan_recv(NULL, c, &ticks[i]));
        CHECK_GT(ticks[i], prev);
        CHECK_LE(ticks[i], roost_now());
        prev = ticks[i];
    }
    int64_t el = check_since(t0);
    CHECK_MSG(ticks[0] - t0 >= period - ROOST_MS, "first tick after %lld us",
              (long long)((ticks[0] - t0) / 1000));
    CHECK_MSG(el >= 6 * period - 2 * ROOST_MS, "6 ticks of 10 ms in %lld ms", (long long)(el / ROOST_MS));
    CHECK_LT(el, 6 * period + 1 * ROOST_S * check_slack());

    /* A slow reader: missed ticks are dropped, the buffer holds one. */
    CHECK_OK(roost_sleep(NULL, 8 * period));
    CHECK_LE(roost_chan_len(c), 1);
    CHECK_EQ(roost_chan_len(c), 1);

    /* Stop: no more ticks. Keep our own reference to read after the stop. */
    roost_chan_t *mine = roost_chan_ref(c);
    CHECK_OK(roost_ticker_stop(t));
    int64_t v;
    (void)roost_chan_tryrecv(mine, &v); /* at most the one buffered */
    CHECK_OK(roost_sleep(NULL, 5 * period));
    int rc = roost_chan_tryrecv(mine, &v);
    CHECK_MSG(rc == ROOST_EAGAIN, "tick after stop (rc %d)", rc);
    roost_chan_unref(mine);

    /* Several tickers at once, each at its own rate. */
    roost_ticker_t *ts[3];
    const int64_t periods[3] = {5 * ROOST_MS, 7 * ROOST_MS, 11 * ROOST_MS};
    for (int i = 0; i < 3; i++) CHECK_OK(roost_ticker_make(periods[i], &ts[i]));
    int counts[3] = {0, 0, 0};
    t0 = roost_now();
    while (counts[0] < 5 || counts[1] < 5 || counts[2] < 5) {
        int64_t x;
        roost_case_t cs[3];
        for (int i = 0; i < 3; i++) cs[i] = (roost_case_t){roost_ticker_chan(ts[i]), ROOST_RECV, &x, 0};
        int r = roost_select(NULL, cs, 3, 0);
        CHECK(r >= 0 && r < 3);
        CHECK_EQ(cs[r].err, 0);
        counts[r]++;
        CHECK(check_since(t0) < 5 * ROOST_S * check_slack());
    }
    for (int i = 0; i < 3; i++) CHECK_OK(roost_ticker_stop(ts[i]));

    /* Stop right after make, and stop with a tick pending: no crash or leak. */
    for (int i = 0; i < 50; i++) {
        CHECK_OK(roost_ticker_make(ROOST_MS, &t));
        if (i % 2) CHECK_OK(roost_sleep(NULL, 2 * ROOST_MS));
        CHECK_OK(roost_ticker_stop(t));
    }
}

/* A reader blocked on a ticker channel when the ticker is stopped: the
 * channel is not closed (as in Go), so only its context releases it. */
typedef struct {
    roost_chan_t *c;
    roost_ctx_t *ctx;
    int rc;
    atomic_int done;
} tr_t;
static void ticker_reader(void *arg) {
    tr_t *r = arg;
    int64_t v;
    int rc;
    while ((rc = roost_chan_recv(r->ctx, r->c, &v)) == 0) {
    }
    r->rc = rc;
    roost_chan_unref(r->c);
    atomic_store(&r->done, 1);
}

static void t_ticker_blocked_reader(void *arg) {
    roost_ticker_t *t;
    CHECK_OK(roost_ticker_make(5 * ROOST_MS, &t));
    tr_t r = {roost_chan_ref(roost_ticker_chan(t)), NULL, 0, 0};
    CHECK_OK(roost_ctx_with_timeout(NULL, 100 * ROOST_MS, &r.ctx));
    CHECK_OK(roost_go(ticker_reader, &r));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_OK(roost_ticker_stop(t));
    int64_t t0 = roost_now();
    while (!atomic_load(&r.done)) {
        CHECK_OK(roost_sleep(NULL, 2 * ROOST_MS));
        CHECK(check_since(t0) < 5 * ROOST_S * check_slack());
    }
    CHECK_ERR(r.rc, ROOST_ETIMEDOUT);
    roost_ctx_unref(r.ctx);
}

int main(void) {
    RUN(t_after);
    RUN(t_after_short_repeated);
    RUN(t_ticker);
    RUN(t_ticker_blocked_reader);
    RUN(t_many_sleepers);
    RUN(t_sleep_accuracy); /* last: its ctx-deadline case */
    check_no_leaks();
    return 0;
}
