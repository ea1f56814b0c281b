/* test_lateness.c - a woken task is not left behind a crowd of busy tasks.
 *
 * Thousands of ping-pong pairs keep every worker busy: each pair hands a
 * value back and forth through runnext, so the worker never runs dry, and
 * everything else waits in the rings and the global queue. A task whose
 * sleep ends must still run within about one pass over those tasks (each
 * gets a turn of 61 picks), and so must a task readied by a plain thread
 * (through the global queue): both checked with a bound of hundreds of
 * milliseconds. (A fairness check that moves a batch of the global queue
 * into a ring that runnext keeps from being popped fails both: the batch
 * goes round between the ring and the global queue without running, and a
 * 10 ms sleep wakes seconds late, or never on one worker. See fair_pick in
 * sched.c.)
 */
#include "check.h"
#include <pthread.h>

typedef struct {
    roost_chan_t *a, *b;
} pair;

static pair *g_pairs;
static int g_npairs;
static atomic_int g_stop;
static atomic_long g_trips;

static void pong(void *p) {
    pair *q = p;
    int64_t v;
    int rc;
    while ((rc = roost_chan_recv(NULL, q->a, &v)) == 0) CHECK_OK(roost_chan_send(NULL, q->b, &v));
    CHECK_ERR(rc, ROOST_ECLOSED);
    roost_chan_unref(q->a);
    roost_chan_unref(q->b);
}

static void ping(void *p) {
    pair *q = p;
    int64_t i = 0, v;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        CHECK_OK(roost_chan_send(NULL, q->a, &i));
        CHECK_OK(roost_chan_recv(NULL, q->b, &v));
        CHECK_EQ(v, i);
        if (++i % 64 == 0) atomic_fetch_add_explicit(&g_trips, 64, memory_order_relaxed);
    }
    CHECK_OK(roost_chan_close(q->a));
    roost_chan_unref(q->a);
    roost_chan_unref(q->b);
}

/* Spawn the pairs and wait until they are going (round trips counted). */
static void crowd_start(void) {
    g_npairs = SCALE(10000, 500);
    g_pairs = calloc((size_t)g_npairs, sizeof *g_pairs);
    CHECK(g_pairs);
    atomic_store(&g_stop, 0);
    atomic_store(&g_trips, 0);
    for (int i = 0; i < g_npairs; i++) {
        CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &g_pairs[i].a));
        CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &g_pairs[i].b));
        roost_chan_ref(g_pairs[i].a); /* one reference for each task of the pair */
        roost_chan_ref(g_pairs[i].b);
        CHECK_OK(roost_go(pong, &g_pairs[i]));
        CHECK_OK(roost_go(ping, &g_pairs[i]));
    }
    while (atomic_load(&g_trips) < 64L * g_npairs) CHECK_OK(roost_sleep(NULL, ROOST_MS));
}

static void crowd_stop(void) {
    atomic_store(&g_stop, 1);
    CHECK_OK(roost_wait_tasks(0, 30 * ROOST_S * check_slack()));
    free(g_pairs);
}

/* How late a woken task may run. A task the timer readied goes ahead of
 * the crowd and runs within a few milliseconds; one readied by a plain
 * thread goes round with it, a pass over 10,000 tasks, 100-200 ms here
 * with other programs running. */
static int64_t timer_bound(void) { return 500 * ROOST_MS * check_slack(); }
/* Starvation would be unbounded (the pairs never stop on their own), so a
 * bound of seconds still catches it; TSan on a loaded 2-core machine has
 * taken 3.5 s to let a plain thread's wake-up through. */
static int64_t thread_bound(void) { return 4000 * ROOST_MS * check_slack(); }

/* ------------------------------------------------------------ timer wake-ups */

static void t_sleep_in_crowd(void *arg) {
    crowd_start();
    int64_t worst = 0;
    for (int r = 0; r < 5; r++) {
        int64_t t0 = roost_now();
        CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
        int64_t late = check_since(t0) - 10 * ROOST_MS;
        CHECK_MSG(late < timer_bound(), "a 10 ms sleep woke %lld ms late behind %d busy pairs",
                  (long long)(late / ROOST_MS), g_npairs);
        if (late > worst) worst = late;
    }
    /* A context's deadline, fired by the timer thread too. */
    roost_chan_t *never;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &never));
    int64_t t0 = roost_now();
    roost_ctx_t *c;
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &c));
    int v;
    CHECK_ERR(roost_chan_recv(c, never, &v), ROOST_ETIMEDOUT);
    int64_t late = check_since(t0) - 10 * ROOST_MS;
    CHECK_MSG(late < timer_bound(), "a 10 ms deadline fired %lld ms late behind %d busy pairs",
              (long long)(late / ROOST_MS), g_npairs);
    printf("  %d pairs: sleeps woke at most %.1f ms late, the deadline %.1f ms\n", g_npairs,
           (double)worst / 1e6, (double)late / 1e6);
    roost_chan_unref(never);
    roost_ctx_unref(c);
    crowd_stop();
}

/* ------------------------------------------------------------ the global queue */

/* A plain thread sends; the task it wakes goes to the global queue. */
static roost_chan_t *g_ch;
static void *send_from_thread(void *arg) {
    int64_t t = roost_now();
    CHECK_OK(roost_chan_send(NULL, g_ch, &t));
    return NULL;
}

static void t_thread_wake_in_crowd(void *arg) {
    crowd_start();
    CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &g_ch));
    int64_t worst = 0;
    for (int r = 0; r < 10; r++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, send_from_thread, NULL), 0);
        int64_t sent;
        CHECK_OK(roost_chan_recv(NULL, g_ch, &sent));
        int64_t late = check_since(sent);
        CHECK_MSG(late < thread_bound(),
                  "a task woken by a plain thread ran %lld ms later, behind %d busy pairs",
                  (long long)(late / ROOST_MS), g_npairs);
        CHECK_EQ(pthread_join(th, NULL), 0);
        if (late > worst) worst = late;
    }
    printf("  %d pairs: woken tasks ran at most %.1f ms after the send\n", g_npairs, (double)worst / 1e6);
    roost_chan_unref(g_ch);
    crowd_stop();
}

int main(void) {
    check_init_workers(2);
    RUN(t_sleep_in_crowd);
    RUN(t_thread_wake_in_crowd);
    check_no_leaks();
    return 0;
}
