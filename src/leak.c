/* leak.c - the leak detector: tasks that can never proceed, found the
 * moment that becomes true, reported, and (if asked) woken with
 * ROOST_ELEAKED so they come home.
 *
 * The one idea: roost knows who can wake a parked task without a garbage
 * collector, because references are counted and owned. A task that adopts a
 * channel reference (roost_chan_adopt) tells the runtime it holds it. Then
 * a channel on which every remaining reference belongs to tasks parked on
 * it, with no context that could cancel them (refs == stranded, kept under
 * the channel lock in chan.c), can never be sent to or received from again:
 * those tasks are leaked, provably. The check runs where that can first
 * become true, on the two paths that change either side: a task parking
 * (chan_op) and a reference being dropped (roost_chan_unref). It costs one
 * load on unref and nothing on a park unless the parking task adopted a
 * reference.
 *
 * Locks: a mutex knows its holder (sync.c hands ownership over directly),
 * so before a task parks on a held lock it follows holder -> lock that
 * holder waits on -> its holder ..., and finds a cycle back to itself, or a
 * holder that has exited. Both are proofs, provided locks are released by
 * their holders (Go allows another goroutine to unlock; roost does too, and
 * the proof assumes it does not happen; docs/leaks.md).
 *
 * What is proved is then reported, off the hot path: the finder builds an
 * event (task records and stacks, copied while the tasks cannot move) and
 * queues it for a reporter thread, which symbolizes, writes or calls the
 * hook, and aborts if asked. Sets that only a scan can see (global
 * deadlock, tasks parked too long) come from roost_leak_scan and from the
 * timer thread when every worker is idle (roost__leak_idle_check).
 *
 * Each task is named by one finding only: the finder claims it (a mark on
 * its record, claim()) before putting it in the event, so a scan that meets
 * a reported task again leaves it out, and the counters count tasks. On
 * stderr, findings are grouped by kind, spawn site and wait reason: the
 * first in full, then a count line a period (group_admit, groups_flush);
 * the hook gets every finding in full. Another file that finds a set of
 * tasks to report hands their records (from roost_tasks_snapshot) to
 * roost__leak_post_tasks, which claims, reports and counts them.
 */
#include "internal.h"
#include "buf.h"
#include "profile.h"
#include "sync.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

struct roost__leak_ev {
    roost__leak_ev *next;
    int kind;
    bool refused; /* a re-lock refused with ROOST_EDEADLK: nobody is stuck */
    const void *obj;
    size_t n;
    roost_task_info_t tasks[];
};

static struct {
    _Atomic int policy;   /* -1 until read from ROOST_LEAK */
    pthread_mutex_t lock; /* the queue and the hook */
    pthread_cond_t cond;
    roost__leak_ev *head, *tail;
    bool started;
    bool busy; /* the reporter is reporting one (for roost_leak_flush) */
    pthread_cond_t idle;
    void (*hook)(const roost_leak_t *, void *);
    void *hook_arg;
    _Atomic int64_t found;          /* distinct tasks proved leaked */
    _Atomic int64_t suspects;       /* distinct tasks reported as suspects */
    _Atomic int64_t reports;        /* findings delivered in full */
    _Atomic int64_t folded;         /* findings folded into a count line */
    _Atomic int64_t probes;         /* words read through the kernel (probe64) */
    _Atomic int64_t lock_steps;     /* holders the lock-chain check followed past the first */
    _Atomic int64_t woken;          /* tasks the wake policy woke with ROOST_ELEAKED */
    _Atomic uint64_t idle_reported; /* switch total at the last deadlock report */
    /* stderr's groups (see "grouping" below), under `out`, which is taken
     * after `lock` when both are. */
    pthread_mutex_t out;
    pthread_mutex_t claim; /* one set claimed at a time (see claim) */
    struct group *groups;
    size_t ngroups, groups_cap;
} leaks = {.policy = -1,
           .lock = PTHREAD_MUTEX_INITIALIZER,
           .cond = PTHREAD_COND_INITIALIZER,
           .idle = PTHREAD_COND_INITIALIZER,
           .out = PTHREAD_MUTEX_INITIALIZER,
           .claim = PTHREAD_MUTEX_INITIALIZER};

bool roost__threads_active;

/* ------------------------------------------------------------ policy */

static int policy_from_env(void) {
    const char *e = getenv("ROOST_LEAK");
    if (!e || !*e) return ROOST_LEAK_REPORT;
    int p = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", e);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "report"))
            p |= ROOST_LEAK_REPORT;
        else if (!strcmp(tok, "wake"))
            p |= ROOST_LEAK_WAKE | ROOST_LEAK_REPORT;
        else if (!strcmp(tok, "abort"))
            p |= ROOST_LEAK_ABORT | ROOST_LEAK_REPORT;
        else if (!strcmp(tok, "off"))
            p = 0;
    }
    return p;
}

/* The first look at the policy: from the environment, once. */
static __attribute__((noinline, cold)) int policy_read(void) {
    int p = -1, want = policy_from_env();
    atomic_compare_exchange_strong(&leaks.policy, &p, want);
    return atomic_load(&leaks.policy);
}

static int policy(void) {
    int p = atomic_load_explicit(&leaks.policy, memory_order_relaxed);
    return ROOST_UNLIKELY(p < 0) ? policy_read() : p;
}

int roost__leak_policy_now(void) { return policy(); }

int roost_leak_policy(int p) {
    int old = policy();
    atomic_store(&leaks.policy, p & (ROOST_LEAK_REPORT | ROOST_LEAK_WAKE | ROOST_LEAK_ABORT));
    return old;
}

void roost_leak_hook(void (*fn)(const roost_leak_t *, void *), void *arg) {
    pthread_mutex_lock(&leaks.lock);
    leaks.hook = fn, leaks.hook_arg = arg;
    pthread_mutex_unlock(&leaks.lock);
}

int64_t roost_leaks_found(void) { return atomic_load(&leaks.found); }

void roost_leak_stats(roost_leak_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->proved = atomic_load(&leaks.found);
    out->suspects = atomic_load(&leaks.suspects);
    out->reports = atomic_load(&leaks.reports);
    out->folded = atomic_load(&leaks.folded);
    out->probes = atomic_load_explicit(&leaks.probes, memory_order_relaxed);
    out->lock_steps = atomic_load_explicit(&leaks.lock_steps, memory_order_relaxed);
    out->woken = atomic_load_explicit(&leaks.woken, memory_order_relaxed);
}

int roost__owned_count(roost__task *t, const roost_chan_t *ch) {
    roost_chan_t **arr = t->owned ? t->owned : t->owned_small;
    int n = 0;
    for (int i = 0; i < t->nowned; i++) n += arr[i] == ch;
    return n;
}

/* ------------------------------------------------------------ text */

static bool same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* Tasks a report shows once: same spawn site, wait reason and stack. */
static bool same_story(const roost_task_info_t *a, const roost_task_info_t *b) {
    return a->line == b->line && a->wait_reason == b->wait_reason && a->nframes == b->nframes &&
           same_str(a->file, b->file) && !memcmp(a->pcs, b->pcs, sizeof a->pcs[0] * (size_t)a->nframes);
}

