/* roost.h - the core layer of roost: Go's concurrency model for C.
 *
 * Tasks (goroutines) on an M:N scheduler, channels, select, contexts, timers
 * and task-blocking sync primitives. Everything here is safe to call from any
 * task on any worker; blocking calls made from a plain OS thread (one that is
 * not running a roost task) block that thread instead of a task.
 *
 * ERROR CONVENTION
 *   Every function that can fail returns an int: 0 (ROOST_OK) on success or a
 *   negative ROOST_E* code. roost_select returns the index of the chosen case
 *   (>= 0) or a negative code. Errors never travel through errno or any other
 *   thread-local state: a task can resume on another OS thread after any
 *   blocking call, so thread-local state read after it may belong to another
 *   task. roost_strerror() turns a code into a message.
 *
 * CONTEXTS
 *   Every blocking call takes a roost_ctx_t * first. NULL means "background":
 *   never cancelled, no deadline. When the context is cancelled the call
 *   returns ROOST_ECANCELED; when its deadline passes, ROOST_ETIMEDOUT (Go's
 *   ctx.Err()). A cause given to roost_ctx_cancel_cause is read with
 *   roost_ctx_cause, never returned by blocking calls: it may be positive,
 *   and roost_select's non-negative results are case indices.
 *
 * OWNERSHIP
 *   Channels and contexts are reference counted. The creator holds one
 *   reference; give every task that keeps a pointer its own reference with
 *   roost_chan_ref / roost_ctx_ref and drop it with the matching _unref.
 *   Exact references are what lets the leak detector prove that a
 *   parked task can never be woken. Misuse that would corrupt memory (an
 *   unref too many, a freed channel or context used, the done channel of a
 *   context unreferenced) is reported at the call, naming the task, and
 *   aborts, as a Go panic (best effort for freed objects: docs/guide.md,
 *   section 9).
 *
 * DURATIONS AND DEADLINES
 *   Durations are int64_t nanoseconds, deadlines absolute roost_now()
 *   nanoseconds. A duration that would carry a deadline past INT64_MAX
 *   saturates: the deadline is "never" (no timer fires, no context expires).
 *   A duration <= 0 is due at once (Go's rule), except a ticker's period,
 *   which must be > 0. docs/guide.md (section 8) tabulates every call's
 *   answer to bad input.
 */
#ifndef ROOST_H
#define ROOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place the version lives: the Makefile (library file name, SONAME)
 * and roost.pc read it from here. While MAJOR is 0 a minor release may change
 * the ABI, so the shared library's SONAME carries MAJOR.MINOR (libroost.so.0.2);
 * from 1.0 on it carries MAJOR only. */
#define ROOST_VERSION_MAJOR 0
#define ROOST_VERSION_MINOR 2
#define ROOST_VERSION_PATCH 0

/* ---------------------------------------------------------------- errors */

enum {
    ROOST_OK = 0,
    ROOST_EINVAL = -1,      /* NULL pointer, zero/absurd size, bad flag */
    ROOST_ENOMEM = -2,      /* allocation (or stack mapping) failed */
    ROOST_ECLOSED = -3,     /* send on closed channel; receive on closed and drained one */
    ROOST_ECANCELED = -4,   /* the context was cancelled */
    ROOST_ETIMEDOUT = -5,   /* the context's deadline passed (only ever a context's) */
    ROOST_EAGAIN = -6,      /* a non-blocking operation would block */
    ROOST_EALREADY = -7,    /* closing a closed channel */
    ROOST_ESTATE = -8,      /* unlock of an unlocked mutex; negative wait-group counter */
    ROOST_ERANGE = -9,      /* size or count beyond what roost supports */
    ROOST_EDEADLK = -10,    /* a wait only the caller could end: a re-lock, a once re-entered */
    ROOST_ELEAKED = -11,    /* the operation can never complete: the leak detector proved it (roost_obs.h) */
    ROOST_EFDCLOSED = -12,  /* the descriptor was closed with roost_fd_close (roost_io.h) */
    ROOST_ENOHOST = -13,    /* a host name that does not resolve (roost_io.h) */
    ROOST_ETIMELIMIT = -14, /* a call's own timeout_ns ran out (roost_wait_tasks, roost_leak_flush) */
    /* roost_io.h adds ROOST_ESYS(errno) codes, from -1000 down. */
};

