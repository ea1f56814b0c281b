/* hello.c - getting started with roost: tasks, a channel, a wait group and a
 * context with a timeout. tests/install_test.sh builds this file against an
 * installed roost and checks what it prints, so keep the output stable.
 *
 * Three workers each send the squares of their share of 1..30 on one
 * channel; a closer task waits for the workers on a wait group and closes
 * the channel; the root task ranges over the channel and sums. Then a receive
 * with a 20 ms timeout on a channel nobody sends on returns ROOST_ETIMEDOUT.
 *
 *   build: cc hello.c $(pkg-config --cflags --libs roost) -o hello
 *   prints:
 *     sum of squares 1..30 = 9455
 *     recv with 20 ms timeout: timed out
 *     tasks left 0
 *     hello: ok
 */
#include <roost.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                         \
    do {                                                                    \
        int rc_ = (call);                                                   \
        if (rc_ < 0) {                                                      \
            fprintf(stderr, "hello: %s: %s\n", #call, roost_strerror(rc_)); \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

#define WORKERS 3
#define N 30

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;

typedef struct job {
    roost_chan_t *out; /* a reference owned by the worker */
    int first;         /* this worker sends first, first + WORKERS, ... */
} job;

static job jobs[WORKERS];

/* go func() { defer wg.Done(); for i := first; i <= N; i += WORKERS { out <- i*i } }() */
static void worker(void *arg) {
    job *j = arg;
    for (int i = j->first; i <= N; i += WORKERS) {
        int sq = i * i;
        CHECK(roost_chan_send(NULL, j->out, &sq));
    }
    roost_chan_unref(j->out);
    CHECK(roost_waitgroup_done(&wg));
}

/* go func() { wg.Wait(); close(out) }() */
static void closer(void *arg) {
    roost_chan_t *out = arg; /* a reference owned by this task */
    CHECK(roost_waitgroup_wait(NULL, &wg));
    CHECK(roost_chan_close(out));
    roost_chan_unref(out);
}

static int result = 1;

static void hello(void *unused) {
    roost_chan_t *out;
    CHECK(roost_chan_make(sizeof(int), 0, &out)); /* out := make(chan int) */

    CHECK(roost_waitgroup_add(&wg, WORKERS));
    for (int w = 0; w < WORKERS; w++) {
        jobs[w] = (job){roost_chan_ref(out), w + 1};
        CHECK(roost_go(worker, &jobs[w]));
    }
    CHECK(roost_go(closer, roost_chan_ref(out)));

    /* for v := range out { sum += v } */
    long sum = 0;
    int v, rc;
    while ((rc = roost_chan_recv(NULL, out, &v)) == 0) sum += v;
    if (rc != ROOST_ECLOSED) CHECK(rc);
    printf("sum of squares 1..%d = %ld\n", N, sum);

    /* ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond) */
    roost_ctx_t *ctx;
    roost_chan_t *never;
    CHECK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
    CHECK(roost_chan_make(sizeof(int), 0, &never));
    int64_t t0 = roost_now();
    rc = roost_chan_recv(ctx, never, &v); /* nobody ever sends */
    int64_t waited = roost_now() - t0;
    printf("recv with 20 ms timeout: %s\n", rc == ROOST_ETIMEDOUT ? "timed out" : roost_strerror(rc));
    if (rc == ROOST_ETIMEDOUT && waited < 20 * ROOST_MS)
        printf("hello: the timeout fired early (%lld ns)\n", (long long)waited);
    roost_ctx_cancel(ctx); /* defer cancel() */
    roost_ctx_unref(ctx);
    roost_chan_unref(never);
    roost_chan_unref(out);

    result = (sum == 9455 && rc == ROOST_ETIMEDOUT && waited >= 20 * ROOST_MS) ? 0 : 1;
}

int main(void) {
    CHECK(roost_run(hello, NULL));
    /* roost_run returns once hello() has; every task must finish before the
     * runtime can shut down. */
    int rc = roost_wait_tasks(0, 5 * ROOST_S);
    printf("tasks left %lld\n", (long long)roost_task_count());
    if (rc == 0) rc = roost_shutdown();
    if (rc != 0) {
        fprintf(stderr, "hello: wait/shutdown: %s\n", roost_strerror(rc));
        return 1;
    }
    printf("hello: %s\n", result == 0 ? "ok" : "FAILED");
    return result;
}
