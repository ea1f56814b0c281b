/* group.c - task groups: Go's errgroup, and a scope no task outlives.
 *
 * The one idea: a group counts its live tasks (`active`) under one spinlock
 * and lives while the program holds a reference *or* a task of it runs, so
 * its tasks may use it freely and the last one out (or the last reference
 * dropped) frees it. Everything else is built from what the runtime has:
 * the group's context is an ordinary child context (the first error cancels
 * it with that error as the cause), tasks are ordinary roost_go tasks whose
 * entry is member_main, and a wait or a spawn held back by the limit parks
 * on one of the group's two wait queues through roost__block, as sync.c's
 * waits do.
 *
 * Invariants, under `lock`:
 *   - `active` counts the tasks spawned and not yet finished, plus slots
 *     handed to spawners that are about to spawn: a slot is handed over
 *     directly (a finishing task that finds a spawner waiting for a slot
 *     gives it its own and does not decrement), so the limit holds at every
 *     instant and waiting spawners are served in order.
 *   - `slotq` is non-empty only while active >= limit (or while a close has
 *     claimed its nodes and not yet woken them).
 *   - `done` is set when a wait saw active == 0, or by close: no spawn
 *     succeeds after it. Waiters woken by the last task find active == 0.
 *   - The group is freed when users == 0 and active == 0, by whichever of
 *     the last unref and the last task gets there second, unless an unref
 *     is waiting for the tasks (`reaping`): then that unref frees it.
 */
#include "internal.h"
#include "buf.h"
#include "profile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct member member;

struct roost_group {
    int lock;                 /* spinlock over everything below but ctx and the strings */
    int users;                /* references held by the program */
    int64_t active;           /* tasks live, and slots handed over (see the invariants) */
    int64_t limit;            /* at most this many active; -1: no limit */
    int err;                  /* the first error a task returned, 0 if none */
    bool done;                /* no more spawns: a wait saw it empty, or it was closed */
    bool closing;             /* closed or abandoned: later errors are the cancellation's */
    bool reaping;             /* an abandoning unref waits to free it */
    roost_ctx_t *ctx;         /* the group's context; the group holds its reference */
    roost__waitq_t waiters;   /* roost_group_wait callers (and a reaping unref) */
    roost__waitq_t slotq;     /* spawns waiting for a slot under the limit */
    member *members;          /* live tasks, for reports (doubly linked) */
    member *spare;            /* finished tasks' small records, for reuse (linked by next) */
    const char *where, *func; /* creation site: static strings */
    unsigned spawns;          /* spawns so far, for the yield (YIELD_EVERY) */
    uint32_t magic;           /* GROUP_MAGIC while live, ROOST_DEAD_MAGIC once freed (fatal.c) */
};

/* A group used after it was freed (a close, which drops the creator's
 * reference, then an unref; an unref too many) would spin for ever on its
 * lock word, which malloc reuses: the entry points check the magic word
 * first, as channels and contexts do (internal.h), and report the misuse.
 * Best effort, like theirs. */
#define GROUP_MAGIC 0x70757267u /* "grup" */

static __attribute__((noreturn, cold, noinline)) void group_bad(const roost_group_t *g, const char *op) {
    if (g->magic == ROOST_DEAD_MAGIC)
        roost__misuse(g,
                      "%s on group %p, which was freed (used after its last reference was dropped; "
                      "roost_group_close drops the creator's)",
                      op, (const void *)g);
    roost__misuse(g, "%s on %p, which is not a live group (freed and its memory reused, or never a group)",
                  op, (const void *)g);
}

static inline void group_check(const roost_group_t *g, const char *op) {
    if (ROOST_UNLIKELY(g->magic != GROUP_MAGIC)) group_bad(g, op);
}

/* A spawning task yields after every YIELD_EVERY spawns into a group. A
 * fan-out that spawns faster than its tasks run would otherwise keep every
 * task's stack live at once and spill the worker's run ring (256 tasks)
 * into the global queue; yielding runs what it queued while the stacks are
 * warm. It halves the group_fanout benchmark's time. The cost: the spawner
 * resumes only once the tasks queued on its worker have run or parked. */
enum { YIELD_EVERY = 64 };

