/* test_shutdown.c - roost_shutdown while plain threads still wait on
 * timers: timers outlive the runtime. A thread asleep or in a timed wait
 * wakes on time, a roost_after channel or a ticker made before the
 * shutdown still delivers (without starting the runtime again), timers
 * nobody can see are dropped, and the thread serving the leftovers goes
 * away once they are done, or takes up the scheduler again on a restart. */
#include "check.h"
#include <dirent.h>
#include <pthread.h>

/* Threads in this process. */
static int nthreads(void) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Wait until the thread count is back to `want` (a detached thread takes a
 * moment to go). */
static void wait_threads(int want) {
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    int n;
    while ((n = nthreads()) != want && roost_now() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(n, want);
}

typedef struct {
    pthread_t tid;
    atomic_int started, done;
    int rc;
    int64_t took;
    roost_chan_t *ch;
    int64_t ns;
} waiter_t;

static void *sleeper(void *arg) {
    waiter_t *w = arg;
    atomic_store(&w->started, 1);
    int64_t t0 = roost_now();
    w->rc = roost_sleep(NULL, w->ns);
    w->took = check_since(t0);
    atomic_store(&w->done, 1);
    return NULL;
}

static void *timed_receiver(void *arg) {
    waiter_t *w = arg;
    roost_ctx_t *ctx;
    int64_t t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, w->ns, &ctx));
    atomic_store(&w->started, 1);
    int64_t v;
    w->rc = roost_chan_recv(ctx, w->ch, &v);
    w->took = check_since(t0);
    roost_ctx_unref(ctx);
    atomic_store(&w->done, 1);
    return NULL;
}

static void *receiver(void *arg) {
    waiter_t *w = arg;
    atomic_store(&w->started, 1);
    int64_t v;
    w->rc = roost_chan_recv(NULL, w->ch, &v);
    atomic_store(&w->done, 1);
    return NULL;
}

static void start(waiter_t *w, void *(*fn)(void *)) {
    CHECK_EQ(pthread_create(&w->tid, NULL, fn, w), 0);
    while (!atomic_load(&w->started)) sched_yield();
    /* Into its wait, most likely; if not, its call starts the runtime
     * again, and the checks below still hold. */
    struct timespec ts = {0, 20000000 * check_slack()};
    nanosleep(&ts, NULL);
}

/* Fails (rather than hangs) when the waiter never wakes. */
static void finish(waiter_t *w, const char *what) {
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    while (!atomic_load(&w->done) && roost_now() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(atomic_load(&w->done), "%s never woke after roost_shutdown", what);
    pthread_join(w->tid, NULL);
}

static void noop(void *arg) {}

static void sleepy(void *arg) { CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS)); }

int main(void) {
    check_watchdog("main");
    /* One start and stop first: the runtime's first start also starts
     * threads that live as long as the process (the SIGQUIT dumper). */
    check_init_workers(2);
    CHECK_OK(roost_run(noop, NULL));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack())); /* roost_run's task is exiting */
    CHECK_OK(roost_shutdown());
    /* The stopped timer thread leaves a moment after roost_shutdown. */
    int base = nthreads();
    for (int64_t end = roost_now() + 300 * ROOST_MS; roost_now() < end;) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        int n = nthreads();
        if (n < base) base = n;
    }

    /* Plain threads asleep, and in a timed receive, across a shutdown. */
    check_init_workers(2);
    waiter_t s = {.ns = 150 * ROOST_MS * check_slack()}, r = {.ns = 150 * ROOST_MS * check_slack()};
    CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &r.ch));
    start(&s, sleeper);
    start(&r, timed_receiver);
    CHECK_OK(roost_shutdown());
    finish(&s, "a sleeping thread");
    CHECK_OK(s.rc);
    CHECK_GE(s.took, s.ns);
    finish(&r, "a thread in a timed receive");
    CHECK_ERR(r.rc, ROOST_ETIMEDOUT);
    CHECK_GE(r.took, r.ns);
    roost_chan_unref(r.ch);
    CHECK_OK(roost_shutdown()); /* in case the sleeper started it again, late */
    wait_threads(base);         /* the timers are done: no thread left for them */
    printf("ok waiting threads wake after shutdown\n");

    /* A roost_after channel and a ticker made before a shutdown deliver
     * after it, without starting the runtime again. */
    check_init_workers(2);
    waiter_t a = {0};
    CHECK_OK(roost_after(50 * ROOST_MS, &a.ch));
    roost_ticker_t *tk;
    CHECK_OK(roost_ticker_make(10 * ROOST_MS, &tk));
    CHECK_OK(roost_shutdown());
    CHECK_EQ(roost_workers(), 0);
    start(&a, receiver);
    finish(&a, "a receive from roost_after");
    CHECK_OK(a.rc);
    roost_chan_unref(a.ch);
    for (int i = 0; i < 2; i++) {
        waiter_t t = {.ch = roost_ticker_chan(tk)};
        start(&t, receiver);
        finish(&t, "a receive from a ticker");
        CHECK_OK(t.rc);
    }
    CHECK_EQ(roost_workers(), 0); /* still not started */
    CHECK_OK(roost_ticker_stop(tk));
    wait_threads(base);
    printf("ok timers deliver after shutdown\n");

    /* Timers only their own reference keeps (a roost_after channel
     * dropped, a context with a timeout never cancelled) are dropped at
     * shutdown: no thread stays for them. */
    check_init_workers(2);
    roost_chan_t *ch;
    CHECK_OK(roost_after(3600 * ROOST_S, &ch));
    roost_chan_unref(ch);
    roost_ctx_t *p, *c;
    CHECK_OK(roost_ctx_with_timeout(NULL, 3600 * ROOST_S, &p));
    CHECK_OK(roost_ctx_with_timeout(p, 1800 * ROOST_S, &c));
    roost_ctx_unref(c);
    roost_ctx_unref(p);
    CHECK_OK(roost_shutdown());
    wait_threads(base);
    printf("ok unseen timers dropped at shutdown\n");

    /* A restart while leftovers are served: the same thread serves the
     * scheduler again (a task's sleep), and the leftover still fires. */
    check_init_workers(2);
    waiter_t s2 = {.ns = 200 * ROOST_MS * check_slack()};
    start(&s2, sleeper);
    CHECK_OK(roost_shutdown());
    int rc = roost_init(&(roost_config_t){.workers = 2});
    CHECK(rc == ROOST_OK || rc == ROOST_ESTATE); /* ESTATE: the sleeper was late and started it */
    CHECK_OK(roost_run(sleepy, NULL));
    finish(&s2, "a sleeping thread across a restart");
    CHECK_OK(s2.rc);
    CHECK_GE(s2.took, s2.ns);
    check_no_leaks();
    CHECK_OK(roost_shutdown());
    wait_threads(base);
    printf("ok restart while serving\n");
    return 0;
}
