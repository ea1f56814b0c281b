/* timer_lateness: how late a 10 ms sleep wakes while 50,000 ping-pong pairs
 * keep every worker busy, as bench/go/timer_lateness/main.go.
 *
 * Each pair is two tasks handing a value back and forth over two unbuffered
 * channels, so the workers never run dry and the pairs' tasks are all there
 * is to run besides the sleepers. 10 sleeper tasks each sleep 100 ms while
 * the pairs get going, then 10 ms, 20 times in a row. A sleep's lateness
 * is how much longer than asked it took to return: the timer firing, then
 * the woken task waiting for a worker. The first sleep is not counted (it
 * ends behind the 50,000 pings that woke from their naps at the start),
 * unless the load was stopped before it returned. The sleepers are running
 * before the pairs start, so that a scheduler slow to run new tasks under
 * load does not leave them out.
 *
 * The pairs start together, once all are spawned: each ping waits for the
 * start flag in 5 ms naps. (Started as they were spawned, they kept Go's
 * spawning goroutine from running again once it was preempted: Go looks at
 * its global queue, where a preempted goroutine goes, every 61st time
 * slice, and a pair handing off through runnext keeps one slice, 10 ms.)
 * The load stops after LOAD_S seconds whatever happens (the pings watch the
 * clock), so that a scheduler that never runs a woken sleeper still ends;
 * the sleeps that were still waiting then count with the lateness they had
 * at their return, and `capped` says how many there were (0: the figures
 * are exact; more: they are lower bounds).
 *
 * Prints: timer_lateness_p50_us <median> timer_lateness_p99_us <99th
 *         percentile> samples <n> capped <n> pairs <n> workers <n>
 */
#include "bench.h"
#include <stdatomic.h>
#include <stdbool.h>

#define PAIRS 50000
#define SLEEPERS 10
#define ROUNDS 20
#define SLEEP_NS (10 * ROOST_MS)
#define LOAD_S 10

typedef struct {
    roost_chan_t *a, *b;
} pair; /* references owned by the pair's tasks */

static pair *pairs;
static atomic_int start, stop;
static int64_t t_start; /* when the pairs were let go */
static int64_t late[SLEEPERS * (ROUNDS + 1)];
static atomic_int nlate, ncapped;
static roost_waitgroup_t sleepers_ready = ROOST_WAITGROUP_INIT;
static roost_waitgroup_t sleepers_done = ROOST_WAITGROUP_INIT;

static void pong(void *p) {
    pair *q = p;
    int64_t v;
    int rc;
    while ((rc = roost_chan_recv(NULL, q->a, &v)) == 0) CHECK(roost_chan_send(NULL, q->b, &v));
    EXPECT(rc, ROOST_ECLOSED);
    roost_chan_unref(q->a);
    roost_chan_unref(q->b);
}

static void ping(void *p) {
    pair *q = p;
    while (!atomic_load_explicit(&start, memory_order_acquire)) CHECK(roost_sleep(NULL, 5 * ROOST_MS));
    for (int64_t i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        int64_t v;
        CHECK(roost_chan_send(NULL, q->a, &i));
        CHECK(roost_chan_recv(NULL, q->b, &v));
        if (i % 1024 == 0 && roost_now() - t_start > LOAD_S * ROOST_S) atomic_store(&stop, 1);
    }
    CHECK(roost_chan_close(q->a)); /* pong returns */
    roost_chan_unref(q->a);
    roost_chan_unref(q->b);
}

static void sleeper(void *unused) {
    CHECK(roost_waitgroup_done(&sleepers_ready));
    for (int r = 0; r <= ROUNDS && !atomic_load(&stop); r++) {
        int64_t want = r == 0 ? 100 * ROOST_MS : SLEEP_NS;
        int64_t t = roost_now();
        CHECK(roost_sleep(NULL, want));
        int64_t d = roost_now() - t - want;
        bool capped = atomic_load(&stop);
        if (r > 0 || capped) late[atomic_fetch_add(&nlate, 1)] = d;
        if (capped) atomic_fetch_add(&ncapped, 1);
    }
    CHECK(roost_waitgroup_done(&sleepers_done));
}

static int cmp64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void body(void *unused) {
    pairs = calloc(PAIRS, sizeof *pairs);
    if (!pairs) FAILX("timer_lateness: out of memory");
    for (int i = 0; i < PAIRS; i++) {
        CHECK(roost_chan_make(sizeof(int64_t), 0, &pairs[i].a));
        CHECK(roost_chan_make(sizeof(int64_t), 0, &pairs[i].b));
        roost_chan_ref(pairs[i].a); /* one reference for each task */
        roost_chan_ref(pairs[i].b);
        CHECK(roost_go(pong, &pairs[i]));
        CHECK(roost_go(ping, &pairs[i]));
    }
    CHECK(roost_waitgroup_add(&sleepers_ready, SLEEPERS));
    CHECK(roost_waitgroup_add(&sleepers_done, SLEEPERS));
    for (int s = 0; s < SLEEPERS; s++) CHECK(roost_go(sleeper, NULL));
    CHECK(roost_waitgroup_wait(NULL, &sleepers_ready)); /* each is about to sleep */
    t_start = roost_now();
    atomic_store(&start, 1);
    CHECK(roost_waitgroup_wait(NULL, &sleepers_done));
    atomic_store(&stop, 1);
}

int main(void) {
    bench_run(body, NULL);
    bench_wait_drained("timer_lateness");
    free(pairs);
    int n = atomic_load(&nlate);
    qsort(late, (size_t)n, sizeof late[0], cmp64);
    printf("timer_lateness_p50_us %.1f timer_lateness_p99_us %.1f samples %d capped %d pairs %d "
           "workers %d\n",
           (double)late[n / 2] / 1e3, (double)late[n * 99 / 100] / 1e3, n, atomic_load(&ncapped), PAIRS,
           roost_workers());
    return 0;
}