/* The tasks of one finding: each distinct story in full, then how many
 * more tell it, with their ids (at most 64 stories are told apart). */
#define STORIES_MAX 64
#define IDS_SHOWN 8
static void sb_tasks(roost__buf *b, const roost_task_info_t *v, size_t n, int64_t now) {
    size_t rep[STORIES_MAX], nrep = 0;
    size_t *like = calloc(n ? n : 1, sizeof *like); /* index of the story each task tells */
    for (size_t i = 0; i < n; i++) {
        size_t r = 0;
        while (r < nrep && !same_story(&v[rep[r]], &v[i])) r++;
        if (r == nrep && nrep < STORIES_MAX) rep[nrep++] = i;
        if (like) like[i] = r < nrep ? rep[r] : i;
    }
    for (size_t i = 0; i < n; i++) {
        if (like && like[i] != i) continue;
        roost__traceback(b, &v[i], now, 0, NULL);
        size_t more = 0;
        for (size_t j = i + 1; like && j < n; j++) more += like[j] == i;
        if (!more) continue;
        roost__buf_printf(b, "    and %zu more task%s like it:", more, more == 1 ? "" : "s");
        size_t shown = 0;
        for (size_t j = i + 1; j < n && shown < IDS_SHOWN; j++)
            if (like[j] == i) roost__buf_printf(b, " %llu", (unsigned long long)v[j].id), shown++;
        roost__buf_printf(b, "%s\n", more > shown ? " ..." : "");
    }
    free(like);
}

/* ------------------------------------------------------------ verdicts */

static int verdict_of(int kind, bool refused) {
    if (refused) return ROOST_VERDICT_RELOCK;
    switch (kind) {
    case ROOST_LEAK_LOCK_CYCLE:
    case ROOST_LEAK_LOCK_ORPHANED: return ROOST_VERDICT_LOCKS;
    case ROOST_LEAK_DEADLOCK: return ROOST_VERDICT_DEADLOCK;
    case ROOST_LEAK_SUSPECT: return ROOST_VERDICT_SUSPECT;
    case ROOST_LEAK_UNREACHABLE: return ROOST_VERDICT_REACH;
    default: return ROOST_VERDICT_REFS;
    }
}

const char *roost_leak_verdict_name(int verdict) {
    static const char *const names[] = {
        [ROOST_VERDICT_REFS] = "exact references",  [ROOST_VERDICT_LOCKS] = "lock chain",
        [ROOST_VERDICT_RELOCK] = "refused re-lock", [ROOST_VERDICT_DEADLOCK] = "global deadlock",
        [ROOST_VERDICT_SUSPECT] = "suspect",        [ROOST_VERDICT_REACH] = "reachability",
    };
    return verdict > 0 && verdict <= ROOST_VERDICT_REACH ? names[verdict] : "?";
}

/* Name task t (whose id is id) in a finding of `kind`: true the first
 * time. A suspect may be named once more, by a proof. A finder claims its
 * whole set under leaks.claim: two tasks closing one lock cycle at once each
 * find the set, and the first to claim takes all of it. Inlined, so that the
 * slot walkers' no_sanitize covers it: they may meet a record that a spawn
 * is clearing. */
static inline __attribute__((always_inline)) bool claim(roost__task *t, uint64_t id, int kind) {
    uint64_t old = atomic_load_explicit(&t->leak_mark, memory_order_relaxed);
    for (;;) {
        if (old >> 4 == id && (kind == ROOST_LEAK_SUSPECT || (old & 15) != ROOST_LEAK_SUSPECT)) return false;
        if (atomic_compare_exchange_weak(&t->leak_mark, &old, id << 4 | (uint64_t)kind)) return true;
    }
}

/* ------------------------------------------------------------ grouping
 *
 * stderr gets each group's first finding in full, then a count line a
 * period for those that followed. A group is a kind (a refused re-lock
 * apart), a spawn site and a wait reason: the first task's. The hook gets
 * every finding in full. */
#define GROUP_PERIOD ROOST_S

struct group {
    int kind;
    bool refused;
    const char *file;
    int line, reason;
    int64_t since;           /* roost_now() at the start of the period */
    int64_t tasks, findings; /* folded in this period */
};

static bool group_is(const struct group *g, int kind, bool refused, const roost_task_info_t *t) {
    return g->kind == kind && g->refused == refused && g->line == t->line && g->reason == t->wait_reason &&
           same_str(g->file, t->file);
}

/* The count line of g, if it folded anything; the period starts over. With
 * leaks.out held. */
static void group_flush(struct group *g, int64_t now) {
    if (!g->findings) return;
    roost__buf b = {0};
    double s = (double)(now - g->since) / 1e9;
    const char *what = g->refused                      ? "re-locks refused"
                       : g->kind == ROOST_LEAK_SUSPECT ? "tasks suspected"
                                                       : "tasks leaked";
    roost__buf_printf(&b, "roost: leak: %lld more %s at %s:%d in %s in the last %.2gs (%s)\n",
                      (long long)(g->refused ? g->findings : g->tasks), what, g->file ? g->file : "?",
                      g->line, roost_wait_reason_name(g->reason), s > 0 ? s : 0,
                      roost_leak_kind_name(g->kind));
    roost__write_all(2, b.p, b.len); /* nowhere else to say it if that fails */
    roost__buf_free(&b);
    g->tasks = g->findings = 0;
    g->since = now;
}

/* Count lines due by now (all of them with `all`); returns the next time
 * one falls due (roost_now() scale), or 0 for none. */
static int64_t groups_flush(bool all) {
    int64_t now = roost_now(), next = 0;
    pthread_mutex_lock(&leaks.out);
    for (size_t i = 0; i < leaks.ngroups; i++) {
        struct group *g = &leaks.groups[i];
        if (!g->findings) continue;
        if (all || now - g->since >= GROUP_PERIOD)
            group_flush(g, now);
        else if (!next || g->since + GROUP_PERIOD < next)
            next = g->since + GROUP_PERIOD;
    }
    pthread_mutex_unlock(&leaks.out);
    return next;
}

/* Whether this finding goes to stderr in full (and starts its group's
 * period), or is folded into its group's count. */
static bool group_admit(const roost__leak_ev *ev) {
    if (!ev->n) return true;
    const roost_task_info_t *t = &ev->tasks[0];
    int64_t now = roost_now();
    bool full = false;
    pthread_mutex_lock(&leaks.out);
    struct group *g = NULL;
    for (size_t i = 0; i < leaks.ngroups && !g; i++)
        if (group_is(&leaks.groups[i], ev->kind, ev->refused, t)) g = &leaks.groups[i];
    if (!g) {
        if (leaks.ngroups == leaks.groups_cap) {
            size_t cap = leaks.groups_cap ? leaks.groups_cap * 2 : 16;
            struct group *v = realloc(leaks.groups, cap * sizeof *v);
            if (v) leaks.groups = v, leaks.groups_cap = cap;
        }
        full = true;
        if (leaks.ngroups < leaks.groups_cap) {
            g = &leaks.groups[leaks.ngroups++];
            *g = (struct group){ev->kind, ev->refused, t->file, t->line, t->wait_reason, now, 0, 0};
        }
    } else {
        if (!g->findings && now - g->since >= GROUP_PERIOD) g->since = now; /* quiet since */
        g->tasks += (int64_t)ev->n;
        g->findings++;
    }
    pthread_mutex_unlock(&leaks.out);
    return full;
}

