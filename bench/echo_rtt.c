/* echo_rtt: one TCP connection on loopback, a 64-byte message echoed back
 * and forth, 100,000 round trips (after 1,000 to warm up), as
 * bench/go/echo_rtt/main.go. Server and client are tasks of one process.
 *
 * Prints: echo_rtt_ns <ns per round trip> workers <n>
 */
#include "bench.h"
#include "roost_io.h"

#define N 100000
#define WARM 1000
#define MSG 64

static char addr[64];
static double ns_per_rt;

static void echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    for (;;) {
        size_t got = 0;
        while (got < MSG) {
            ssize_t n = roost_fd_read(NULL, fd, buf + got, MSG - got);
            if (n <= 0) goto out;
            got += (size_t)n;
        }
        CHECK(roost_fd_write(NULL, fd, buf, MSG, NULL));
    }
out:
    roost_fd_close(fd);
}

static void server(void *arg) {
    int lfd = (int)(intptr_t)arg, fd;
    CHECK(roost_accept(NULL, lfd, &fd));
    CHECK(roost_go(echo, (void *)(intptr_t)fd));
    roost_fd_close(lfd);
}

static void body(void *unused) {
    int lfd, fd;
    CHECK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    CHECK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK(roost_go(server, (void *)(intptr_t)lfd));
    CHECK(roost_tcp_connect(NULL, addr, &fd));
    char out[MSG], in[MSG];
    memset(out, 'x', MSG);
    int64_t t = 0;
    for (int i = 0; i < WARM + N; i++) {
        if (i == WARM) t = roost_now();
        CHECK(roost_fd_write(NULL, fd, out, MSG, NULL));
        size_t got = 0;
        while (got < MSG) {
            ssize_t n = roost_fd_read(NULL, fd, in + got, MSG - got);
            if (n <= 0) FAILX("echo_rtt: read: %s", n ? roost_strerror((int)n) : "eof");
            got += (size_t)n;
        }
    }
    ns_per_rt = (double)(roost_now() - t) / N;
    roost_fd_close(fd);
}

int main(void) {
    bench_run(body, NULL);
    CHECK(roost_wait_tasks(0, 10 * ROOST_S));
    printf("echo_rtt_ns %.1f workers %d\n", ns_per_rt, roost_workers());
    return 0;
}
