/* test_thread.c - blocking calls from plain OS threads (not tasks): they
 * block the thread, and interoperate with tasks through the same objects. */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

static int g_n;

/* ------------------------------------------------------------ thread sends, task receives */

static roost_chan_t *g_ch, *g_back;
static atomic_int g_thread_done;

static void *thread_sender(void *arg) {
    CHECK_EQ(roost_task_id(), 0);
    for (int i = 0; i < g_n; i++) CHECK_OK(roost_chan_send(NULL, g_ch, &i));
    CHECK_OK(roost_chan_close(g_ch));
    atomic_store(&g_thread_done, 1);
    return NULL;
}

static void task_receiver(void *arg) {
    int v, rc, i = 0;
    while ((rc = roost_chan_recv(NULL, g_ch, &v)) == 0) {
        CHECK_EQ(v, i);
        i++;
    }
    CHECK_ERR(rc, ROOST_ECLOSED);
    CHECK_EQ(i, g_n);
}

static void *thread_receiver(void *arg) {
    int v, rc, i = 0;
    while ((rc = roost_chan_recv(NULL, g_ch, &v)) == 0) {
        CHECK_EQ(v, i);
        i++;
    }
    CHECK_ERR(rc, ROOST_ECLOSED);
    CHECK_EQ(v, 0);
    CHECK_EQ(i, g_n);
    atomic_store(&g_thread_done, 1);
    return NULL;
}

static void task_sender(void *arg) {
    for (int i = 0; i < g_n; i++) CHECK_OK(roost_chan_send(NULL, g_ch, &i));
    CHECK_OK(roost_chan_close(g_ch));
}

static void test_thread_to_task(size_t cap) {
    pthread_t th;
    CHECK_OK(roost_chan_make(sizeof(int), cap, &g_ch));
    atomic_store(&g_thread_done, 0);
    CHECK_EQ(pthread_create(&th, NULL, thread_sender, NULL), 0);
    CHECK_OK(roost_run(task_receiver, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(atomic_load(&g_thread_done), 1);
    roost_chan_unref(g_ch);
    printf("ok thread_to_task cap=%zu\n", cap);
}

static void test_task_to_thread(size_t cap) {
    pthread_t th;
    CHECK_OK(roost_chan_make(sizeof(int), cap, &g_ch));
    atomic_store(&g_thread_done, 0);
    /* The thread starts receiving (and blocks) before any task exists. */
    CHECK_EQ(pthread_create(&th, NULL, thread_receiver, NULL), 0);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK_OK(roost_run(task_sender, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(atomic_load(&g_thread_done), 1);
    roost_chan_unref(g_ch);
    printf("ok task_to_thread cap=%zu\n", cap);
}

/* ------------------------------------------------------------ ping-pong thread <-> task */

static void *thread_pinger(void *arg) {
    for (int i = 0; i < g_n; i++) {
        CHECK_OK(roost_chan_send(NULL, g_ch, &i));
        int v;
        CHECK_OK(roost_chan_recv(NULL, g_back, &v));
        CHECK_EQ(v, i + 1);
    }
    return NULL;
}

static void task_ponger(void *arg) {
    for (int i = 0; i < g_n; i++) {
        int v;
        CHECK_OK(roost_chan_recv(NULL, g_ch, &v));
        CHECK_EQ(v, i);
        v++;
        CHECK_OK(roost_chan_send(NULL, g_back, &v));
    }
}

static void test_pingpong(void) {
    pthread_t th;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_ch));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_back));
    CHECK_EQ(pthread_create(&th, NULL, thread_pinger, NULL), 0);
    CHECK_OK(roost_run(task_ponger, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    roost_chan_unref(g_ch);
    roost_chan_unref(g_back);
    printf("ok pingpong\n");
}

/* ------------------------------------------------------------ threads blocking with contexts, select, sleep */

static void *thread_blocking_misc(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    /* sleep blocks the thread */
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    /* a context deadline ends a thread's blocked receive */
    roost_ctx_t *c;
    t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &c));
    CHECK_ERR(roost_chan_recv(c, ch, &v), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 30 * ROOST_MS);
    CHECK_LT(check_since(t0), 2 * ROOST_S * check_slack());
    roost_ctx_unref(c);
    /* select from a thread with a timeout */
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &c));
    roost_case_t cs[2] = {{ch, ROOST_RECV, &v, 0}, {NULL, ROOST_RECV, &v, 0}};
    CHECK_ERR(roost_select(c, cs, 2, 0), ROOST_ETIMEDOUT);
    CHECK_ERR(roost_select(NULL, cs, 2, ROOST_SELECT_NONBLOCK), ROOST_EAGAIN);
    roost_ctx_unref(c);
    /* Tell the task to go on; then it sends and the thread's select receives. */
    v = 0;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    CHECK_EQ(roost_select(NULL, cs, 2, 0), 0);
    CHECK_EQ(cs[0].err, 0);
    CHECK_EQ(v, 555);
    /* And a plain blocking receive. */
    CHECK_OK(roost_chan_recv(NULL, ch, &v));
    CHECK_EQ(v, 1);
    return NULL;
}

