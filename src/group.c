/* group.c - task groups: Go's errgroup, and a scope no task outlives.
 *
 * The one idea: a group counts its live tasks in one atomic word (`state`,
 * with the done bit) and lives while the program holds a reference *or* a
 * task of it runs, so its tasks may use it freely and the last one out (or
 * the last reference dropped) frees it. Without a limit a spawn is one
 * fetch-add on that word and a task's exit one compare-and-swap, no lock:
 * only the exit that takes the count to zero takes the group's lock, to
 * wake the waiters and see whether the group is to be freed. Everything
 * else is built from what the runtime has: the group's context is an
 * ordinary child context (the first error cancels it with that error as
 * the cause), tasks are ordinary roost_go tasks whose entry is member_main
 * and whose member record is copied onto their own stack at the spawn
 * (roost__go_copy), and a wait or a spawn held back by the limit parks on
 * one of the group's two wait queues through roost__block, as sync.c's
 * waits do. A group keeps no list of its tasks: the abandoned group's
 * report finds them by walking the task records (find_members).
 *
 * Invariants:
 *   - count(state) is the tasks spawned and not yet finished, plus slots
 *     taken by spawners about to spawn, plus (for an instant) a spawn that
 *     found the group done and gives its slot back. It becomes zero only
 *     under `lock`, and goes up from zero only by a spawn that holds a
 *     reference (a task of the group counts itself).
 *   - With a limit, every change of the count is made under `lock`: a slot
 *     is handed over directly (a finishing task that finds a spawner
 *     waiting for a slot gives it its own and does not decrement), so the
 *     limit holds at every instant and waiting spawners are served in
 *     order. `slotq` is non-empty only while the count is at the limit (or
 *     while a close has claimed its nodes and not yet woken them).
 *   - DONE is set by a wait that saw the count at zero (a compare-and-swap
 *     from exactly zero, so a spawn that got in first is waited for), or by
 *     close: no spawn succeeds after it. The exit that takes the count to
 *     zero wakes every waiter; each looks again (a spawn may have come in
 *     between) and parks again if it must.
 *   - The group is freed when users == 0 and the count is zero, by
 *     whichever of the last unref and the last task gets there second,
 *     unless an unref is waiting for the tasks (`reaping`): then that unref
 *     frees it. Both decide under `lock`.
 */
#include "internal.h"
#include "buf.h"
#include "profile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct member member;

/* state: the count in the low bits, and DONE (no more spawns: a wait saw
 * it empty, or it was closed). */
#define DONE ((int64_t)1 << 62)
#define COUNT(v) ((v) & (DONE - 1))

struct roost_group {
    _Atomic int64_t state;    /* live count | DONE (see the invariants); no lock for the count alone */
    _Atomic int64_t limit;    /* at most this many counted; -1: no limit. Set only while empty and open */
    _Atomic unsigned spawns;  /* spawns so far, for the yield (YIELD_EVERY); racy increments are fine */
    int lock;                 /* spinlock over everything below but ctx and the strings */
    int users;                /* references held by the program */
    int err;                  /* the first error a task returned, 0 if none */
    bool closing;             /* closed or abandoned: later errors are the cancellation's */
    bool reaping;             /* an abandoning unref waits to free it */
    roost_ctx_t *ctx;         /* the group's context; the group holds its reference */
    roost__waitq_t waiters;   /* roost_group_wait callers (and a reaping unref) */
    roost__waitq_t slotq;     /* spawns waiting for a slot under the limit */
    const char *where, *func; /* creation site: static strings */
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

/* One task of a group: built by the spawner and copied onto the top of
 * the task's own stack (roost__go_copy), so it costs no allocation and
 * goes when the task does; the task's `arg` points at it, which is how
 * is_member and find_members know a group's tasks. Up to SMALL_CHANS
 * channels are copied with it (only those in use), and an argument's copy
 * follows the record when it fits in ROOST__GO_COPY_MAX with it; what does
 * not fit is malloc'ed (`heap`) and freed as the task finishes. */
enum { SMALL_CHANS = 4 };
struct member {
    roost_group_t *g; /* first: find_members reads it from another thread */
    roost_group_fn fn;
    void *arg;            /* the argument: the caller's, or a copy in heap; see arg_inline */
    void *heap;           /* malloc'ed channels and argument copy, or NULL */
    roost_chan_t **chans; /* in heap; NULL: in chan below */
    int nchans;           /* channels handed over (references the task holds) */
    bool arg_inline;      /* the argument's copy follows this record (at sizeof(member)) */
    roost_chan_t *chan[SMALL_CHANS];
};
_Static_assert(sizeof(member) % _Alignof(max_align_t) == 0, "an inline argument's copy is aligned");

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
    atomic_init(&g->limit, -1);
    g->magic = GROUP_MAGIC;
    g->where = where ? where : "?";
    g->func = func ? func : "?";
    *out = g;
    return ROOST_OK;
}

