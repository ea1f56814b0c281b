/* leak_latency: the delay from the moment a leak becomes provable to its
 * report, in microseconds (roost only: Go has no such detector).
 *
 * Each repetition is the story's leak in miniature: a task adopts a reference
 * to an unbuffered channel (roost_chan_adopt) and blocks sending on it while
 * the main task holds the only other reference. Once the sender is parked,
 * the main task stamps roost_now() and drops its reference
 * (roost_chan_unref): from then on nothing can ever receive, and the leak is
 * provable. The hook installed with roost_leak_hook stamps roost_now() when
 * the report arrives; the latency is the difference. The policy is
 * ROOST_LEAK_REPORT|ROOST_LEAK_WAKE, so the sender's send returns
 * ROOST_ELEAKED and it exits (its adopted reference goes with it).
 *
 * It fails (exit 1, with a message) rather than print a figure when the
 * no report arrives within TIMEOUT of the
 * unref, when the report is not a channel leak of the one sender, or when the
 * sender is not woken with ROOST_ELEAKED.
 *
 * Prints: leak_latency_us <median us> max_us <us> mean_us <us> reps <n> workers <n>
 */
#include "bench.h"
#include "roost_obs.h"
#include <stdatomic.h>

#define REPS 1000
#define WARMUP 10
#define TIMEOUT (2 * ROOST_S)

static _Atomic int64_t report_t; /* roost_now() in the hook; 0: none yet */
static atomic_int reports, bad_kind, bad_ntasks;
static const void *_Atomic want_obj;
static atomic_int wrong_obj;

static void hook(const roost_leak_t *leak, void *arg) {
    int64_t now = roost_now();
    if (leak->obj != atomic_load(&want_obj)) {
        atomic_fetch_add(&wrong_obj, 1);
        return;
    }
    if (leak->kind != ROOST_LEAK_CHAN) atomic_store(&bad_kind, leak->kind);
    if (leak->ntasks != 1) atomic_store(&bad_ntasks, (int)leak->ntasks + 1000000);
    atomic_fetch_add(&reports, 1);
    int64_t zero = 0;
    atomic_compare_exchange_strong(&report_t, &zero, now);
}

static roost_waitgroup_t done = ROOST_WAITGROUP_INIT;
static _Atomic uint64_t sender_id;
static atomic_int send_rc;

static void sender(void *p) {
    roost_chan_t *ch = p; /* given by main; adopted: the runtime drops it at exit */
    CHECK(roost_chan_adopt(ch));
    atomic_store(&sender_id, roost_task_id());
    int64_t v = 42;
    atomic_store(&send_rc, roost_chan_send(NULL, ch, &v));
    CHECK(roost_waitgroup_done(&done));
}

/* Wait until task id is parked in a channel send; fail after TIMEOUT. */
static void wait_parked(uint64_t id) {
    int64_t end = roost_now() + TIMEOUT;
    for (;;) {
        roost_task_info_t *v = NULL;
        size_t n = 0;
        CHECK(roost_tasks_snapshot(0, &v, &n));
        int parked = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].id == id)
                parked = v[i].state == ROOST_TASK_PARKED && v[i].wait_reason == ROOST_WAIT_CHAN_SEND;
        free(v);
        if (parked) return;
        if (roost_now() > end) FAILX("leak_latency: the sender never parked in chan send");
        CHECK(roost_yield());
    }
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t lat[REPS];
static double median_us, max_us, mean_us;

static void body(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    roost_leak_hook(hook, NULL);
    for (int r = 0; r < WARMUP + REPS; r++) {
        roost_chan_t *ch;
        CHECK(roost_chan_make(sizeof(int64_t), 0, &ch));
        atomic_store(&want_obj, ch);
        atomic_store(&report_t, 0);
        atomic_store(&reports, 0);
        atomic_store(&sender_id, 0);
        atomic_store(&send_rc, 1);
        CHECK(roost_waitgroup_add(&done, 1));
        CHECK(roost_go(sender, roost_chan_ref(ch)));
        while (!atomic_load(&sender_id)) CHECK(roost_yield());
        wait_parked(atomic_load(&sender_id));

        int64_t t0 = roost_now();
        roost_chan_unref(ch); /* the leak is provable from here */
        int64_t end = t0 + TIMEOUT;
        while (!atomic_load(&report_t)) {
            if (roost_now() > end)
                FAILX("leak_latency: no leak report within %lld ms of dropping the last "
                      "other reference (repetition %d; is the detector in src/leak.c working?)",
                      (long long)(TIMEOUT / ROOST_MS), r);
            CHECK(roost_yield());
        }
        int64_t d = atomic_load(&report_t) - t0;
        if (atomic_load(&bad_kind))
            FAILX("leak_latency: report kind %s (%d), want %s", roost_leak_kind_name(atomic_load(&bad_kind)),
                  atomic_load(&bad_kind), roost_leak_kind_name(ROOST_LEAK_CHAN));
        if (atomic_load(&bad_ntasks))
            FAILX("leak_latency: report with %d tasks, want 1", atomic_load(&bad_ntasks) - 1000000);

        /* The wake policy: the sender's send returns ROOST_ELEAKED and it exits. */
        roost_ctx_t *ctx;
        CHECK(roost_ctx_with_timeout(NULL, TIMEOUT, &ctx));
        int rc = roost_waitgroup_wait(ctx, &done);
        roost_ctx_cancel(ctx);
        roost_ctx_unref(ctx);
        if (rc != 0)
            FAILX("leak_latency: reported, but the sender was not woken within %lld ms "
                  "(policy ROOST_LEAK_REPORT|ROOST_LEAK_WAKE): %s",
                  (long long)(TIMEOUT / ROOST_MS), roost_strerror(rc));
        rc = atomic_load(&send_rc);
        if (rc != ROOST_ELEAKED)
            FAILX("leak_latency: the sender's send returned %s (%d), want ROOST_ELEAKED", roost_strerror(rc),
                  rc);
        if (atomic_load(&reports) != 1) FAILX("leak_latency: %d reports of one leak", atomic_load(&reports));
        if (r >= WARMUP) lat[r - WARMUP] = d;
    }
    roost_leak_hook(NULL, NULL);
    if (atomic_load(&wrong_obj))
        fprintf(stderr, "leak_latency: %d reports about other objects\n", atomic_load(&wrong_obj));
    int64_t sum = 0;
    for (int i = 0; i < REPS; i++) sum += lat[i];
    qsort(lat, REPS, sizeof lat[0], cmp64);
    median_us = (double)lat[REPS / 2] / ROOST_US;
    max_us = (double)lat[REPS - 1] / ROOST_US;
    mean_us = (double)sum / REPS / ROOST_US;
}

int main(void) {
    bench_run(body, NULL);
    CHECK(roost_wait_tasks(0, 10 * ROOST_S));
    printf("leak_latency_us %.2f max_us %.2f mean_us %.2f reps %d workers %d\n", median_us, max_us, mean_us,
           REPS, roost_workers());
    return 0;
}
