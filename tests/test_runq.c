/* test_runq.c - the run queues on their own (src/runq.h, src/runq.c): a
 * worker's ring and the global queue, driven directly with task records
 * that never run, without starting the runtime.
 *
 * The single-threaded cases pin down the order each operation gives; the
 * stress case is Go's RunSchedLocalQueueStealTest: an owner pushes (at the
 * tail and at the head), pops and takes its oldest while thieves steal, and
 * every task must come out exactly once, none lost and none twice.
 */
#include "check.h"
#include "runq.h"

#include <pthread.h>

#define NTASKS 1024

static roost__task *tasks;       /* records that only serve as addresses */
static _Atomic int seen[NTASKS]; /* how many times each came out */

static roost__task *task(int i) { return &tasks[i]; }
static int index_of(roost__task *t) { return (int)(t - tasks); }

static roost__worker *new_worker(void) {
    roost__worker *w = aligned_alloc(64, sizeof *w);
    CHECK(w != NULL);
    memset(w, 0, sizeof *w);
    return w;
}

/* ------------------------------------------------------------ one thread */

static void test_order(bool alone) {
    roost__worker *w = new_worker();
    CHECK(roost__ring_empty(w));
    CHECK(roost__ring_pop(w, alone) == NULL);
    CHECK(roost__ring_take_own(w, alone) == NULL);
    CHECK(roost__ring_steal(w) == NULL);
    for (int i = 0; i < 4; i++) CHECK(roost__ring_put(w, task(i)));
    CHECK_EQ(roost__ring_len(w), 4);
    /* the owner pops the newest; a thief and the owner's take get the oldest */
    CHECK_PTR(roost__ring_pop(w, alone), task(3));
    CHECK_PTR(roost__ring_steal(w), task(0));
    CHECK_PTR(roost__ring_take_own(w, alone), task(1));
    /* put_oldest goes behind everything queued */
    CHECK(roost__ring_put_oldest(w, task(9), alone));
    CHECK(roost__ring_put(w, task(5)));
    CHECK_PTR(roost__ring_pop(w, alone), task(5));
    CHECK_PTR(roost__ring_pop(w, alone), task(2));
    CHECK_PTR(roost__ring_pop(w, alone), task(9));
    CHECK(roost__ring_pop(w, alone) == NULL);
    CHECK(roost__ring_empty(w));
    /* full: both pushes refuse, at any position of head */
    for (int i = 0; i < ROOST_RUNQ_SIZE; i++) CHECK(roost__ring_put(w, task(i)));
    CHECK(!roost__ring_put(w, task(999)));
    CHECK(!roost__ring_put_oldest(w, task(999), alone));
    CHECK_EQ(roost__ring_len(w), ROOST_RUNQ_SIZE);
    for (int i = 0; i < ROOST_RUNQ_SIZE; i++) CHECK_PTR(roost__ring_take_own(w, alone), task(i));
    CHECK(roost__ring_empty(w));
    free(w);
}

/* A full ring spills its older half and the new task to the global queue,
 * in order; workers take a fair share back, the timer list first. */
