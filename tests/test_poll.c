/* test_poll.c - waiting on descriptors: readiness, cancellation, close while
 * waiting, plain threads, the blocking pool. */
#include "check.h"
#include "roost_io.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>

static void make_pipe(int p[2]) { CHECK_EQ(pipe2(p, O_CLOEXEC), 0); }

/* A reader parks ("io wait") until the writer writes; the bytes arrive. */
typedef struct {
    int fd;
    int64_t delay;
    const char *msg;
} writer_arg;
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
typedef struct {
    int fd;
    roost_ctx_t *ctx;
    int rc;
    atomic_int done;
} wait_arg;
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
    CHECK_EQ(fcntl(p[0], F_GETFD), -1); /* now really closed */
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
typedef struct {
    int fd;
    int rounds;
    int64_t sum;
} pump_arg;
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

/* ------------------------------------------------------------ the poller's owner */

/* While a task waits on a descriptor, the last idle worker blocks in
 * epoll_wait instead of its futex, and everything that wakes an idle
 * worker must reach it there: readiness, a task readied by a plain thread,
 * a timer. A plain thread drives the rounds, each bounded by a deadline
 * (a lost wake-up fails the round: the timer thread ends the wait), with
 * random delays so that the wake-up lands at every point of the owner's
 * way into epoll_wait. `holder` keeps a task waiting on a descriptor all
 * along, so that an idle worker owns the poller between rounds. */
typedef struct {
    int req[2], rep[2];         /* pipes: driver -> echo, echo -> driver */
    int hold[2];                /* holder's pipe, closed at the end */
    roost_chan_t *ask, *answer; /* driver -> server, server -> driver */
    int rounds;
    roost_chan_t *finished; /* closed when the driver is done */
} owner_arg;

static void holder(void *arg) {
    char c;
    CHECK_EQ(roost_fd_read(NULL, *(int *)arg, &c, 1), 0); /* until the write end closes */
}

static void pipe_echo(void *arg) {
    owner_arg *a = arg;
    char c;
    while (roost_fd_read(NULL, a->req[0], &c, 1) == 1) CHECK_OK(roost_fd_write(NULL, a->rep[1], &c, 1, NULL));
}

/* Each request: 0 stop, 1 answer at once, 2 sleep a few microseconds first. */
static void chan_server(void *arg) {
    owner_arg *a = arg;
    int64_t v;
    uint64_t rng = 7;
    while (roost_chan_recv(NULL, a->ask, &v) == ROOST_OK && v) {
        if (v == 2) CHECK_OK(roost_sleep(NULL, 1000 + (int64_t)(check_rand(&rng) % 100000)));
        CHECK_OK(roost_chan_send(NULL, a->answer, &v));
    }
}

/* A random pause: mostly shorter than an idle worker's spin, sometimes
 * longer (it is in epoll_wait or on its futex by then). */
static void spin_a_little(uint64_t *rng) {
    unsigned n = (unsigned)(check_rand(rng) % 2000);
    if (n < 400) {
        usleep(500 + n * 4);
        return;
    }
    for (volatile unsigned i = 0; i < n; i++) {
    }
    if (n % 7 == 0) sched_yield();
}

/* Keeps its worker without a switch until told to stop. */
static atomic_int spinners_up, spinners_stop;
static void spinner(void *arg) {
    atomic_fetch_add(&spinners_up, 1);
    while (!atomic_load(&spinners_stop)) {
    }
    atomic_fetch_sub(&spinners_up, 1);
}

static void *owner_driver(void *arg) {
    owner_arg *a = arg;
    uint64_t rng = 12345;
    for (int r = 0; r < a->rounds; r++) {
        roost_ctx_t *ctx;
        CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_S * check_slack(), &ctx));
        /* Now and then, every worker but one computes: the spinners wake
         * the futex sleepers first, so the one left idle is the owner,
         * blocked in epoll_wait (everyone was idle a moment ago), and only
         * its wake-up through the eventfd can serve the first request. */
        int nspin = r % 8 == 0 ? roost_workers() - 1 : 0;
        atomic_store(&spinners_stop, 0);
        if (nspin) usleep(1000);
        for (int i = 0; i < nspin; i++) CHECK_OK(roost_go(spinner, NULL));
        while (atomic_load(&spinners_up) < nspin) sched_yield();
        /* a task readied by this plain thread, then one woken by a timer */
        for (int64_t v = 1; v <= 2; v++) {
            int64_t got = 0;
            spin_a_little(&rng);
            CHECK_OK(roost_chan_send(ctx, a->ask, &v));
            CHECK_OK(roost_chan_recv(ctx, a->answer, &got));
            CHECK_EQ(got, v);
        }
        /* readiness: a byte through the echo task and back */
        spin_a_little(&rng);
        char c = (char)r, back = 0;
        CHECK_EQ(write(a->req[1], &c, 1), 1);
        CHECK_EQ(roost_fd_read(ctx, a->rep[0], &back, 1), 1);
        CHECK_EQ(back, c);
        atomic_store(&spinners_stop, 1);
        while (atomic_load(&spinners_up) > 0) sched_yield();
        roost_ctx_unref(ctx);
    }
    int64_t stop = 0;
    CHECK_OK(roost_chan_send(NULL, a->ask, &stop));
    CHECK_OK(roost_chan_close(a->finished));
    return NULL;
}

