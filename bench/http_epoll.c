/* http_epoll: the ceiling for make bench's http_hello row: the same
 * keep-alive "hello" server as examples/http_hello.c written as a plain
 * epoll loop per thread in C, with no roost (one SO_REUSEPORT listener and
 * one edge-triggered epoll set per thread, one thread per CPU). What roost
 * adds (tasks, parking, contexts) should cost little against it.
 *
 *   http_epoll [ADDR]   (default 127.0.0.1:8080; IPv4 literal only)
 * Runs until SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "Hello, world\n";

typedef struct conn {
    int fd;
    size_t have;
    char buf[8192];
} conn;

static struct sockaddr_in sa;

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
        perror("http_epoll: listen");
        exit(1);
    }
    return fd;
}

/* Read what is there, answer every complete request; false: close. */
static int serve(conn *c) {
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (n == 0) return 0;
        if (n < 0) return errno == EAGAIN;
        c->have += (size_t)n;
        char *end;
        while ((end = memmem(c->buf, c->have, "\r\n\r\n", 4))) {
            if (write(c->fd, response, sizeof response - 1) != (ssize_t)(sizeof response - 1))
                return 0; /* a full socket buffer for 90 bytes: give up, as a bench may */
            size_t used = (size_t)(end + 4 - c->buf);
            memmove(c->buf, c->buf + used, c->have - used);
            c->have -= used;
        }
        if (c->have == sizeof c->buf) return 0;
    }
}

static void *loop(void *unused) {
    int lfd = listener(), ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd, one = 1;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = malloc(sizeof *nc);
                    nc->fd = fd, nc->have = 0;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            if (!serve(c)) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) return 2;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1) return 2;
    signal(SIGPIPE, SIG_IGN);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (getenv("ROOST_WORKERS")) n = atol(getenv("ROOST_WORKERS"));
    if (n < 1) n = 1;
    printf("http_epoll: listening on %s with %ld threads\n", addr, n);
    fflush(stdout);
    for (long i = 1; i < n; i++) {
        pthread_t t;
        pthread_create(&t, NULL, loop, NULL);
    }
    loop(NULL);
}
