/* test_signal.c - signals as a context; roost's threads block asynchronous
 * signals. */
#include "check.h"
#include "roost_io.h"
#include <pthread.h>
#include <signal.h>

static atomic_int own_handler_calls;
static void own_handler(int s) { atomic_fetch_add(&own_handler_calls, 1); }

static void wait_until(atomic_int *v, int want) {
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    while (atomic_load(v) < want && roost_now() < end) roost_sleep(NULL, ROOST_MS);
    CHECK_GE(atomic_load(v), want);
}

/* The context is cancelled with the signal as its cause; then the
 * program's own handler is back and gets the next one. */
static void t_signal_cancels(void *arg) {
    struct sigaction sa = {.sa_handler = own_handler}, cur;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    roost_ctx_t *ctx;
    int sigs[] = {SIGUSR1, SIGUSR2};
    CHECK_OK(roost_ctx_with_signals(NULL, sigs, 2, &ctx));
    CHECK_EQ(sigaction(SIGUSR1, NULL, &cur), 0);
    CHECK(cur.sa_handler != own_handler); /* roost's, while listening */
    CHECK_OK(kill(getpid(), SIGUSR1));
    int64_t t0 = roost_now();
    CHECK_ERR(roost_sleep(ctx, 10 * ROOST_S), ROOST_ECANCELED);
    CHECK_LT(check_since(t0), 5 * ROOST_S * check_slack());
    CHECK_EQ(roost_ctx_cause(ctx), SIGUSR1);
    CHECK_EQ(atomic_load(&own_handler_calls), 0); /* roost took it */
    roost_ctx_unref(ctx);
    /* Nobody listens now: the old disposition is back. */
    CHECK_EQ(sigaction(SIGUSR1, NULL, &cur), 0);
    CHECK_MSG(cur.sa_handler == own_handler, "handler %p, want %p", (void *)cur.sa_handler,
              (void *)own_handler);
    CHECK_OK(kill(getpid(), SIGUSR1));
    wait_until(&own_handler_calls, 1);
}

/* roost_ctx_cancel is "stop": a signal that arrives afterwards reaches the
 * program's own handler, as if roost had never listened. */
static void t_stop_then_signal(void *arg) {
    struct sigaction sa = {.sa_handler = own_handler};
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR2, &sa, NULL), 0);
    int before = atomic_load(&own_handler_calls);
    roost_ctx_t *ctx;
    int s = SIGUSR2;
    CHECK_OK(roost_ctx_with_signals(NULL, &s, 1, &ctx));
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
    CHECK_OK(kill(getpid(), SIGUSR2));
    wait_until(&own_handler_calls, before + 1);
    /* The parent's cancellation reaches it too, with the parent's cause. */
    roost_ctx_t *parent, *child;
    CHECK_OK(roost_ctx_with_cancel(NULL, &parent));
    CHECK_OK(roost_ctx_with_signals(parent, &s, 1, &child));
    roost_ctx_cancel_cause(parent, 42);
    CHECK_ERR(roost_ctx_err(child), ROOST_ECANCELED);
    CHECK_EQ(roost_ctx_cause(child), 42);
    roost_ctx_unref(child);
    roost_ctx_unref(parent);
}

static void t_bad_signals(void *arg) {
    roost_ctx_t *ctx;
    int bad[] = {SIGKILL, SIGSTOP, SIGSEGV, 0, -1, 1000};
    for (int i = 0; i < 6; i++) CHECK_ERR(roost_ctx_with_signals(NULL, &bad[i], 1, &ctx), ROOST_EINVAL);
    int ok = SIGUSR1;
    CHECK_ERR(roost_ctx_with_signals(NULL, &ok, 0, &ctx), ROOST_EINVAL);
    CHECK_ERR(roost_ctx_with_signals(NULL, NULL, 1, &ctx), ROOST_EINVAL);
    CHECK_ERR(roost_ctx_with_signals(NULL, &ok, 1, NULL), ROOST_EINVAL);
}

/* A task runs on a worker thread, which blocks asynchronous signals but
 * not the synchronous ones (a fault in a task must still be reported). */
static void t_worker_mask(void *arg) {
    sigset_t cur;
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    CHECK_EQ(sigismember(&cur, SIGINT), 1);
    CHECK_EQ(sigismember(&cur, SIGTERM), 1);
    CHECK_EQ(sigismember(&cur, SIGUSR1), 1);
    CHECK_EQ(sigismember(&cur, SIGSEGV), 0);
    CHECK_EQ(sigismember(&cur, SIGBUS), 0);
    CHECK_EQ(sigismember(&cur, SIGFPE), 0);
}

/* The thread the test's signals land on: the main thread blocks SIGUSR1
 * and SIGUSR2 (it sits in roost_run's futex wait, where TSan, which defers
 * a handler to the thread's next intercepted call, would never run it),
 * and this one takes them, between naps, as a program's main loop would. */
static atomic_int sink_stop;
static void *sink_main(void *arg) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    while (!atomic_load(&sink_stop)) usleep(1000);
    return NULL;
}

int main(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_t sink;
    CHECK_EQ(pthread_create(&sink, NULL, sink_main, NULL), 0);
    RUN(t_worker_mask);
    RUN(t_signal_cancels);
    RUN(t_stop_then_signal);
    RUN(t_bad_signals);
    atomic_store(&sink_stop, 1);
    pthread_join(sink, NULL);
    check_no_leaks();
    return 0;
}
