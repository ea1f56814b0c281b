/* parked: 1M tasks each blocked receiving on one unbuffered channel, as
 * bench/go/parked/main.go: VmRSS growth per parked task and the time to spawn
 * them all (until every one has started). Then the channel is closed, which
 * wakes every task with ROOST_ECLOSED, and we wait (from main, outside any
 * task, so the count is plainly 0) for all of them to return (exit_ms) and
 * shut the runtime down.
 *
 * Prints: parked_1M_bytes_per_task <bytes> spawn_ms <ms> exit_ms <ms> workers <n>
 */
#include "bench.h"

#define N 1000000

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;

static void parked(void *p) {
    roost_chan_t *ch = p; /* a reference owned by the task */
    CHECK(roost_waitgroup_done(&wg));
    EXPECT(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
    roost_chan_unref(ch);
}

static double bytes_per_task, spawn_ms, exit_ms;
static int64_t close_t;

static void body(void *unused) {
    long base = bench_rss_kb();
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(int64_t), 0, &ch));
    CHECK(roost_waitgroup_add(&wg, N));
    int64_t t = roost_now();
    for (int i = 0; i < N; i++) CHECK(roost_go(parked, roost_chan_ref(ch)));
    CHECK(roost_waitgroup_wait(NULL, &wg));
    int64_t d = roost_now() - t;
    long r = bench_rss_kb();
    bytes_per_task = (double)(r - base) * 1024 / N;
    spawn_ms = (double)(d / ROOST_MS);
    close_t = roost_now();
    CHECK(roost_chan_close(ch));
    roost_chan_unref(ch);
}

int main(void) {
    bench_run(body, NULL);
    int workers = roost_workers();
    bench_wait_drained("parked");
    exit_ms = (double)(roost_now() - close_t) / ROOST_MS;
    int rc = roost_shutdown();
    if (rc != 0) fprintf(stderr, "parked: roost_shutdown: %s\n", roost_strerror(rc));
    printf("parked_1M_bytes_per_task %.0f spawn_ms %.0f exit_ms %.0f workers %d\n", bytes_per_task, spawn_ms,
           exit_ms, workers);
    return rc != 0;
}
