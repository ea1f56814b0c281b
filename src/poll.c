/* poll.c - the network poller: tasks wait on file descriptors.
 *
 * The one idea: a descriptor's state lives in a poll descriptor (pd), one
 * per descriptor number, found by indexing a table. A task that would block
 * on fd queues a waiter node on pd's read or write queue and parks through
 * roost__block like any other wait; whoever calls epoll_wait claims the
 * waiters of a descriptor that became ready and readies them.
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
 * Who calls epoll_wait. There is no poller thread; the workers poll, as
 * Go's findrunnable does, and what a worker readies goes to its own
 * runnext and ring, so it runs with no thread hop:
 *   - a worker with nothing to run polls without blocking before and while
 *     it spins (roost__netpoll_try; no system call unless a task waits);
 *   - the last worker to go idle, while a task waits on a descriptor,
 *     blocks in epoll_wait instead of its futex (roost__netpoll_block):
 *     it is the poller's `owner`, one at a time. "Last": a worker that goes
 *     idle while another runs would, blocked in epoll, be woken by every
 *     edge the running worker's own writes cause, and race it for the
 *     event (a thread hop a round trip); the running worker polls those
 *     itself when it runs out of work. With no timeout: timers are the
 *     timer thread's, and what it readies wakes a worker like any work;
 *   - while a worker runs and no worker blocks in epoll, the monitor (the
 *     timer thread's tick, every 2 ms while a worker is busy) polls if no
 *     worker did since its last tick (roost__netpoll_tick), as Go's sysmon:
 *     a task whose descriptor became ready while every worker computes is
 *     readied into the global queue and a sleeper woken.
 *
 * Waking the owner: new work wakes an idle worker (sched.c's wake_one),
 * the owner only when no other is idle: it sets the worker's `wake` word,
 * then, if that worker is the owner, writes the eventfd registered
 * (level-triggered) in the epoll set, else wakes its futex. No wake-up is
 * lost: the owner publishes itself (the CAS on `owner`) and then reads
 * `wake` before each epoll_wait; the waker stores `wake` and then reads
 * `owner` (all seq_cst). If the owner read wake = 0, the waker's read of
 * owner comes after the owner's CAS, so it writes the eventfd, whose count
 * stays until read: epoll_wait returns at once, however late it is called.
 * A write that finds the owner already gone leaves a count behind: the
 * next owner's epoll_wait returns once for nothing, reads it, and waits
 * again. A plain thread that starts waiting on a descriptor while every
 * worker sleeps and none owns the poller wakes one (which becomes the
 * owner when it goes idle again): waiters is raised before the look at
 * owner and at the idle count, and an idle worker reads waiters after it
 * counts itself idle. Nothing on the spawn and wake paths changes while
 * every worker runs: they look at the owner only when some worker is idle.
 *
 * Skipping the call that would say EAGAIN. In a request/response exchange
 * every read that follows a write finds the socket empty: a system call for
 * nothing each message (Go's netpoller makes it too). So a descriptor keeps
 * counts of the read and write edges the poller handled (rseq, wseq: +2 an
 * edge, under pd->lock) and, in rdry/wdry, count + 1 as it was *before* the
 * last read that left the descriptor empty (EAGAIN, or a TCP socket's
 * TCP_INQ saying 0 bytes left) or the last write that said EAGAIN. A read or
 * write that finds rdry == rseq + 1 (wdry == wseq + 1) parks at once. Why no
 * wake-up is lost: the snapshot of rseq is taken before the read, so a match
 * means no edge was handled since before the moment the descriptor was seen
 * empty; bytes that came after that moment have an edge still to handle,
 * and it either finds the waiter queued or leaves a token, exactly as after
 * an EAGAIN (the check and the queueing are under pd->lock, in
 * roost__fd_wait_acquired). A stale store (a concurrent reader's older
 * snapshot, a snapshot that reads late) can only fail to match, and then the
 * call is made: it costs a system call, never a wake-up. The counts never
 * reset: a fresh registration adds 2, so an old rdry cannot match.
 *
 * Cost: one epoll_ctl per descriptor's life, none per wait; a wait that
 * finds a token is a lock and a flag.
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
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

enum { PD_UNUSED = 0, PD_OPEN, PD_CLOSING, PD_CLOSED };

struct roost__pd {
    int lock;
    uint8_t state;       /* PD_* */
    bool rready, wready; /* an edge nobody waited for (a token) */
    bool close_fd;       /* CLOSING: close(2) fd when ops reaches 0 (else forget) */
    uint32_t gen;        /* tag of the current registration */
    bool inq;            /* a TCP socket with TCP_INQ on: reads say what is left */
    /* Edges handled (+2 each, under lock) and, +1, their value before the
     * last read that left fd empty / write that found it full (see the top). */
    _Atomic uint32_t rseq, wseq, rdry, wdry;
    int ops;               /* roost calls in progress on fd */
    roost__waitq_t rq, wq; /* tasks waiting to read / to write */
};
typedef roost__pd pd;