static void t_owner_wakeups(void *arg) {
    static owner_arg a;
    a.rounds = SCALE(600, 150);
    make_pipe(a.req);
    make_pipe(a.rep);
    make_pipe(a.hold);
    CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &a.ask));
    CHECK_OK(roost_chan_make(sizeof(int64_t), 0, &a.answer));
    CHECK_OK(roost_chan_make(1, 0, &a.finished));
    CHECK_OK(roost_go(holder, &a.hold[0]));
    CHECK_OK(roost_go(pipe_echo, &a));
    CHECK_OK(roost_go(chan_server, &a));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, owner_driver, &a), 0);
    /* Parked, not blocked in pthread_join: every worker may go idle. */
    CHECK_ERR(roost_chan_recv(NULL, a.finished, NULL), ROOST_ECLOSED);
    pthread_join(t, NULL);
    CHECK_OK(roost_fd_close(a.req[1]));
    CHECK_OK(roost_fd_close(a.hold[1]));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    roost_fd_close(a.req[0]);
    roost_fd_close(a.rep[0]);
    roost_fd_close(a.rep[1]);
    roost_fd_close(a.hold[0]);
    roost_chan_unref(a.ask);
    roost_chan_unref(a.answer);
    roost_chan_unref(a.finished);
}

/* A plain thread that starts waiting on a descriptor while every worker
 * sleeps on its futex (no task waited on one when they went idle, so none
 * owns the poller) wakes one, which takes the poller: else nobody would
 * ever poll (no worker runs, so no monitor tick either), and its wait for
 * a write by another plain thread would end only at its deadline. */
typedef struct {
    int p[2];
    roost_chan_t *done;
    int rounds;
} kick_arg;

static void *late_writer(void *arg) {
    usleep(2000);
    CHECK_EQ(write(*(int *)arg, "k", 1), 1);
    return NULL;
}

static void *kick_driver(void *arg) {
    kick_arg *a = arg;
    for (int r = 0; r < a->rounds; r++) {
        usleep(20000); /* every worker idle by now, on its futex */
        pthread_t w;
        CHECK_EQ(pthread_create(&w, NULL, late_writer, &a->p[1]), 0);
        roost_ctx_t *ctx;
        CHECK_OK(roost_ctx_with_timeout(NULL, 2 * ROOST_S * check_slack(), &ctx));
        char c = 0;
        CHECK_EQ(roost_fd_read(ctx, a->p[0], &c, 1), 1);
        CHECK_EQ(c, 'k');
        roost_ctx_unref(ctx);
        pthread_join(w, NULL);
    }
    CHECK_OK(roost_chan_close(a->done));
    return NULL;
}

static void t_plain_thread_kicks_poller(void *arg) {
    kick_arg a = {.rounds = SCALE(20, 5)};
    make_pipe(a.p);
    CHECK_OK(roost_chan_make(1, 0, &a.done));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, kick_driver, &a), 0);
    char c;
    CHECK_ERR(roost_chan_recv(NULL, a.done, &c), ROOST_ECLOSED);
    pthread_join(t, NULL);
    roost_chan_unref(a.done);
    roost_fd_close(a.p[0]);
    roost_fd_close(a.p[1]);
}

/* ------------------------------------------------------------ skipped reads */

/* A read that finds the descriptor empty since the last edge parks without
 * the system call (poll.c); so does a write that found it full. Pairs of
 * tasks exchange messages of random sizes, sent in random pieces (so reads
 * stop short, and TCP_INQ says both "some left" and "empty"), over TCP and
 * over pipes, on four workers, every byte checked: a wake-up the skip lost
 * leaves a reader parked with bytes in its socket, and its deadline fails
 * the test. */
typedef struct {
    int out, in; /* descriptors: write to out, read from in */
    bool first;  /* this side sends first */
    int rounds;
    uint64_t seed;
    roost_waitgroup_t *wg;
} skip_arg;

