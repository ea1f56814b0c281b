/* test_net.c - sockets: TCP (IPv4, IPv6, names), Unix-domain, UDP; many
 * connections with every byte counted at both ends; partial writes; accept
 * out of descriptors; connect errors and deadlines. */
#include "check.h"
#include "roost_io.h"
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* An echo server: a task per connection, as a Go programmer writes it.
 * The server task owns its argument record (freed at exit) and a ctx
 * reference; the test keeps its own ctx reference to stop it. */
typedef struct {
    int lfd;
    roost_ctx_t *ctx;
} server_arg;

static void echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = roost_fd_read(NULL, fd, buf, sizeof buf)) > 0)
        if (roost_fd_write(NULL, fd, buf, (size_t)n, NULL)) break;
    roost_fd_close(fd);
}

static void echo_server(void *arg) {
    server_arg *s = arg;
    int fd, rc;
    while ((rc = roost_accept(s->ctx, s->lfd, &fd)) == 0) CHECK_OK(roost_go(echo_conn, (void *)(intptr_t)fd));
    CHECK_MSG(rc == ROOST_ECANCELED || rc == ROOST_EFDCLOSED, "accept: %s", roost_strerror(rc));
    roost_fd_close(s->lfd);
    roost_ctx_unref(s->ctx);
    free(s);
}

/* Serve on the listening socket lfd until the returned context is
 * cancelled (stop_server). */
static roost_ctx_t *serve(int lfd) {
    server_arg *s = malloc(sizeof *s);
    CHECK(s != NULL);
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    *s = (server_arg){lfd, roost_ctx_ref(ctx)};
    CHECK_OK(roost_go(echo_server, s));
    return ctx;
}

/* Listen on addr and serve; the listening address goes to out. */
static roost_ctx_t *start_server(const char *addr, char *out, size_t n) {
    int lfd;
    CHECK_OK(roost_tcp_listen(NULL, addr, 0, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, out, n));
    return serve(lfd);
}

static void stop_server(roost_ctx_t *ctx) {
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
}

static void roundtrip(const char *addr) {
    int fd;
    CHECK_OK(roost_tcp_connect(NULL, addr, &fd));
    char peer[64];
    CHECK_OK(roost_sock_addr(fd, 1, peer, sizeof peer));
    CHECK(strcmp(peer, addr) == 0 || strstr(addr, "localhost"));
    CHECK_OK(roost_fd_write(NULL, fd, "ping", 4, NULL));
    char buf[8];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = roost_fd_read(NULL, fd, buf + got, sizeof buf - got);
        CHECK_GT(n, 0);
        got += (size_t)n;
    }
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_OK(roost_sock_shutdown(fd, ROOST_SHUT_WR));
    CHECK_EQ(roost_fd_read(NULL, fd, buf, sizeof buf), 0); /* the server closed */
    CHECK_OK(roost_fd_close(fd));
}

static void t_tcp_echo(void *arg) {
    char addr[64];
    roost_ctx_t *srv = start_server("127.0.0.1:0", addr, sizeof addr);
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
    roundtrip(addr);
    /* A name, resolved on the blocking pool. */
    char named[80];
    snprintf(named, sizeof named, "localhost:%s", strrchr(addr, ':') + 1);
    int fd;
    int rc = roost_tcp_connect(NULL, named, &fd);
    if (rc == 0)
        roost_fd_close(fd);
    else
        CHECK_MSG(rc == ROOST_ENOHOST, "connect %s: %s", named, roost_strerror(rc));
    stop_server(srv);
}

static void t_tcp6(void *arg) {
    char addr[64];
    int lfd, rc = roost_tcp_listen(NULL, "[::1]:0", 0, &lfd);
    if (rc) { /* no IPv6 loopback in this sandbox */
        printf("  (no IPv6: %s)\n", roost_strerror(rc));
        return;
    }
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK(strncmp(addr, "[::1]:", 6) == 0);
    roost_ctx_t *srv = serve(lfd);
    roundtrip(addr);
    stop_server(srv);
}