typedef struct {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    pthread_t th;
} cancel_t;

static void *thread_cancel_victim(void *arg) {
    cancel_t *c = arg;
    int v;
    CHECK_ERR(roost_chan_recv(c->ctx, c->ch, &v), ROOST_ECANCELED);
    return NULL;
}

static void task_misc(void *arg) {
    roost_chan_t *ch = arg;
    int v = -1;
    CHECK_OK(roost_chan_recv(NULL, ch, &v)); /* the thread's go-ahead */
    CHECK_EQ(v, 0);
    v = 555;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    v = 1;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
}

static void task_cancel(void *arg) {
    cancel_t *c = arg;
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    roost_ctx_cancel(c->ctx);
}

static void test_misc(void) {
    roost_chan_t *ch;
    pthread_t th;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    CHECK_EQ(pthread_create(&th, NULL, thread_blocking_misc, ch), 0);
    CHECK_OK(roost_run(task_misc, ch));
    CHECK_EQ(pthread_join(th, NULL), 0);

    cancel_t c;
    c.ch = ch;
    CHECK_OK(roost_ctx_with_cancel(NULL, &c.ctx));
    CHECK_EQ(pthread_create(&c.th, NULL, thread_cancel_victim, &c), 0);
    int64_t t0 = roost_now();
    CHECK_OK(roost_run(task_cancel, &c));
    CHECK_EQ(pthread_join(c.th, NULL), 0);
    CHECK_LT(check_since(t0), 2 * ROOST_S * check_slack());
    roost_ctx_unref(c.ctx);
    roost_chan_unref(ch);
    printf("ok thread_ctx_select_sleep\n");
}

/* ------------------------------------------------------------ mutex and waitgroup shared by threads and tasks */

static roost_mutex_t g_mu = ROOST_MUTEX_INIT;
static long g_counter;
static roost_waitgroup_t g_wg = ROOST_WAITGROUP_INIT;

static void bump(int iters) {
    for (int i = 0; i < iters; i++) {
        CHECK_OK(roost_mutex_lock(NULL, &g_mu));
        long v = g_counter;
        if (i % 32 == 0) {
            if (roost_task_id())
                CHECK_OK(roost_yield());
            else
                sched_yield();
        }
        g_counter = v + 1;
        CHECK_OK(roost_mutex_unlock(&g_mu));
    }
}

static void *thread_bumper(void *arg) {
    bump(g_n);
    CHECK_OK(roost_waitgroup_done(&g_wg));
    return NULL;
}

static void task_bumper(void *arg) {
    bump(g_n);
    CHECK_OK(roost_waitgroup_done(&g_wg));
}

static void task_spawn_bumpers(void *arg) {
    for (int i = 0; i < 8; i++) CHECK_OK(roost_go(task_bumper, NULL));
}

