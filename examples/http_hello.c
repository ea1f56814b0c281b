/* http_hello.c - a small HTTP/1.1 "hello" server, written as a Go
 * programmer would write it: a task per connection, a context per request,
 * and a graceful shutdown on SIGINT or SIGTERM that lets the requests in
 * flight finish.
 *
 *   build/examples/http_hello [ADDR]      (default 127.0.0.1:8080)
 *   curl http://127.0.0.1:8080/           -> Hello, world
 *
 * Keep-alive connections are served until the client closes them, or stays
 * idle for IDLE, or the server shuts down. On the first SIGINT/SIGTERM it
 * stops accepting, closes idle connections, lets each request that has
 * begun finish (up to DRAIN), and exits 0; a second signal kills it at
 * once. Go's twin is bench/go/http_hello.
 */
#define _GNU_SOURCE /* memmem */
#include <roost.h>
#include <roost_io.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IDLE (30 * ROOST_S)            /* keep-alive idle limit */
#define REQUEST_TIMEOUT (10 * ROOST_S) /* one request, headers to response */
#define DRAIN (5 * ROOST_S)            /* shutdown: time for requests in flight */

static roost_ctx_t *stop; /* cancelled by SIGINT / SIGTERM */

typedef struct {
    int fd;
} conn_arg; /* a connection task's argument (copied) */

static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "Hello, world\n";

/* Case-insensitive search for a header line in the head [start, end): a
 * match must begin a line (the request line comes first, so not at start). */
static int has_header(const char *start, const char *end, const char *line) {
    size_t n = strlen(line);
    for (const char *p = start + 1; p + n <= end; p++)
        if (p[-1] == '\n' && strncasecmp(p, line, n) == 0) return 1;
    return 0;
}

/* One connection: requests one after the other (no pipelining beyond what
 * arrives in one read, which is answered in order). */
static int serve_conn(roost_ctx_t *group_ctx, void *arg) {
    int fd = ((conn_arg *)arg)->fd;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        /* Waiting for a request: the idle limit and shutdown end it. */
        roost_ctx_t *idle;
        roost_ctx_with_timeout(stop, IDLE, &idle);
        ssize_t n = roost_fd_read(idle, fd, buf + have, sizeof buf - have);
        roost_ctx_cancel(idle);
        roost_ctx_unref(idle);
        if (n <= 0) break; /* closed, idle, shutdown or error */
        have += (size_t)n;
        /* A request has begun: it gets its own context, not the shutdown's,
         * so a graceful shutdown lets it finish. */
        roost_ctx_t *req;
        roost_ctx_with_timeout(group_ctx, REQUEST_TIMEOUT, &req);
        int rc = 0, close_after = 0;
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf) {
                rc = -1;
                break;
            } /* head too large */
            n = roost_fd_read(req, fd, buf + have, sizeof buf - have);
            if (n <= 0) {
                rc = -1;
                break;
            }
            have += (size_t)n;
        }
        if (!rc) {
            close_after = has_header(buf, end, "connection: close");
            rc = roost_fd_write(req, fd, response, sizeof response - 1, NULL);
            size_t used = (size_t)(end + 4 - buf); /* requests have no body here */
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        roost_ctx_cancel(req);
        roost_ctx_unref(req);
        if (rc || close_after || roost_ctx_err(stop)) break;
        /* A second request already in the buffer is served at once. */
        while (have && memmem(buf, have, "\r\n\r\n", 4)) {
            end = memmem(buf, have, "\r\n\r\n", 4);
            if (roost_fd_write(group_ctx, fd, response, sizeof response - 1, NULL)) goto done;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, have - used);
            have -= used;
        }
    }
done:
    roost_fd_close(fd);
    return 0;
}

static void server(void *arg) {
    const char *addr = arg;
    int sigs[] = {SIGINT, SIGTERM};
    if (roost_ctx_with_signals(NULL, sigs, 2, &stop)) exit(1);
    int lfd, rc;
    if ((rc = roost_tcp_listen(NULL, addr, 1024, &lfd))) {
        fprintf(stderr, "http_hello: listen %s: %s\n", addr, roost_strerror(rc));
        exit(1);
    }
    char where[64];
    roost_sock_addr(lfd, 0, where, sizeof where);
    printf("http_hello: listening on %s\n", where);

    roost_group_t *conns;
    roost_group_make(NULL, &conns);
    int fd;
    while ((rc = roost_accept(stop, lfd, &fd)) == 0)
        roost_group_go_with(NULL, conns, (), serve_conn, &(conn_arg){fd});
    roost_fd_close(lfd);
    if (rc != ROOST_ECANCELED) fprintf(stderr, "http_hello: accept: %s\n", roost_strerror(rc));

    /* Shutdown: idle connections saw `stop` and closed; requests in flight
     * finish, for up to DRAIN; then the group is closed (cancelling
     * whatever is left) and waited for. */
    printf("http_hello: shutting down (signal %d)\n", roost_ctx_cause(stop));
    roost_ctx_t *drain;
    roost_ctx_with_timeout(NULL, DRAIN, &drain);
    rc = roost_group_wait(drain, conns);
    roost_ctx_unref(drain);
    roost_group_close(conns); /* also drops our reference */
    printf("http_hello: %s\n", rc == ROOST_ETIMEDOUT ? "drain timed out" : "done");
    roost_ctx_unref(stop);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also to a file or pipe */
    return roost_run(server, argc > 1 ? argv[1] : "127.0.0.1:8080") != 0;
}