/* ------------------------------------------------------------ reporting */

static void report(roost__leak_ev *ev) {
    int p = policy();
    roost__buf b = {0};
    int64_t now = roost_now();
    const char *s = ev->n == 1 ? "" : "s";
    roost__buf_printf(&b, "roost: leak: %s [%s]: ", roost_leak_kind_name(ev->kind),
                      roost_leak_verdict_name(verdict_of(ev->kind, ev->refused)));
    if (ev->kind == ROOST_LEAK_SUSPECT)
        roost__buf_printf(&b, "%zu task%s parked longer than the threshold", ev->n, s);
    else if (ev->refused)
        roost__buf_printf(&b, "%s; refused with ROOST_EDEADLK",
                          ev->n && ev->tasks[0].wait_reason == ROOST_WAIT_ONCE
                              ? "a task re-entered a once from the function it runs"
                              : "a task re-locked a lock it holds");
    else
        roost__buf_printf(&b, "%zu task%s can never proceed", ev->n, s);
    switch (ev->kind) {
    case ROOST_LEAK_CHAN:
        if (ev->obj)
            roost__buf_printf(&b, " (channel %p: every reference left is held by a task parked on it)",
                              ev->obj);
        else
            roost__buf_printf(&b, " (a nil channel: nothing can ever send to or receive from it)");
        break;
    case ROOST_LEAK_LOCK_CYCLE:
        if (!ev->refused) roost__buf_printf(&b, " (each waits for a lock another in the set holds)");
        break;
    case ROOST_LEAK_LOCK_ORPHANED:
        roost__buf_printf(&b,
                          " (lock %p: its holder exited without unlocking; reported, never woken: another "
                          "task may still unlock it, as Go allows)",
                          ev->obj);
        break;
    case ROOST_LEAK_SUSPECT: roost__buf_printf(&b, " (not proved: parked longer than the threshold)"); break;
    case ROOST_LEAK_CYCLE:
        roost__buf_printf(
            &b, " (found by a scan: each waits on a channel or lock that only tasks in this set hold)");
        break;
    case ROOST_LEAK_UNREACHABLE:
        roost__buf_printf(&b, " (%p: nothing that can run reaches it)", ev->obj);
        break;
    default: break;
    }
    if (ev->kind == ROOST_LEAK_SELECT)
        roost__buf_printf(
            &b, " (every channel of the select is reachable only by the task itself, or it has none)");
    bool woken = p & ROOST_LEAK_WAKE && !ev->refused &&
                 (ev->kind == ROOST_LEAK_CHAN || ev->kind == ROOST_LEAK_SELECT ||
                  ev->kind == ROOST_LEAK_LOCK_CYCLE || roost__reach_wakes(ev->kind, ev->tasks, ev->n));
    roost__buf_printf(&b, "%s\n", woken ? "; woken with ROOST_ELEAKED" : "");
    sb_tasks(&b, ev->tasks, ev->n, now);
    bool counts = ev->kind != ROOST_LEAK_SUSPECT && !ev->refused;
    const char *text = roost__buf_str(&b);
    roost_leak_t leak = {ev->kind,  ev->obj,          ev->n,
                         ev->tasks, text ? text : "", verdict_of(ev->kind, ev->refused)};
    pthread_mutex_lock(&leaks.lock);
    void (*hook)(const roost_leak_t *, void *) = leaks.hook;
    void *arg = leaks.hook_arg;
    pthread_mutex_unlock(&leaks.lock);
    if (hook) {
        atomic_fetch_add(&leaks.reports, 1);
        hook(&leak, arg);
    } else if (group_admit(ev)) {
        atomic_fetch_add(&leaks.reports, 1);
        roost__write_all(2, b.p, b.len); /* nowhere else to say it if that fails */
    } else {
        atomic_fetch_add(&leaks.folded, 1);
    }
    roost__buf_free(&b);
    if (p & ROOST_LEAK_ABORT && counts) {
        groups_flush(true);
        abort();
    }
}

/* pthread_cond_timedwait's deadline for roost_now()-scale time `when`. */
static struct timespec realtime_at(int64_t when) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t d = when - roost_now();
    int64_t at = (int64_t)ts.tv_sec * ROOST_S + ts.tv_nsec + (d > 0 ? d : 0);
    ts.tv_sec = at / ROOST_S, ts.tv_nsec = at % ROOST_S;
    return ts;
}

static void *reporter_main(void *unused) {
    (void)unused;
    roost__tls_runtime = true; /* see reach.c */
    pthread_mutex_lock(&leaks.lock);
    for (;;) {
        while (!leaks.head) {
            /* Asleep until a finding comes, or a count line falls due. */
            pthread_mutex_unlock(&leaks.lock);
            int64_t next = groups_flush(false);
            pthread_mutex_lock(&leaks.lock);
            if (leaks.head) break;
            roost__scrub_stack();
            if (!next) {
                ROOST_IDLE(pthread_cond_wait(&leaks.cond, &leaks.lock));
            } else {
                struct timespec ts = realtime_at(next);
                ROOST_IDLE(pthread_cond_timedwait(&leaks.cond, &leaks.lock, &ts));
            }
        }
        roost__leak_ev *ev = leaks.head;
        leaks.head = ev->next;
        if (!leaks.head) leaks.tail = NULL;
        leaks.busy = true;
        pthread_mutex_unlock(&leaks.lock);
        report(ev);
        free(ev);
        pthread_mutex_lock(&leaks.lock);
        leaks.busy = false;
        if (!leaks.head) pthread_cond_broadcast(&leaks.idle);
    }
    return NULL;
}

int roost_leak_flush(int64_t timeout_ns) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t end = roost__add_sat((int64_t)ts.tv_sec * ROOST_S + ts.tv_nsec, timeout_ns);
    ts.tv_sec = end / ROOST_S, ts.tv_nsec = end % ROOST_S;
    int rc = ROOST_OK;
    pthread_mutex_lock(&leaks.lock);
    while (leaks.head || leaks.busy)
        if (pthread_cond_timedwait(&leaks.idle, &leaks.lock, &ts)) {
            rc = ROOST_ETIMELIMIT;
            break;
        }
    pthread_mutex_unlock(&leaks.lock);
    groups_flush(true); /* the counts so far, not a period later */
    return rc;
}

/* A leak proved just before exit must still be reported (and abort under
 * ROOST_LEAK=abort): a test would otherwise pass while leaking. */
static void flush_at_exit(void) { roost_leak_flush(2 * ROOST_S); }

/* Hand an event to the reporter thread (started on the first leak; it
 * lives as long as the process, asleep). */
