/* test_poll.c - waiting on descriptors: readiness, cancellation, close while
 * waiting, plain threads, the blocking pool. */
#include "check.h"
#include "roost_io.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>

static void make_pipe(int p[2]) {
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
}

/* A reader parks ("io wait") until the writer writes; the bytes arrive. */
typedef struct { int fd; int64_t delay; const char *msg; } writer_arg;
static void writer(void *arg) {
    writer_arg *a = arg;
    CHECK_OK(roost_sleep(NULL, a->delay));
    CHECK_OK(roost_fd_write(NULL, a->fd, a->msg, strlen(a->msg), NULL));
}

static void t_read_waits(void *arg) {
    int p[2];
    make_pipe(p);
    writer_arg wa = {p[1], 20 * ROOST_MS, "hello"};
    CHECK_OK(roost_go(writer, &wa));
    /* The reader is parked with the io wait reason meanwhile. */
    char buf[16];
    int64_t t0 = roost_now();
    ssize_t n = roost_fd_read(NULL, p[0], buf, sizeof buf);
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_GE(check_since(t0), 15 * ROOST_MS);
    CHECK_OK(roost_fd_close(p[1]));
    CHECK_EQ(roost_fd_read(NULL, p[0], buf, sizeof buf), 0); /* end of file */
    CHECK_OK(roost_fd_close(p[0]));
    /* Closed for good: a second close is close(2)'s EBADF (the number
     * could have been reused by then, as with close(2) itself). */
    CHECK_ERR(roost_fd_close(p[0]), ROOST_ESYS(EBADF));
}

/* The counts show the parked reader under "io wait". */
static void reader_task(void *arg) {
    int fd = *(int *)arg;
    char c;
    CHECK_EQ(roost_fd_read(NULL, fd, &c, 1), 1);
}

static void t_io_wait_counted(void *arg) {
    int p[2];
    make_pipe(p);
    CHECK_OK(roost_go(reader_task, &p[0]));
    roost_counts_t c;
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while (c.by_reason[ROOST_WAIT_IO] < 1 && roost_now() < end);
    CHECK_EQ(c.by_reason[ROOST_WAIT_IO], 1);
    CHECK_OK(roost_fd_write(NULL, p[1], "x", 1, NULL));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_fd_close(p[0]);
    roost_fd_close(p[1]);
}

/* Every kind of ending for a wait: cancel, deadline, close. */
typedef struct { int fd; roost_ctx_t *ctx; int rc; atomic_int done; } wait_arg;
static void waiting_reader(void *arg) {
    wait_arg *a = arg;
    char c;
    a->rc = (int)roost_fd_read(a->ctx, a->fd, &c, 1);
    atomic_store(&a->done, 1);
}

