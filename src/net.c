/* net.c - sockets on the poller: TCP, UDP and Unix-domain, by address string.
 *
 * The one idea: every socket is opened non-blocking and registered with the
 * poller at once (roost__fd_new); each call tries the system call first and
 * parks on the descriptor (poll.c) only when it says EAGAIN. Names are
 * resolved with getaddrinfo on the blocking pool (offload.c); literal
 * addresses never leave the calling task.
 */
#include "internal.h"
#include "roost_io.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------ addresses */

/* Split "host:port", "[host]:port" or ":port" into host (empty for none)
 * and port. */
static int split_addr(const char *addr, char *host, size_t hn, char *port, size_t pn) {
    if (!addr) return ROOST_EINVAL;
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1]) return ROOST_EINVAL;
    const char *h = addr, *he = colon;
    if (*h == '[') {
        if (he == h || he[-1] != ']') return ROOST_EINVAL;
        h++, he--;
    } else if (memchr(addr, ':', (size_t)(colon - addr))) {
        return ROOST_EINVAL; /* an IPv6 literal needs its brackets */
    }
    size_t hl = (size_t)(he - h), pl = strlen(colon + 1);
    if (hl >= hn || pl >= pn) return ROOST_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

typedef struct resolve_call {
    char host[256], port[32];
    struct addrinfo hints;
    struct addrinfo *res;
    int gai;         /* getaddrinfo's result */
    atomic_int refs; /* caller + done */
} resolve_call;

static int resolve_run(void *arg) {
    resolve_call *c = arg;
    c->gai = getaddrinfo(c->host[0] ? c->host : NULL, c->port, &c->hints, &c->res);
    return 0;
}

static void resolve_unref(void *arg) {
    resolve_call *c = arg;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        if (c->res) freeaddrinfo(c->res);
        free(c);
    }
}

static int gai_to_err(int gai) {
    switch (gai) {
    case 0: return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return ROOST_ENOHOST;
    case EAI_MEMORY: return ROOST_ENOMEM;
    case EAI_SYSTEM: return ROOST_ESYS(errno);
    case EAI_AGAIN: return ROOST_ESYS(EAGAIN);
    default: return ROOST_EINVAL;
    }
}

/* Resolve addr into a list the caller frees with freeaddrinfo: a literal
 * at once, a name on the blocking pool. */
static int resolve(roost_ctx_t *ctx, const char *addr, int socktype, bool passive, struct addrinfo **out) {
    resolve_call *c = calloc(1, sizeof *c);
    if (!c) return ROOST_ENOMEM;
    int rc = split_addr(addr, c->host, sizeof c->host, c->port, sizeof c->port);
    if (rc) {
        free(c);
        return rc;
    }
    c->hints.ai_socktype = socktype;
    c->hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (!c->host[0] && passive) c->hints.ai_family = AF_INET6; /* [::], both families */
    struct addrinfo lit = c->hints;
    lit.ai_flags |= AI_NUMERICHOST;
    int gai = getaddrinfo(c->host[0] ? c->host : NULL, c->port, &lit, out);
    if (gai != EAI_NONAME || !c->host[0]) {
        if (gai && lit.ai_family == AF_INET6) { /* no IPv6 here: 0.0.0.0 */
            lit.ai_family = AF_UNSPEC;
            gai = getaddrinfo(NULL, c->port, &lit, out);
        }
        free(c);
        return gai_to_err(gai);
    }
    atomic_init(&c->refs, 2);
    rc = roost_offload_detached(ctx, resolve_run, c, resolve_unref);
    if (rc == 0 && !(rc = gai_to_err(c->gai))) {
        *out = c->res;
        c->res = NULL;
    }
    resolve_unref(c);
    return rc;
}