void roost__leak_post(roost__leak_ev *ev) {
    if (!ev) return;
    if (!ev->n) {
        free(ev); /* every task in it was named before */
        return;
    }
    if (ev->kind == ROOST_LEAK_SUSPECT)
        atomic_fetch_add(&leaks.suspects, (int64_t)ev->n);
    else if (!ev->refused)
        atomic_fetch_add(&leaks.found, (int64_t)ev->n);
    ev->next = NULL;
    pthread_mutex_lock(&leaks.lock);
    if (!leaks.started) {
        if (roost__thread_start(NULL, reporter_main, NULL, "roost-leaks", true) == 0) {
            leaks.started = true;
            atexit(flush_at_exit);
        }
    }
    if (!leaks.started) {
        pthread_mutex_unlock(&leaks.lock);
        report(ev); /* no thread to be had: report here */
        free(ev);
        return;
    }
    if (leaks.tail)
        leaks.tail->next = ev;
    else
        leaks.head = ev;
    leaks.tail = ev;
    pthread_cond_signal(&leaks.cond);
    pthread_mutex_unlock(&leaks.lock);
}

static roost__leak_ev *ev_new(int kind, const void *obj, size_t n) {
    roost__leak_ev *ev = calloc(1, sizeof *ev + n * sizeof(roost_task_info_t));
    if (ev) ev->kind = kind, ev->obj = obj;
    return ev;
}

/* ------------------------------------------------------------ channels */

static void chan_info(roost__waiter *x, roost__waiter *self, roost_chan_t *ch, roost_task_info_t *o) {
    roost__task *t = x->park->task;
    if (!t) {
        memset(o, 0, sizeof *o);
        o->file = o->func = "(plain thread)";
        o->state = ROOST_TASK_PARKED;
    } else if (x == self) {
        roost__self_info(t, o);
    } else {
        roost__task_info(t, o, ROOST_SNAP_STACKS);
    }
    o->wait_reason = x->is_send ? ROOST_WAIT_CHAN_SEND : ROOST_WAIT_CHAN_RECV;
    o->wait_obj = ch;
}

roost__leak_ev *roost__leak_chan_locked(roost_chan_t *ch, roost__waiter *self, roost__waiter **wake,
                                        bool *self_woken) {
    int p = policy();
    if (!p) return NULL;
    size_t n = 0;
    roost__waitq_t *qs[2] = {&ch->sendq, &ch->recvq};
    for (int q = 0; q < 2; q++)
        for (roost__waiter *x = qs[q]->head; x; x = x->next) n += x->plain;
    if (!n) return NULL;
    roost__leak_ev *ev = ev_new(ROOST_LEAK_CHAN, ch, n);
    /* No leaks.claim: a task waits on one channel, whose lock we hold. */
    for (int q = 0; q < 2; q++) {
        roost__waiter *x = qs[q]->head, *nx;
        for (; x; x = nx) {
            nx = x->next;
            if (!x->plain) continue;
            roost__task *t = x->park->task;
            if (ev && (!t || claim(t, t->id, ROOST_LEAK_CHAN))) chan_info(x, self, ch, &ev->tasks[ev->n++]);
            if (!(p & ROOST_LEAK_WAKE)) continue;
            /* Plain waiters are never stale: only this channel, under this
             * lock, could have claimed them. */
            if (x != self && !roost__claim(x->park)) continue;
            roost__waitq_remove(qs[q], x);
            roost__chan_unstrand(ch, x);
            ch->nwaiters--;
            atomic_fetch_add_explicit(&leaks.woken, 1, memory_order_relaxed);
            if (x == self) {
                *self_woken = true;
                continue;
            }
            if (!x->is_send && x->elem) memset(x->elem, 0, ch->elem_size);
            x->next = *wake, *wake = x;
        }
    }
    return ev;
}

/* ------------------------------------------------------------ select */

bool roost__leak_select(roost__task *self, roost_chan_t **order, int n) {
    int p = policy();
    if (!p) return false;
    for (int i = 0; i < n; i++) {
        uint64_t w = atomic_load(&order[i]->refs);
        if (ROOST_CHAN_REFS(w) != (uint32_t)roost__owned_count(self, order[i])) return false;
    }
    roost__leak_ev *ev =
        claim(self, self->id, ROOST_LEAK_SELECT) ? ev_new(ROOST_LEAK_SELECT, n ? order[0] : NULL, 1) : NULL;
    if (ev) {
        roost__self_info(self, &ev->tasks[0]);
        ev->tasks[0].wait_reason = ROOST_WAIT_SELECT;
        ev->n = 1;
        roost__leak_post(ev);
    }
    if (!(p & ROOST_LEAK_WAKE)) return false;
    atomic_fetch_add_explicit(&leaks.woken, 1, memory_order_relaxed);
    return true;
}

bool roost__leak_nil(roost__task *self, int reason) {
    int p = policy();
    if (!p) return false;
    roost__leak_ev *ev = claim(self, self->id, ROOST_LEAK_CHAN) ? ev_new(ROOST_LEAK_CHAN, NULL, 1) : NULL;
    if (ev) {
        roost__self_info(self, &ev->tasks[0]);
        ev->tasks[0].wait_reason = reason;
        ev->n = 1;
        roost__leak_post(ev);
    }
    if (!(p & ROOST_LEAK_WAKE)) return false;
    atomic_fetch_add_explicit(&leaks.woken, 1, memory_order_relaxed);
    return true;
}

/* ------------------------------------------------------------ locks */

static bool lock_reason(int r) {
    return r == ROOST_WAIT_MUTEX || r == ROOST_WAIT_RWMUTEX_W || r == ROOST_WAIT_RWMUTEX_R;
}

/* A word of memory that another task pointed at when we copied its record,
 * and that may have been freed since: a channel, a lock in the program's
 * memory, a select's cases. Freed memory may even be unmapped (glibc gives
 * large blocks back to the kernel, and trims its heap), so it is not read
 * directly: the kernel copies it, and says EFAULT instead of faulting. A
 * system call a word, so the scan reads each channel once (see memo). False
 * if the word cannot be read: the caller then assumes nothing (no verdict
 * rests on it). Where process_vm_readv is missing (qemu-user) or forbidden
 * (a sandbox), the word goes through a pipe instead, whose write also says
 * EFAULT: two calls, under a lock. */
static atomic_bool no_vm_readv;

