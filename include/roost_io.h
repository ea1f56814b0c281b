/* roost_io.h - network and blocking I/O for roost tasks.
 *
 * A task that reads a socket parks (wait reason "io wait") instead of
 * blocking its worker: descriptors are non-blocking, and a poller (epoll)
 * makes the waiting task runnable when the descriptor becomes ready. Plain
 * threads may call everything here too; they sleep instead of parking.
 *
 * Conventions, as in roost.h: every call returns 0 (or a byte count) or a
 * negative ROOST_E* code, never errno; every call that can wait takes a
 * context first (NULL: background) and returns ROOST_ECANCELED or
 * ROOST_ETIMEDOUT when it ends the wait. A failed system call comes back as
 * ROOST_ESYS(errno): roost_sys_errno() gives the errno back, and
 * roost_strerror() its message.
 *
 * Descriptors are plain ints, opened by roost (roost_tcp_listen, ...) or
 * handed to roost (roost_fd_wait, roost_fd_read on a pipe of yours). Close
 * them with roost_fd_close: a task waiting on the descriptor then wakes
 * with ROOST_EFDCLOSED (Go's "use of closed network connection"), and the
 * descriptor number is released only once no roost call is using it, so an
 * operation never lands on a descriptor that was reused meanwhile. A
 * descriptor closed behind roost's back with close(2) must first be
 * released with roost_fd_forget.
 */
#ifndef ROOST_IO_H
#define ROOST_IO_H

#include "roost.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/* System errors: a system call failed with errno e. The range is far below
 * the ROOST_E* codes of roost.h. */
#define ROOST_ESYS_BASE 1000
#define ROOST_ESYS(e) (-(ROOST_ESYS_BASE + (e)))
/* The errno behind a ROOST_ESYS code, or 0 for any other code. */
static inline int roost_sys_errno(int err) { return err <= -ROOST_ESYS_BASE ? -err - ROOST_ESYS_BASE : 0; }

/* ---------------------------------------------------------------- waiting on descriptors */

enum {
    ROOST_IO_READ = 1,  /* readable, or the peer hung up, or an error is pending */
    ROOST_IO_WRITE = 2, /* writable, or an error is pending */
};

/* Park until fd is ready for `events` (ROOST_IO_READ, ROOST_IO_WRITE or
 * both). Readiness is edge-triggered, as Go's poller: this returns once
 * something happened since the last wait on fd, which may be before this
 * call; so always try the operation first, and wait only after it said
 * EAGAIN. The first wait on a descriptor makes it non-blocking and adds it
 * to the poller. Returns 0, ROOST_EFDCLOSED (roost_fd_close ran),
 * ROOST_ECANCELED / ROOST_ETIMEDOUT, ROOST_EINVAL (fd < 0, no events),
 * ROOST_ESYS(errno) from epoll_ctl (EPERM: a regular file, which is always
 * ready: read it with roost_file_read instead). */
int roost_fd_wait(roost_ctx_t *ctx, int fd, int events);

/* read(2) on fd, parking while it would block. Returns the byte count (0:
 * end of file), or ROOST_EFDCLOSED, ROOST_ECANCELED, ROOST_ETIMEDOUT,
 * ROOST_ESYS(errno) (ECONNRESET, ...), ROOST_EINVAL. */
ssize_t roost_fd_read(roost_ctx_t *ctx, int fd, void *buf, size_t n);

/* Write all n bytes, parking while the descriptor is full. Returns 0 once
 * all are written, or the error that stopped it (as roost_fd_read; EPIPE
 * comes back as ROOST_ESYS(EPIPE), never as a signal, for sockets); either
 * way *written (may be NULL) says how many bytes went out. */
int roost_fd_write(roost_ctx_t *ctx, int fd, const void *buf, size_t n, size_t *written);

/* Close fd: tasks waiting on it wake with ROOST_EFDCLOSED, calls made
 * later get ROOST_EFDCLOSED, and close(2) runs when the last call still
 * using fd returns. Returns 0; ROOST_EFDCLOSED while an earlier close waits
 * for calls in progress; close(2)'s error (ROOST_ESYS(EBADF) for a number
 * already closed for good: like close(2), a double close cannot be told
 * from closing a number reused meanwhile); ROOST_EINVAL for fd < 0. */
int roost_fd_close(int fd);

/* Forget fd without closing it (for a descriptor the caller will close
 * itself): waiters wake with ROOST_EFDCLOSED and fd leaves the poller. */
int roost_fd_forget(int fd);

/* ---------------------------------------------------------------- sockets
 *
 * Addresses are strings: "host:port", "[v6 host]:port", ":port" (every
 * interface, listening only). host is an IPv4 or IPv6 literal or a name;
 * a name is resolved with getaddrinfo on the blocking pool (roost_offload),
 * so it takes the context too. Sockets are non-blocking, close-on-exec, and
 * never raise SIGPIPE (writes use MSG_NOSIGNAL). */

