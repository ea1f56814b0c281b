/* test_race.c - stress for races between parking and waking, with more
 * workers than cores.
 *
 * A parked task's queue locks are released by the next context on its
 * worker; the first release can already let a waker resume the task on
 * another worker, which may return and reuse the frame that held the lock
 * list. A release that read the list lazily unlocked garbage addresses: it
 * showed as ThreadSanitizer SEGVs in select over 4 channels with 4 workers
 * (bench/select4 with ROOST_WORKERS=4 under SAN=tsan, before park.c copied
 * the list). The window is a few instructions wide, so this test cannot
 * promise to catch that bug again; it drives the same paths hard (selects
 * over several channels; channel operations under contexts being
 * cancelled, where a blocked call holds two locks) and is most telling under
 * SAN=tsan and SAN=asan.
 */
#include "check.h"

#define NC 4

typedef struct {
    roost_chan_t *ch; /* the task's own reference */
    int64_t n;
} feeder_arg;

static void feeder(void *p) {
    feeder_arg a = *(feeder_arg *)p; /* copy: the spawner's frame ends with its last receive */
    for (int64_t j = 0; j < a.n; j++) CHECK_OK(roost_chan_send(NULL, a.ch, &j));
    roost_chan_unref(a.ch);
}

/* One receiver selecting over NC unbuffered channels, each fed in order. */
static void t_select_many_workers(void *unused) {
    const int64_t per = SCALE(50000, 3000);
    roost_chan_t *cs[NC];
    feeder_arg args[NC];
    int64_t next[NC] = {0}, vals[NC];
    for (int i = 0; i < NC; i++) {
        CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &cs[i]));
        args[i] = (feeder_arg){roost_chan_ref(cs[i]), per};
        CHECK_OK(roost_go(feeder, &args[i]));
    }
    for (int64_t r = 0; r < per * NC; r++) {
        roost_case_t cases[NC];
        for (int k = 0; k < NC; k++) cases[k] = (roost_case_t){cs[k], ROOST_RECV, &vals[k], 0};
        int k = roost_select(NULL, cases, NC, 0);
        CHECK_MSG(k >= 0 && k < NC, "select returned %d", k);
        CHECK_EQ(cases[k].err, 0);
        CHECK_EQ(vals[k], next[k]);
        next[k]++;
    }
    for (int i = 0; i < NC; i++) {
        CHECK_EQ(next[i], per);
        roost_chan_unref(cs[i]);
    }
}

/* Receivers blocked under contexts that other tasks cancel at random, while
 * senders feed the same channel: every blocked call holds two locks (the
 * channel's and the context's), and cancellation wakes it through the one
 * released second. */
typedef struct {
    roost_chan_t *ch;
    atomic_long *got, *cancelled;
    int rounds;
} recv_arg;

static void canceller(void *p) {
    roost_ctx_t *c = p;
    roost_yield();
    roost_ctx_cancel(c);
    roost_ctx_unref(c);
}

static void receiver(void *p) {
    recv_arg a = *(recv_arg *)p; /* copy: the spawner returns once the counts add up */
    for (int i = 0; i < a.rounds; i++) {
        roost_ctx_t *c;
        CHECK_OK(roost_ctx_with_cancel(NULL, &c));
        CHECK_OK(roost_go(canceller, roost_ctx_ref(c)));
        int64_t v;
        int rc = roost_chan_recv(c, a.ch, &v);
        roost_ctx_cancel(c);
        roost_ctx_unref(c);
        if (rc != 0) CHECK_ERR(rc, ROOST_ECANCELED);
        if (i == a.rounds - 1) roost_chan_unref(a.ch); /* before the last count */
        atomic_fetch_add(rc == 0 ? a.got : a.cancelled, 1);
    }
}

static void t_cancel_storm(void *unused) {
    const int nrecv = 8, rounds = SCALE(3000, 200);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &ch));
    atomic_long got = 0, cancelled = 0;
    recv_arg ra[8];
    for (int i = 0; i < nrecv; i++) {
        ra[i] = (recv_arg){roost_chan_ref(ch), &got, &cancelled, rounds};
        CHECK_OK(roost_go(receiver, &ra[i]));
    }
    /* Feed until every receiver is done; trysend never blocks on a gone peer. */
    int64_t sent = 0;
    while (atomic_load(&got) + atomic_load(&cancelled) < (long)nrecv * rounds) {
        int64_t v = sent;
        if (roost_chan_trysend(ch, &v) == 0) sent++;
        roost_yield();
    }
    CHECK_EQ(atomic_load(&got), sent);
    roost_chan_unref(ch);
}

/* No preemption: a task that computes keeps its worker. A task it readied
 * must still run meanwhile on another worker: idle workers steal a stalled
 * worker's runnext, and the monitor (timer.c) wakes them for it. The bound
 * is generous; typically this takes a few milliseconds. */
static atomic_llong rescued_at;
static void rescued(void *unused) { atomic_store(&rescued_at, roost_now()); }

static void t_monitor_rescues(void *unused) {
    if (roost_workers() < 2) return; /* nobody to rescue it */
    atomic_store(&rescued_at, 0);
    int64_t t0 = roost_now();
    CHECK_OK(roost_go(rescued, NULL)); /* into this worker's runnext */
    while (!atomic_load(&rescued_at) && roost_now() - t0 < 5 * ROOST_S) {
        /* compute without blocking or yielding */
    }
    int64_t at = atomic_load(&rescued_at);
    CHECK_MSG(at != 0, "a readied task did not run while its worker computed for 5 s");
    CHECK_LT(at - t0, 1 * ROOST_S * check_slack());
}

int main(void) {
    check_init_workers(4);
    RUN(t_select_many_workers);
    RUN(t_cancel_storm);
    RUN(t_monitor_rescues);
    check_no_leaks();
    return 0;
}
