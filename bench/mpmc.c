/* mpmc: 4 producers and 4 consumers over one channel with a buffer of 1024,
 * 2M messages per producer, as bench/go/mpmc/main.go. Consumers add up what
 * they receive under a mutex; the total is checked.
 *
 * Prints: mpmc_msgs_per_s <msgs/s> ns_per_msg <ns> workers <n>
 */
#include "bench.h"

#define PER 2000000
#define P 4
#define C 4

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
static roost_mutex_t mu = ROOST_MUTEX_INIT;
static int64_t total;

static void producer(void *p) {
    roost_chan_t *ch = p; /* a reference owned by the task */
    for (int64_t i = 0; i < PER; i++) CHECK(roost_chan_send(NULL, ch, &i));
    roost_chan_unref(ch);
}

static void consumer(void *p) {
    roost_chan_t *ch = p; /* a reference owned by the task */
    int64_t s = 0, v;
    for (int64_t i = 0; i < (int64_t)P * PER / C; i++) {
        CHECK(roost_chan_recv(NULL, ch, &v));
        s += v;
    }
    roost_chan_unref(ch);
    CHECK(roost_mutex_lock(NULL, &mu));
    total += s;
    CHECK(roost_mutex_unlock(&mu));
    CHECK(roost_waitgroup_done(&wg));
}

static double msgs_per_s, ns_per_msg;

static void body(void *unused) {
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(int64_t), 1024, &ch));
    int64_t t = roost_now();
    for (int p = 0; p < P; p++) CHECK(roost_go(producer, roost_chan_ref(ch)));
    CHECK(roost_waitgroup_add(&wg, C));
    for (int c = 0; c < C; c++) CHECK(roost_go(consumer, roost_chan_ref(ch)));
    CHECK(roost_waitgroup_wait(NULL, &wg));
    int64_t d = roost_now() - t;
    roost_chan_unref(ch);
    int64_t want = (int64_t)P * ((int64_t)PER * (PER - 1) / 2);
    if (total != want) FAILX("mpmc: total %lld, want %lld", (long long)total, (long long)want);
    msgs_per_s = (double)P * PER / ((double)d / 1e9);
    ns_per_msg = (double)d / ((double)P * PER);
}

int main(void) {
    bench_run(body, NULL);
    printf("mpmc_msgs_per_s %.0f ns_per_msg %.1f workers %d\n", msgs_per_s, ns_per_msg, roost_workers());
    return 0;
}