static bool probe_pipe(const void *p, uint64_t *out) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int fds[2] = {-1, -1};
    bool ok = false;
    pthread_mutex_lock(&mu);
    if (fds[0] >= 0 || pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        if (write(fds[1], p, sizeof *out) == (ssize_t)sizeof *out)
            ok = read(fds[0], out, sizeof *out) == (ssize_t)sizeof *out;
    } else {
        fds[0] = fds[1] = -1;
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

bool roost__peek64(const void *p, uint64_t *out) {
    if (!atomic_load_explicit(&no_vm_readv, memory_order_relaxed)) {
        struct iovec local = {out, sizeof *out}, remote = {(void *)p, sizeof *out};
        ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (n == (ssize_t)sizeof *out) return true;
        if (n < 0 && errno == EFAULT) return false;
        atomic_store_explicit(&no_vm_readv, true, memory_order_relaxed);
    }
    return probe_pipe(p, out);
}

static bool probe64(const void *p, uint64_t *out) {
    atomic_fetch_add_explicit(&leaks.probes, 1, memory_order_relaxed);
    return roost__peek64(p, out);
}

struct graph;
static bool scan_load(struct graph *g, const void *p, uint64_t *out);

/* A word another task pointed us at: probed (see above; during a scan,
 * through the scan's memo, g), or, when the caller holds the lock that
 * keeps it alive, read directly. */
static inline bool load_word(const void *p, uint64_t *out, bool probe, struct graph *g) {
    if (probe) return g ? scan_load(g, p, out) : probe64(p, out);
    *out = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
    return true;
}

/* The holder of a lock another task waits on. NULL when readers hold it,
 * or (probe) when the lock cannot be read. `probe`: the lock is only known
 * from another task's record, and may be gone; otherwise the caller holds
 * the lock's queue lock, and reads it exactly. g: the scan reading it, or
 * NULL. */
__attribute__((no_sanitize("thread"))) static roost__task *
holder_of(const void *obj, int reason, uint64_t *id, bool probe, struct graph *g) {
    uint64_t h;
    if (reason == ROOST_WAIT_MUTEX) {
        const roost__mutex *mu = obj;
        if (!load_word(&mu->holder_id, id, probe, g) || !load_word(&mu->holder, &h, probe, g)) return NULL;
        return (roost__task *)(uintptr_t)h;
    }
    const roost__rwmutex *rw = obj;
    /* writer is an int: read the aligned word holding it. */
    uintptr_t wa = (uintptr_t)&rw->writer;
    uint64_t w;
    int writer;
    if (!load_word((const void *)(wa & ~(uintptr_t)7), &w, probe, g)) return NULL;
    memcpy(&writer, (const char *)&w + (wa & 7), sizeof writer);
    if (!writer) return NULL;
    if (!load_word(&rw->holder_id, id, probe, g) || !load_word(&rw->holder, &h, probe, g)) return NULL;
    return (roost__task *)(uintptr_t)h;
}

#define CYCLE_MAX 16

typedef struct {
    roost__task *t[CYCLE_MAX];
    const void *obj[CYCLE_MAX];
    int n;
} chain;

/* Follow holder -> what it waits on -> its holder from (obj, holder).
 * Returns 1 for a cycle back to self, 2 for a holder that exited (at the
 * first step only: deeper, a reused record could fool us), 0 otherwise.
 *
 * The walk stops, with 0, at the first holder that cannot be part of a
 * cycle through self, before reading anything through the kernel:
 * - a runnable holder has been woken: a member of a cycle is running (it
 *   published its wait and is about to park) or parked, never runnable;
 * - a holder that waits on a lock the chain has met already. Most often
 *   that is obj itself: an unlock hands a contended lock to its first
 *   waiter, which holds it from then on but keeps obj in its wait fields
 *   until it runs. Otherwise the chain has run into a cycle that self is
 *   not part of (its members find it themselves).
 * So a contended lock handed from task to task costs no system call. */
__attribute__((no_sanitize("thread"))) static int follow(roost__task *self, const void *obj, roost__task *h,
                                                         uint64_t hid, chain *c) {
    c->n = 0;
    c->t[c->n] = self, c->obj[c->n++] = obj;
    for (int depth = 0; depth < CYCLE_MAX - 1; depth++) {
        if (!h) return 0;
        if (depth) atomic_fetch_add_explicit(&leaks.lock_steps, 1, memory_order_relaxed);
        /* Our own record, but another task's id: the holder exited and
         * we reuse its stack slot. */
        if (h == self) return hid == self->id ? 1 : (depth == 0 ? 2 : 0);
        uint64_t id = __atomic_load_n(&h->id, __ATOMIC_RELAXED);
        int st = atomic_load_explicit(&h->state, memory_order_relaxed);
        if (id != hid || st == ROOST_T_DEAD) return depth == 0 ? 2 : 0;
        if (st == ROOST_T_RUNNABLE) return 0;
        int r = __atomic_load_n(&h->wait_reason, __ATOMIC_RELAXED);
        const void *o = __atomic_load_n(&h->wait_obj, __ATOMIC_RELAXED);
        if (!lock_reason(r) || !o || __atomic_load_n(&h->cancellable, __ATOMIC_RELAXED)) return 0;
        for (int i = 0; i < c->n; i++)
            if (c->obj[i] == o) return 0;
        c->t[c->n] = h, c->obj[c->n++] = o;
        h = holder_of(o, r, &hid, true, NULL); /* h's lock: it may be gone by now */
    }
    return 0;
}

/* The chain past its first step, the verdict and the report: out of line,
 * so that the common case below stays small enough to inline into sync.c. */
static __attribute__((noinline)) int lock_check_slow(roost__task *self, const void *obj, int reason,
                                                     roost__task *holder, uint64_t hid) {
    int p = policy();
    if (!p) return 0;
    chain c1, c2;
    int k = follow(self, obj, holder, hid, &c1);
    if (!k) return 0;
    /* Read it all again: unchanged twice means every member was blocked on
     * its lock at one instant, and only members could release those. */
    if (follow(self, obj, holder, hid, &c2) != k || c1.n != c2.n ||
        memcmp(c1.t, c2.t, sizeof c1.t[0] * (size_t)c1.n) ||
        memcmp(c1.obj, c2.obj, sizeof c1.obj[0] * (size_t)c1.n))
        return 0;
    int kind = k == 1 ? ROOST_LEAK_LOCK_CYCLE : ROOST_LEAK_LOCK_ORPHANED;
    size_t n = k == 1 ? (size_t)c1.n : 1;
    roost__leak_ev *ev = ev_new(kind, obj, n);
    if (ev) {
        bool got[CYCLE_MAX];
        pthread_mutex_lock(&leaks.claim);
        got[0] = claim(self, self->id, kind);
        for (size_t i = 1; i < n; i++)
            got[i] = claim(c1.t[i], __atomic_load_n(&c1.t[i]->id, __ATOMIC_RELAXED), kind);
        pthread_mutex_unlock(&leaks.claim);
        if (got[0]) {
            roost__self_info(self, &ev->tasks[ev->n]);
            ev->tasks[ev->n].wait_reason = reason, ev->tasks[ev->n++].wait_obj = obj;
        }
        for (size_t i = 1; i < n; i++)
            if (got[i] && roost__task_info(c1.t[i], &ev->tasks[ev->n], ROOST_SNAP_STACKS)) ev->n++;
        roost__leak_post(ev);
    }
    /* Orphaned locks are reported, never woken: Go lets a task unlock a
     * lock another task locked, so the lock may yet be released. */
    if (p & ROOST_LEAK_WAKE && kind == ROOST_LEAK_LOCK_CYCLE) {
        atomic_fetch_add_explicit(&leaks.woken, 1, memory_order_relaxed);
        __atomic_store_n(&self->wait_reason, ROOST_WAIT_NONE, __ATOMIC_RELAXED);
        __atomic_store_n(&self->wait_obj, NULL, __ATOMIC_RELAXED);
        return ROOST_ELEAKED;
    }
    return 0;
}

int roost__leak_lock_check(roost__task *self, const void *obj, int reason, roost_ctx_t *ctx) {
    int p = atomic_load_explicit(&leaks.policy, memory_order_relaxed);
    if (ROOST_UNLIKELY(p < 0)) p = policy_read();
    if (!p || roost__ctx_cancellable(ctx)) return 0; /* a cancel may yet free us */
    /* We hold obj's queue lock: its holder is exact. */
    roost__task *holder;
    uint64_t hid;
    if (reason == ROOST_WAIT_MUTEX) {
        const roost__mutex *mu = obj;
        holder = mu->holder, hid = mu->holder_id;
    } else {
        const roost__rwmutex *rw = obj;
        holder = rw->writer ? rw->holder : NULL, hid = rw->holder_id;
    }
    if (!holder) return 0; /* a plain thread holds it, or readers do */
    /* A holder that still names obj as the lock it waits on was handed obj
     * by an unlock and has not come back from that wait yet: on its way
     * back it takes obj's queue lock, which we hold until we have parked.
     * So it cannot join a cycle before then, and by then our wait is
     * published; nor can its wait fields still say obj once it has been
     * through that lock (we took the lock after it). No chain, no fence:
     * this is the common case of a contended lock. */
    if (holder != self && __atomic_load_n(&holder->wait_obj, __ATOMIC_RELAXED) == obj &&
        __atomic_load_n(&holder->id, __ATOMIC_RELAXED) == hid)
        return 0;
    /* Publish what we are about to wait on before looking at the others:
     * of two tasks closing a cycle at once, at least one sees the other. */
    __atomic_store_n(&self->wait_reason, reason, __ATOMIC_RELAXED);
    __atomic_store_n(&self->wait_obj, obj, __ATOMIC_RELAXED);
    __atomic_store_n(&self->cancellable, false, __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_seq_cst);
    /* A holder that runs or is runnable and waits on no lock: there is no
     * chain to follow (follow's first step, inline). */
    if (holder != self && __atomic_load_n(&holder->id, __ATOMIC_RELAXED) == hid) {
        int st = atomic_load_explicit(&holder->state, memory_order_relaxed);
        if (st == ROOST_T_RUNNABLE ||
            (st != ROOST_T_DEAD && !lock_reason(__atomic_load_n(&holder->wait_reason, __ATOMIC_RELAXED))))
            return 0;
    }
    return lock_check_slow(self, obj, reason, holder, hid);
}

/* Re-locking a lock the caller holds: the call fails with ROOST_EDEADLK.
 * Reported all the same (not counted, never an abort): code that ignores
 * that error goes on as if it held the lock twice. */
void roost__leak_relock(roost__task *self, const void *obj, int reason) {
    if (!(policy() & ROOST_LEAK_REPORT)) return;
    roost__leak_ev *ev = ev_new(ROOST_LEAK_LOCK_CYCLE, obj, 1);
    if (!ev) return;
    ev->refused = true;
    roost__self_info(self, &ev->tasks[0]);
    ev->tasks[0].wait_reason = reason, ev->tasks[0].wait_obj = obj;
    ev->n = 1;
    roost__leak_post(ev);
}

/* ------------------------------------------------------------ scans */

static int cmp_group(const void *a, const void *b) {
    const roost_task_info_t *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->wait_reason != y->wait_reason) return x->wait_reason - y->wait_reason;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Claim, for a finding of `kind`, the live tasks whose ids are in v
 * (copies from a snapshot), one walk over the stack slots. Keeps in v
 * those claimed now, in their order; returns how many. */
typedef struct {
    uint64_t *ids; /* v's ids, sorted */
    bool *got;     /* by position in ids */
    size_t n;
    int kind;
} claim_walk;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

__attribute__((no_sanitize("thread"))) static void claim_one(roost__task *t, void *arg) {
    claim_walk *w = arg;
    uint64_t id = __atomic_load_n(&t->id, __ATOMIC_RELAXED);
    if (!id || atomic_load_explicit(&t->state, memory_order_relaxed) == ROOST_T_DEAD) return;
    uint64_t *at = bsearch(&id, w->ids, w->n, sizeof id, cmp_u64);
    if (at && claim(t, id, w->kind)) w->got[at - w->ids] = true;
}

static size_t claim_ids(roost_task_info_t *v, size_t n, int kind) {
    claim_walk w = {malloc(n * sizeof *w.ids), calloc(n, sizeof *w.got), n, kind};
    size_t m = 0;
    if (w.ids && w.got) {
        for (size_t i = 0; i < n; i++) w.ids[i] = v[i].id;
        qsort(w.ids, n, sizeof *w.ids, cmp_u64);
        pthread_mutex_lock(&leaks.claim);
        roost__for_each_stack_slot(claim_one, &w);
        pthread_mutex_unlock(&leaks.claim);
        for (size_t i = 0; i < n; i++) {
            uint64_t *at = bsearch(&v[i].id, w.ids, n, sizeof *w.ids, cmp_u64);
            if (at && w.got[at - w.ids]) v[m++] = v[i];
        }
    }
    free(w.ids);
    free(w.got);
    return m;
}

size_t roost__leak_post_tasks(int kind, const void *obj, roost_task_info_t *v, size_t n) {
    n = claim_ids(v, n, kind);
    roost__leak_ev *ev = n ? ev_new(kind, obj, n) : NULL;
    if (!ev) return 0;
    memcpy(ev->tasks, v, n * sizeof *v);
    ev->n = n;
    roost__leak_post(ev);
    return n;
}

/* Every task asleep with nothing to wake one: not sleeping, no timer, no
 * cancellable wait, no task running. Plain threads outside roost could
 * still send, which roost cannot see: so this is reported, never woken. */
static int64_t deadlock_check(roost_task_info_t *v, size_t n, uint64_t self_id) {
    size_t parked = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == self_id) continue;
        if (v[i].state != ROOST_TASK_PARKED) return 0;
        int r = v[i].wait_reason;
        if (r == ROOST_WAIT_SLEEP || r == ROOST_WAIT_IO) return 0;
        parked++;
    }
    if (!parked || roost__timer_pending()) return 0;
    roost__leak_post_tasks(ROOST_LEAK_DEADLOCK, NULL, v, n);
    return (int64_t)parked; /* found, whether or not named before: reported once a stall */
}

