/* poll.c - the network poller: tasks wait on file descriptors.
 *
 * The one idea: a descriptor's state lives in a poll descriptor (pd), one
 * per descriptor number, found by indexing a table. A task that would block
 * on fd queues a waiter node on pd's read or write queue and parks through
 * roost__block like any other wait; the poller thread, in epoll_wait,
 * claims the waiters of a descriptor that became ready and readies them.
 *
 * Readiness is edge-triggered (EPOLLET, registered once per descriptor, as
 * Go's netpoller): the kernel reports a transition once. So a transition
 * nobody waits for is kept as a token (rready/wready) that the next wait
 * takes at once, and a wait only ever follows an operation that said
 * EAGAIN: between the two, an edge either leaves a token or finds the
 * waiter queued. Both happen under pd->lock, so none is lost.
 *
 * Invariants (pd->lock guards every field but the table itself):
 *   - a queued waiter and a token never coexist on one queue: the poller
 *     hands the token to the waiters it claims, or leaves it if none;
 *   - state CLOSING means roost_fd_close ran: no new call may start on fd,
 *     every waiter has been claimed with ROOST_EFDCLOSED, and close(2)
 *     runs when `ops` (calls in progress on fd) reaches 0. So a descriptor
 *     number is never reused while a roost call still holds it;
 *   - `gen` changes whenever fd is closed or reset; the epoll event carries
 *     it, and an event with an old gen is dropped.
 *
 * Cost: one epoll_ctl per descriptor's life, none per wait; a wait that
 * finds a token is a lock and a flag. Who calls epoll_wait: an idle worker,
 * without blocking, before and while it spins (roost__netpoll_try: what it
 * readies runs on that worker, no thread hop), and the poller thread,
 * started on the first registration and blocked in epoll_wait, for what
 * arrives while every worker sleeps (that path goes through the global run
 * queue and a worker's wake-up: see docs/design.md).
 */
#include "internal.h"
#include "roost_io.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { PD_UNUSED = 0, PD_OPEN, PD_CLOSING, PD_CLOSED };

struct roost__pd {
    int lock;
    uint8_t state;              /* PD_* */
    bool rready, wready;        /* an edge nobody waited for (a token) */
    bool close_fd;              /* CLOSING: close(2) fd when ops reaches 0 (else forget) */
    uint32_t gen;               /* tag of the current registration */
    int ops;                    /* roost calls in progress on fd */
    roost__waitq_t rq, wq;      /* tasks waiting to read / to write */
};
typedef roost__pd pd;

/* The table: fd -> pd, in chunks allocated on first use and never freed
 * (a chunk is 1024 descriptors, 56 KiB), so a pd pointer stays valid. */
#define CHUNK_BITS 10
#define CHUNK (1 << CHUNK_BITS)
#define MAX_CHUNKS 1024         /* descriptors up to 2^20 */

static struct {
    pthread_mutex_t lock;       /* chunk allocation and poller start */
    _Atomic(pd *) chunks[MAX_CHUNKS];
    int epfd;                   /* -1 until the poller starts */
    pthread_t thread;
    _Atomic bool started;
    _Atomic int waiters;        /* tasks and threads parked on a descriptor */
} poller = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};

static void *poller_main(void *unused);

/* Start the poller once; returns 0 or an error. */
static int poller_start(void) {
    if (atomic_load_explicit(&poller.started, memory_order_acquire)) return 0;
    pthread_mutex_lock(&poller.lock);
    int rc = 0;
    if (!atomic_load(&poller.started)) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
            rc = ROOST_ESYS(errno);
        } else {
            poller.epfd = ep;
            rc = roost__thread_start(&poller.thread, poller_main, NULL, "roost-poller", true);
            if (rc) {
                close(ep);
                poller.epfd = -1;
            } else {
                atomic_store_explicit(&poller.started, true, memory_order_release);
            }
        }
    }
    pthread_mutex_unlock(&poller.lock);
    return rc;
}

static pd *pd_of(int fd) {
    if (fd < 0 || fd >= CHUNK * MAX_CHUNKS) return NULL;
    pd *c = atomic_load_explicit(&poller.chunks[fd >> CHUNK_BITS], memory_order_acquire);
    if (ROOST_UNLIKELY(!c)) {
        pthread_mutex_lock(&poller.lock);
        c = atomic_load(&poller.chunks[fd >> CHUNK_BITS]);
        if (!c) {
            c = calloc(CHUNK, sizeof(pd));
            if (c) atomic_store_explicit(&poller.chunks[fd >> CHUNK_BITS], c, memory_order_release);
        }
        pthread_mutex_unlock(&poller.lock);
        if (!c) return NULL;
    }
    return &c[fd & (CHUNK - 1)];
}