/* Message for a ROOST_E* code (or "unknown error"). Never NULL. */
const char *roost_strerror(int err);

typedef struct roost_ctx roost_ctx_t;   /* opaque, reference counted */
typedef struct roost_chan roost_chan_t; /* opaque, reference counted */

/* ---------------------------------------------------------------- time */

#define ROOST_NS ((int64_t)1)
#define ROOST_US ((int64_t)1000)
#define ROOST_MS ((int64_t)1000000)
#define ROOST_S ((int64_t)1000000000)

/* Monotonic clock in nanoseconds. */
int64_t roost_now(void);

/* ---------------------------------------------------------------- runtime */

#define ROOST_STACK_MAX ((size_t)1 << 30) /* largest task stack, bytes */

typedef struct roost_config {
    int workers;       /* worker threads, up to 1024; 0: $ROOST_WORKERS, else the CPU count */
    size_t stack_size; /* default task stack, up to ROOST_STACK_MAX (rounded up to whole
                         * pages, at least 4); 0: $ROOST_STACK_SIZE, else 64 KiB */
    int observe;       /* bookkeeping (roost_obs.h): 1 on, 2 on with TSC-exact park times, -1 off;
                         * 0: $ROOST_OBSERVE (0, 1 or 2), else 1 */
} roost_config_t;

/* Start the runtime with explicit settings. Optional: the first roost_run or
 * roost_go starts it with defaults. ROOST_ESTATE if already started;
 * ROOST_EINVAL for negative workers or observe outside -1..2; ROOST_ERANGE
 * for more than 1024 workers or stack_size over ROOST_STACK_MAX (and the
 * runtime is then left unstarted). An environment variable that does not
 * parse or is out of range is ignored with a warning on stderr (once per
 * variable) and the default used. */
int roost_init(const roost_config_t *cfg);

/* Run fn(arg) as a task and block the calling OS thread until it returns.
 * Other tasks keep running after it returns. May be called repeatedly, but
 * not from inside a task (ROOST_ESTATE). */
int roost_run(void (*fn)(void *), void *arg);

/* Stop the worker threads and free the runtime's memory. ROOST_ESTATE while
 * tasks are alive or when called from a task. Timers outlive it: a plain
 * thread asleep or in a timed wait wakes on time, and roost_after channels,
 * tickers and context deadlines made before still fire, served by a thread
 * of their own that exits once none is left (the runtime is not started
 * again for them). A roost_after channel or a context that only its own
 * timer still references is freed at once: nobody could see it fire. */
int roost_shutdown(void);

/* Number of worker threads (0 before the runtime starts). */
int roost_workers(void);

/* ---------------------------------------------------------------- tasks */

typedef void (*roost_fn)(void *arg);

typedef struct roost_task_opts {
    const char *name;  /* static string shown by profiles; may be NULL */
    size_t stack_size; /* 0: the runtime's default */
} roost_task_opts_t;

/* A spawn site: one per roost_go call in the source, a static the macro
 * makes. `id` is the runtime's (0 until the first spawn there). */
typedef struct roost_site {
    const char *file, *func;
    int line;
    int id;
} roost_site_t;

/* Spawn fn(arg) as a new task: Go's `go fn(arg)`. The spawn site (file, line,
 * function) is recorded for profiles, per-site counts and leak reports, at
 * the cost of one load per spawn. ROOST_ENOMEM if no stack could be had;
 * ROOST_EINVAL for a NULL fn; ROOST_ERANGE for opts->stack_size over
 * ROOST_STACK_MAX (smaller sizes are rounded up to whole pages, at least 4). */
#define roost_go(fn, arg) roost_go_opts((fn), (arg), NULL)
#define roost_go_opts(fn, arg, opts)                                          \
    __extension__({                                                           \
        static roost_site_t roost__site_ = {__FILE__, __func__, __LINE__, 0}; \
        roost_go_site((fn), (arg), (opts), &roost__site_);                    \
    })
