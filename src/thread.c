/* thread.c - the OS threads roost starts: one way to start them.
 *
 * Workers, the timer thread, blocking-pool threads and the
 * signal watcher all start here, named (visible in top -H, gdb, perf) and
 * with every asynchronous signal blocked, whatever the starting thread's
 * mask was: a signal sent to the process then lands on one of the
 * program's own threads, never on a runtime thread by chance in the middle
 * of a task switch. Synchronous signals (a fault in a task: SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) cannot be blocked usefully and
 * stay open, as do SIGPROF, so that a CPU profiler's timer samples the
 * threads that run tasks, SIGQUIT, whose handler is roost's own task
 * dump (profile.c), safe on any thread, and SIGURG, ignored by default,
 * which the monitor sends a blocked worker to read its task's stack
 * (fatal.c). A task's raise(3) signals its
 * worker thread: for the others, use kill(getpid(), sig).
 */
#include "internal.h"
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Thread_local bool roost__tls_runtime __attribute__((tls_model("initial-exec")));
_Thread_local volatile bool roost__tls_idle __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) void roost__scrub_stack(void) {
    char buf[64 << 10];
    explicit_bzero(buf, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

struct thread_start {
    void *(*fn)(void *);
    void *arg;
    bool runtime;
};

static void *thread_main(void *p) {
    struct thread_start s = *(struct thread_start *)p;
    free(p);
    roost__tls_runtime = s.runtime;
    return s.fn(s.arg);
}

int roost__thread_start(pthread_t *out, void *(*fn)(void *), void *arg, const char *name, bool detached) {
    struct thread_start *ts = malloc(sizeof *ts);
    if (!ts) return ROOST_ENOMEM;
    /* Every thread but the blocking pool's runs roost's code only. */
    *ts = (struct thread_start){fn, arg, !name || strcmp(name, "roost-pool") != 0};
    sigset_t block, old;
    sigfillset(&block);
    static const int open_sigs[] = {SIGSEGV, SIGBUS,  SIGILL,  SIGFPE, SIGTRAP,
                                    SIGSYS,  SIGPROF, SIGQUIT, SIGURG};
    for (size_t i = 0; i < sizeof open_sigs / sizeof *open_sigs; i++) sigdelset(&block, open_sigs[i]);
    sigdelset(&block, ROOST_STOP_SIGNAL); /* the reachability proof's stop (reach_stop.c) */
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (detached) pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    pthread_sigmask(SIG_SETMASK, &block, &old);
    int e = pthread_create(&t, &a, thread_main, ts);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (e) free(ts);
    if (e) return e == EAGAIN ? ROOST_ENOMEM : ROOST_EINVAL;
    if (name) {
        char n[16]; /* the kernel keeps 15 characters */
        snprintf(n, sizeof n, "%s", name);
        pthread_setname_np(t, n);
    }
    if (out) *out = t;
    return 0;
}