static void t_addr_errors(void *arg) {
    int fd;
    CHECK_ERR(roost_tcp_listen(NULL, "127.0.0.1", 0, &fd), ROOST_EINVAL); /* no port */
    CHECK_ERR(roost_tcp_listen(NULL, "::1:80", 0, &fd), ROOST_EINVAL);    /* brackets */
    CHECK_ERR(roost_tcp_listen(NULL, NULL, 0, &fd), ROOST_EINVAL);
    CHECK_ERR(roost_tcp_connect(NULL, "127.0.0.1:1", NULL), ROOST_EINVAL);
    int nrc = roost_tcp_connect(NULL, "no-such-host.invalid:80", &fd); /* EAGAIN: no resolver reachable */
    CHECK_MSG(nrc == ROOST_ENOHOST || nrc == ROOST_ESYS(EAGAIN), "%s", roost_strerror(nrc));
    /* Nobody listens on the port of a socket we just closed. */
    int lfd;
    char addr[64];
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK_OK(roost_fd_close(lfd));
    CHECK_ERR(roost_tcp_connect(NULL, addr, &fd), ROOST_ESYS(ECONNREFUSED));
    /* A context already ended: its error, no socket left open. */
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 0, &ctx));
    int rc = roost_tcp_connect(ctx, "localhost:80", &fd);
    CHECK_MSG(rc == ROOST_ETIMEDOUT || rc == ROOST_ENOHOST, "%s", roost_strerror(rc));
    roost_ctx_unref(ctx);
    /* Accept with a deadline on a listener nobody connects to. */
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    int64_t t0 = roost_now();
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
    CHECK_ERR(roost_accept(ctx, lfd, &fd), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 20 * ROOST_MS);
    roost_ctx_unref(ctx);
    CHECK_OK(roost_fd_close(lfd));
}

/* Many connections at once, each sending a pseudo-random byte stream and
 * checking what comes back; both ends count bytes. */
typedef struct {
    const char *addr;
    int bytes;
    int64_t sent, recvd;
    roost_waitgroup_t *wg;
} client_arg;

static void client(void *arg) {
    client_arg *c = arg;
    int fd;
    CHECK_OK(roost_tcp_connect(NULL, c->addr, &fd));
    unsigned char out[1000], in[1000];
    uint64_t seed = (uintptr_t)c;
    int left = c->bytes;
    while (left > 0) {
        int n = 1 + (int)(check_rand(&seed) % sizeof out);
        if (n > left) n = left;
        for (int i = 0; i < n; i++) out[i] = (unsigned char)(c->sent + i);
        CHECK_OK(roost_fd_write(NULL, fd, out, (size_t)n, NULL));
        c->sent += n;
        int got = 0;
        while (got < n) {
            ssize_t r = roost_fd_read(NULL, fd, in + got, (size_t)(n - got));
            CHECK_GT(r, 0);
            got += (int)r;
        }
        for (int i = 0; i < n; i++) CHECK_EQ(in[i], (unsigned char)(c->recvd + i));
        c->recvd += n;
        left -= n;
    }
    CHECK_OK(roost_fd_close(fd));
    roost_waitgroup_done(c->wg);
}

static void t_many_conns(void *arg) {
    char addr[64];
    roost_ctx_t *srv = start_server("127.0.0.1:0", addr, sizeof addr);
    int n = SCALE(1000, 50);
    client_arg *cs = calloc((size_t)n, sizeof *cs);
    /* Two descriptors a connection here, both ends in this process. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * n + 64) ? rl.rlim_max : (rlim_t)(2 * n + 64);
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)(2 * n + 64)) n = ((int)rl.rlim_cur - 64) / 2;
    }
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    CHECK_OK(roost_waitgroup_add(&wg, n));
    for (int i = 0; i < n; i++) {
        cs[i] = (client_arg){addr, SCALE(20000, 2000), 0, 0, &wg};
        CHECK_OK(roost_go(client, &cs[i]));
    }
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        CHECK_EQ(cs[i].sent, cs[i].bytes);
        CHECK_EQ(cs[i].recvd, cs[i].bytes);
        total += cs[i].recvd;
    }
    CHECK_EQ(total, (int64_t)n * cs[0].bytes);
    free(cs);
    stop_server(srv);
}

/* A write larger than the socket buffers, to a peer that does not read:
 * it parks, and a deadline ends it with the byte count so far. */
static void t_partial_write(void *arg) {
    int lfd, cfd, sfd;
    char addr[64];
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK_OK(roost_tcp_connect(NULL, addr, &cfd));
    CHECK_OK(roost_accept(NULL, lfd, &sfd));
    int small = 4096;
    setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    size_t big = 8 << 20, written = 0;
    char *buf = calloc(1, big);
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 50 * ROOST_MS, &ctx));
    CHECK_ERR(roost_fd_write(ctx, cfd, buf, big, &written), ROOST_ETIMEDOUT);
    CHECK_GT(written, 0);
    CHECK_LT(written, big);
    roost_ctx_unref(ctx);
    /* The peer closes: the next write fails with EPIPE or ECONNRESET, and
     * no SIGPIPE kills us. */
    CHECK_OK(roost_fd_close(sfd));
    int rc = 0;
    for (int i = 0; i < 100 && !rc; i++) rc = roost_fd_write(NULL, cfd, buf, 65536, NULL);
    CHECK_MSG(rc == ROOST_ESYS(EPIPE) || rc == ROOST_ESYS(ECONNRESET), "%s", roost_strerror(rc));
    free(buf);
    roost_fd_close(cfd);
    roost_fd_close(lfd);
}