/* With d locked: add fd to the epoll set under a new gen. */
static int pd_register_locked(pd *d, int fd) {
    d->gen++;
    d->rready = d->wready = false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)d->gen << 32};
    if (epoll_ctl(poller.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        /* Still there: closed with close(2) while dup'ed, then reused. */
        if (errno != EEXIST || epoll_ctl(poller.epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
            return ROOST_ESYS(errno);
    }
    d->state = PD_OPEN;
    return 0;
}

/* A descriptor roost just opened (socket, accept): a fresh registration,
 * whatever state an earlier descriptor with this number left behind. */
int roost__fd_new(int fd) {
    int rc = poller_start();
    if (rc) return rc;
    pd *d = pd_of(fd);
    if (!d) return fd < 0 ? ROOST_EINVAL : ROOST_ERANGE;
    roost__lock(&d->lock);
    d->ops = 0;
    rc = pd_register_locked(d, fd);
    roost__unlock(&d->lock);
    return rc;
}

/* Begin a call on fd: ROOST_EFDCLOSED once roost_fd_close ran. A
 * descriptor roost has not seen yet is made non-blocking and registered. */
int roost__fd_acquire(int fd, pd **out) {
    int rc = poller_start();
    if (rc) return rc;
    pd *d = pd_of(fd);
    if (!d) return fd < 0 ? ROOST_EINVAL : ROOST_ERANGE;
    roost__lock(&d->lock);
    if (d->state == PD_CLOSING) {
        roost__unlock(&d->lock);
        return ROOST_EFDCLOSED;
    }
    if (d->state != PD_OPEN) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
            rc = ROOST_ESYS(errno);
            roost__unlock(&d->lock);
            return rc;
        }
        d->ops = 0;
        if ((rc = pd_register_locked(d, fd))) {
            d->state = PD_UNUSED;
            roost__unlock(&d->lock);
            return rc;
        }
    }
    d->ops++;
    roost__unlock(&d->lock);
    *out = d;
    return 0;
}

/* End a call on fd; the last one out of a closing descriptor closes it. */
void roost__fd_release(int fd, pd *d) {
    roost__lock(&d->lock);
    bool do_close = --d->ops == 0 && d->state == PD_CLOSING;
    bool close_fd = d->close_fd;
    if (do_close) d->state = PD_CLOSED;
    roost__unlock(&d->lock);
    if (do_close && close_fd) close(fd);
}

/* Claim every waiter on q into *list. */
static void pd_claim_all(roost__waitq_t *q, roost__waiter **list) {
    roost__waiter *w;
    while ((w = roost__waitq_claim(q))) w->next = *list, *list = w;
}

static void pd_wake_all(roost__waiter *list, int err) {
    while (list) {
        roost__waiter *w = list;
        list = w->next;
        roost__wake(w->park, w->index, err);
    }
}

/* Wait on d (fd acquired) for events. */
int roost__fd_wait_acquired(roost_ctx_t *ctx, pd *d, int events) {
    int err = roost__ctx_err(ctx);
    if (err) return err;
    roost__lock(&d->lock);
    if (d->state == PD_CLOSING) {
        roost__unlock(&d->lock);
        return ROOST_EFDCLOSED;
    }
    bool ready = false;
    if ((events & ROOST_IO_READ) && d->rready) d->rready = false, ready = true;
    if ((events & ROOST_IO_WRITE) && d->wready) d->wready = false, ready = true;
    if (ready) {
        roost__unlock(&d->lock);
        return 0;
    }
    roost__park p;
    roost__park_init(&p, roost__self());
    roost__waiter rw = {.park = &p, .obj = d, .index = 0};
    roost__waiter ww = {.park = &p, .obj = d, .index = 1};
    if (events & ROOST_IO_READ) roost__waitq_push(&d->rq, &rw);
    if (events & ROOST_IO_WRITE) roost__waitq_push(&d->wq, &ww);
    int *locks[3] = {&d->lock};
    atomic_fetch_add_explicit(&poller.waiters, 1, memory_order_relaxed);
    int rc = roost__block(&p, ctx, INT64_MAX, locks, 1, ROOST_WAIT_IO, d);
    atomic_fetch_sub_explicit(&poller.waiters, 1, memory_order_relaxed);
    roost__lock(&d->lock);
    roost__waitq_remove(&d->rq, &rw);
    roost__waitq_remove(&d->wq, &ww);
    roost__unlock(&d->lock);
    return rc ? rc : p.err;
}

int roost_fd_wait(roost_ctx_t *ctx, int fd, int events) {
    if (fd < 0 || !(events & (ROOST_IO_READ | ROOST_IO_WRITE)) ||
        (events & ~(ROOST_IO_READ | ROOST_IO_WRITE)))
        return ROOST_EINVAL;
    pd *d;
    int rc = roost__fd_acquire(fd, &d);
    if (rc) return rc;
    rc = roost__fd_wait_acquired(ctx, d, events);
    roost__fd_release(fd, d);
    return rc;
}

/* A system call on d's descriptor failed with errno e: 0 to try it again
 * (EINTR, or EAGAIN and then the descriptor became ready for events), else
 * the error to return (the wait's, or ROOST_ESYS(e)). */
int roost__fd_retry(roost_ctx_t *ctx, roost__pd *d, int events, int e) {
    if (e == EINTR) return 0;
    if (e != EAGAIN && e != EWOULDBLOCK) return ROOST_ESYS(e);
    return roost__fd_wait_acquired(ctx, d, events);
}