static void group_free(roost_group_t *g) {
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

/* ------------------------------------------------------------ the abandoned group's report */

typedef struct {
    roost_group_t *g;
    uint64_t *ids;
    size_t n, cap;
    bool oom;
} member_ids;

/* The task in slot t, if it is one of F->g's: its member record is on its
 * stack, just below the record (stack slots are never unmapped while the
 * runtime runs), so reading its group is safe even if the task has just
 * finished; the read counts only if the same task (by id) is there before
 * and after it. */
static void find_one(roost__task *t, void *arg) {
    member_ids *F = arg;
    roost__task c;
    uint32_t seq;
    for (int tries = 0; tries < 64; tries++) {
        if (!roost__task_peek(t, &c, &seq) || c.fn != member_main) return;
        uintptr_t m = (uintptr_t)c.arg;
        if (m < (uintptr_t)t - ROOST__GO_COPY_MAX || m >= (uintptr_t)t) return;
        uint64_t id = c.id;
        roost_group_t *g = (roost_group_t *)(uintptr_t)roost__racy_load64(&((member *)m)->g);
        if (!roost__task_peek(t, &c, &seq) || c.id != id) continue;
        if (g != F->g) return;
        if (F->n == F->cap) {
            size_t cap = F->cap ? 2 * F->cap : 64;
            uint64_t *v = realloc(F->ids, cap * sizeof *v);
            if (!v) {
                F->oom = true;
                return;
            }
            F->ids = v, F->cap = cap;
        }
        F->ids[F->n++] = id;
        return;
    }
}

/* The ids of g's live tasks, by a walk of every task record (a group keeps
 * no list: that would cost every spawn and exit a shared write). */
static member_ids find_members(roost_group_t *g) {
    member_ids F = {.g = g};
    roost__for_each_stack_slot(find_one, &F);
    return F;
}

/* The abandoned group's report: its site and its live tasks, with stacks.
 * Built on the dropping thread (roost_symbolize moves deep look-ups off a
 * task's stack by itself). */
static void report_abandoned(roost_group_t *g, int64_t active) {
    member_ids F = find_members(g);
    roost_task_info_t *v;
    size_t n, k = 0;
    if (roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n)) {
        free(F.ids);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F.n; j++)
            if (v[i].id == F.ids[j]) {
                v[k++] = v[i];
                break;
            }
    free(F.ids);
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
    atomic_fetch_or_explicit(&g->state, DONE, memory_order_relaxed);
    g->closing = true;
    return claim_list(&g->slotq);
}

void roost_group_unref(roost_group_t *g) {
    if (!g) return;
    group_check(g, "roost_group_unref");
    roost__lock(&g->lock);
    int64_t active = COUNT(atomic_load_explicit(&g->state, memory_order_acquire));
    if (--g->users > 0 || active == 0) {
        bool last = g->users == 0;
        roost__unlock(&g->lock);
        if (last) group_free(g);
        return;
    }
    /* Abandoned: the program let go of a scope with tasks in it. */
    roost__waiter *slots = close_locked(g);
    bool inside = is_member(g);
    g->reaping = !inside;
    roost__unlock(&g->lock);
    wake_list_err(slots, ROOST_ESTATE);
    /* First: the stacks show where they were. From inside, the group lives
     * while the caller runs; from outside, `reaping` keeps it. */
    report_abandoned(g, active);
    roost_ctx_cancel(g->ctx);
    if (inside) return; /* the last task frees it */
    roost__lock(&g->lock);
    while (COUNT(atomic_load_explicit(&g->state, memory_order_acquire)) > 0) {
        group_wait_on(NULL, g, &g->waiters);
        roost__lock(&g->lock);
    }
    roost__unlock(&g->lock);
    group_free(g);
}