/* Whether group tasks are short: the last measured ones ran in under
 * SHORT_NS each (wall time, spawn included). Measured by a spawner over
 * its yield (the tasks it had just queued) and by a wait over its park
 * (the tasks still live when it began). While they are short, spawns into
 * groups wake no idle worker (roost__go_quiet): the spawner's worker gets
 * through them in less time than a woken one takes to start stealing, and
 * one that steals moves the tasks, their stacks and records, and at the
 * next yield the spawner itself across cores: on two workers a fan-out of
 * 1,000 tasks that return at once took twice as long with a woken helper
 * as on one worker. Long tasks are spread as roost_go spreads them: at
 * once while the verdict says long; when it still says short, by an
 * awake worker's steal or the monitor's wake-up (within two of its 2 ms
 * ticks), and the spawner's next yield or wait turns the verdict. One
 * verdict for the process: groups made at one site usually run tasks of
 * one kind, and a wrong verdict costs either a wake-up or a few
 * milliseconds' delay, never a lost task. */
#define SHORT_NS (1 * ROOST_US)
static _Atomic bool short_tasks;

/* Long measurements in a row before the verdict turns long. One is not
 * enough: a spawner's yield or a wait now and then takes a hundred times
 * its usual time (its thread descheduled, the spawner stolen), and a
 * verdict turned long by it wakes helpers whose cross-core traffic makes
 * the next measurements long too, so the fan-out stayed slow for good
 * (group_fanout ran at 240-290 us a round instead of 120). */
#define LONG_AFTER 3
static _Atomic int long_streak;

/* n tasks ran (or were waited for) in ns: record the verdict, writing the
 * shared lines only when they change. */
static void judge(int64_t ns, int64_t n) {
    bool is_short = ns < n * SHORT_NS;
    int streak = atomic_load_explicit(&long_streak, memory_order_relaxed);
    if (is_short) {
        if (streak) atomic_store_explicit(&long_streak, 0, memory_order_relaxed);
    } else {
        atomic_store_explicit(&long_streak, ++streak, memory_order_relaxed);
        if (streak < LONG_AFTER) return;
    }
    if (atomic_load_explicit(&short_tasks, memory_order_relaxed) != is_short)
        atomic_store_explicit(&short_tasks, is_short, memory_order_relaxed);
}

/* One task of a group: allocated by the spawner, given back by the task as
 * it finishes. Followed by the handed-over channels and the copied
 * argument. Records that fit SMALL_CHANS channels and SMALL_ARG bytes are
 * all of one size and go back to the group's `spare` list, so a fan-out
 * allocates about as many as run at once, not one per task (malloc and a
 * free on another worker were a tenth of group_fanout); the rest are
 * malloc'ed and freed. */
struct member {
    member *next, *prev; /* the group's list, under its lock */
    roost_group_t *g;
    roost_group_fn fn;
    void *arg;                /* the argument, or the copy below */
    _Atomic uint64_t task_id; /* set when the task starts (reports; 0: not yet) */
    int nchans;
    bool small;            /* of the spare size: goes back to `spare` */
    roost_chan_t *chans[]; /* then, max_align_t-aligned, the argument's copy */
};

/* ------------------------------------------------------------ waiting */

/* Park on q (locked by the group's lock, which the caller holds) until a
 * waker claims the node or ctx ends. Returns with the lock free: the park's
 * result (0 or what the waker gave) or the context's error. */
static int group_wait_on(roost_ctx_t *ctx, roost_group_t *g, roost__waitq_t *q) {
    roost__park p;
    roost__park_init(&p, roost__self());
    roost__waiter w = {.park = &p, .obj = g};
    roost__waitq_push(q, &w);
    int *locks[3] = {&g->lock};
    int rc = roost__block(&p, ctx, INT64_MAX, locks, 1, ROOST_WAIT_WAITGROUP, g);
    roost__lock(&g->lock);
    roost__waitq_remove(q, &w);
    roost__unlock(&g->lock);
    return rc ? rc : p.err;
}

static roost__waiter *claim_list(roost__waitq_t *q) {
    roost__waiter *list = NULL, *w;
    while ((w = roost__waitq_claim(q))) w->next = list, list = w;
    return list;
}

static void wake_list_err(roost__waiter *list, int err) {
    while (list) {
        roost__waiter *w = list;
        list = w->next;
        roost__wake(w->park, 0, err);
    }
}