int roost_go_site(roost_fn fn, void *arg, const roost_task_opts_t *opts, roost_site_t *site);
/* The same for callers without a static site (bindings, wrappers): the site
 * is looked up by (file, line, func) in a table; file and func must be
 * static strings. */
int roost_go_at(roost_fn fn, void *arg, const roost_task_opts_t *opts, const char *file, int line,
                const char *func);

/* Let other runnable tasks run: every task queued on this worker now runs
 * before the caller does again (Go's runtime.Gosched). Returns at once when
 * there are none. It also says "this task computes for long": an idle
 * worker is woken, and takes queued tasks off this one if they stay queued
 * (docs/guide.md, section 13). */
int roost_yield(void);

/* Sleep for ns nanoseconds (<= 0 yields; past the clock's range, until the
 * context ends). 0, or the context's error. */
int roost_sleep(roost_ctx_t *ctx, int64_t ns);

/* The calling task's id (ids start at 1), or 0 outside a task. */
uint64_t roost_task_id(void);

/* Live tasks: spawned and not yet returned. */
int64_t roost_task_count(void);

/* Wait, up to timeout_ns, for the live task count to drop to `expected`.
 * Called from a task, the caller itself is not counted: roost_wait_tasks(0,
 * ...) waits for every *other* task. Returns ROOST_OK, or ROOST_ETIMELIMIT
 * with the count still above it when timeout_ns ran out (timeout_ns <= 0:
 * one look; past the clock's range: no limit). Not ROOST_ETIMEDOUT: no
 * context is involved, and a caller passing the result on must not have it
 * read as its context's deadline. ROOST_EINVAL for expected < 0. The
 * building block of test-time leak checks. */
int roost_wait_tasks(int64_t expected, int64_t timeout_ns);

/* ---------------------------------------------------------------- contexts */

/* The background context: never cancelled. Also what NULL means. */
roost_ctx_t *roost_background(void);

/* New child contexts of `parent` (NULL: background). *out gets a context
 * holding one reference for the caller. A child is cancelled when its parent
 * is. Deadlines are absolute roost_now() nanoseconds; a child's deadline is
 * never later than its parent's. A deadline already past (or a timeout <= 0)
 * gives a context already expired (ROOST_ETIMEDOUT); a timeout past the
 * clock's range, or a deadline of INT64_MAX, none. ROOST_EINVAL for a NULL
 * out. */
int roost_ctx_with_cancel(roost_ctx_t *parent, roost_ctx_t **out);
int roost_ctx_with_deadline(roost_ctx_t *parent, int64_t deadline, roost_ctx_t **out);
int roost_ctx_with_timeout(roost_ctx_t *parent, int64_t timeout_ns, roost_ctx_t **out);

/* Cancel ctx and all its descendants: every blocking call waiting on them
 * returns at once with ROOST_ECANCELED. The cause (ROOST_ECANCELED for
 * roost_ctx_cancel) is kept for roost_ctx_cause. The first cancellation
 * wins; later calls do nothing. `cause` may be any non-zero int (negative
 * ROOST_E* codes or the program's own positive codes). Cancelling the
 * background context does nothing. */
void roost_ctx_cancel(roost_ctx_t *ctx);
void roost_ctx_cancel_cause(roost_ctx_t *ctx, int cause);

/* 0 while ctx is live; ROOST_ECANCELED or ROOST_ETIMEDOUT after (Go's Err). */
int roost_ctx_err(roost_ctx_t *ctx);

/* The cause given at cancellation (Go's context.Cause): ROOST_ETIMEDOUT for a
 * deadline, ROOST_ECANCELED for a plain cancel, the parent's cause when
 * cancelled through it; 0 while live. */
int roost_ctx_cause(roost_ctx_t *ctx);

/* Absolute deadline in roost_now() nanoseconds, or INT64_MAX if none. */
int64_t roost_ctx_deadline(roost_ctx_t *ctx);

/* A channel that is closed when ctx is cancelled: use it in roost_select.
 * Owned by ctx (do not unref it). NULL for the background context, and a NULL
 * channel in a select case is never ready, as a nil channel in Go. */
