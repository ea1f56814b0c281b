/* group_fanout: spawn 1,000 tasks into a group and wait for them, round
 * after round, as bench/go/group_fanout/main.go does with an errgroup.
 * Each task adds one to a counter and returns no error; each round makes
 * its group (errgroup.WithContext), spawns, waits and drops it. The figure
 * is the best of BATCHES batches of ROUNDS rounds (both sides), so that a
 * busy machine's noise does not decide the comparison.
 *
 * Prints: group_fanout_us <microseconds per round> workers <n>
 */
#include "bench.h"
#include <stdatomic.h>

#define TASKS 1000
#define WARMUP 50
#define BATCHES 5
#define ROUNDS 200

static atomic_long ran;

static int work(roost_ctx_t *ctx, void *unused) {
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return 0;
}

static double us_per_round;

static void round_once(void) {
    roost_group_t *g;
    CHECK(roost_group_make(NULL, &g));
    for (int i = 0; i < TASKS; i++) CHECK(roost_group_go(NULL, g, work, NULL));
    CHECK(roost_group_wait(NULL, g));
    roost_group_unref(g);
}

static void body(void *unused) {
    for (int r = 0; r < WARMUP; r++) round_once();
    int64_t best = INT64_MAX;
    for (int b = 0; b < BATCHES; b++) {
        int64_t t = roost_now();
        for (int r = 0; r < ROUNDS; r++) round_once();
        int64_t d = roost_now() - t;
        if (d < best) best = d;
    }
    if (atomic_load(&ran) != (long)TASKS * (WARMUP + BATCHES * ROUNDS)) FAILX("group_fanout: lost tasks");
    us_per_round = (double)best / ROUNDS / 1e3;
}

int main(void) {
    bench_run(body, NULL);
    printf("group_fanout_us %.1f workers %d\n", us_per_round, roost_workers());
    return 0;
}