/* Out of descriptors: accept backs off (no spin, no crash) and takes the
 * connection once one is free. */
typedef struct {
    int lfd;
    int fd;
    int rc;
    atomic_int done;
} acc_arg;
static void acceptor(void *arg) {
    acc_arg *a = arg;
    a->rc = roost_accept(NULL, a->lfd, &a->fd);
    atomic_store(&a->done, 1);
}

static void t_emfile(void *arg) {
    int lfd, cfd;
    char addr[64];
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK_OK(roost_tcp_connect(NULL, addr, &cfd)); /* waits in the backlog */
    struct rlimit old, rl;
    getrlimit(RLIMIT_NOFILE, &old);
    /* Fill the table up to a low limit. */
    int fill[256], nfill = 0, lim = 0;
    for (int fd; nfill < 256 && (fd = dup(0)) >= 0;) {
        fill[nfill++] = fd;
        if (fd > lim) lim = fd;
    }
    rl = old;
    rl.rlim_cur = (rlim_t)lim + 1;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    acc_arg a = {.lfd = lfd};
    CHECK_OK(roost_go(acceptor, &a));
    CHECK_OK(roost_sleep(NULL, 60 * ROOST_MS));
    CHECK(!atomic_load(&a.done)); /* backing off, not failing */
    close(fill[--nfill]);         /* one free slot */
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    while (!atomic_load(&a.done) && roost_now() < end) roost_sleep(NULL, 5 * ROOST_MS);
    CHECK(atomic_load(&a.done));
    CHECK_OK(a.rc);
    setrlimit(RLIMIT_NOFILE, &old);
    while (nfill) close(fill[--nfill]);
    roost_fd_close(a.fd);
    roost_fd_close(cfd);
    roost_fd_close(lfd);
}

static void t_unix(void *arg) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/roost-test-%d.sock", (int)getpid());
    unlink(path);
    int lfd;
    CHECK_OK(roost_unix_listen(NULL, path, 0, &lfd));
    roost_ctx_t *srv = serve(lfd);
    int fd;
    CHECK_OK(roost_unix_connect(NULL, path, &fd));
    CHECK_OK(roost_fd_write(NULL, fd, "unix", 4, NULL));
    char buf[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = roost_fd_read(NULL, fd, buf + got, 4 - got);
        CHECK_GT(n, 0);
        got += (size_t)n;
    }
    CHECK(memcmp(buf, "unix", 4) == 0);
    roost_fd_close(fd);
    stop_server(srv);
    unlink(path);
    CHECK_ERR(roost_unix_connect(NULL, path, &fd), ROOST_ESYS(ENOENT));
    CHECK_ERR(roost_unix_listen(NULL, "", 0, &fd), ROOST_EINVAL);
}

static void t_udp(void *arg) {
    int a, b;
    char aaddr[64], baddr[64], from[64];
    CHECK_OK(roost_udp_bind(NULL, "127.0.0.1:0", &a));
    CHECK_OK(roost_udp_bind(NULL, "127.0.0.1:0", &b));
    CHECK_OK(roost_sock_addr(a, 0, aaddr, sizeof aaddr));
    CHECK_OK(roost_sock_addr(b, 0, baddr, sizeof baddr));
    CHECK_OK(roost_udp_sendto(NULL, a, "datagram", 8, baddr));
    char buf[64];
    CHECK_EQ(roost_udp_recvfrom(NULL, b, buf, sizeof buf, from, sizeof from), 8);
    CHECK(memcmp(buf, "datagram", 8) == 0);
    CHECK(strcmp(from, aaddr) == 0);
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
    CHECK_ERR(roost_udp_recvfrom(ctx, b, buf, sizeof buf, NULL, 0), ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx);
    roost_fd_close(a);
    roost_fd_close(b);
}

int main(void) {
    RUN(t_tcp_echo);
    RUN(t_tcp6);
    RUN(t_addr_errors);
    RUN(t_many_conns);
    RUN(t_partial_write);
    /* valgrind keeps descriptors of its own under the limit and virtualises
     * setrlimit: the table cannot be filled to a known limit there. */
    if (!getenv("VALGRIND")) RUN(t_emfile);
    RUN(t_unix);
    RUN(t_udp);
    check_no_leaks();
    return 0;
}