roost_chan_t *roost_ctx_done(roost_ctx_t *ctx);

roost_ctx_t *roost_ctx_ref(roost_ctx_t *ctx);
void roost_ctx_unref(roost_ctx_t *ctx);

/* ---------------------------------------------------------------- channels */

#define ROOST_CHAN_MAX_ELEM ((size_t)1 << 16) /* bytes per element */
#define ROOST_CHAN_MAX_CAP ((size_t)1 << 28)  /* elements of buffer */

/* Make a channel of elements of elem_size bytes (1..ROOST_CHAN_MAX_ELEM) with
 * a buffer of cap elements (0: unbuffered). The caller holds one reference.
 * ROOST_EINVAL, ROOST_ERANGE, ROOST_ENOMEM. */
int roost_chan_make(size_t elem_size, size_t cap, roost_chan_t **out);

roost_chan_t *roost_chan_ref(roost_chan_t *ch);
void roost_chan_unref(roost_chan_t *ch);

/* A task takes over one reference to ch that it was given (say, by its
 * spawner): the runtime releases it when the task exits, and while the
 * task is parked on ch that reference does not count as a way to reach ch
 * (the leak detector, roost_obs.h).
 * This is what lets the detector prove the story's leak: the caller drops
 * its reference and walks away, the request task is left the only holder,
 * parked on a send nobody can receive. The task must not unref it itself.
 * A task adopts a given channel once: a second adopt of the same channel by
 * the same task is reported and aborts (docs/guide.md, section 9).
 * ROOST_ESTATE from a plain thread. */
int roost_chan_adopt(roost_chan_t *ch);

/* Send *elem (elem_size bytes are copied). 0; ROOST_ECLOSED if the channel is
 * or becomes closed; the context's error.
 *
 * A NULL ch is Go's nil channel, never ready: a send or receive on it waits
 * until the context ends and returns its error (with none, it never
 * returns: wait reason "chan send (nil chan)", and the leak detector proves
 * the task leaked as it parks); the non-blocking forms return ROOST_EAGAIN. */
int roost_chan_send(roost_ctx_t *ctx, roost_chan_t *ch, const void *elem);

/* Receive into *elem (may be NULL to discard). 0 with a value; ROOST_ECLOSED
 * when closed and drained (elem zeroed, Go's ok == false); context errors
 * (elem zeroed; on a nil channel, untouched). */
int roost_chan_recv(roost_ctx_t *ctx, roost_chan_t *ch, void *elem);

/* Non-blocking forms: ROOST_EAGAIN instead of waiting. */
int roost_chan_trysend(roost_chan_t *ch, const void *elem);
int roost_chan_tryrecv(roost_chan_t *ch, void *elem);

/* Close: waiting receivers get ROOST_ECLOSED once the buffer is drained,
 * waiting senders get ROOST_ECLOSED. ROOST_EALREADY if already closed;
 * ROOST_EINVAL for a nil channel (Go panics). */
int roost_chan_close(roost_chan_t *ch);

size_t roost_chan_len(roost_chan_t *ch); /* buffered elements now (0 for a nil channel) */
size_t roost_chan_cap(roost_chan_t *ch); /* 0 for a nil channel */

/* ---------------------------------------------------------------- select */

enum { ROOST_RECV = 1, ROOST_SEND = 2 };

typedef struct roost_case {
    roost_chan_t *chan; /* NULL: never ready (Go's nil channel) */
    int op;             /* ROOST_RECV or ROOST_SEND */
    void *elem;         /* send: value to send; recv: destination or NULL */
    int err;            /* out, for the chosen case: 0 or ROOST_ECLOSED */
} roost_case_t;

#define ROOST_SELECT_NONBLOCK 1 /* Go's `default:` */
#define ROOST_SELECT_MAX 1024

/* Wait until one case can proceed and perform it. Among several ready cases
 * one is chosen uniformly at random. Returns the chosen index (check
 * cases[i].err: ROOST_ECLOSED for a receive from a closed channel or a send
 * to one), ROOST_EAGAIN with ROOST_SELECT_NONBLOCK when none is ready, the
 * context's error, ROOST_EINVAL or ROOST_ERANGE for bad arguments. */