/* The table: fd -> pd, in chunks allocated on first use and never freed
 * (a chunk is 1024 descriptors, 56 KiB), so a pd pointer stays valid. */
#define CHUNK_BITS 10
#define CHUNK (1 << CHUNK_BITS)
#define MAX_CHUNKS 1024 /* descriptors up to 2^20 */

static struct {
    pthread_mutex_t lock; /* chunk allocation and poller start */
    _Atomic(pd *) chunks[MAX_CHUNKS];
    int epfd; /* -1 until the poller starts */
    int evfd; /* eventfd in the epoll set: wakes the owner */
    _Atomic bool started;
    _Atomic int waiters;            /* tasks and threads parked on a descriptor */
    _Atomic(roost__worker *) owner; /* the worker blocked in epoll_wait, or NULL */
    _Atomic uint64_t polls;         /* epoll_wait calls: the monitor polls if none since its tick */
    uint64_t tick_polls;            /* `polls` at the monitor's last tick (monitor only) */
} poller = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .evfd = -1};

/* The epoll event of the eventfd: no descriptor's (those carry gen >= 1). */
#define EV_BREAK UINT64_MAX

/* Start the poller once; returns 0 or an error. */
static int poller_start(void) {
    if (atomic_load_explicit(&poller.started, memory_order_acquire)) return 0;
    pthread_mutex_lock(&poller.lock);
    int rc = 0;
    if (!atomic_load(&poller.started)) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int ev = ep < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = EV_BREAK};
        if (ep < 0 || ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0) {
            rc = ROOST_ESYS(errno);
            if (ev >= 0) close(ev);
            if (ep >= 0) close(ep);
        } else {
            poller.epfd = ep;
            poller.evfd = ev;
            atomic_store_explicit(&poller.started, true, memory_order_release);
        }
    }
    pthread_mutex_unlock(&poller.lock);
    return rc;
}

/* pd_of's first look at a chunk: allocate it (a NULL return: no memory). */
static __attribute__((noinline)) pd *pd_chunk_new(int fd) {
    pthread_mutex_lock(&poller.lock);
    pd *c = atomic_load(&poller.chunks[fd >> CHUNK_BITS]);
    if (!c) {
        c = calloc(CHUNK, sizeof(pd));
        if (c) atomic_store_explicit(&poller.chunks[fd >> CHUNK_BITS], c, memory_order_release);
    }
    pthread_mutex_unlock(&poller.lock);
    return c;
}

/* fd's record, or NULL (fd out of range, or no memory). Inline: every read,
 * write and event looks one up, and the call would cost more than the look. */
static inline pd *pd_of(int fd) {
    if ((unsigned)fd >= CHUNK * MAX_CHUNKS) return NULL;
    pd *c = atomic_load_explicit(&poller.chunks[fd >> CHUNK_BITS], memory_order_acquire);
    if (ROOST_UNLIKELY(!c) && !(c = pd_chunk_new(fd))) return NULL;
    return &c[fd & (CHUNK - 1)];
}