static int format_addr(const struct sockaddr *sa, char *buf, size_t n) {
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        return snprintf(buf, n, "%s:%u", host, ntohs(a->sin_port)) < (int)n ? 0 : ROOST_ERANGE;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        return snprintf(buf, n, "[%s]:%u", host, ntohs(a->sin6_port)) < (int)n ? 0 : ROOST_ERANGE;
    }
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)sa;
        return snprintf(buf, n, "%s", a->sun_path) < (int)n ? 0 : ROOST_ERANGE;
    }
    return ROOST_EINVAL;
}

int roost_sock_addr(int fd, int peer, char *buf, size_t n) {
    if (fd < 0 || !buf || !n) return ROOST_EINVAL;
    struct sockaddr_storage ss = {0}; /* AF_UNSPEC should the call fill in less */
    socklen_t len = sizeof ss;
    int r =
        peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) return ROOST_ESYS(errno);
    return format_addr((struct sockaddr *)&ss, buf, n);
}

/* ------------------------------------------------------------ sockets */

/* A non-blocking, close-on-exec socket, registered with the poller. */
static int open_socket(int family, int type, int *fd_out) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ROOST_ESYS(errno);
    int rc = roost__fd_new(fd);
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int type, int backlog, int *fd_out) {
    int fd = -1, rc = open_socket(sa->sa_family, type, &fd);
    if (rc) return rc;
    int one = 1, zero = 0;
    if (sa->sa_family != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, sa, len) < 0 || (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)) {
        rc = ROOST_ESYS(errno);
        roost_fd_close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int bind_addr(roost_ctx_t *ctx, const char *addr, int type, int backlog, int *fd_out) {
    if (!fd_out) return ROOST_EINVAL;
    struct addrinfo *res;
    int rc = resolve(ctx, addr, type, true, &res);
    if (rc) return rc;
    rc = ROOST_ENOHOST;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (!(rc = listen_on(a->ai_addr, a->ai_addrlen, type, backlog, fd_out))) break;
    freeaddrinfo(res);
    return rc;
}

int roost_tcp_listen(roost_ctx_t *ctx, const char *addr, int backlog, int *fd_out) {
    return bind_addr(ctx, addr, SOCK_STREAM, backlog, fd_out);
}

int roost_udp_bind(roost_ctx_t *ctx, const char *addr, int *fd_out) {
    return bind_addr(ctx, addr, SOCK_DGRAM, 0, fd_out);
}

static int unix_addr(const char *path, struct sockaddr_un *sa) {
    if (!path || !*path || strlen(path) >= sizeof sa->sun_path) return ROOST_EINVAL;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    strcpy(sa->sun_path, path);
    return 0;
}

int roost_unix_listen(roost_ctx_t *ctx, const char *path, int backlog, int *fd_out) {
    (void)ctx; /* listening does not block */
    struct sockaddr_un sa;
    int rc = unix_addr(path, &sa);
    if (rc || !fd_out) return rc ? rc : ROOST_EINVAL;
    return listen_on((struct sockaddr *)&sa, sizeof sa, SOCK_STREAM, backlog, fd_out);
}

/* Back-off when accept finds the process (or system) out of descriptors:
 * the connection stays in the backlog, so retrying at once would spin. */
static _Atomic bool emfile_said;

int roost_accept(roost_ctx_t *ctx, int lfd, int *fd_out) {
    if (lfd < 0 || !fd_out) return ROOST_EINVAL;
    roost__pd *d;
    int rc = roost__fd_acquire(lfd, &d);
    if (rc) return rc;
    int64_t backoff = 5 * ROOST_MS;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1; /* fails harmlessly on a Unix socket */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if ((rc = roost__fd_new(fd))) {
                close(fd);
            } else {
                roost__fd_tcp(fd); /* a no-op on a Unix socket */
                *fd_out = fd;
            }
            break;
        }
        int e = errno;
        if (e == ECONNABORTED) continue; /* that connection is gone: take the next */
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
            if (!atomic_exchange(&emfile_said, true))
                fprintf(stderr, "roost: accept: %s; backing off and retrying (said once)\n", strerror(e));
            if ((rc = roost_sleep(ctx, backoff))) break;
            if (backoff < ROOST_S) backoff *= 2;
            continue;
        }
        if ((rc = roost__fd_retry(ctx, d, ROOST_IO_READ, e))) break; /* EINTR, EAGAIN: again */
    }
    roost__fd_release(lfd, d);
    return rc;
}