/* ------------------------------------------------------------ tasks */

/* Give up a slot, with the lock held: hand it to a waiting spawner or give
 * it back, wake the waiters when it was the last, unlock, and free the
 * group if nothing holds it any more. */
static void slot_put(roost_group_t *g) {
    roost__waiter *slot = NULL, *waiters = NULL;
    if (!g->closing) slot = roost__waitq_claim(&g->slotq);
    int64_t left = 1;
    if (!slot) {
        left = COUNT(atomic_fetch_sub_explicit(&g->state, 1, memory_order_acq_rel) - 1);
        if (left == 0) waiters = claim_list(&g->waiters); /* each looks again */
    }
    bool last = g->users == 0 && left == 0 && !g->reaping;
    roost__unlock(&g->lock);
    if (slot) roost__wake(slot->park, 0, 0); /* the slot is its now */
    wake_list_err(waiters, 0);
    if (last) group_free(g);
}

/* A task is finished (or its spawn failed): give up its slot. Without a
 * limit, and unless it is the last, one compare-and-swap: after it the
 * group may be gone. */
static void slot_release(roost_group_t *g) {
    if (atomic_load_explicit(&g->limit, memory_order_relaxed) < 0) {
        int64_t v = atomic_load_explicit(&g->state, memory_order_relaxed);
        while (COUNT(v) > 1)
            if (atomic_compare_exchange_weak_explicit(&g->state, &v, v - 1, memory_order_release,
                                                      memory_order_relaxed))
                return;
    }
    roost__lock(&g->lock);
    slot_put(g);
}

/* Take a slot under the limit, with the lock held (and held again on
 * return): 0, or why not. At the limit, waits for one under ctx unless
 * told not to. */
static int slot_get_limited(roost_ctx_t *ctx, roost_group_t *g, int64_t limit, int flags) {
    int64_t v = atomic_load_explicit(&g->state, memory_order_relaxed);
    if (v & DONE) return ROOST_ESTATE;
    if (COUNT(v) < limit) {
        atomic_fetch_add_explicit(&g->state, 1, memory_order_relaxed);
        return ROOST_OK;
    }
    if (flags & ROOST_GROUP_TRY) return ROOST_EAGAIN;
    int rc = roost__ctx_err(ctx);
    if (rc) return rc;
    rc = group_wait_on(ctx, g, &g->slotq); /* 0: a finishing task gave us its slot */
    roost__lock(&g->lock);
    return rc;
}

/* Take a slot: 0, or why not. */
static int slot_get(roost_ctx_t *ctx, roost_group_t *g, int flags) {
    int64_t limit = atomic_load_explicit(&g->limit, memory_order_relaxed);
    if (limit < 0) {
        if (ROOST_LIKELY(!(atomic_fetch_add_explicit(&g->state, 1, memory_order_relaxed) & DONE)))
            return ROOST_OK;
        slot_release(g); /* too late: give it back */
        return ROOST_ESTATE;
    }
    roost__lock(&g->lock);
    int rc = slot_get_limited(ctx, g, limit, flags);
    roost__unlock(&g->lock);
    return rc;
}

static void member_main(void *p) {
    member *m = p;
    roost_group_t *g = m->g;
    roost__task *self = roost__self();
    if (!self->nlabels) { /* the usual case: roost_task_label's search, skipped */
        self->labels[0][0] = "group", self->labels[0][1] = g->where;
        self->nlabels = 1;
    } else {
        (void)roost_task_label("group", g->where); /* ROOST_ERANGE: four labels already */
    }
    /* A reference the task record has no room for (out of memory) stays
     * here, and is released below. */
    roost_chan_t **chans = m->chans ? m->chans : m->chan;
    int kept = 0;
    for (int i = 0; i < m->nchans; i++)
        if (roost_chan_adopt(chans[i]) != ROOST_OK) chans[kept++] = chans[i];
    int rc = m->fn(g->ctx, m->arg_inline ? (void *)(m + 1) : m->arg);
    for (int i = 0; i < kept; i++) roost_chan_unref(chans[i]);
    free(m->heap);
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
    slot_release(g);
}