static void t_wait_ends(void *arg) {
    int p[2];
    make_pipe(p);
    char c;
    /* Deadline. */
    roost_ctx_t *ctx;
    int64_t t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
    CHECK_ERR(roost_fd_read(ctx, p[0], &c, 1), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    roost_ctx_unref(ctx);
    /* Cancel from another task. */
    wait_arg a = {.fd = p[0]};
    CHECK_OK(roost_ctx_with_cancel(NULL, &a.ctx));
    CHECK_OK(roost_go(waiting_reader, &a));
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
    CHECK(!atomic_load(&a.done));
    roost_ctx_cancel(a.ctx);
    while (!atomic_load(&a.done)) CHECK_OK(roost_sleep(NULL, ROOST_MS));
    CHECK_ERR(a.rc, ROOST_ECANCELED);
    roost_ctx_unref(a.ctx);
    /* Close while waiting: the waiter wakes with EFDCLOSED, and a new
     * descriptor that reuses the number is never read by it. */
    wait_arg b = {.fd = p[0]};
    CHECK_OK(roost_go(waiting_reader, &b));
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
    CHECK_OK(roost_fd_close(p[0]));
    while (!atomic_load(&b.done)) CHECK_OK(roost_sleep(NULL, ROOST_MS));
    CHECK_ERR(b.rc, ROOST_EFDCLOSED);
    /* After the waiter left, the number is free; a new pipe may reuse it
     * and works normally. */
    int q[2];
    make_pipe(q);
    CHECK_OK(roost_fd_write(NULL, q[1], "y", 1, NULL));
    CHECK_EQ(roost_fd_read(NULL, q[0], &c, 1), 1);
    CHECK_EQ(c, 'y');
    roost_fd_close(q[0]);
    roost_fd_close(q[1]);
    roost_fd_close(p[1]);
}

/* Close while a call is in progress defers close(2): the number is not
 * reused until the waiter has returned. */
static void t_close_defers(void *arg) {
    int p[2];
    make_pipe(p);
    wait_arg b = {.fd = p[0]};
    CHECK_OK(roost_go(waiting_reader, &b));
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
    CHECK_OK(roost_fd_close(p[0]));
    /* Whether or not the waiter ran yet, the next call on p[0] fails. */
    char c;
    int rc = (int)roost_fd_read(NULL, p[0], &c, 1);
    /* EFDCLOSED while the waiter still holds it; EBADF once it let go. */
    CHECK_MSG(rc == ROOST_EFDCLOSED || rc == ROOST_ESYS(EBADF), "read after close: %s", roost_strerror(rc));
    while (!atomic_load(&b.done)) CHECK_OK(roost_sleep(NULL, ROOST_MS));
    CHECK_ERR(b.rc, ROOST_EFDCLOSED);
    CHECK_EQ(fcntl(p[0], F_GETFD), -1);   /* now really closed */
    roost_fd_close(p[1]);
}

/* roost_fd_wait on a descriptor roost did not open (an eventfd), for both
 * events and for write. */
static void t_fd_wait_foreign(void *arg) {
    int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK_GE(e, 0);
    CHECK_OK(roost_fd_wait(NULL, e, ROOST_IO_WRITE)); /* writable at once */
    uint64_t one = 1, got = 0;
    CHECK_EQ(write(e, &one, 8), 8);
    CHECK_OK(roost_fd_wait(NULL, e, ROOST_IO_READ | ROOST_IO_WRITE));
    CHECK_EQ(read(e, &got, 8), 8);
    CHECK_EQ(got, 1);
    CHECK_ERR(roost_fd_wait(NULL, e, 0), ROOST_EINVAL);
    CHECK_ERR(roost_fd_wait(NULL, -1, ROOST_IO_READ), ROOST_EINVAL);
    CHECK_OK(roost_fd_forget(e));
    CHECK_EQ(close(e), 0);
}

/* Many readers and writers over many pipes, with every byte checked. */
#define NPIPES 64
typedef struct { int fd; int rounds; int64_t sum; } pump_arg;
static void pump_reader(void *arg) {
    pump_arg *a = arg;
    unsigned char buf[64];
    ssize_t n;
    while ((n = roost_fd_read(NULL, a->fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) a->sum += buf[i];
    CHECK_EQ(n, 0);
    CHECK_OK(roost_fd_close(a->fd));
}
static void pump_writer(void *arg) {
    pump_arg *a = arg;
    unsigned char buf[37];
    for (int r = 0; r < a->rounds; r++) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(r + i), a->sum += buf[i];
        CHECK_OK(roost_fd_write(NULL, a->fd, buf, sizeof buf, NULL));
        if (r % 16 == 0) roost_yield();
    }
    CHECK_OK(roost_fd_close(a->fd));
}

static void t_many_pipes(void *arg) {
    static pump_arg r[NPIPES], w[NPIPES];
    int rounds = SCALE(2000, 100);
    for (int i = 0; i < NPIPES; i++) {
        int p[2];
        make_pipe(p);
        r[i] = (pump_arg){p[0], 0, 0};
        w[i] = (pump_arg){p[1], rounds, 0};
        CHECK_OK(roost_go(pump_reader, &r[i]));
        CHECK_OK(roost_go(pump_writer, &w[i]));
    }
    CHECK_OK(roost_wait_tasks(0, 60 * ROOST_S * check_slack()));
    for (int i = 0; i < NPIPES; i++) CHECK_EQ(r[i].sum, w[i].sum);
}

/* A plain thread reads too: it sleeps instead of parking. */
static void *thread_reader(void *arg) {
    int fd = *(int *)arg;
    char c = 0;
    CHECK_EQ(roost_fd_read(NULL, fd, &c, 1), 1);
    return (void *)(intptr_t)c;
}

static void t_plain_thread(void *arg) {
    int p[2];
    make_pipe(p);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_reader, &p[0]), 0);
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
    CHECK_OK(roost_fd_write(NULL, p[1], "z", 1, NULL));
    void *ret;
    pthread_join(t, &ret);
    CHECK_EQ((intptr_t)ret, 'z');
    roost_fd_close(p[0]);
    roost_fd_close(p[1]);
}