int roost_select(roost_ctx_t *ctx, roost_case_t *cases, int ncases, int flags);

/* ---------------------------------------------------------------- timers */

/* A channel of int64_t that receives roost_now() once, ns from now (Go's
 * time.After; ns <= 0: at once; past the clock's range: never). The caller
 * holds one reference; the pending timer holds its own, so dropping yours
 * early is fine. ROOST_EINVAL for a NULL out. */
int roost_after(int64_t ns, roost_chan_t **out);

typedef struct roost_ticker roost_ticker_t;

/* A ticker delivering roost_now() every period_ns on a channel of int64_t with
 * a buffer of one; ticks a slow reader misses are dropped, as in Go.
 * ROOST_EINVAL for period_ns <= 0 (Go's NewTicker panics) or a NULL out; a
 * period past the clock's range never ticks. */
int roost_ticker_make(int64_t period_ns, roost_ticker_t **out);
roost_chan_t *roost_ticker_chan(roost_ticker_t *t);
/* Stop and free the ticker (its channel is not closed, as in Go). */
int roost_ticker_stop(roost_ticker_t *t);

/* ---------------------------------------------------------------- sync
 * Embeddable objects with static initialisers, like their Go counterparts'
 * zero values: all-zero is the initial state, so a zeroed object (a static,
 * calloc'ed or `= {0}`) is ready as well as one set to its ROOST_*_INIT.
 * Waiting blocks the task, not the worker thread. Locks are not tied to the
 * task that took them (as in Go), except that re-locking a mutex you hold is
 * refused with ROOST_EDEADLK.
 *
 * The layout is private: each type is opaque storage of a fixed size and
 * 8-byte alignment (as libdill's `struct dill_chstorage`), so the
 * internals can change without changing the size programs compile in. The
 * library checks at compile time that its own structure fits. Copying an
 * object that is in use, or moving it, is undefined (as in Go). Sizes: a
 * word of spare room each, two for the rwmutex. */

typedef struct roost_mutex {
    uint64_t roost__opaque[6];
} roost_mutex_t;
#define ROOST_MUTEX_INIT \
    {                    \
        { 0 }            \
    }

int roost_mutex_lock(roost_ctx_t *ctx, roost_mutex_t *mu);
int roost_mutex_trylock(roost_mutex_t *mu); /* ROOST_EAGAIN if held */
int roost_mutex_unlock(roost_mutex_t *mu);  /* ROOST_ESTATE if not locked */

typedef struct roost_rwmutex {
    uint64_t roost__opaque[10];
} roost_rwmutex_t;
#define ROOST_RWMUTEX_INIT \
    {                      \
        { 0 }              \
    }

/* A waiting writer holds back new readers (Go's rule). */
int roost_rwmutex_rlock(roost_ctx_t *ctx, roost_rwmutex_t *rw);
int roost_rwmutex_runlock(roost_rwmutex_t *rw);
int roost_rwmutex_lock(roost_ctx_t *ctx, roost_rwmutex_t *rw);
int roost_rwmutex_unlock(roost_rwmutex_t *rw);

typedef struct roost_cond {
    uint64_t roost__opaque[4];
} roost_cond_t;
#define ROOST_COND_INIT \
    {                   \
        { 0 }           \
    }

/* Atomically unlock mu and wait for a signal; mu is locked again on return,
 * whatever the result (0 or the context's error). */
int roost_cond_wait(roost_ctx_t *ctx, roost_cond_t *c, roost_mutex_t *mu);
int roost_cond_signal(roost_cond_t *c);
int roost_cond_broadcast(roost_cond_t *c);

typedef struct roost_waitgroup {
    uint64_t roost__opaque[5];
} roost_waitgroup_t;
#define ROOST_WAITGROUP_INIT \
    {                        \
        { 0 }                \
    }

/* ROOST_ESTATE (and no change) if the counter would go negative;
 * ROOST_ERANGE (and no change) if it would pass INT64_MAX. */