/* Connect one socket to sa; parks until the handshake ends. */
static int connect_one(roost_ctx_t *ctx, const struct sockaddr *sa, socklen_t len, int *fd_out) {
    int fd = -1, rc = open_socket(sa->sa_family, SOCK_STREAM, &fd);
    if (rc) return rc;
    if (sa->sa_family != AF_UNIX) {
        int one = 1; /* request/response traffic: no Nagle delay, as Go's default */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        roost__fd_tcp(fd);
    }
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            rc = ROOST_ESYS(errno);
        } else {
            roost__pd *d;
            if (!(rc = roost__fd_acquire(fd, &d))) {
                rc = roost__fd_wait_acquired(ctx, d, ROOST_IO_WRITE);
                roost__fd_release(fd, d);
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
            if (!rc && soerr) rc = ROOST_ESYS(soerr);
        }
    }
    if (rc) {
        roost_fd_close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int roost_tcp_connect(roost_ctx_t *ctx, const char *addr, int *fd_out) {
    if (!fd_out) return ROOST_EINVAL;
    struct addrinfo *res;
    int rc = resolve(ctx, addr, SOCK_STREAM, false, &res);
    if (rc) return rc;
    rc = ROOST_ENOHOST;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        rc = connect_one(ctx, a->ai_addr, a->ai_addrlen, fd_out);
        if (!rc || rc == ROOST_ECANCELED || rc == ROOST_ETIMEDOUT) break;
    }
    freeaddrinfo(res);
    return rc;
}

int roost_unix_connect(roost_ctx_t *ctx, const char *path, int *fd_out) {
    struct sockaddr_un sa;
    int rc = unix_addr(path, &sa);
    if (rc || !fd_out) return rc ? rc : ROOST_EINVAL;
    return connect_one(ctx, (struct sockaddr *)&sa, sizeof sa, fd_out);
}

int roost_sock_shutdown(int fd, int how) {
    if (fd < 0 || how < ROOST_SHUT_RD || how > ROOST_SHUT_RDWR) return ROOST_EINVAL;
    static const int hows[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
    return shutdown(fd, hows[how]) < 0 ? ROOST_ESYS(errno) : 0;
}

/* ------------------------------------------------------------ datagrams */

int roost_udp_sendto(roost_ctx_t *ctx, int fd, const void *buf, size_t n, const char *addr) {
    if (fd < 0 || (!buf && n)) return ROOST_EINVAL;
    struct addrinfo *res;
    int rc = resolve(ctx, addr, SOCK_DGRAM, false, &res);
    if (rc) return rc;
    roost__pd *d;
    if (!(rc = roost__fd_acquire(fd, &d))) {
        while (sendto(fd, buf, n, MSG_NOSIGNAL, res->ai_addr, res->ai_addrlen) < 0 &&
               !(rc = roost__fd_retry(ctx, d, ROOST_IO_WRITE, errno))) {
        }
        roost__fd_release(fd, d);
    }
    freeaddrinfo(res);
    return rc;
}

ssize_t roost_udp_recvfrom(roost_ctx_t *ctx, int fd, void *buf, size_t n, char *from, size_t fromlen) {
    if (fd < 0 || (!buf && n)) return ROOST_EINVAL;
    roost__pd *d;
    int rc = roost__fd_acquire(fd, &d);
    if (rc) return rc;
    ssize_t r;
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    do sl = sizeof ss;
    while ((r = recvfrom(fd, buf, n, 0, (struct sockaddr *)&ss, &sl)) < 0 &&
           !(r = roost__fd_retry(ctx, d, ROOST_IO_READ, errno)));
    if (r >= 0 && from && fromlen) format_addr((struct sockaddr *)&ss, from, fromlen);
    roost__fd_release(fd, d);
    return r;
}
