/* test_stack.c - task stacks: deep-but-legal use works, overflow is caught.
 *
 * An overflow must never corrupt memory silently: the process must stop with
 * a report that names the task and its spawn site. Each overflow case runs
 * in a forked child so the parent can check how it died and what it said.
 * (Under ASan, ASan's own handler reports the overflow; we then only check
 * that the child died of a signal or a non-zero exit.)
 */
#include "check.h"
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

static void overflow_main(void *arg) {
    roost_task_opts_t o = {.name = "overflower"};
    CHECK_OK(roost_go_opts(overflow_task, NULL, &o));
    roost_sleep(NULL, 5 * ROOST_S);
}

/* Run an overflowing task in a child; return its stderr and status. */
static void run_child(char *buf, size_t len, int *status) {
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        roost_run(overflow_main, NULL);
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

static void t_overflow_reported(void) {
    char out[4096];
    int st;
    run_child(out, sizeof out, &st);
#if defined(__SANITIZE_ADDRESS__)
    CHECK_MSG(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0), "overflow not caught");
#else
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child status %#x, stderr: %s", st, out);
    CHECK_MSG(strstr(out, "stack overflow in task") != NULL, "stderr: %s", out);
    CHECK_MSG(strstr(out, "overflower") != NULL, "task name missing: %s", out);
    CHECK_MSG(strstr(out, "test_stack.c:") != NULL, "spawn site missing: %s", out);
#endif
    printf("ok t_overflow_reported\n");
}

int main(void) {
    /* The fork happens before this process starts any worker threads. */
    if (!getenv("VALGRIND") && !getenv("ROOST_TEST_QUICK")) t_overflow_reported();
    RUN(t_deep_ok);
    check_no_leaks();
    return 0;
}