/* ------------------------------------------------------------ the blocking pool */

static int slow_add(void *arg) {
    atomic_int *x = arg;
    usleep(20000);
    return atomic_fetch_add(x, 1) + 1;
}

static void offloader(void *arg) {
    int rc = roost_offload(NULL, slow_add, arg);
    CHECK_GT(rc, 0);
}

static void t_offload(void *arg) {
    atomic_int x = 0;
    /* 32 blocking calls of 20 ms at once finish in far less than 32 x 20 ms:
     * they run on pool threads, side by side, not on the workers. */
    int64_t t0 = roost_now();
    for (int i = 0; i < 32; i++) CHECK_OK(roost_go(offloader, &x));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&x), 32);
    if (!check_quick()) CHECK_LT(check_since(t0), 400 * ROOST_MS * check_slack());
    CHECK_ERR(roost_offload(NULL, NULL, NULL), ROOST_EINVAL);
}

/* A cancelled wait returns at once; the call runs on, and done runs. */
static atomic_int released;
static int sleepy(void *arg) {
    usleep(100000);
    return 7;
}
static void release(void *arg) { atomic_fetch_add(&released, 1); }

static void t_offload_cancel(void *arg) {
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
    int64_t t0 = roost_now();
    CHECK_ERR(roost_offload_detached(ctx, sleepy, NULL, release), ROOST_ETIMEDOUT);
    CHECK_LT(check_since(t0), 90 * ROOST_MS + 100 * ROOST_MS * (check_slack() - 1));
    roost_ctx_unref(ctx);
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    while (atomic_load(&released) < 1 && roost_now() < end) roost_sleep(NULL, ROOST_MS);
    CHECK_EQ(atomic_load(&released), 1);
    /* A context already ended: done runs at once, fn never. */
    roost_ctx_t *dead;
    CHECK_OK(roost_ctx_with_cancel(NULL, &dead));
    roost_ctx_cancel(dead);
    CHECK_ERR(roost_offload_detached(dead, sleepy, NULL, release), ROOST_ECANCELED);
    CHECK_EQ(atomic_load(&released), 2);
    roost_ctx_unref(dead);
    /* Uncancelled: fn's result. */
    CHECK_EQ(roost_offload(NULL, sleepy, NULL), 7);
}

static void t_file_io(void *arg) {
    char path[] = "/tmp/roost-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    unlink(path);
    const char msg[] = "regular files go through the pool";
    CHECK_EQ(roost_file_write(NULL, fd, msg, sizeof msg, 0), (ssize_t)sizeof msg);
    char buf[64] = {0};
    CHECK_EQ(roost_file_read(NULL, fd, buf, sizeof buf, 0), (ssize_t)sizeof msg);
    CHECK(strcmp(buf, msg) == 0);
    CHECK_EQ(roost_file_read(NULL, fd, buf, 5, 8), 5);
    CHECK(memcmp(buf, "files", 5) == 0);
    CHECK_ERR(roost_file_read(NULL, -1, buf, 5, 0), ROOST_EINVAL);
    CHECK_ERR(roost_file_read(NULL, 9999, buf, 5, 0), ROOST_ESYS(EBADF));
    CHECK(strcmp(roost_strerror(ROOST_ESYS(EBADF)), "Bad file descriptor") == 0);
    CHECK_EQ(roost_sys_errno(ROOST_ESYS(EPIPE)), EPIPE);
    CHECK_EQ(roost_sys_errno(ROOST_ECANCELED), 0);
    close(fd);
}

int main(void) {
    RUN(t_read_waits);
    RUN(t_io_wait_counted);
    RUN(t_wait_ends);
    RUN(t_close_defers);
    RUN(t_fd_wait_foreign);
    RUN(t_many_pipes);
    RUN(t_plain_thread);
    RUN(t_offload);
    RUN(t_offload_cancel);
    RUN(t_file_io);
    check_no_leaks();
    return 0;
}
