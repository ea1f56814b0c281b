/* skynet: 1M tasks in a 10-ary tree, each leaf sends its ordinal up an
 * unbuffered channel to its parent, which sends the sum of its ten children
 * to its own parent. Best of 5, as bench/go/skynet/main.go.
 *
 * Ownership: every task holds its own reference to its parent's channel
 * (taken by the parent before the spawn) and drops it after its one send.
 * A parent's arguments for its children live on the parent's stack, which
 * outlives them: each child copies its arguments before anything else, and
 * the parent returns only after receiving all ten sums.
 *
 * Prints: skynet_1M_ms <best ms> ns_per_task <best ns / 1111111> workers <n>
 */
#include "bench.h"

#define DIV 10

typedef struct sk_args {
    roost_chan_t *c; /* a reference owned by the task */
    int64_t num, size;
} sk_args;

static void skynet(void *p) {
    sk_args a = *(sk_args *)p; /* copy: the parent's frame is only borrowed */
    int64_t sum;
    if (a.size == 1) {
        sum = a.num;
    } else {
        roost_chan_t *rc;
        sk_args kids[DIV];
        CHECK(roost_chan_make(sizeof(int64_t), 0, &rc));
        for (int i = 0; i < DIV; i++) {
            kids[i].c = roost_chan_ref(rc);
            kids[i].num = a.num + i * (a.size / DIV);
            kids[i].size = a.size / DIV;
            CHECK(roost_go(skynet, &kids[i]));
        }
        sum = 0;
        for (int i = 0; i < DIV; i++) {
            int64_t v;
            CHECK(roost_chan_recv(NULL, rc, &v));
            sum += v;
        }
        roost_chan_unref(rc);
    }
    CHECK(roost_chan_send(NULL, a.c, &sum));
    roost_chan_unref(a.c);
}

static int64_t best_ns = INT64_MAX;

static void body(void *unused) {
    for (int r = 0; r < 5; r++) {
        roost_chan_t *c;
        int64_t s;
        CHECK(roost_chan_make(sizeof(int64_t), 0, &c));
        sk_args root = {roost_chan_ref(c), 0, 1000000};
        int64_t t = roost_now();
        CHECK(roost_go(skynet, &root));
        CHECK(roost_chan_recv(NULL, c, &s));
        int64_t d = roost_now() - t;
        roost_chan_unref(c);
        if (s != 499999500000LL) FAILX("skynet: bad sum %lld (want 499999500000)", (long long)s);
        if (d < best_ns) best_ns = d;
    }
}

int main(void) {
    bench_run(body, NULL);
    printf("skynet_1M_ms %.1f ns_per_task %.1f workers %d\n", (double)(best_ns / 1000) / 1000,
           (double)best_ns / 1111111, roost_workers());
    return 0;
}