/* The mark phase of roost_leak_scan: one node per live task, copied under
 * its sequence counter. */
typedef struct {
    roost__task *t;
    uint32_t seq;
    uint64_t id;
    int state, reason;
    const void *obj;
    bool cancellable, alive;
    int nowned;
    roost_chan_t *owned[4];
    int sel_n;
    const roost_case_t *sel_cases;
} node;

/* Words read with probe64 during one scan, by address: thousands of tasks
 * parked on one channel cost one system call, not thousands. A direct-
 * mapped cache, not a table (hash.h): a collision replaces the entry, and
 * a lost entry costs one probe more. */
#define MEMO_BITS 10
typedef struct {
    uintptr_t addr; /* 0: empty */
    uint64_t val;
} memo_ent;

typedef struct graph {
    node *v;
    size_t n, cap;
    bool unknown, oom;
    bool thread_caller; /* scanning from a plain thread, which could wake anything */
    size_t nalive;      /* nodes marked so far */
    memo_ent *memo;     /* 1 << MEMO_BITS entries, or NULL */
    roost__task rec;
} graph;

static bool scan_load(struct graph *g, const void *p, uint64_t *out) {
    memo_ent *e = NULL;
    if (g->memo) {
        e = &g->memo[((uintptr_t)p >> 3) * 0x9E3779B97F4A7C15ull >> (64 - MEMO_BITS)];
        if (e->addr == (uintptr_t)p) {
            *out = e->val;
            return true;
        }
    }
    if (!probe64(p, out)) return false;
    if (e) e->addr = (uintptr_t)p, e->val = *out;
    return true;
}

