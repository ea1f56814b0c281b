/* test_watchdog.c - the watchdog's stack request (fatal.c's SIGURG to a
 * worker, which sysmon sends for a blocked worker's report) is safe at any
 * point of a worker's life: its signal can land in the middle of a context
 * switch, in the scheduler loop, in a task's first instructions, or as a
 * task exits and its stack goes back to the cache. Sysmon sends one only
 * for a worker that looks blocked, which on a loaded machine (a worker
 * descheduled for a while) is one that switches busily; this test asks for
 * stacks back to back while pairs of tasks ping-pong and short tasks come
 * and go, so that requests land everywhere. */
#include "check.h"
#include "internal.h"
#include "scheduler.h"

#include <pthread.h>

#define PAIRS 64

static atomic_int stop;
static atomic_long asked, answered;

static void pinger(void *arg) {
    roost_chan_t **ch = arg;
    int v = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        CHECK_OK(roost_chan_send(NULL, ch[0], &v));
        CHECK_OK(roost_chan_recv(NULL, ch[1], &v));
        v++;
    }
    CHECK_OK(roost_chan_close(ch[0]));
}

static void ponger(void *arg) {
    roost_chan_t **ch = arg;
    int v;
    while (roost_chan_recv(NULL, ch[0], &v) == ROOST_OK) CHECK_OK(roost_chan_send(NULL, ch[1], &v));
}

static void brief(void *arg) {
    (void)arg;
    roost_yield();
}

/* New tasks all the time: first switches into fresh stacks, and exits. */
static void spawner(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        CHECK_OK(roost_go(brief, NULL));
        roost_yield();
    }
}

/* The monitor's side, from a plain thread, as the timer thread does it. */
static void *asker(void *arg) {
    (void)arg;
    uintptr_t pcs[ROOST_MAX_FRAMES];
    for (int i = 0; !atomic_load(&stop); i++) {
        roost__worker *v = &roost__sched.workers[i % roost__nw()];
        atomic_fetch_add(&asked, 1);
        if (roost__worker_stack(v, pcs, ROOST_MAX_FRAMES) > 0)
            atomic_fetch_add(&answered, 1);
        else
            usleep(100); /* the sanitizers answer none at once: no spinning */
    }
    return NULL;
}

static void t_stack_requests(void *arg) {
    (void)arg;
    static roost_chan_t *ch[PAIRS][2];
    for (int i = 0; i < PAIRS; i++) {
        CHECK_OK(roost_chan_make(sizeof(int), 0, &ch[i][0]));
        CHECK_OK(roost_chan_make(sizeof(int), 0, &ch[i][1]));
        CHECK_OK(roost_go(pinger, ch[i]));
        CHECK_OK(roost_go(ponger, ch[i]));
    }
    CHECK_OK(roost_go(spawner, NULL));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, asker, NULL), 0);
    CHECK_OK(roost_sleep(NULL, 2 * ROOST_S));
    atomic_store(&stop, 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack())); /* every other task: the pongers use ch */
    for (int i = 0; i < PAIRS; i++) roost_chan_unref(ch[i][0]), roost_chan_unref(ch[i][1]);
    printf("stack requests: %ld asked, %ld answered\n", atomic_load(&asked), atomic_load(&answered));
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
    /* The sanitizers own signal delivery (no stacks there); valgrind
     * delivers late and may let every request time out. */
    if (!check_quick()) CHECK_GT(atomic_load(&answered), 0);
#endif
}

int main(void) {
    /* No reports of our own: the only requests are the test's. */
    setenv("ROOST_BLOCKED_MS", "0", 1);
    roost_config_t cfg = {0};
    cfg.workers = 2;
    CHECK_OK(roost_init(&cfg));
    RUN(t_stack_requests);
    check_no_leaks();
    return 0;
}
