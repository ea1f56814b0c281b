/* yield: two tasks calling roost_yield in turn, 5M times each, as
 * bench/go/yield/main.go. Meant to run with ROOST_WORKERS=1 (the Go side with
 * GOMAXPROCS=1), where every yield is one switch to the other task.
 *
 * Prints: yield_switch_ns <ns per switch> workers <n>
 */
#include "bench.h"

#define N 5000000

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;

static void yielder(void *unused) {
    for (int i = 0; i < N; i++) CHECK(roost_yield());
    CHECK(roost_waitgroup_done(&wg));
}

static double ns_per_switch;

static void body(void *unused) {
    CHECK(roost_waitgroup_add(&wg, 2));
    int64_t t = roost_now();
    for (int g = 0; g < 2; g++) CHECK(roost_go(yielder, NULL));
    CHECK(roost_waitgroup_wait(NULL, &wg));
    int64_t d = roost_now() - t;
    ns_per_switch = (double)d / (2.0 * N);
}

int main(void) {
    bench_run(body, NULL);
    printf("yield_switch_ns %.1f workers %d\n", ns_per_switch, roost_workers());
    return 0;
}