/* ------------------------------------------------------------ lifetime */

int roost_group_make_at(roost_ctx_t *parent, const char *where, const char *func, roost_group_t **out) {
    if (!out) return ROOST_EINVAL;
    *out = NULL;
    roost_group_t *g = calloc(1, sizeof *g);
    if (!g) return ROOST_ENOMEM;
    int rc = roost_ctx_with_cancel(parent, &g->ctx);
    if (rc) {
        free(g);
        return rc;
    }
    g->users = 1;
    g->limit = -1;
    g->magic = GROUP_MAGIC;
    g->where = where ? where : "?";
    g->func = func ? func : "?";
    *out = g;
    return ROOST_OK;
}

enum { SMALL_CHANS = 4, SMALL_ARG = 64 };

/* Bytes before the argument's copy, for n channels. */
static size_t member_head(int n) {
    size_t head = sizeof(member) + sizeof(roost_chan_t *) * (size_t)n;
    return (head + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
}

static void group_free(roost_group_t *g) {
    while (g->spare) {
        member *m = g->spare;
        g->spare = m->next;
        free(m);
    }
    roost_ctx_cancel(g->ctx); /* Go's deferred cancel(): releases what hangs off it */
    roost_ctx_unref(g->ctx);
    /* Atomic: a plain store just before free() is one the compiler may drop. */
    __atomic_store_n(&g->magic, ROOST_DEAD_MAGIC, __ATOMIC_RELAXED);
    free(g);
}

roost_ctx_t *roost_group_ctx(roost_group_t *g) { return g ? g->ctx : NULL; }

roost_group_t *roost_group_ref(roost_group_t *g) {
    if (!g) return NULL;
    group_check(g, "roost_group_ref");
    roost__lock(&g->lock);
    g->users++;
    roost__unlock(&g->lock);
    return g;
}

static void member_main(void *p);

/* Is the calling task one of g's? Its entry is member_main, its argument
 * the member record. */
static bool is_member(roost_group_t *g) {
    roost__task *t = roost__self();
    return t && t->fn == member_main && ((member *)t->arg)->g == g;
}

/* The abandoned group's report: its site and its live tasks, with stacks.
 * Built on the dropping thread (roost_symbolize moves deep look-ups off a
 * task's stack by itself). */
static void report_abandoned(roost_group_t *g, const uint64_t *ids, size_t nids, int64_t active) {
    roost_task_info_t *v;
    size_t n, k = 0;
    if (roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n)) return;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nids; j++)
            if (v[i].id == ids[j]) {
                v[k++] = v[i];
                break;
            }
    roost__buf b = {0};
    int64_t now = roost_now();
    roost__buf_printf(&b,
                      "roost: leak: %s: group %p made at %s (%s) had its last reference dropped with "
                      "%lld task(s) running; cancelled, and waited for\n",
                      roost_leak_kind_name(ROOST_LEAK_GROUP), (void *)g, g->where, g->func,
                      (long long)active);
    for (size_t i = 0; i < k; i++) roost__traceback(&b, &v[i], now, 0, NULL);
    const char *text = roost__buf_str(&b);
    roost__leak_deliver(ROOST_LEAK_GROUP, g, v, k, text ? text : "");
    roost__buf_free(&b);
    free(v);
}

/* Stop taking tasks: no spawn succeeds from now on, errors are no longer
 * recorded, and spawns waiting for a slot are claimed (woken by the caller
 * with ROOST_ESTATE once the lock is dropped). Called locked. */
static roost__waiter *close_locked(roost_group_t *g) {
    g->done = g->closing = true;
    return claim_list(&g->slotq);
}

void roost_group_unref(roost_group_t *g) {
    if (!g) return;
    group_check(g, "roost_group_unref");
    roost__lock(&g->lock);
    if (--g->users > 0 || g->active == 0) {
        bool last = g->users == 0;
        roost__unlock(&g->lock);
        if (last) group_free(g);
        return;
    }
    /* Abandoned: the program let go of a scope with tasks in it. */
    roost__waiter *slots = close_locked(g);
    bool inside = is_member(g);
    g->reaping = !inside;
    int64_t active = g->active;
    size_t nids = 0;
    uint64_t *ids = malloc(sizeof *ids * (size_t)active);
    for (member *m = g->members; m && ids; m = m->next)
        ids[nids++] = atomic_load_explicit(&m->task_id, memory_order_relaxed);
    roost__unlock(&g->lock);
    wake_list_err(slots, ROOST_ESTATE);
    report_abandoned(g, ids, nids, active); /* first: the stacks show where they were */
    free(ids);
    roost_ctx_cancel(g->ctx);
    if (inside) return; /* the last task frees it */
    roost__lock(&g->lock);
    while (g->active > 0) {
        group_wait_on(NULL, g, &g->waiters);
        roost__lock(&g->lock);
    }
    roost__unlock(&g->lock);
    group_free(g);
}

