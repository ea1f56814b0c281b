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
 * heap the proof has to trace. Best of REPS proofs each, and at reach100k
 * their median too, the same with the proof's tables kept between
 * proofs (ROOST_REACH_KEEP=1), and the stop when the fork copies the task
 * stacks (ROOST_REACH_SNAP=0), these proofs taking turns with the others.
 *
 * Prints: reach10k_ms <ms> reach10k_stop_ms <ms> reach100k_ms <ms>
 *         reach100k_stop_ms <ms> reach100k_walk_ms <ms> reach100k_mark_ms <ms>
 *         reach100k_median_ms <ms> reach100k_keep_ms <ms>
 *         reach100k_keep_median_ms <ms> reach100k_fork_stop_ms <ms>
 *         chunks <n> heap_mb <MiB> (walk and mark: of the fastest proof)
 * stop_ms is how long every other thread (workers included) was stopped:
 * the signal round trip and the fork of the snapshot, less the task stacks
 * where the kernel allows it (src/reach_snap.c); the mark runs in the
 * snapshot with the world going. A proof that
 * is unavailable (sanitizers, valgrind) fails the run. */
#include "bench.h"
#include "roost_obs.h"

#define REPS 5

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

typedef struct {
    double ms, stop_ms, median_ms; /* best, best, median */
    double all[REPS];
    int n;
    roost_leak_proof_t best; /* the fastest proof's figures */
} proofs;

static void prove_once(proofs *r) {
    roost_leak_proof_t st;
    int rc = roost_leak_prove(&st);
    if (rc) FAILX("reach: the proof is unavailable: %s", st.reason ? st.reason : roost_strerror(rc));
    if (st.leaked) FAILX("reach: %lld tasks proved leaked, none are", (long long)st.leaked);
    double ms = st.total_ns / 1e6;
    if (!r->n || ms < r->ms) r->ms = ms, r->best = st;
    if (!r->n || st.stop_ns / 1e6 < r->stop_ms) r->stop_ms = st.stop_ns / 1e6;
    int i = r->n++;
    for (; i > 0 && r->all[i - 1] > ms; i--) r->all[i] = r->all[i - 1];
    r->all[i] = ms;
    r->median_ms = r->all[r->n / 2];
}

/* REPS proofs of a heap of that size (and, with kept and fork, as many
 * with the tables kept and with the stacks forked, each after one of the
 * others). */
static void measure(int ntasks, size_t mb, proofs *plain, proofs *kept, proofs *fork) {
    build(ntasks, mb);
    for (int i = 0; i < REPS; i++) {
        /* Apart, as a periodic runner's proofs are: a proof reaps the last
         * one's process first, and right after it that process is still
         * tearing its memory down (see docs/leaks.md, Cost). ROOST_REACH_KEEP
         * is read at each proof, by the proof's caller (this task). */
        if (i) roost_sleep(NULL, 150 * ROOST_MS);
        setenv("ROOST_REACH_KEEP", "0", 1);
        prove_once(plain);
        if (!kept) continue;
        roost_sleep(NULL, 150 * ROOST_MS);
        setenv("ROOST_REACH_KEEP", "1", 1);
        prove_once(kept);
        roost_sleep(NULL, 150 * ROOST_MS);
        setenv("ROOST_REACH_KEEP", "0", 1);
        setenv("ROOST_REACH_SNAP", "0", 1);
        prove_once(fork);
        unsetenv("ROOST_REACH_SNAP");
    }
    unsetenv("ROOST_REACH_KEEP");
    teardown(ntasks);
}

static void body(void *arg) {
    (void)arg;
    proofs a = {0}, b = {0}, k = {0}, f = {0};
    measure(10000, 32, &a, NULL, NULL);
    measure(100000, 256, &b, &k, &f);
    const roost_leak_proof_t *st = &b.best;
    printf("reach10k_ms %.2f reach10k_stop_ms %.2f reach100k_ms %.2f reach100k_stop_ms %.2f "
           "reach100k_walk_ms %.2f reach100k_mark_ms %.2f reach100k_median_ms %.2f reach100k_keep_ms %.2f "
           "reach100k_keep_median_ms %.2f reach100k_fork_stop_ms %.2f chunks %lld heap_mb %.0f\n",
           a.ms, a.stop_ms, b.ms, b.stop_ms, st->walk_ns / 1e6, st->mark_ns / 1e6, b.median_ms, k.ms,
           k.median_ms, f.stop_ms, (long long)st->chunks, st->heap_bytes / 1048576.0);
}

int main(void) {
    bench_run(body, NULL);
    return 0;
}
