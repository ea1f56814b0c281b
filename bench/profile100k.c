/* profile100k: the time to take a grouped task profile (Go's goroutine
 * profile, debug=1) of 100,000 parked tasks, and the longest time the
 * profile kept any other worker from running tasks. As
 * bench/go/profile100k/main.go.
 *
 * 100,000 tasks park receiving on one unbuffered channel, from three spawn
 * sites at three stack depths (1, 2 and 4 frames above the receive), so the
 * grouped profile has three entries besides the benchmark's own tasks.
 * Then roost_profile(ROOST_PROFILE_GROUPED) is timed, best of REPS.
 *
 * The pause is measured from inside: two tasks per worker loop on
 * roost_yield(), and each loop iteration stamps roost_now() into a slot of
 * the worker thread it runs on; the largest gap between consecutive stamps of
 * one worker is the longest that worker went without running a task. The
 * profile is taken by the main task, so its own worker is busy with the
 * profile (that is running a task, not a pause) and is left out; the others
 * should keep stamping. For each of the REPS profiles: the largest gap seen
 * on the other workers while it was taken, minus the largest gap seen on them
 * over an equal period without profiling right after (the scheduler's and
 * the VM's own noise), or 0. pause_ms is the median of those over the REPS
 * profiles (a pause the profile causes shows in every one; a hiccup of a busy
 * VM in one or two), pause_max_ms the largest; prof_gap_ms and base_gap_ms
 * are the largest raw gaps of each kind. All 0 if the runtime has a single
 * worker (there is no other worker to measure).
 *
 * A roost_profile error fails the run (no figure).
 *
 * Prints: profile100k_ms <best ms> pause_ms <ms> pause_max_ms <ms>
 *         prof_gap_ms <ms> base_gap_ms <ms> tasks <n> bytes <profile size>
 *         workers <n>
 */
#include "bench.h"
#include "roost_obs.h"
#include <stdatomic.h>

#define N 100000
#define REPS 7
#define MAXW 256
#define YIELDERS_PER_WORKER 2

static roost_waitgroup_t started = ROOST_WAITGROUP_INIT;
static roost_waitgroup_t yielders_done = ROOST_WAITGROUP_INIT;

/* ------------------------------------------------------------ parked tasks */