/* ------------------------------------------------------------ tasks */

/* A task is finished (or its spawn failed): leave the list, hand the slot
 * to a waiting spawner or give it up, wake the waiters when it was the
 * last, free the group if nothing holds it. */
/* Give up a slot, with the lock held: hand it to a waiting spawner or give
 * it back, wake the waiters when it was the last, unlock, and free the
 * group if nothing holds it any more. */
static void slot_put(roost_group_t *g) {
    roost__waiter *slot = NULL, *waiters = NULL;
    if (!g->closing) slot = roost__waitq_claim(&g->slotq);
    if (!slot && --g->active == 0) {
        /* Done only if a wait will return with it: a waiter whose context
         * claimed its node first returns that error, and leaves it open. */
        waiters = claim_list(&g->waiters);
        if (waiters) g->done = true;
    }
    bool last = g->users == 0 && g->active == 0 && !g->reaping;
    roost__unlock(&g->lock);
    if (slot) roost__wake(slot->park, 0, 0); /* the slot is its now */
    wake_list_err(waiters, 0);
    if (last) group_free(g);
}

static void member_exit(roost_group_t *g, member *m) {
    roost__lock(&g->lock);
    if (m->prev)
        m->prev->next = m->next;
    else if (g->members == m)
        g->members = m->next;
    if (m->next) m->next->prev = m->prev;
    if (m->small) m->next = g->spare, g->spare = m;
    slot_put(g);
}

/* Take a slot, with the lock held (and held again on return): 0, or why
 * not. At the limit, waits for one under ctx unless told not to. */
static int slot_get(roost_ctx_t *ctx, roost_group_t *g, int flags) {
    if (g->done) return ROOST_ESTATE;
    if (g->limit < 0 || g->active < g->limit) {
        g->active++;
        return ROOST_OK;
    }
    if (flags & ROOST_GROUP_TRY) return ROOST_EAGAIN;
    int rc = roost__ctx_err(ctx);
    if (rc) return rc;
    rc = group_wait_on(ctx, g, &g->slotq); /* 0: a finishing task gave us its slot */
    roost__lock(&g->lock);
    return rc;
}

static void member_main(void *p) {
    member *m = p;
    roost_group_t *g = m->g;
    roost__task *self = roost__self();
    atomic_store_explicit(&m->task_id, self->id, memory_order_relaxed);
    if (!self->nlabels) { /* the usual case: roost_task_label's search, skipped */
        self->labels[0][0] = "group", self->labels[0][1] = g->where;
        self->nlabels = 1;
    } else {
        (void)roost_task_label("group", g->where); /* ROOST_ERANGE: four labels already */
    }
    /* A reference the task record has no room for (out of memory) stays
     * here, and is released below. */
    int kept = 0;
    for (int i = 0; i < m->nchans; i++)
        if (roost_chan_adopt(m->chans[i]) != ROOST_OK) m->chans[kept++] = m->chans[i];
    m->nchans = kept;
    int rc = m->fn(g->ctx, m->arg);
    for (int i = 0; i < m->nchans; i++) roost_chan_unref(m->chans[i]);
    /* What the task adopted goes before the group hears it has returned,
     * so that a wait returns with the tasks' references released. */
    if (self->nowned) roost__task_release_owned(self);
    if (rc) {
        bool first = false;
        roost__lock(&g->lock);
        if (!g->err && !g->closing) g->err = rc, first = true;
        roost__unlock(&g->lock);
        if (first) roost_ctx_cancel_cause(g->ctx, rc);
    }
    bool small = m->small;
    member_exit(g, m); /* a small record is the group's again from here */
    if (!small) free(m);
}