/* Listen on a TCP address with SO_REUSEADDR; backlog <= 0 means SOMAXCONN. */
int roost_tcp_listen(roost_ctx_t *ctx, const char *addr, int backlog, int *fd_out);
/* The next connection on a listening socket (TCP or Unix). When the
 * process is out of descriptors (EMFILE, ENFILE) accept backs off (5 ms,
 * doubling to 1 s) and retries until the context ends, and says so once on
 * stderr; it never spins. Returns 0 and *fd_out, or an error. */
int roost_accept(roost_ctx_t *ctx, int lfd, int *fd_out);
/* Connect over TCP. The context's deadline covers the whole connect (name
 * resolution included); every address a name resolves to is tried in turn.
 * ROOST_ESYS(ECONNREFUSED) and friends when no address accepts. */
int roost_tcp_connect(roost_ctx_t *ctx, const char *addr, int *fd_out);
/* The local (or peer) address of a socket, as "host:port"; buf of at least
 * 64 bytes. */
int roost_sock_addr(int fd, int peer, char *buf, size_t n);
/* shutdown(2): ROOST_SHUT_WR sends FIN after what was written. */
enum { ROOST_SHUT_RD = 0, ROOST_SHUT_WR = 1, ROOST_SHUT_RDWR = 2 };
int roost_sock_shutdown(int fd, int how);

/* Unix-domain stream sockets at a filesystem path (an existing socket file
 * there is not removed: that is the caller's business). */
int roost_unix_listen(roost_ctx_t *ctx, const char *path, int backlog, int *fd_out);
int roost_unix_connect(roost_ctx_t *ctx, const char *path, int *fd_out);

/* UDP: a socket bound to addr (":0" for any port), then datagrams. */
int roost_udp_bind(roost_ctx_t *ctx, const char *addr, int *fd_out);
/* Send one datagram to addr (a literal "host:port"). Returns 0 or an error. */
int roost_udp_sendto(roost_ctx_t *ctx, int fd, const void *buf, size_t n, const char *addr);
/* Receive one datagram; from (may be NULL, else 64 bytes at least) gets the
 * sender as "host:port". Returns its size (a datagram longer than n is
 * truncated to n), or an error. */
ssize_t roost_udp_recvfrom(roost_ctx_t *ctx, int fd, void *buf, size_t n, char *from, size_t fromlen);

/* ---------------------------------------------------------------- the blocking pool
 *
 * For calls that block and cannot be waited on (name resolution, regular
 * files, a library's blocking function): fn(arg) runs on a pool thread
 * while the calling task parks (wait reason "io wait"). The pool starts
 * threads on demand up to its limit (ROOST_OFFLOAD_THREADS, default 64;
 * calls beyond it queue), and a thread idle for 10 s exits.
 *
 * roost_offload returns fn's result, or ROOST_ECANCELED / ROOST_ETIMEDOUT
 * when the context ends first. The call itself cannot be interrupted: it
 * keeps running on its pool thread, and its result is dropped; so fn and
 * arg must stay valid until it returns on its own. roost_offload_detached
 * handles that: done(arg) (if given) runs exactly once, after fn on the
 * pool thread whether or not anyone still waits, or before returning when
 * the call never started (an error, or a context already ended), so that
 * done can free what the call used. */
typedef int (*roost_offload_fn)(void *arg);
int roost_offload(roost_ctx_t *ctx, roost_offload_fn fn, void *arg);
int roost_offload_detached(roost_ctx_t *ctx, roost_offload_fn fn, void *arg, void (*done)(void *arg));

/* Regular-file reads and writes on the blocking pool (pread/pwrite when
 * off >= 0, else read/write at the file position). Return a byte count or
 * an error as roost_fd_read. On cancellation the pool thread finishes the
 * call into a buffer of its own, so buf may be reused at once. */
ssize_t roost_file_read(roost_ctx_t *ctx, int fd, void *buf, size_t n, int64_t off);
ssize_t roost_file_write(roost_ctx_t *ctx, int fd, const void *buf, size_t n, int64_t off);

/* ---------------------------------------------------------------- signals
 *
 * Go's signal.NotifyContext: *out is a child of parent that is cancelled,
 * with the signal number as its cause (roost_ctx_cause), when one of the
 * nsigs signals arrives; the program stops listening with roost_ctx_cancel
 * (as Go's stop). While a live context listens for a signal, roost's
 * handler is installed for it; once none does (the signal arrived, or
 * every listener was cancelled), the previous disposition is back: a
 * second Ctrl-C during a graceful shutdown kills the program as usual.
 * The handler only writes the signal number to a pipe; a thread of roost's
 * does the cancelling. ROOST_EINVAL for SIGKILL, SIGSTOP and the fault
 * signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE).
 *
 * roost's own threads (workers, timer, pool) block asynchronous
 * signals from the start (all but SIGQUIT, roost's task dump, SIGPROF,
 * and SIGURG, which the monitor sends a blocked worker), so a process-directed signal is delivered to one of the
 * program's threads (its main thread, typically), never in the middle of a
 * task on a worker. raise(3) in a task signals its worker thread, where
 * the signal stays pending: use kill(getpid(), sig). */
int roost_ctx_with_signals(roost_ctx_t *parent, const int *sigs, int nsigs, roost_ctx_t **out);

#ifdef __cplusplus
}
#endif

#endif
