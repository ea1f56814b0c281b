/* echo_conns: 1,000 TCP connections on loopback, each a client task doing
 * 64-byte ping-pong with its own server task, 200 round trips each, as
 * bench/go/echo_conns/main.go. Server and clients are tasks of one process.
 *
 * Prints: echo_conns_msgs_per_s <round trips per second, all connections>
 *         workers <n> cpu_us_per_msg <process CPU time (user + system) a
 *         round trip, microseconds: the cost, less swayed than the rate by
 *         what else runs on the machine>
 */
#include "bench.h"
#include "roost_io.h"
#include <sys/resource.h>

#define CONNS 1000
#define ROUNDS 200
#define MSG 64

static char addr[64];
static roost_waitgroup_t done = ROOST_WAITGROUP_INIT;

static int read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = roost_fd_read(NULL, fd, buf + got, n - got);
        if (r <= 0) return r ? (int)r : ROOST_ECLOSED;
        got += (size_t)r;
    }
    return 0;
}

static void echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    while (read_full(fd, buf, MSG) == 0)
        if (roost_fd_write(NULL, fd, buf, MSG, NULL)) break;
    roost_fd_close(fd);
}

static void server(void *arg) {
    int lfd = (int)(intptr_t)arg, fd;
    for (int i = 0; i < CONNS; i++) {
        CHECK(roost_accept(NULL, lfd, &fd));
        CHECK(roost_go(echo, (void *)(intptr_t)fd));
    }
    roost_fd_close(lfd);
}

static void client(void *unused) {
    int fd;
    CHECK(roost_tcp_connect(NULL, addr, &fd));
    char out[MSG], in[MSG];
    memset(out, 'x', MSG);
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(roost_fd_write(NULL, fd, out, MSG, NULL));
        CHECK(read_full(fd, in, MSG));
    }
    roost_fd_close(fd);
    roost_waitgroup_done(&done);
}

static double rate, cpu_us;

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void body(void *unused) {
    int lfd;
    CHECK(roost_tcp_listen(NULL, "127.0.0.1:0", 4096, &lfd));
    CHECK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK(roost_go(server, (void *)(intptr_t)lfd));
    int64_t t = roost_now();
    double c = cpu_seconds();
    CHECK(roost_waitgroup_add(&done, CONNS));
    for (int i = 0; i < CONNS; i++) CHECK(roost_go(client, NULL));
    CHECK(roost_waitgroup_wait(NULL, &done));
    rate = (double)CONNS * ROUNDS / ((double)(roost_now() - t) / 1e9);
    cpu_us = (cpu_seconds() - c) * 1e6 / ((double)CONNS * ROUNDS);
}

int main(void) {
    struct rlimit rl; /* two descriptors a connection, both ends here */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * CONNS) {
        rl.rlim_cur = rl.rlim_max < 4 * CONNS ? rl.rlim_max : 4 * CONNS;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    bench_run(body, NULL);
    CHECK(roost_wait_tasks(0, 10 * ROOST_S));
    printf("echo_conns_msgs_per_s %.0f workers %d cpu_us_per_msg %.2f\n", rate, roost_workers(), cpu_us);
    return 0;
}