int roost_group_go_site(roost_ctx_t *ctx, roost_group_t *g, roost_group_fn fn, const void *arg, size_t size,
                        roost_chan_t *const *chans, int nchans, int flags, roost_site_t *site) {
    if (!g || !fn || !site || nchans < 0 || (nchans && !chans) || (size && !arg)) return ROOST_EINVAL;
    group_check(g, "roost_group_go");
    for (int i = 0; i < nchans; i++)
        if (!chans[i]) return ROOST_EINVAL;
    bool small = nchans <= SMALL_CHANS && size <= SMALL_ARG;
    size_t head = member_head(small ? SMALL_CHANS : nchans);
    member *m = NULL;
    roost__lock(&g->lock);
    int rc = slot_get(ctx, g, flags);
    if (rc) {
        roost__unlock(&g->lock);
        return rc;
    }
    /* One trip to the lock when a spare record is there (the usual case). */
    if (small && (m = g->spare)) g->spare = m->next;
    if (!m) {
        roost__unlock(&g->lock);
        m = malloc(head + (small ? SMALL_ARG : size));
        roost__lock(&g->lock);
        if (!m) {
            slot_put(g);
            return ROOST_ENOMEM;
        }
    }
    m->g = g, m->fn = fn, m->nchans = nchans, m->small = small;
    m->arg = size ? memcpy((char *)m + head, arg, size) : (void *)arg;
    atomic_init(&m->task_id, 0);
    bool yield_now = ++g->spawns % YIELD_EVERY == 0;
    m->prev = NULL;
    m->next = g->members;
    if (g->members) g->members->prev = m;
    g->members = m;
    roost__unlock(&g->lock);
    for (int i = 0; i < nchans; i++) m->chans[i] = roost_chan_ref(chans[i]);
    bool quiet = atomic_load_explicit(&short_tasks, memory_order_relaxed);
    rc = quiet ? roost__go_quiet(member_main, m, site) : roost_go_site(member_main, m, NULL, site);
    if (!rc && yield_now && roost__self()) { /* not a plain thread */
        int64_t t = roost_now();
        if (quiet)
            roost__yield_quiet();
        else
            roost__yield_local();
        judge(roost_now() - t, YIELD_EVERY);
    }
    if (rc) {
        for (int i = 0; i < nchans; i++) roost_chan_unref(m->chans[i]);
        member_exit(g, m);
        if (!small) free(m);
    }
    return rc;
}

/* ------------------------------------------------------------ waiting on it */

int roost_group_set_limit(roost_group_t *g, int64_t n) {
    if (!g) return ROOST_EINVAL;
    group_check(g, "roost_group_set_limit");
    roost__lock(&g->lock);
    int rc = g->active || g->done ? ROOST_ESTATE : ROOST_OK;
    if (!rc) g->limit = n < 0 ? -1 : n;
    roost__unlock(&g->lock);
    return rc;
}

int roost_group_wait(roost_ctx_t *ctx, roost_group_t *g) {
    if (!g) return ROOST_EINVAL;
    group_check(g, "roost_group_wait");
    roost__lock(&g->lock);
    if (g->active > 0) {
        if (is_member(g)) {
            roost__unlock(&g->lock);
            return ROOST_EDEADLK;
        }
        int err = roost__ctx_err(ctx);
        if (err) {
            roost__unlock(&g->lock);
            return err;
        }
        /* Woken only by the last task (which set done) or by ctx. */
        int64_t n = g->active, t = roost_now();
        int rc = group_wait_on(ctx, g, &g->waiters);
        if (rc) return rc;
        judge(roost_now() - t, n);
        roost__lock(&g->lock);
    }
    g->done = true;
    int err = g->err;
    roost__unlock(&g->lock);
    roost_ctx_cancel_cause(g->ctx, err ? err : ROOST_ECANCELED);
    return err;
}

int roost_group_close(roost_group_t *g) {
    if (!g) return ROOST_EINVAL;
    group_check(g, "roost_group_close");
    if (is_member(g)) return ROOST_EDEADLK;
    roost__lock(&g->lock);
    roost__waiter *slots = close_locked(g);
    roost__unlock(&g->lock);
    wake_list_err(slots, ROOST_ESTATE);
    roost_ctx_cancel(g->ctx);
    int rc = roost_group_wait(NULL, g);
    roost_group_unref(g);
    return rc;
}