int roost_waitgroup_add(roost_waitgroup_t *wg, int64_t delta);
int roost_waitgroup_done(roost_waitgroup_t *wg);
int roost_waitgroup_wait(roost_ctx_t *ctx, roost_waitgroup_t *wg);

typedef struct roost_once {
    uint64_t roost__opaque[4];
} roost_once_t;
#define ROOST_ONCE_INIT \
    {                   \
        { 0 }           \
    }

/* Run fn(arg) exactly once; concurrent callers wait until it has returned.
 * 0, or the context's error for a caller that gave up waiting; ROOST_EDEADLK
 * (reported, as a re-locked mutex is) when fn itself calls back into o from
 * the task running it, which would wait for itself. */
int roost_once_do(roost_ctx_t *ctx, roost_once_t *o, roost_fn fn, void *arg);

/* ---------------------------------------------------------------- groups
 * A task group: Go's errgroup.WithContext, and a scope no task outlives
 * (Trio's nursery, libdill's bundle). Tasks spawned into a group get the
 * group's context; the first to return an error cancels that context with
 * the error as its cause; waiting on the group returns the first error once
 * every task in it has returned. Dropping the group (roost_group_close, or
 * the last roost_group_unref) while tasks still run cancels them and waits
 * for them, so every task comes home; a last unref with tasks still running
 * is also a bug the leak detector reports (ROOST_LEAK_GROUP, roost_obs.h),
 * naming the group's creation site and its tasks.
 *
 * Reuse: a group is one scope. Once a wait has seen it empty, or it was
 * closed, spawning into it is refused with ROOST_ESTATE (a new round takes
 * a new group: roost_group_make is one allocation). A wait that gave up on
 * its own context leaves the group open.
 *
 * A task of the group may use the group (spawn into it, read its context)
 * without a reference of its own: the group lives while it has tasks. It
 * must not wait on or close its own group (ROOST_EDEADLK).
 *
 * Each task carries the label group=FILE:LINE (the roost_group_make site)
 * in profiles, dumps and leak reports; tasks it spawns inherit the label, as
 * they inherit every label. */

typedef struct roost_group roost_group_t; /* opaque, reference counted */

/* A group's task: gets the group's context and its argument; returns 0 or an
 * error (a negative ROOST_E* code or the program's own positive code). */
typedef int (*roost_group_fn)(roost_ctx_t *ctx, void *arg);

/* Make a group whose context is a child of parent (NULL: background): Go's
 * errgroup.WithContext. The caller holds one reference. The creation site
 * (file:line) is recorded for labels and leak reports. ROOST_EINVAL,
 * ROOST_ENOMEM. */
#define roost_group_make(parent, out) \
    roost_group_make_at((parent), __FILE__ ":" ROOST__STR(__LINE__), __func__, (out))
#define ROOST__STR(x) ROOST__STR2(x)
#define ROOST__STR2(x) #x
/* The same with an explicit site: `where` and `func` must be static strings. */
int roost_group_make_at(roost_ctx_t *parent, const char *where, const char *func, roost_group_t **out);

/* The group's context, owned by the group (valid while you hold a reference
 * or are one of its tasks; roost_ctx_ref it to keep it longer). Cancelled
 * by the first error, by a wait that saw every task return, by close, and
 * when the parent is. */
roost_ctx_t *roost_group_ctx(roost_group_t *g);

/* Run at most n of the group's tasks at once (Go's SetLimit); n < 0: no
 * limit (the default); 0: no task can be added. ROOST_ESTATE while tasks
 * run or once the group is done; ROOST_EINVAL for a NULL group. */
int roost_group_set_limit(roost_group_t *g, int64_t n);

/* Spawn fn(group context, arg) into the group: Go's g.Go. At the limit it
 * waits for a slot (slots are handed over in order) under ctx: the ctx's
 * error if it ends first. ROOST_ESTATE once the group is done or closed
 * (also to a spawn waiting for a slot when the group is closed);
 * ROOST_EINVAL; ROOST_ENOMEM. The spawn site is recorded as roost_go's.
 * A task of the group spawning into it at the limit waits holding its own
 * slot, as in Go (with a limit of 1, for ever). A spawning task yields
 * after every 64 spawns into a group, so that a fan-out runs as it goes
 * (the tasks queued on its worker run before it resumes). */