ssize_t roost_fd_read(roost_ctx_t *ctx, int fd, void *buf, size_t n) {
    if (fd < 0 || (!buf && n)) return ROOST_EINVAL;
    pd *d;
    int rc = roost__fd_acquire(fd, &d);
    if (rc) return rc;
    ssize_t r;
    while ((r = read(fd, buf, n)) < 0 && !(r = roost__fd_retry(ctx, d, ROOST_IO_READ, errno))) {
    }
    roost__fd_release(fd, d);
    return r;
}

/* send(2) with MSG_NOSIGNAL on sockets (no SIGPIPE), write(2) on the rest. */
static ssize_t write_some(int fd, const void *buf, size_t n, bool *is_sock) {
    if (*is_sock) {
        ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0 || errno != ENOTSOCK) return r;
        *is_sock = false;
    }
    return write(fd, buf, n);
}

int roost_fd_write(roost_ctx_t *ctx, int fd, const void *buf, size_t n, size_t *written) {
    size_t done = 0;
    if (written) *written = 0;
    if (fd < 0 || (!buf && n)) return ROOST_EINVAL;
    pd *d;
    int rc = roost__fd_acquire(fd, &d);
    if (rc) return rc;
    bool is_sock = true;
    while (done < n) {
        ssize_t r = write_some(fd, (const char *)buf + done, n - done, &is_sock);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        /* 0 bytes for a non-empty write: as EAGAIN, wait until writable */
        if ((rc = roost__fd_retry(ctx, d, ROOST_IO_WRITE, r < 0 ? errno : EAGAIN))) break;
    }
    roost__fd_release(fd, d);
    if (written) *written = done;
    return rc;
}

/* roost_fd_close and roost_fd_forget: wake the waiters, leave the poller,
 * and close now or when the last call in progress returns. */
static int fd_end(int fd, bool close_it) {
    if (fd < 0) return ROOST_EINVAL;
    pd *d = pd_of(fd);
    if (!d) return ROOST_ERANGE;
    roost__lock(&d->lock);
    if (d->state == PD_CLOSING) {
        roost__unlock(&d->lock);
        return ROOST_EFDCLOSED;
    }
    bool registered = d->state == PD_OPEN;
    roost__waiter *list = NULL;
    pd_claim_all(&d->rq, &list);
    pd_claim_all(&d->wq, &list);
    d->gen++;                     /* events still in flight are dropped */
    d->rready = d->wready = false;
    d->close_fd = close_it;
    bool now = d->ops == 0;
    d->state = now ? PD_CLOSED : PD_CLOSING;
    if (registered) epoll_ctl(poller.epfd, EPOLL_CTL_DEL, fd, NULL);
    roost__unlock(&d->lock);
    pd_wake_all(list, ROOST_EFDCLOSED);
    if (now && close_it && close(fd) < 0 && errno != EINTR) return ROOST_ESYS(errno);
    return 0;
}

int roost_fd_close(int fd) { return fd_end(fd, true); }
int roost_fd_forget(int fd) { return fd_end(fd, false); }

/* ------------------------------------------------------------ polling */

/* Wait up to timeout_ms (-1: no limit) for ready descriptors and wake their
 * waiters. On a worker, roost__ready puts them in its own runnext and ring,
 * so a worker that polls runs them with no thread hop. Returns how many
 * events it saw. */
static int netpoll(int timeout_ms) {
    struct epoll_event evs[128];
    int n = epoll_wait(poller.epfd, evs, 128, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        roost__fatal("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)evs[i].data.u64;
        uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32), e = evs[i].events;
        pd *d = pd_of(fd);
        if (!d) continue;
        roost__waiter *list = NULL;
        roost__lock(&d->lock);
        if (d->gen == gen && d->state == PD_OPEN) {
            /* The token goes to the waiters claimed, or stays if there
             * were none (stale nodes of cancelled waits do not count). */
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                roost__waiter *before = list;
                pd_claim_all(&d->rq, &list);
                if (list == before) d->rready = true;
            }
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
                roost__waiter *before = list;
                pd_claim_all(&d->wq, &list);
                if (list == before) d->wready = true;
            }
        }
        roost__unlock(&d->lock);
        pd_wake_all(list, 0);
    }
    return n;
}

/* An idle worker's look at the poller, before it steals or sleeps (Go's
 * findrunnable does the same): no system call unless a task waits on a
 * descriptor. */
bool roost__netpoll_try(void) {
    if (atomic_load_explicit(&poller.waiters, memory_order_relaxed) == 0) return false;
    /* The acquire pairs with poller_start's release: epfd is set. */
    if (!atomic_load_explicit(&poller.started, memory_order_acquire)) return false;
    return netpoll(0) > 0;
}

/* The poller thread: blocked in epoll_wait for whatever no worker took. */
static void *poller_main(void *unused) {
    (void)unused;
    for (;;) netpoll(-1);
    return NULL;
}