/* With d locked: add fd to the epoll set under a new gen. */
static int pd_register_locked(pd *d, int fd) {
    d->gen++;
    d->rready = d->wready = false;
    d->inq = false;
    atomic_store_explicit(&d->rseq, atomic_load_explicit(&d->rseq, memory_order_relaxed) + 2,
                          memory_order_relaxed);
    atomic_store_explicit(&d->wseq, atomic_load_explicit(&d->wseq, memory_order_relaxed) + 2,
                          memory_order_relaxed);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)d->gen << 32};
    if (epoll_ctl(poller.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        /* Still there: closed with close(2) while dup'ed, then reused. */
        if (errno != EEXIST || epoll_ctl(poller.epfd, EPOLL_CTL_MOD, fd, &ev) < 0) return ROOST_ESYS(errno);
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

/* fd, just registered by roost__fd_new, is a TCP socket: turn TCP_INQ on,
 * so that roost_fd_read knows when a read left it empty. */
void roost__fd_tcp(int fd) {
    int one = 1;
    pd *d = pd_of(fd);
    if (!d || setsockopt(fd, IPPROTO_TCP, TCP_INQ, &one, sizeof one) < 0) return;
    roost__lock(&d->lock);
    d->inq = true;
    roost__unlock(&d->lock);
}

/* Begin a call on fd: ROOST_EFDCLOSED once roost_fd_close ran. A
 * descriptor roost has not seen yet is made non-blocking and registered. */
int roost__fd_acquire(int fd, pd **out) {
    *out = NULL;
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
    atomic_fetch_add_explicit(&poller.waiters, 1, memory_order_seq_cst);
    /* A plain thread: every worker may be asleep with none in epoll_wait
     * (they saw no waiter); wake one, to become the owner (see the top). */
    if (ROOST_UNLIKELY(!p.task) && !atomic_load(&poller.owner)) roost__sched_kick_poller();
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

/* Whether the last read or write found d empty or full (`dry`, rdry or
 * wdry) and no edge was handled since (`seq`, rseq or wseq, as loaded). */
static inline bool pd_dry(_Atomic uint32_t *dry, uint32_t seq) {
    return atomic_load_explicit(dry, memory_order_relaxed) == seq + 1;
}

/* read(2); on a socket with TCP_INQ, recvmsg(2), which also says whether
 * it left the socket empty (*empty). */
static ssize_t read_some(int fd, const pd *d, void *buf, size_t n, bool *empty) {
    if (!d->inq) return read(fd, buf, n);
    struct iovec iov = {.iov_base = buf, .iov_len = n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    ssize_t r = recvmsg(fd, &m, 0);
    if (r > 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
                int left;
                memcpy(&left, CMSG_DATA(c), sizeof left);
                *empty = left == 0;
            }
    return r;
}

ssize_t roost_fd_read(roost_ctx_t *ctx, int fd, void *buf, size_t n) {
    if (fd < 0 || (!buf && n)) return ROOST_EINVAL;
    pd *d;
    int rc = roost__fd_acquire(fd, &d);
    if (rc) return rc;
    ssize_t r;
    for (;;) {
        /* Before the read: see the top for why the order matters. */
        uint32_t seq = atomic_load_explicit(&d->rseq, memory_order_acquire);
        if (pd_dry(&d->rdry, seq)) { /* empty, and no edge since: wait first */
            if ((r = roost__fd_wait_acquired(ctx, d, ROOST_IO_READ))) break;
            continue;
        }
        bool empty = false;
        if ((r = read_some(fd, d, buf, n, &empty)) >= 0) {
            if (empty) atomic_store_explicit(&d->rdry, seq + 1, memory_order_relaxed);
            break;
        }
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) atomic_store_explicit(&d->rdry, seq + 1, memory_order_relaxed);
        if ((r = roost__fd_retry(ctx, d, ROOST_IO_READ, e))) break;
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
        uint32_t seq = atomic_load_explicit(&d->wseq, memory_order_acquire);
        if (pd_dry(&d->wdry, seq)) { /* full, and no edge since: wait first */
            if ((rc = roost__fd_wait_acquired(ctx, d, ROOST_IO_WRITE))) break;
            continue;
        }
        ssize_t r = write_some(fd, (const char *)buf + done, n - done, &is_sock);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        /* 0 bytes for a non-empty write: as EAGAIN, wait until writable */
        int e = r < 0 ? errno : EAGAIN;
        if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK))
            atomic_store_explicit(&d->wdry, seq + 1, memory_order_relaxed);
        if ((rc = roost__fd_retry(ctx, d, ROOST_IO_WRITE, e))) break;
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
    d->gen++; /* events still in flight are dropped */
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

/* Wake the waiters of the descriptors in evs[0..n), skipping the eventfd.
 * On a worker, roost__ready puts them in its own runnext and ring. */
static void netpoll_ready(struct epoll_event *evs, int n) {
    /* The records of the descriptors, and the waiter nodes on the stacks of
     * the tasks parked on them, are cold (with many connections, each was
     * last touched long ago): ask for all of them at once, so that their
     * misses overlap, before taking any lock. The head is only peeked (it is
     * read under the lock below). */
    for (int i = 0; i < n; i++) {
        pd *d = evs[i].data.u64 == EV_BREAK ? NULL : pd_of((int)(uint32_t)evs[i].data.u64);
        if (d) __builtin_prefetch(d, 1);
    }
    for (int i = 0; i < n; i++) {
        pd *d = evs[i].data.u64 == EV_BREAK ? NULL : pd_of((int)(uint32_t)evs[i].data.u64);
        void *w = d ? __atomic_load_n(&d->rq.head, __ATOMIC_RELAXED) : NULL;
        if (w) __builtin_prefetch(w, 1);
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == EV_BREAK) continue;
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
                atomic_store_explicit(&d->rseq, atomic_load_explicit(&d->rseq, memory_order_relaxed) + 2,
                                      memory_order_relaxed);
                roost__waiter *before = list;
                pd_claim_all(&d->rq, &list);
                if (list == before) d->rready = true;
            }
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
                atomic_store_explicit(&d->wseq, atomic_load_explicit(&d->wseq, memory_order_relaxed) + 2,
                                      memory_order_relaxed);
                roost__waiter *before = list;
                pd_claim_all(&d->wq, &list);
                if (list == before) d->wready = true;
            }
        }
        roost__unlock(&d->lock);
        pd_wake_all(list, 0);
    }
}