#define roost_group_go(ctx, g, fn, arg)                                             \
    __extension__({                                                                 \
        static roost_site_t roost__site_ = {__FILE__, __func__, __LINE__, 0};       \
        roost_group_go_site((ctx), (g), (fn), (arg), 0, NULL, 0, 0, &roost__site_); \
    })
/* Go's TryGo: the same without waiting, ROOST_EAGAIN at the limit. */
#define roost_group_trygo(g, fn, arg)                                                            \
    __extension__({                                                                              \
        static roost_site_t roost__site_ = {__FILE__, __func__, __LINE__, 0};                    \
        roost_group_go_site(NULL, (g), (fn), (arg), 0, NULL, 0, ROOST_GROUP_TRY, &roost__site_); \
    })
/* Spawn with arguments and references handed over, the closest C gets to a
 * Go closure. `chans` is a parenthesized list of channels, () for none:
 * each gets a new reference that the task adopts (roost_chan_adopt), so it
 * is released when the task returns and the leak detector knows it is the
 * task's; the caller keeps its own. The argument (the last one, a pointer
 * to a struct, often a compound literal) is copied into the task, which
 * gets a pointer to its copy, freed when it returns:
 *   roost_group_go_with(NULL, g, (ch), fetch_one, &(fetch_arg){.ch = ch, .id = id});
 * Otherwise as roost_group_go. */
#define roost_group_go_with(ctx, g, chans, fn, ...)                                                     \
    __extension__({                                                                                     \
        static roost_site_t roost__site_ = {__FILE__, __func__, __LINE__, 0};                           \
        roost_chan_t *roost__chans_[] = {NULL, ROOST__UNPAREN chans};                                   \
        roost_group_go_site((ctx), (g), (fn), (__VA_ARGS__), sizeof *(__VA_ARGS__), roost__chans_ + 1,  \
                            (int)(sizeof roost__chans_ / sizeof *roost__chans_) - 1, 0, &roost__site_); \
    })
#define ROOST__UNPAREN(...) __VA_ARGS__
enum { ROOST_GROUP_TRY = 1 };
/* What the macros call. size > 0: copy size bytes from arg; chans: nchans
 * channels to hand over (not NULL); flags: ROOST_GROUP_TRY. */
int roost_group_go_site(roost_ctx_t *ctx, roost_group_t *g, roost_group_fn fn, const void *arg, size_t size,
                        roost_chan_t *const *chans, int nchans, int flags, roost_site_t *site);

/* Wait until every task of the group has returned, then return the first
 * error one returned (0 if none): Go's g.Wait. The group is then done: its
 * context is cancelled (with that error as the cause, ROOST_ECANCELED if
 * none) and further spawns are refused. If ctx ends first, its error
 * (ROOST_ECANCELED, ROOST_ETIMEDOUT) and the group stays open, its tasks
 * running. ROOST_EDEADLK from one of the group's own tasks; ROOST_EINVAL. */
int roost_group_wait(roost_ctx_t *ctx, roost_group_t *g);

/* Close the scope: cancel the group's context, refuse further spawns (and
 * fail spawns waiting for a slot with ROOST_ESTATE), wait for every task,
 * and drop the caller's reference. Returns the first error a task returned
 * before the close (errors after it, typically ROOST_ECANCELED, are the
 * close's own doing). ROOST_EDEADLK (and nothing done) from one of the
 * group's own tasks; ROOST_EINVAL. */
int roost_group_close(roost_group_t *g);

roost_group_t *roost_group_ref(roost_group_t *g);
/* Drop a reference. The last one, with tasks still running, abandons the
 * group: reported to the leak detector (ROOST_LEAK_GROUP), the tasks are
 * cancelled, and the caller waits for them (unless it is one of them: then
 * the group goes when its last task returns). */
void roost_group_unref(roost_group_t *g);

#ifdef __cplusplus
}
#endif
#endif