static void collect(roost__task *t, void *arg) {
    graph *g = arg;
    uint32_t seq;
    if (g->oom || !roost__task_peek(t, &g->rec, &seq)) return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        node *v = realloc(g->v, cap * sizeof *v);
        if (!v) {
            g->oom = true;
            return;
        }
        g->v = v, g->cap = cap;
    }
    const roost__task *r = &g->rec;
    node *x = &g->v[g->n++];
    memset(x, 0, sizeof *x);
    x->t = t, x->seq = seq, x->id = r->id;
    x->state = (seq & 1) ? ROOST_T_RUNNING : atomic_load_explicit(&r->state, memory_order_relaxed);
    x->reason = x->state == ROOST_T_PARKED ? r->wait_reason : ROOST_WAIT_NONE;
    x->obj = r->wait_obj;
    x->cancellable = r->cancellable;
    x->sel_n = r->sel_n, x->sel_cases = r->sel_cases;
    x->nowned = r->nowned;
    if (r->nowned > 4 || r->owned)
        g->unknown = true; /* more references than we can read safely: no verdicts */
    else
        memcpy(x->owned, r->owned_small, sizeof x->owned);
}

static int holds(const node *x, const void *ch) {
    int n = 0;
    for (int i = 0; i < x->nowned; i++) n += x->owned[i] == ch;
    return n;
}

/* What only another task could end: everything else keeps a task marked. */
static bool waits_on_tasks(int reason) {
    switch (reason) {
    case ROOST_WAIT_CHAN_SEND:
    case ROOST_WAIT_CHAN_RECV:
    case ROOST_WAIT_MUTEX:
    case ROOST_WAIT_RWMUTEX_W:
    case ROOST_WAIT_RWMUTEX_R:
    case ROOST_WAIT_WAITGROUP:
    case ROOST_WAIT_COND:
    case ROOST_WAIT_SELECT:
    case ROOST_WAIT_CHAN_SEND_NIL:
    case ROOST_WAIT_CHAN_RECV_NIL: return true;
    default: return false; /* sleep, I/O, context: a timer or the kernel ends them; once: not modelled */
    }
}

/* Somebody marked holds a reference to ch, or somebody roost cannot name
 * does (more references than adopted ones). A parked task's waiter node
 * keeps the channel allocated while it stays parked, which the caller
 * checks afterwards; but the task may have been woken since we copied its
 * record, and the channel freed: so it is probed, and a channel that
 * cannot be read counts as reachable (no verdict rests on it). */
static bool chan_reachable(graph *g, const void *ch) {
    uint64_t w;
    if (!scan_load(g, &((const roost_chan_t *)ch)->refs, &w)) return true;
    uint32_t refs = ROOST_CHAN_REFS(w);
    uint32_t adopted = 0;
    for (size_t i = 0; i < g->n; i++) {
        int h = holds(&g->v[i], ch);
        adopted += (uint32_t)h;
        if (h && g->v[i].alive) return true;
    }
    return refs > adopted;
}

static bool could_wake(graph *g, const node *x) {
    switch (x->reason) {
    case ROOST_WAIT_CHAN_SEND:
    case ROOST_WAIT_CHAN_RECV: return chan_reachable(g, x->obj);
    case ROOST_WAIT_CHAN_SEND_NIL:
    case ROOST_WAIT_CHAN_RECV_NIL: return false; /* a nil channel: nobody can */
    case ROOST_WAIT_SELECT:
        /* The cases array is the program's (on the parked task's stack,
         * or freed by now if the task moved on: probed, and a move shows
         * in the final sequence check). */
        if (!x->sel_cases || x->sel_n <= 0 || x->sel_n > ROOST_SELECT_MAX) return true;
        for (int i = 0; i < x->sel_n; i++) {
            uint64_t w;
            if (!scan_load(g, &x->sel_cases[i].chan, &w)) return true;
            const void *ch = (const void *)(uintptr_t)w;
            if (ch && chan_reachable(g, ch)) return true;
        }
        return false;
    case ROOST_WAIT_MUTEX:
    case ROOST_WAIT_RWMUTEX_W:
    case ROOST_WAIT_RWMUTEX_R: {
        uint64_t hid = 0;
        roost__task *h = holder_of(x->obj, x->reason, &hid, true, g);
        if (!h) return true; /* readers hold it: not tracked */
        for (size_t i = 0; i < g->n; i++)
            if (g->v[i].t == h && g->v[i].id == hid) return g->v[i].alive;
        return false; /* its holder exited: nobody will unlock it */
    }
    default: /* wait group, cond: anybody marked might end it (x is not) */
        return g->thread_caller || g->nalive > 0;
    }
}

static int64_t cycle_scan(void) {
    graph g = {0};
    g.thread_caller = roost_task_id() == 0;
    g.memo = calloc((size_t)1 << MEMO_BITS, sizeof *g.memo);
    roost__for_each_stack_slot(collect, &g);
    int64_t found = 0;
    if (g.oom || g.unknown || !g.n) goto out;
    for (size_t i = 0; i < g.n; i++) {
        node *x = &g.v[i];
        x->alive = x->state != ROOST_T_PARKED || x->cancellable || !waits_on_tasks(x->reason) ||
                   (!x->obj && x->reason != ROOST_WAIT_SELECT && x->reason != ROOST_WAIT_CHAN_SEND_NIL &&
                    x->reason != ROOST_WAIT_CHAN_RECV_NIL);
        g.nalive += x->alive;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < g.n; i++)
            if (!g.v[i].alive && could_wake(&g, &g.v[i])) g.v[i].alive = changed = true, g.nalive++;
    }
    size_t dead = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (g.v[i].alive) continue;
        /* Still parked, never resumed since we looked: the verdict stands. */
        uint32_t seq;
        if (!roost__task_peek(g.v[i].t, &g.rec, &seq) || seq != g.v[i].seq) goto out;
        dead++;
    }
    if (!dead) goto out;
    roost__leak_ev *ev = ev_new(ROOST_LEAK_CYCLE, NULL, dead);
    if (!ev) goto out;
    pthread_mutex_lock(&leaks.claim);
    for (size_t i = 0; i < g.n; i++) /* alive from here on: claimed by another finding */
        if (!g.v[i].alive) g.v[i].alive = !claim(g.v[i].t, g.v[i].id, ROOST_LEAK_CYCLE);
    pthread_mutex_unlock(&leaks.claim);
    for (size_t i = 0; i < g.n; i++)
        if (!g.v[i].alive && roost__task_info(g.v[i].t, &ev->tasks[ev->n], ROOST_SNAP_STACKS)) ev->n++;
    found = (int64_t)ev->n;
    roost__leak_post(ev);
