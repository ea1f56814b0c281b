/* echo.c - a TCP echo server: a task per connection, stopped by SIGINT or
 * SIGTERM. Every connection's task is in a group, so the shutdown closes
 * them all and waits for each to come home.
 *
 *   build/examples/echo [ADDR]        (default 127.0.0.1:7000)
 *   nc 127.0.0.1 7000
 */
#include <roost.h>
#include <roost_io.h>
#include <signal.h>
#include <stdio.h>

typedef struct {
    int fd;
} conn_arg;

/* go func(c net.Conn) { io.Copy(c, c); c.Close() }(conn) */
static int echo(roost_ctx_t *ctx, void *arg) {
    int fd = ((conn_arg *)arg)->fd;
    char buf[4096];
    ssize_t n;
    while ((n = roost_fd_read(ctx, fd, buf, sizeof buf)) > 0)
        if (roost_fd_write(ctx, fd, buf, (size_t)n, NULL)) break;
    roost_fd_close(fd);
    return 0;
}

static void serve(void *arg) {
    roost_ctx_t *stop;
    int sigs[] = {SIGINT, SIGTERM}, lfd, fd, rc;
    roost_ctx_with_signals(NULL, sigs, 2, &stop);
    if ((rc = roost_tcp_listen(NULL, arg, 0, &lfd))) {
        fprintf(stderr, "echo: listen %s: %s\n", (char *)arg, roost_strerror(rc));
        return;
    }
    char where[64];
    roost_sock_addr(lfd, 0, where, sizeof where); /* the real port, for ":0" */
    printf("echo: listening on %s\n", where);
    roost_group_t *conns;
    roost_group_make(stop, &conns); /* the connections end with `stop` */
    while (roost_accept(stop, lfd, &fd) == 0) roost_group_go_with(NULL, conns, (), echo, &(conn_arg){fd});
    roost_fd_close(lfd);
    roost_group_close(conns); /* cancel, wait, drop */
    printf("echo: stopped by signal %d\n", roost_ctx_cause(stop));
    roost_ctx_unref(stop);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    return roost_run(serve, argc > 1 ? argv[1] : "127.0.0.1:7000") != 0;
}
