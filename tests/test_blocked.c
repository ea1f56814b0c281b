/* test_blocked.c - a worker that blocks is not the end of the world: tasks
 * that call blocking functions directly stall their workers, and the
 * monitor reports them once, with the blocked task's stack, and starts a
 * spare worker for the rest. */
#include "check.h"
#include <fcntl.h>

static atomic_int ran;

/* A blocking read(2) on a blocking pipe: the worker is stuck in it. */
static void blocker(void *arg) {
    int fd = *(int *)arg;
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
}

static void third(void *arg) { atomic_fetch_add(&ran, 1); }

/* Two tasks block in read() on a two-worker runtime; a third task still
 * runs, on a spare, and a sleep still ends. */
static void t_blocked_workers(void *arg) {
    int p[2][2];
    CHECK_EQ(pipe(p[0]), 0);
    CHECK_EQ(pipe(p[1]), 0);
    CHECK_OK(roost_go(blocker, &p[0][0]));
    CHECK_OK(roost_go(blocker, &p[1][0]));
    /* Let both take a worker each: this task yields its own away. */
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(NULL, 50 * ROOST_MS));
    CHECK_OK(roost_go(third, NULL));
    int64_t end = roost_now() + 10 * ROOST_S * check_slack();
    while (atomic_load(&ran) == 0 && roost_now() < end) CHECK_OK(roost_sleep(NULL, 5 * ROOST_MS));
    CHECK_EQ(atomic_load(&ran), 1);
    CHECK_LT(check_since(t0), 10 * ROOST_S * check_slack());
    CHECK_EQ(write(p[0][1], "x", 1), 1);
    CHECK_EQ(write(p[1][1], "x", 1), 1);
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    for (int i = 0; i < 2; i++) close(p[i][0]), close(p[i][1]);
    CHECK_EQ(roost_workers(), 2); /* what the program asked for, spares aside */
}

int main(void) {
    /* The report goes to stderr: catch it in a file to check it. */
    char path[] = "/tmp/roost-blocked-XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK_EQ(dup2(fd, 2), 2);
    /* Two workers whatever ROOST_WORKERS says: the case is two blocked. */
    roost_config_t cfg = {0};
    cfg.workers = 2;
    CHECK_OK(roost_init(&cfg));
    RUN(t_blocked_workers);
    fflush(stderr);
    dup2(saved, 2);
    char buf[8192] = {0};
    CHECK_GE(pread(fd, buf, sizeof buf - 1, 0), 0);
    close(fd);
    unlink(path);
    CHECK_MSG(strstr(buf, "roost: worker ") && strstr(buf, " blocked: task ") &&
                  strstr(buf, "test_blocked.c:"),
              "no blocked-worker report in:\n%s", buf);
    CHECK_MSG(strstr(buf, "roost: started spare worker"), "no spare in:\n%s", buf);
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
    /* With the blocked task's stack, read by a signal to its worker's
     * thread (the sanitizers own signal delivery: no stack there). */
    CHECK_MSG(strstr(buf, "[running, blocked]:\n    #0 ") && strstr(buf, "blocker"),
              "no stack of the blocked task in:\n%s", buf);
#endif
    check_no_leaks();
    return 0;
}