static void test_global(void) {
    roost__worker *w = new_worker(), *v = new_worker();
    for (int i = 0; i < ROOST_RUNQ_SIZE; i++) CHECK(roost__ring_put(w, task(i)));
    roost__ring_overflow(w, task(500), false);
    CHECK_EQ(roost__ring_len(w), ROOST_RUNQ_SIZE / 2);
    CHECK_EQ(atomic_load(&roost__gq_len), ROOST_RUNQ_SIZE / 2 + 1);
    /* a timer wake-up goes first, then FIFO */
    roost__gq_push_list(task(600), task(600), 1, true);
    CHECK_PTR(roost__gq_get(v, 1, 1), task(600));
    CHECK_PTR(roost__gq_get(v, 1, 1), task(0));
    /* with 2 workers, a fair share: half of what is queued, at most max */
    long len = atomic_load(&roost__gq_len);
    CHECK_PTR(roost__gq_get(v, 32, 2), task(1));
    CHECK_EQ(roost__ring_len(v), 31);
    CHECK_EQ(atomic_load(&roost__gq_len), len - 32);
    for (int i = 2; i < 33; i++) CHECK_PTR(roost__ring_take_own(v, false), task(i));
    /* swap: the queue's next runs, the ring's task goes to the tail */
    CHECK_PTR(roost__gq_swap(task(700)), task(33));
    roost__task *t;
    int next = 34;
    while ((t = roost__gq_get(v, 1, 1))) {
        if (next < ROOST_RUNQ_SIZE / 2)
            CHECK_PTR(t, task(next));
        else if (next == ROOST_RUNQ_SIZE / 2)
            CHECK_PTR(t, task(500));
        else
            CHECK_PTR(t, task(700));
        next++;
    }
    CHECK_EQ(next, ROOST_RUNQ_SIZE / 2 + 2);
    CHECK_EQ(atomic_load(&roost__gq_len), 0);
    CHECK_PTR(roost__gq_swap(task(800)), task(800)); /* empty: itself */
    while (roost__ring_pop(w, false)) {
    }
    free(w);
    free(v);
}

/* ------------------------------------------------------------ owner and thieves */

#define THIEVES 3

static roost__worker *victim;
static _Atomic long taken; /* tasks out of the ring this round, by anyone */
static _Atomic bool stop;

static void got(roost__task *t) {
    int i = index_of(t);
    CHECK(i >= 0 && i < NTASKS);
    int was = atomic_fetch_add(&seen[i], 1);
    CHECK_MSG(was == 0, "task %d came out of the ring twice", i);
    atomic_fetch_add(&taken, 1);
}

static void *thief(void *arg) {
    roost__worker *mine = new_worker(); /* what a batch would go to */
    while (!atomic_load(&stop)) {
        roost__task *t = roost__ring_steal(victim);
        if (t) got(t);
    }
    free(mine);
    return NULL;
}

static void test_steal_stress(void) {
    victim = new_worker();
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++) CHECK_EQ(pthread_create(&th[i], NULL, thief, NULL), 0);
    uint64_t rng = 88172645463325252ull;
    int rounds = SCALE(20000, 1000);
    for (int r = 0; r < rounds; r++) {
        int n = (int)(roost__xorshift(&rng) % ROOST_RUNQ_SIZE) + 1;
        atomic_store(&taken, 0);
        for (int i = 0; i < n; i++) atomic_store_explicit(&seen[i], 0, memory_order_relaxed);
        /* the owner fills the ring (at both ends) while thieves take */
        for (int i = 0; i < n; i++) {
            uint64_t x = roost__xorshift(&rng);
            bool ok =
                x & 1 ? roost__ring_put(victim, task(i)) : roost__ring_put_oldest(victim, task(i), false);
            CHECK(ok);
            if ((x & 6) == 0) { /* now and then, the owner takes some itself */
                roost__task *t = x & 8 ? roost__ring_pop(victim, false) : roost__ring_take_own(victim, false);
                if (t) got(t);
            }
        }
        roost__task *t;
        while ((t = roost__ring_pop(victim, false))) got(t);
        /* a thief may hold a task it has read and not yet counted */
        while (atomic_load(&taken) < n) sched_yield();
        CHECK_EQ(atomic_load(&taken), n);
        CHECK(roost__ring_empty(victim));
        for (int i = 0; i < n; i++) CHECK_MSG(atomic_load(&seen[i]) == 1, "task %d: %d", i, seen[i]);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
    free(victim);
}

int main(void) {
    tasks = aligned_alloc(64, sizeof(roost__task) * NTASKS);
    CHECK(tasks != NULL);
    test_order(true);
    test_order(false);
    printf("ok ring order\n");
    test_global();
    printf("ok global queue\n");
    test_steal_stress();
    printf("ok steal stress\n");
    free(tasks);
    check_no_leaks();
    return 0;
}
