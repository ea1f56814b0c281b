/* reach: the cost of one reachability proof (roost_leak_prove), roost only
 * (Go has no twin: its goroutine leak profile runs inside a garbage
 * collection cycle and cannot be timed on its own).
 *
 * Two sizes, one after the other in this process:
 *   reach10k:  10,000 parked tasks and 32 MiB of live malloc'd objects
 *   reach100k: 100,000 parked tasks and 256 MiB of live malloc'd objects
 * Each task parks receiving on a channel of its own, kept in a global array
 * (so nothing is leaked: the proof walks everything and proves nothing, the
 * production case). The objects are 64-byte nodes, each holding pointers to
 * the next node and to a random earlier one, reachable from a global: the
 * heap the proof has to trace. Best of REPS proofs each.
 *
 * Prints: reach10k_ms <ms> reach10k_stop_ms <ms> reach100k_ms <ms>
 *         reach100k_stop_ms <ms> reach100k_walk_ms <ms> reach100k_mark_ms <ms>
 *         chunks <n> heap_mb <MiB> (walk and mark: of the fastest proof)
 * stop_ms is how long every other thread (workers included) was stopped:
 * the signal round trip and the fork of the snapshot; the mark runs in the
 * snapshot with the world going. A proof that
 * is unavailable (sanitizers, valgrind) fails the run. */
#include "bench.h"
#include "roost_obs.h"

#define REPS 3

typedef struct node {
    struct node *next, *other;
    uint64_t pad[6];
} node;

static roost_chan_t **chans;
static node *head;

static void parked(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    roost_chan_recv(NULL, ch, &v);
}

static void build(int ntasks, size_t mb) {
    chans = calloc((size_t)ntasks, sizeof *chans);
    for (int i = 0; i < ntasks; i++) {
        CHECK(roost_chan_make(sizeof(int), 0, &chans[i]));
        CHECK(roost_go(parked, chans[i]));
    }
    size_t n = mb * 1024 * 1024 / (sizeof(node) + 16), k = 0;
    node **all = malloc(n * sizeof *all);
    uint64_t r = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        node *x = malloc(sizeof *x);
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x->next = head;
        x->other = k ? all[r % k] : NULL;
        head = x;
        all[k++] = x;
    }
    free(all);
    while (roost_task_count() < ntasks + 1) roost_sleep(NULL, ROOST_MS);
    roost_sleep(NULL, 20 * ROOST_MS);
}

static void teardown(int ntasks) {
    for (int i = 0; i < ntasks; i++) {
        roost_chan_close(chans[i]);
        roost_chan_unref(chans[i]);
    }
    free(chans);
    while (head) {
        node *x = head;
        head = x->next;
        free(x);
    }
    bench_wait_drained("reach");
}

static void measure(int ntasks, size_t mb, double *ms, double *stop_ms, roost_leak_proof_t *last) {
    build(ntasks, mb);
    *ms = *stop_ms = 1e18;
    for (int i = 0; i < REPS; i++) {
        /* Apart, as a periodic runner's proofs are: a proof reaps the last
         * one's process first, and right after it that process is still
         * tearing its memory down (see docs/leaks.md, Cost). */
        if (i) roost_sleep(NULL, 150 * ROOST_MS);
        roost_leak_proof_t st;
        int rc = roost_leak_prove(&st);
        if (rc) FAILX("reach: the proof is unavailable: %s", st.reason ? st.reason : roost_strerror(rc));
        if (st.leaked) FAILX("reach: %lld tasks proved leaked, none are", (long long)st.leaked);
        if (st.total_ns / 1e6 < *ms) *ms = st.total_ns / 1e6, *last = st;
        if (st.stop_ns / 1e6 < *stop_ms) *stop_ms = st.stop_ns / 1e6;
    }
    teardown(ntasks);
}

static void body(void *arg) {
    (void)arg;
    double a, as, b, bs;
    roost_leak_proof_t st;
    measure(10000, 32, &a, &as, &st);
    measure(100000, 256, &b, &bs, &st);
    printf("reach10k_ms %.2f reach10k_stop_ms %.2f reach100k_ms %.2f reach100k_stop_ms %.2f "
           "reach100k_walk_ms %.2f reach100k_mark_ms %.2f chunks %lld heap_mb %.0f\n",
           a, as, b, bs, st.walk_ns / 1e6, st.mark_ns / 1e6, (long long)st.chunks, st.heap_bytes / 1048576.0);
}

int main(void) {
    bench_run(body, NULL);
    return 0;
}
