/* offload.c - the blocking pool: calls that block run on threads of their own.
 *
 * The one idea: a job is a small reference-counted record shared by the
 * caller and the pool thread that runs it (two references). The caller
 * parks on the job's one-slot wait queue; the pool thread runs the call,
 * then, under the job's lock, records the result and claims the caller if
 * it still waits. A caller whose context ends first drops its reference and
 * returns; the call runs on to its end and the pool thread frees the job.
 * So neither side ever touches a job the other has freed, and a cancelled
 * wait returns at once.
 *
 * Threads start on demand up to a limit (ROOST_OFFLOAD_THREADS, default
 * 64: name resolution and file reads are what it is for, and each thread
 * is a real stack); jobs beyond the limit queue in FIFO order. A thread
 * idle for IDLE_NS exits, so an idle process keeps none.
 */
#include "internal.h"
#include "roost_io.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_NS (10 * ROOST_S)

typedef struct job {
    struct job *next; /* pool queue link (under pool.lock) */
    roost_offload_fn fn;
    void *arg;
    void (*done)(void *arg); /* runs after fn, waited for or not */
    atomic_int refs;         /* caller + pool thread */
    int lock;                /* over finished, result and q */
    bool finished;
    int result;
    roost__waitq_t q; /* the caller, while it waits */
} job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a job was queued */
    job *head, *tail;
    int nthreads, nidle, max;
    int queued;     /* jobs in the queue, not yet taken by a thread */
    uint64_t calls; /* jobs submitted */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void job_unref(job *j) {
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) free(j);
}

static int pool_max(void) {
    if (!pool.max) {
        const char *e = getenv("ROOST_OFFLOAD_THREADS");
        long v = e ? strtol(e, NULL, 10) : 0;
        pool.max = v > 0 && v <= 4096 ? (int)v : 64;
    }
    return pool.max;
}

static job *next_job(void) {
    job *j = pool.head;
    if (j) {
        pool.queued--;
        pool.head = j->next;
        if (!pool.head) pool.tail = NULL;
    }
    return j;
}

static void *pool_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        job *j = next_job();
        if (!j) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += IDLE_NS / ROOST_S;
            pool.nidle++;
            int rc = 0;
            while (!pool.head && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&pool.cond, &pool.lock, &until);
            pool.nidle--;
            if (!pool.head) break; /* idle for IDLE_NS: exit */
            continue;
        }
        pthread_mutex_unlock(&pool.lock);
        int result = j->fn(j->arg);
        if (j->done) j->done(j->arg);
        roost__lock(&j->lock);
        j->finished = true;
        j->result = result;
        roost__waiter *w = roost__waitq_claim(&j->q);
        roost__unlock(&j->lock);
        if (w) roost__wake(w->park, 0, 0);
        job_unref(j);
        pthread_mutex_lock(&pool.lock);
    }
    pool.nthreads--;
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Queue j, starting a thread when none is idle and the limit allows. */
static int pool_submit(job *j) {
    pthread_mutex_lock(&pool.lock);
    j->next = NULL;
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pool.queued++;
    pool.calls++;
    int rc = 0;
    if (pool.nidle > 0) {
        pthread_cond_signal(&pool.cond);
    } else if (pool.nthreads < pool_max()) {
        int e = roost__thread_start(NULL, pool_main, NULL, "roost-pool", true);
        if (e == 0) {
            pool.nthreads++;
        } else if (pool.nthreads == 0) {
            /* No thread at all to run it: take it back. */
            pool.head = pool.tail = NULL;
            pool.queued = 0;
            pool.calls--;
            rc = e;
        }
        /* else: a running thread will get to it */
    }
    pthread_mutex_unlock(&pool.lock);
    return rc;
}

