/* test_stack.c - task stacks: deep-but-legal use works, overflow is caught.
 *
 * An overflow must never corrupt memory silently: the process must stop with
 * a report that names the task and its spawn site. Each overflow case runs
 * in a forked child so the parent can check how it died and what it said.
 * (Under ASan, ASan's own handler reports the overflow; we then only check
 * that the child died of a signal or a non-zero exit.)
 */
#include "check.h"
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static _Atomic int sink; /* written by many tasks at once */

/* Recursion that really uses its frames. */
static int __attribute__((noinline)) burn(int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[511] = (char)depth;
    if (depth == 0) return frame[0];
    return burn(depth - 1) + frame[511];
}

static void deep_ok(void *arg) {
    /* ~40 KiB of a 64 KiB default stack: legal. */
    sink = burn(70);
    roost_yield();
    sink = burn(70);
}

static void t_deep_ok(void *unused) {
    for (int i = 0; i < 8; i++) CHECK_OK(roost_go(deep_ok, NULL));
    roost_task_opts_t big = {.name = "big", .stack_size = 1 << 20};
    static int done;
    CHECK_OK(roost_go_opts(deep_ok, NULL, &big));
    (void)done;
}

static void overflow_task(void *arg) { sink = burn(1 << 20); }

static void *prove_slowly(void *arg) {
    (void)arg;
    roost_leak_prove(NULL);
    return NULL;
}

static void overflow_main(void *arg) {
    if (arg) {
        /* The overflow while a reachability proof has the stacks
         * write-protected (its snapshot waits 2 s before it reads them): a
         * guard stays a guard. */
        setenv("ROOST_REACH_SNAP_DELAY_MS", "2000", 1);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, prove_slowly, NULL) == 0);
        roost_sleep(NULL, 200 * ROOST_MS);
    }
    roost_task_opts_t o = {.name = "overflower"};
    CHECK_OK(roost_go_opts(overflow_task, NULL, &o));
    roost_sleep(NULL, 5 * ROOST_S);
}

/* Run an overflowing task in a child (during a proof, with proving);
 * return its stderr and status. */
static void run_child(char *buf, size_t len, int *status, bool proving) {
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        roost_run(overflow_main, proving ? "proving" : NULL);
        _exit(0); /* not reached if the overflow is caught */
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(p[0], buf + n, len - n - 1)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(p[0]);
    CHECK(waitpid(pid, status, 0) == pid);
}

static void t_overflow_reported(bool proving) {
    char out[4096];
    int st;
    run_child(out, sizeof out, &st, proving);
#if defined(__SANITIZE_ADDRESS__)
    CHECK_MSG(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0), "overflow not caught");
#else
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child status %#x, stderr: %s", st, out);
    CHECK_MSG(strstr(out, "stack overflow in task") != NULL, "stderr: %s", out);
    CHECK_MSG(strstr(out, "overflower") != NULL, "task name missing: %s", out);
    CHECK_MSG(strstr(out, "test_stack.c:") != NULL, "spawn site missing: %s", out);
#endif
    printf("ok t_overflow_reported%s\n", proving ? " (during a proof)" : "");
}

int main(void) {
    /* The fork happens before this process starts any worker threads. */
    if (!getenv("VALGRIND") && !getenv("ROOST_TEST_QUICK")) {
        t_overflow_reported(false);
        t_overflow_reported(true);
    }
    RUN(t_deep_ok);
    check_no_leaks();
    return 0;
}