static void *thread_waiter(void *arg) {
    CHECK_OK(roost_waitgroup_wait(NULL, &g_wg));
    atomic_fetch_add(&g_thread_done, 1);
    return NULL;
}

static void test_shared_sync(void) {
    enum { NT = 3 };
    pthread_t th[NT], w;
    g_counter = 0;
    atomic_store(&g_thread_done, 0);
    CHECK_OK(roost_waitgroup_add(&g_wg, NT + 8));
    CHECK_EQ(pthread_create(&w, NULL, thread_waiter, NULL), 0);
    for (int i = 0; i < NT; i++) CHECK_EQ(pthread_create(&th[i], NULL, thread_bumper, NULL), 0);
    CHECK_OK(roost_run(task_spawn_bumpers, NULL));
    for (int i = 0; i < NT; i++) CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);          /* released by the last done */
    CHECK_OK(roost_waitgroup_wait(NULL, &g_wg)); /* main is a plain thread too */
    CHECK_EQ(atomic_load(&g_thread_done), 1);
    CHECK_EQ(g_counter, (long)(NT + 8) * g_n);
    printf("ok shared_mutex_waitgroup\n");
}

/* ------------------------------------------------------------ roost_run from several threads at once */

static roost_chan_t *g_x, *g_y;
static void run_a(void *arg) {
    for (int i = 0; i < g_n; i++) {
        CHECK_OK(roost_chan_send(NULL, g_x, &i));
        int v;
        CHECK_OK(roost_chan_recv(NULL, g_y, &v));
        CHECK_EQ(v, -i);
    }
}
static void run_b(void *arg) {
    for (int i = 0; i < g_n; i++) {
        int v;
        CHECK_OK(roost_chan_recv(NULL, g_x, &v));
        CHECK_EQ(v, i);
        v = -v;
        CHECK_OK(roost_chan_send(NULL, g_y, &v));
    }
}
static void *thread_run(void *arg) {
    CHECK_OK(roost_run((void (*)(void *))arg, NULL));
    return NULL;
}

static void test_concurrent_runs(void) {
    pthread_t a, b;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_x));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_y));
    CHECK_EQ(pthread_create(&a, NULL, thread_run, (void *)run_a), 0);
    CHECK_EQ(pthread_create(&b, NULL, thread_run, (void *)run_b), 0);
    CHECK_EQ(pthread_join(a, NULL), 0);
    CHECK_EQ(pthread_join(b, NULL), 0);
    roost_chan_unref(g_x);
    roost_chan_unref(g_y);
    printf("ok concurrent_roost_run\n");
}

/* ------------------------------------------------------------ thread <-> thread through roost */

static void *thread_plain_recv(void *arg) {
    int v;
    CHECK_OK(roost_chan_recv(NULL, g_ch, &v));
    CHECK_EQ(v, 31337);
    return NULL;
}

static void test_thread_to_thread(void) {
    pthread_t th;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_ch));
    CHECK_EQ(pthread_create(&th, NULL, thread_plain_recv, NULL), 0);
    int v = 31337;
    CHECK_OK(roost_chan_send(NULL, g_ch, &v)); /* main thread, no task involved */
    CHECK_EQ(pthread_join(th, NULL), 0);
    roost_chan_unref(g_ch);
    printf("ok thread_to_thread\n");
}

/* Each step under the watchdog, so a hang names itself. */
#define STEP(call)             \
    do {                       \
        check_watchdog(#call); \
        call;                  \
        check_watchdog(NULL);  \
    } while (0)

int main(void) {
    g_n = SCALE(20000, 500);
    STEP(test_thread_to_thread()); /* may start the runtime lazily, or not at all */
    STEP(test_thread_to_task(0));
    STEP(test_thread_to_task(4));
    STEP(test_task_to_thread(0));
    STEP(test_task_to_thread(4));
    STEP(test_pingpong());
    STEP(test_misc());
    g_n = SCALE(5000, 200);
    STEP(test_shared_sync());
    g_n = SCALE(5000, 200);
    STEP(test_concurrent_runs());
    check_no_leaks();
    return 0;
}