int roost_offload_detached(roost_ctx_t *ctx, roost_offload_fn fn, void *arg, void (*done)(void *)) {
    /* done runs exactly once, here when the call never starts. */
    int rc = fn ? roost__ctx_err(ctx) : ROOST_EINVAL;
    job *j = NULL;
    if (!rc && !(j = calloc(1, sizeof *j))) rc = ROOST_ENOMEM;
    if (j) {
        j->fn = fn, j->arg = arg, j->done = done;
        atomic_init(&j->refs, 2);
        if ((rc = pool_submit(j))) free(j);
    }
    if (rc) {
        if (done) done(arg);
        return rc;
    }
    roost__park p;
    roost__park_init(&p, roost__self());
    roost__waiter w = {.park = &p, .obj = j};
    roost__lock(&j->lock);
    if (!j->finished) {
        roost__waitq_push(&j->q, &w);
        int *locks[3] = {&j->lock};
        rc = roost__block(&p, ctx, INT64_MAX, locks, 1, ROOST_WAIT_IO, j);
        if (!rc) rc = p.err;
        roost__lock(&j->lock);
        roost__waitq_remove(&j->q, &w);
    }
    /* A cancelled caller may still find the call finished: take it. */
    if (j->finished) rc = j->result;
    roost__unlock(&j->lock);
    job_unref(j);
    return rc;
}

int roost_offload(roost_ctx_t *ctx, roost_offload_fn fn, void *arg) {
    return roost_offload_detached(ctx, fn, arg, NULL);
}

/* ------------------------------------------------------------ regular files */

/* A file call's own record: the pool thread reads into (or writes from)
 * buf, which it frees in done, so the caller's buffer is never touched
 * after it returns. */
typedef struct file_call {
    int fd;
    bool write;
    int64_t off;
    size_t n;
    ssize_t got;     /* byte count, or ROOST_ESYS(errno) */
    atomic_int refs; /* caller + done */
    char buf[];
} file_call;

static void file_call_unref(file_call *c) {
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) free(c);
}

static int file_run(void *arg) {
    file_call *c = arg;
    ssize_t r;
    do {
        if (c->write)
            r = c->off >= 0 ? pwrite(c->fd, c->buf, c->n, c->off) : write(c->fd, c->buf, c->n);
        else
            r = c->off >= 0 ? pread(c->fd, c->buf, c->n, c->off) : read(c->fd, c->buf, c->n);
    } while (r < 0 && errno == EINTR);
    c->got = r < 0 ? ROOST_ESYS(errno) : r;
    return 0;
}

static void file_done(void *arg) { file_call_unref(arg); }

static ssize_t file_op(roost_ctx_t *ctx, int fd, void *rbuf, const void *wbuf, size_t n, int64_t off) {
    if (fd < 0 || (!rbuf && !wbuf && n) || n > SIZE_MAX / 2) return ROOST_EINVAL;
    file_call *c = malloc(sizeof *c + n);
    if (!c) return ROOST_ENOMEM;
    *c = (file_call){.fd = fd, .write = wbuf != NULL, .off = off, .n = n};
    atomic_init(&c->refs, 2);
    if (wbuf) memcpy(c->buf, wbuf, n);
    int rc = roost_offload_detached(ctx, file_run, c, file_done);
    ssize_t r = rc;
    if (rc == 0) {
        r = c->got;
        if (!wbuf && r > 0) memcpy(rbuf, c->buf, (size_t)r);
    }
    file_call_unref(c);
    return r;
}

ssize_t roost_file_read(roost_ctx_t *ctx, int fd, void *buf, size_t n, int64_t off) {
    if (!buf && n) return ROOST_EINVAL;
    return file_op(ctx, fd, buf ? buf : (void *)"", NULL, n, off);
}

ssize_t roost_file_write(roost_ctx_t *ctx, int fd, const void *buf, size_t n, int64_t off) {
    if (!buf && n) return ROOST_EINVAL;
    return file_op(ctx, fd, NULL, buf ? buf : "", n, off);
}

void roost__offload_figures(roost__offload_figures_t *out) {
    pthread_mutex_lock(&pool.lock);
    out->threads = pool.nthreads;
    out->idle = pool.nidle;
    out->queued = pool.queued;
    out->max = pool_max();
    out->calls = pool.calls;
    pthread_mutex_unlock(&pool.lock);
}