int roost_group_go_site(roost_ctx_t *ctx, roost_group_t *g, roost_group_fn fn, const void *arg, size_t size,
                        roost_chan_t *const *chans, int nchans, int flags, roost_site_t *site) {
    if (!g || !fn || !site || nchans < 0 || (nchans && !chans) || (size && !arg)) return ROOST_EINVAL;
    group_check(g, "roost_group_go");
    for (int i = 0; i < nchans; i++)
        if (!chans[i]) return ROOST_EINVAL;
    int rc = slot_get(ctx, g, flags);
    if (rc) return rc;
    /* The record, built here and copied onto the task's stack. */
    union {
        member m;
        max_align_t align;
        char bytes[ROOST__GO_COPY_MAX];
    } rec;
    member *m = &rec.m;
    m->g = g, m->fn = fn, m->arg = (void *)arg, m->heap = NULL, m->chans = NULL;
    m->nchans = nchans, m->arg_inline = false;
    size_t ncopy =
        offsetof(member, chan) + sizeof(roost_chan_t *) * (size_t)(nchans <= SMALL_CHANS ? nchans : 0);
    if (nchans <= SMALL_CHANS && size <= sizeof rec - sizeof(member)) {
        if (size) {
            m->arg_inline = true;
            memcpy(m + 1, arg, size);
            ncopy = sizeof(member) + size;
        }
    } else {
        /* too big for the stack's copy: channels and argument on the heap */
        size_t head = (sizeof(roost_chan_t *) * (size_t)nchans + _Alignof(max_align_t) - 1) &
                      ~(_Alignof(max_align_t) - 1);
        if (!(m->heap = malloc(head + size))) {
            slot_release(g);
            return ROOST_ENOMEM;
        }
        m->chans = m->heap;
        if (size) m->arg = memcpy((char *)m->heap + head, arg, size);
    }
    roost_chan_t **to = m->chans ? m->chans : m->chan;
    for (int i = 0; i < nchans; i++) to[i] = roost_chan_ref(chans[i]);
    unsigned spawns = atomic_load_explicit(&g->spawns, memory_order_relaxed) + 1;
    atomic_store_explicit(&g->spawns, spawns, memory_order_relaxed);
    bool quiet = atomic_load_explicit(&short_tasks, memory_order_relaxed);
    rc = roost__go_copy(member_main, m, (ncopy + 15) & ~(size_t)15, site, quiet);
    if (!rc && spawns % YIELD_EVERY == 0 && roost__self()) { /* not a plain thread */
        int64_t t = roost_now();
        if (quiet)
            roost__yield_quiet();
        else
            roost__yield_local();
        judge(roost_now() - t, YIELD_EVERY);
    }
    if (rc) {
        for (int i = 0; i < nchans; i++) roost_chan_unref(to[i]);
        free(m->heap);
        slot_release(g);
    }
    return rc;
}

/* ------------------------------------------------------------ waiting on it */

int roost_group_set_limit(roost_group_t *g, int64_t n) {
    if (!g) return ROOST_EINVAL;
    group_check(g, "roost_group_set_limit");
    roost__lock(&g->lock);
    int rc = atomic_load_explicit(&g->state, memory_order_relaxed) ? ROOST_ESTATE : ROOST_OK;
    if (!rc) atomic_store_explicit(&g->limit, n < 0 ? -1 : n, memory_order_relaxed);
    roost__unlock(&g->lock);
    return rc;
}

int roost_group_wait(roost_ctx_t *ctx, roost_group_t *g) {
    if (!g) return ROOST_EINVAL;
    group_check(g, "roost_group_wait");
    roost__lock(&g->lock);
    for (;;) {
        int64_t v = atomic_load_explicit(&g->state, memory_order_acquire);
        if (COUNT(v) == 0) {
            /* From exactly zero: a spawn that got in first is waited for. */
            if (v & DONE || atomic_compare_exchange_strong_explicit(
                                &g->state, &v, v | DONE, memory_order_acq_rel, memory_order_acquire))
                break;
            continue;
        }
        if (is_member(g)) {
            roost__unlock(&g->lock);
            return ROOST_EDEADLK;
        }
        int err = roost__ctx_err(ctx);
        if (err) {
            roost__unlock(&g->lock);
            return err;
        }
        /* Woken by the task that took the count to zero, or by ctx. */
        int64_t n = COUNT(v), t = roost_now();
        int rc = group_wait_on(ctx, g, &g->waiters);
        if (rc) return rc;
        judge(roost_now() - t, n);
        roost__lock(&g->lock);
    }
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
