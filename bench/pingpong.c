/* pingpong: round trip over two unbuffered channels, 2M round trips, as
 * bench/go/pingpong/main.go. The echo task ranges over a (receives until it
 * is closed) and sends each value back on b.
 *
 * Prints: pingpong_roundtrip_ns <ns per round trip> workers <n>
 */
#include "bench.h"

#define N 2000000

typedef struct {
    roost_chan_t *a, *b;
} echo_args; /* references owned by the task */

static void echo(void *p) {
    echo_args *e = p;
    int64_t v;
    int rc;
    while ((rc = roost_chan_recv(NULL, e->a, &v)) == 0) CHECK(roost_chan_send(NULL, e->b, &v));
    EXPECT(rc, ROOST_ECLOSED);
    roost_chan_unref(e->a);
    roost_chan_unref(e->b);
}

static double ns_per_rt;
static echo_args e;

static void body(void *unused) {
    roost_chan_t *a, *b;
    CHECK(roost_chan_make(sizeof(int64_t), 0, &a));
    CHECK(roost_chan_make(sizeof(int64_t), 0, &b));
    e = (echo_args){roost_chan_ref(a), roost_chan_ref(b)};
    CHECK(roost_go(echo, &e));
    int64_t t = roost_now();
    for (int64_t i = 0; i < N; i++) {
        int64_t v;
        CHECK(roost_chan_send(NULL, a, &i));
        CHECK(roost_chan_recv(NULL, b, &v));
        if (v != i) FAILX("pingpong: got %lld, want %lld", (long long)v, (long long)i);
    }
    int64_t d = roost_now() - t;
    ns_per_rt = (double)d / N;
    CHECK(roost_chan_close(a)); /* echo returns */
    roost_chan_unref(a);
    roost_chan_unref(b);
}

int main(void) {
    bench_run(body, NULL);
    CHECK(roost_wait_tasks(0, 10 * ROOST_S)); /* echo has returned */
    printf("pingpong_roundtrip_ns %.1f workers %d\n", ns_per_rt, roost_workers());
    return 0;
}