static __attribute__((noinline)) void wait_closed(roost_chan_t *ch) {
    EXPECT(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
}
static __attribute__((noinline)) void depth3(roost_chan_t *ch) {
    wait_closed(ch);
    __asm__ volatile("" ::: "memory"); /* no tail calls: keep every frame */
}
static __attribute__((noinline)) void depth2(roost_chan_t *ch) {
    depth3(ch);
    __asm__ volatile("" ::: "memory");
}

static void parked_a(void *p) { /* the receive right in the task */
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    EXPECT(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
    roost_chan_unref(ch);
}
static void parked_b(void *p) { /* one helper deep */
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    wait_closed(ch);
    roost_chan_unref(ch);
}
static void parked_c(void *p) { /* three helpers deep */
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    depth2(ch);
    roost_chan_unref(ch);
}

/* ------------------------------------------------------------ pause probes */

typedef struct {
    _Atomic int64_t last;   /* roost_now() at this worker's latest stamp */
    _Atomic int64_t maxgap; /* largest gap while measuring */
    char pad[48];
} slot_t;
static slot_t slots[MAXW];
static atomic_int nslots;
static atomic_int measuring, stop;
static __thread int tl_slot = -1;

/* The slot of the worker thread the caller runs on now. noipa: tasks move
 * between threads, so the thread-local must be read afresh on every call. */
static __attribute__((noipa)) int slot_index(void) {
    if (tl_slot < 0) {
        int i = atomic_fetch_add(&nslots, 1);
        if (i >= MAXW) FAILX("profile100k: more than %d worker threads", MAXW);
        tl_slot = i;
    }
    return tl_slot;
}

static void yielder(void *unused) {
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        slot_t *s = &slots[slot_index()];
        int64_t now = roost_now();
        int64_t last = atomic_load_explicit(&s->last, memory_order_relaxed);
        if (last && atomic_load_explicit(&measuring, memory_order_relaxed)) {
            int64_t gap = now - last;
            if (gap > atomic_load_explicit(&s->maxgap, memory_order_relaxed))
                atomic_store_explicit(&s->maxgap, gap, memory_order_relaxed);
        }
        atomic_store_explicit(&s->last, now, memory_order_relaxed);
        CHECK(roost_yield());
    }
    CHECK(roost_waitgroup_done(&yielders_done));
}

static void measure_begin(void) {
    int n = atomic_load(&nslots);
    for (int i = 0; i < n; i++) atomic_store(&slots[i].maxgap, 0);
    atomic_store(&measuring, 1);
}

/* Largest gap of the workers other than skip_a and skip_b. */
static int64_t measure_end(int skip_a, int skip_b) {
    atomic_store(&measuring, 0);
    int64_t m = 0;
    int n = atomic_load(&nslots);
    for (int i = 0; i < n; i++) {
        if (i == skip_a || i == skip_b) continue;
        int64_t g = atomic_load(&slots[i].maxgap);
        if (g > m) m = g;
    }
    return m;
}

/* ------------------------------------------------------------ the run */

static double best_ms, pause_ms, pause_max_ms, prof_gap_ms, base_gap_ms;
static size_t prof_bytes;
static int64_t ntasks;

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One timed profile; returns its duration in ns. */
static int64_t take_profile(void) {
    char *buf = NULL;
    size_t len = 0;
    int64_t t = roost_now();
    int rc = roost_profile(ROOST_PROFILE_GROUPED, &buf, &len);
    int64_t d = roost_now() - t;
    if (rc != 0) FAILX("profile100k: roost_profile(ROOST_PROFILE_GROUPED): %s", roost_strerror(rc));
    if (!buf || len == 0) FAILX("profile100k: roost_profile returned an empty profile");
    prof_bytes = len;
    free(buf);
    return d;
}

static void body(void *unused) {
    int nw = roost_workers();
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(int64_t), 0, &ch));

    /* Probes first, so that every worker has some before the parked tasks. */
    int ny = nw * YIELDERS_PER_WORKER;
    CHECK(roost_waitgroup_add(&yielders_done, ny));
    for (int i = 0; i < ny; i++) CHECK(roost_go(yielder, NULL));

    CHECK(roost_waitgroup_add(&started, N));
    for (int i = 0; i < N; i++) {
        switch (i % 3) {
        case 0: CHECK(roost_go(parked_a, roost_chan_ref(ch))); break;
        case 1: CHECK(roost_go(parked_b, roost_chan_ref(ch))); break;
        default: CHECK(roost_go(parked_c, roost_chan_ref(ch))); break;
        }
    }
    CHECK(roost_waitgroup_wait(NULL, &started));
    /* Every task has started; wait until the counts show them all parked
     * (with ROOST_OBSERVE=0 the reasons are not counted: just settle). */
    int64_t end = roost_now() + 10 * ROOST_S;
    for (;;) {
        roost_counts_t c;
        roost_counts(&c);
        if (c.by_reason[ROOST_WAIT_CHAN_RECV] >= N) break;
        if (roost_now() > end) {
            fprintf(stderr,
                    "profile100k: counts show %lld of %d parked in chan receive after 10 s; going on\n",
                    (long long)c.by_reason[ROOST_WAIT_CHAN_RECV], N);
            break;
        }
        CHECK(roost_sleep(NULL, ROOST_MS));
    }
    CHECK(roost_sleep(NULL, 50 * ROOST_MS)); /* let the probes settle on the workers */
    if (atomic_load(&nslots) < nw)
        fprintf(stderr, "profile100k: probes ran on %d of %d workers\n", atomic_load(&nslots), nw);
    ntasks = roost_task_count();

    int64_t best = INT64_MAX, prof_gap = 0, base_gap = 0, pause[REPS];
    take_profile(); /* warm-up: page in, fill the symbol cache */
    for (int r = 0; r < REPS; r++) {
        int s0 = slot_index();
        measure_begin();
        int64_t d = take_profile();
        int s1 = slot_index();
        int64_t pg = measure_end(s0, s1); /* the profiling worker is left out */
        if (pg > prof_gap) prof_gap = pg;
        if (d < best) best = d;

        /* The same period without a profile, the same workers left out. */
        measure_begin();
        CHECK(roost_sleep(NULL, d));
        int64_t bg = measure_end(s0, s1);
        if (bg > base_gap) base_gap = bg;
        pause[r] = nw < 2 || pg < bg ? 0 : pg - bg;
    }
    if (nw < 2) prof_gap = base_gap = 0;
    qsort(pause, REPS, sizeof pause[0], cmp64);
    best_ms = (double)best / ROOST_MS;
    prof_gap_ms = (double)prof_gap / ROOST_MS;
    base_gap_ms = (double)base_gap / ROOST_MS;
    pause_ms = (double)pause[REPS / 2] / ROOST_MS;
    pause_max_ms = (double)pause[REPS - 1] / ROOST_MS;

    atomic_store(&stop, 1);
    CHECK(roost_waitgroup_wait(NULL, &yielders_done));
    CHECK(roost_chan_close(ch)); /* every parked task returns */
    roost_chan_unref(ch);
}

int main(void) {
    bench_run(body, NULL);
    int workers = roost_workers();
    bench_wait_drained("profile100k");
    printf("profile100k_ms %.2f pause_ms %.3f pause_max_ms %.3f prof_gap_ms %.3f base_gap_ms %.3f "
           "tasks %lld bytes %zu workers %d\n",
           best_ms, pause_ms, pause_max_ms, prof_gap_ms, base_gap_ms, (long long)ntasks, prof_bytes, workers);
    return 0;
}