out:
    free(g.v);
    free(g.memo);
    return found;
}

int64_t roost_leak_scan(int64_t suspect_ns) { return roost_leak_scan_detail(suspect_ns, NULL); }

int64_t roost_leak_scan_detail(int64_t suspect_ns, roost_leak_scan_result_t *out) {
    roost_leak_scan_result_t r = {0};
    if (out) *out = r;
    if (!roost__nworkers() || !policy()) return 0;
    r.proved = cycle_scan();
    if (out) *out = r;
    if (suspect_ns <= 0 || !roost__observe) return r.proved;
    roost_task_info_t *v;
    size_t n;
    if (roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n)) return r.proved;
    if (!n) { /* the array is allocated all the same */
        free(v);
        return r.proved;
    }
    int64_t found = 0;
    uint64_t self_id = roost_task_id();
    int64_t now = roost_now();
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].id != self_id && v[i].state == ROOST_TASK_PARKED && v[i].parked_at &&
            now - v[i].parked_at >= suspect_ns)
            v[m++] = v[i];
    qsort(v, m, sizeof *v, cmp_group);
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && v[j].file == v[i].file && v[j].line == v[i].line &&
                        v[j].wait_reason == v[i].wait_reason;
             j++) {
        }
        found += (int64_t)roost__leak_post_tasks(ROOST_LEAK_SUSPECT, v[i].wait_obj, &v[i], j - i);
    }
    free(v);
    r.suspects = found;
    if (out) *out = r;
    return r.proved + r.suspects;
}

/* ------------------------------------------------------------ the list */

typedef struct {
    uint64_t id;
    int kind;
} named;

typedef struct {
    named *v;
    size_t n, cap;
    bool oom;
} named_walk;

__attribute__((no_sanitize("thread"))) static void collect_named(roost__task *t, void *arg) {
    named_walk *w = arg;
    uint64_t id = __atomic_load_n(&t->id, __ATOMIC_RELAXED);
    uint64_t mark = atomic_load_explicit(&t->leak_mark, memory_order_relaxed);
    if (!id || mark >> 4 != id || atomic_load_explicit(&t->state, memory_order_relaxed) == ROOST_T_DEAD)
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        named *v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return;
        }
        w->v = v, w->cap = cap;
    }
    w->v[w->n++] = (named){id, (int)(mark & 15)};
}

static int cmp_named(const void *a, const void *b) {
    return cmp_u64(&((const named *)a)->id, &((const named *)b)->id);
}

int roost_leaked_tasks(int flags, roost_leaked_task_t **out, size_t *n) {
    if (!out || !n) return ROOST_EINVAL;
    *out = NULL, *n = 0;
    if (!roost__nworkers()) return ROOST_OK;
    named_walk w = {0};
    roost__for_each_stack_slot(collect_named, &w);
    if (w.oom) {
        free(w.v);
        return ROOST_ENOMEM;
    }
    if (!w.n) return ROOST_OK;
    qsort(w.v, w.n, sizeof *w.v, cmp_named);
    roost_task_info_t *v;
    size_t m;
    int rc = roost_tasks_snapshot(flags, &v, &m);
    if (rc) {
        free(w.v);
        return rc;
    }
    roost_leaked_task_t *o = malloc((w.n ? w.n : 1) * sizeof *o);
    if (!o) {
        free(w.v);
        free(v);
        return ROOST_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < m && k < w.n; i++) {
        named key = {v[i].id, 0}, *at = bsearch(&key, w.v, w.n, sizeof *w.v, cmp_named);
        if (!at) continue;
        o[k].kind = at->kind;
        o[k].verdict = verdict_of(at->kind, false);
        o[k++].task = v[i];
    }
    free(w.v);
    free(v);
    *out = o, *n = k;
    return ROOST_OK;
}

/* Timer thread, every worker asleep and the timer heap empty: a deadlock
 * if tasks are alive. Reported once per stall (the switch total moves on
 * as soon as anything runs again). */
void roost__leak_idle_check(uint64_t switches) {
    if (!(policy() & (ROOST_LEAK_REPORT | ROOST_LEAK_ABORT))) return;
    if (__atomic_load_n(&roost__threads_active, __ATOMIC_RELAXED)) return; /* a thread may feed them */
    if (roost_task_count() == 0 || atomic_load(&leaks.idle_reported) == switches + 1) return;
    roost_task_info_t *v;
    size_t n;
    if (roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n)) return;
    /* Still idle with the same switch total: nothing moved while we looked. */
    if (n && roost__sched_all_idle() && roost__sched_switches() == switches && deadlock_check(v, n, 0))
        atomic_store(&leaks.idle_reported, switches + 1);
    free(v);
}

/* ------------------------------------------------------------ test helper */

int64_t roost_check_leaks(int64_t expected, int64_t timeout_ns, int fd) {
    int64_t rc = roost_wait_tasks(expected, timeout_ns) == ROOST_OK ? 0 : -1;
    roost_leak_flush(ROOST_S); /* leak reports come out before the verdict */
    if (rc == 0) return 0;
    roost_task_info_t *v;
    size_t n;
    if (roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n)) return roost_task_count();
    uint64_t self_id = roost_task_id();
    roost__buf b = {0};
    int64_t now = roost_now(), left = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == self_id) continue;
        left++;
    }
    roost__buf_printf(&b, "roost: %lld task(s) left behind (expected %lld):\n", (long long)left,
                      (long long)expected);
    for (size_t i = 0; i < n; i++)
        if (v[i].id != self_id) roost__traceback(&b, &v[i], now, 0, NULL);
    if (fd >= 0) roost__write_all(fd, b.p, b.len); /* the count is the answer; the text is a courtesy */
    roost__buf_free(&b);
    free(v);
    return left > expected ? left - expected : 0;
}

/* ------------------------------------------------------------ reports built elsewhere */

void roost__leak_deliver(int kind, const void *obj, const roost_task_info_t *v, size_t n, const char *text) {
    int p = policy();
    if (!(p & ROOST_LEAK_REPORT)) return;
    atomic_fetch_add(&leaks.found, (int64_t)n);
    roost_leak_t leak = {kind, obj, n, v, text, verdict_of(kind, false)};
    pthread_mutex_lock(&leaks.lock);
    void (*hook)(const roost_leak_t *, void *) = leaks.hook;
    void *arg = leaks.hook_arg;
    pthread_mutex_unlock(&leaks.lock);
    if (hook)
        hook(&leak, arg);
    else
        roost__write_all(2, text, strlen(text)); /* nowhere else to say it if that fails */
    if (p & ROOST_LEAK_ABORT) abort();
}