static uint64_t skip_rand(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void skip_read_full(roost_ctx_t *ctx, int fd, unsigned char *buf, size_t n, uint64_t *rng) {
    size_t got = 0;
    while (got < n) {
        size_t want = 1 + skip_rand(rng) % (n - got + 8); /* sometimes more than is coming */
        if (want > n - got) want = n - got;
        ssize_t r = roost_fd_read(ctx, fd, buf + got, want);
        CHECK_MSG(r > 0, "read: %s (%zd): a lost wake-up?", roost_strerror((int)r), r);
        got += (size_t)r;
    }
}

static void skip_send(int fd, const unsigned char *buf, size_t n, uint64_t *rng) {
    size_t done = 0;
    while (done < n) {
        size_t piece = 1 + skip_rand(rng) % (n - done);
        CHECK_OK(roost_fd_write(NULL, fd, buf + done, piece, NULL));
        done += piece;
        if (skip_rand(rng) % 4 == 0) roost_yield();
    }
}

static void skip_side(void *arg) {
    skip_arg *a = arg;
    /* Both sides draw the sizes and bytes of the messages from one stream
     * (msg, the same seed on both), and how to cut them from their own. */
    uint64_t rng = a->seed * 31 + a->first, msg = a->seed ^ 0x9e3779b97f4a7c15u;
    unsigned char out[300], in[300];
    for (int r = 0; r < a->rounds; r++) {
        for (int turn = 0; turn < 2; turn++) {
            bool sending = (turn == 0) == a->first;
            size_t n = 1 + skip_rand(&msg) % sizeof out;
            unsigned char b = (unsigned char)skip_rand(&msg);
            if (sending) {
                for (size_t i = 0; i < n; i++) out[i] = (unsigned char)(b + i);
                skip_send(a->out, out, n, &rng);
            } else {
                roost_ctx_t *ctx;
                CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_S * check_slack(), &ctx));
                skip_read_full(ctx, a->in, in, n, &rng);
                roost_ctx_unref(ctx);
                for (size_t i = 0; i < n; i++) CHECK_EQ(in[i], (unsigned char)(b + i));
            }
        }
    }
    roost_waitgroup_done(a->wg);
}

static void t_skipped_reads(void *arg) {
    enum { PAIRS = 16 };
    int rounds = SCALE(400, 60);
    static skip_arg args[2 * PAIRS];
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    int lfd, fds[4 * PAIRS], nfd = 0;
    char addr[64];
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 64, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK_OK(roost_waitgroup_add(&wg, 2 * PAIRS));
    for (int i = 0; i < PAIRS; i++) {
        int a, b;
        if (i % 2 == 0) { /* TCP: reads learn "empty" from TCP_INQ */
            CHECK_OK(roost_tcp_connect(NULL, addr, &a));
            CHECK_OK(roost_accept(NULL, lfd, &b));
            args[2 * i] = (skip_arg){.out = a, .in = a, .first = true};
            args[2 * i + 1] = (skip_arg){.out = b, .in = b};
            fds[nfd++] = a, fds[nfd++] = b;
        } else { /* pipes: from EAGAIN only */
            int p[2], q[2];
            make_pipe(p);
            make_pipe(q);
            args[2 * i] = (skip_arg){.out = p[1], .in = q[0], .first = true};
            args[2 * i + 1] = (skip_arg){.out = q[1], .in = p[0]};
            fds[nfd++] = p[0], fds[nfd++] = p[1], fds[nfd++] = q[0], fds[nfd++] = q[1];
        }
        for (int k = 0; k < 2; k++) {
            skip_arg *s = &args[2 * i + k];
            s->rounds = rounds, s->seed = 0x1234567u + (uint64_t)i * 7919u, s->wg = &wg;
        }
    }
    for (int i = 0; i < 2 * PAIRS; i++) CHECK_OK(roost_go(skip_side, &args[i]));
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    for (int i = 0; i < nfd; i++) CHECK_OK(roost_fd_close(fds[i]));
    CHECK_OK(roost_fd_close(lfd));
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
    /* No spare workers: a worker kept by a computing task must not be
     * rescued by a spare, which would hide a lost wake-up of the poller's
     * owner (t_owner_wakeups). */
    setenv("ROOST_BLOCKED_MS", "0", 1);
    check_init_workers(4);
    RUN(t_read_waits);
    RUN(t_io_wait_counted);
    RUN(t_wait_ends);
    RUN(t_close_defers);
    RUN(t_fd_wait_foreign);
    RUN(t_many_pipes);
    RUN(t_plain_thread);
    RUN(t_owner_wakeups);
    RUN(t_plain_thread_kicks_poller);
    RUN(t_skipped_reads);
    RUN(t_offload);
    RUN(t_offload_cancel);
    RUN(t_file_io);
    check_no_leaks();
    return 0;
}