/* epoll_wait up to timeout_ms (-1: no limit). Returns how many events it
 * saw (the eventfd's included), 0 on EINTR. */
static int netpoll_wait(struct epoll_event *evs, int max, int timeout_ms) {
    atomic_fetch_add_explicit(&poller.polls, 1, memory_order_relaxed);
    int n = epoll_wait(poller.epfd, evs, max, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        roost__fatal("epoll_wait: %s", strerror(errno));
    }
    return n;
}

/* Whether the poller is started and some task or thread waits on a
 * descriptor: the acquire pairs with poller_start's release (epfd is set). */
static inline bool poll_needed(void) {
    return atomic_load_explicit(&poller.waiters, memory_order_relaxed) != 0 &&
           atomic_load_explicit(&poller.started, memory_order_acquire);
}

bool roost__netpoll_waiting(void) { return poll_needed(); }

/* An idle worker's look at the poller, before it steals or sleeps (Go's
 * findrunnable does the same): no system call unless a task waits on a
 * descriptor. */
bool roost__netpoll_try(void) {
    if (!poll_needed()) return false;
    struct epoll_event evs[128];
    int n = netpoll_wait(evs, 128, 0);
    netpoll_ready(evs, n);
    return n > 0;
}

/* An idle worker w, on the idle list with w->wake read 0 there, about to
 * sleep: if it is the last to go idle and a task waits on a descriptor, it
 * becomes the owner and blocks in epoll_wait until it is woken (w->wake)
 * or a descriptor is ready, whose tasks it readies into its own queues
 * after leaving the idle list. Returns false, having done nothing, when
 * it should sleep on its futex instead. See the top of the file. */
bool roost__netpoll_block(roost__worker *w) {
    /* waiters read seq_cst, after our idle count: see the top. */
    if (!atomic_load(&poller.waiters) || !poll_needed() || !roost__sched_all_idle()) return false;
    roost__worker *none = NULL;
    if (!atomic_compare_exchange_strong(&poller.owner, &none, w)) return false;
    struct epoll_event evs[128];
    while (!atomic_load(&w->wake)) {
        int n = netpoll_wait(evs, 128, -1), k = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 != EV_BREAK) {
                k++;
            } else {
                uint64_t v;
                if (read(poller.evfd, &v, sizeof v) < 0 && errno != EAGAIN)
                    roost__fatal("eventfd read: %s", strerror(errno));
            }
        }
        if (k) {
            /* Off the idle list first: the wake-ups of what it readies go
             * to the other workers, not to itself. */
            roost__sched_unidle(w);
            netpoll_ready(evs, n);
            break;
        }
    }
    atomic_store(&poller.owner, NULL);
    return true;
}

/* wake_one (sched.c) set w->wake: if w is blocked in epoll_wait, make the
 * call return. Returns false if w is not the owner (wake its futex). */
bool roost__netpoll_break(roost__worker *w) {
    if (atomic_load(&poller.owner) != w) return false;
    uint64_t one = 1;
    if (write(poller.evfd, &one, sizeof one) < 0 && errno != EAGAIN)
        roost__fatal("eventfd write: %s", strerror(errno));
    return true;
}

bool roost__netpoll_owns(roost__worker *w) { return atomic_load(&poller.owner) == w; }

/* The monitor's tick, while some worker is busy: if no worker blocks in
 * epoll_wait and none polled since the last tick, poll for them. What it
 * readies goes to the global queue, and wakes a sleeper. */
void roost__netpoll_tick(void) {
    if (!poll_needed() || atomic_load(&poller.owner)) return;
    uint64_t polls = atomic_load_explicit(&poller.polls, memory_order_relaxed);
    bool polled = polls != poller.tick_polls;
    poller.tick_polls = polls + !polled; /* our own poll below does not count */
    if (polled) return;
    struct epoll_event evs[128];
    netpoll_ready(evs, netpoll_wait(evs, 128, 0));
}
