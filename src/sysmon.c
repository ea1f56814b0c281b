/* sysmon.c - the scheduler's watchdog: blocked workers, queued work left
 * waiting, spare workers.
 *
 * The one idea: the timer thread calls roost__sysmon_tick every tick while
 * some worker is busy (timer.c), and it compares each worker's switch count
 * with the last tick's. A task that calls a blocking function directly
 * (read(2) on a blocking descriptor, sleep(3), a slow library call) or
 * computes for long keeps its worker: nothing in the task switches. Sysmon
 * sees it as a worker that made no switch for roost__sched.stall_ns
 * (ROOST_BLOCKED_MS) while running a task, says so once on stderr (the task,
 * its spawn site, for how long), and, when no worker is idle to take the
 * blocked worker's queued tasks (thieves take from a worker that makes no
 * switch, runnext included), starts a spare worker, as Go's sysmon hands a
 * processor stuck in a system call to another thread. A spare is a full
 * worker; once no worker is blocked it retires (sleeps, counted as idle,
 * off the idle list) until sysmon needs it again, so that ROOST_WORKERS
 * workers run at a time, give or take a tick. Spares are started only when
 * ROOST_WORKERS >= 2: a one-worker runtime takes paths that assume no thief.
 * Not the user-facing monitor (monitor.c), which watches task counts.
 *
 * Invariants:
 *   - Only the timer thread runs this file's code, so the workers' sysmon_*
 *     fields and the report state below need no lock.
 *   - It reads other workers' fields racily (switches, current, rings): a
 *     stale value costs at most one wake-up or one report a tick too early
 *     or late, never a lost task.
 */
#include "runq.h"
#include "scheduler.h"
#include <stdio.h>
#include <string.h>

/* At most one report every REPORT_EVERY (the timer thread only). */
#define REPORT_EVERY (10 * ROOST_S)
static int64_t last_report;
static long unsaid;

static void report_blocked(roost__worker *v, int64_t ns, uint64_t s, int64_t now) {
    if (last_report && now - last_report < REPORT_EVERY) {
        unsaid++;
        return;
    }
    /* The task's record, read while it runs: dropped if the worker moved
     * on meanwhile. By then the task may have exited and a stack of its own
     * size been unmapped with the record on it, so the words are copied
     * by the kernel (roost__peek64), never loaded. */
    roost__task *t = (roost__task *)(uintptr_t)roost__racy_load64(&v->current);
    uint64_t id, site_word;
    if (!t || !roost__peek64(&t->id, &id) || !roost__peek64(&t->site, &site_word)) return;
    roost_site_t *site = (roost_site_t *)(uintptr_t)site_word;
    if (atomic_load_explicit(&v->switches, memory_order_acquire) != s || !site) return;
    fprintf(stderr,
            "roost: worker %d blocked: task %llu (created at %s:%d in %s) has run %lld ms "
            "without a switch (a blocking call, or a long computation); its queued tasks "
            "go to other workers (at most one such line every %d s; %ld not said since the last)\n",
            v->id, (unsigned long long)id, site->file ? site->file : "?", site->line,
            site->func ? site->func : "?", (long long)(ns / ROOST_MS), (int)(REPORT_EVERY / ROOST_S), unsaid);
    last_report = now;
    unsaid = 0;
    /* Its stack, from a signal to its thread (fatal.c), if the worker is
     * still in the same task by then. */
    uintptr_t pcs[ROOST_MAX_FRAMES];
    int n = roost__worker_stack(v, pcs, ROOST_MAX_FRAMES);
    if (n <= 0 || atomic_load_explicit(&v->switches, memory_order_acquire) != s) return;
    char sym[256];
    fprintf(stderr, "task %llu [running, blocked]:\n", (unsigned long long)id);
    for (int i = 0; i < n; i++) {
        roost_symbolize(pcs[i], sym, sizeof sym);
        fprintf(stderr, "    #%d %s\n", i, sym);
    }
}

/* Get a spare running: a retired one back, or a new one in a free slot. */
static void spare_up(void) {
    int nw = roost__nw();
    for (int i = roost__sched.base; i < nw; i++) {
        roost__worker *v = &roost__sched.workers[i];
        bool was = true;
        if (atomic_compare_exchange_strong(&v->retired, &was, false)) {
            atomic_fetch_sub(&roost__sched.nretired, 1);
            atomic_store(&v->wake, 1);
            roost__futex_wake(&v->wake, 1);
            return;
        }
    }
    if (nw < roost__sched.cap && roost__sched.base >= 2 && !atomic_load(&roost__sched.stopping))
        roost__start_worker(nw, true);
}

/* For the monitor, every tick while some worker is busy: is some worker
 * sitting on queued work while another sleeps? Either it made no switch
 * since the last tick (a task runs long), or its ring was queued at this
 * tick and the last (it is not getting through it: say three tasks that
 * compute and yield in turn; not when quiet spawns refilled it while it
 * switched: that queue is being got through). Wake a sleeper, which steals by the rule
 * above. At most one wake-up a tick for a ring that only looks busy. And
 * the blocked workers above: reported, and a spare when nobody is idle. */
void roost__sysmon_tick(void) {
    int nw = roost__nw(), blocked = 0;
    int64_t now = roost_now();
    bool work = atomic_load(&roost__gq_len) > 0;
    for (int i = 0; i < nw; i++) {
        roost__worker *v = &roost__sched.workers[i];
        uint64_t s = atomic_load_explicit(&v->switches, memory_order_relaxed);
        bool queued = !roost__ring_empty(v);
        bool has = queued || atomic_load(&v->runnext);
        work |= has;
        if (s != v->sysmon_switches || !v->sysmon_since) {
            v->sysmon_since = now;
            v->sysmon_said = false;
        } else if (roost__sched.stall_ns > 0 && now - v->sysmon_since >= roost__sched.stall_ns &&
                   roost__racy_load64(&v->current)) {
            blocked++;
            if (!v->sysmon_said) {
                v->sysmon_said = true;
                atomic_store_explicit(&roost__sched.stalls,
                                      atomic_load_explicit(&roost__sched.stalls, memory_order_relaxed) + 1,
                                      memory_order_relaxed);
                report_blocked(v, now - v->sysmon_since, s, now);
            }
        }
        /* A queue refilled by quiet spawns (short group tasks) while the
         * worker switches is one it is getting through: a woken helper
         * would only move the tasks across cores (group.c's verdict). */
        uint32_t q = atomic_load_explicit(&v->quiet, memory_order_relaxed);
        bool getting_through = s != v->sysmon_switches && q != v->sysmon_quiet;
        if (atomic_load(&roost__sched.nidle) > 0 &&
            ((s == v->sysmon_switches && has) || (queued && v->sysmon_queued && !getting_through)))
            roost__wake_one();
        v->sysmon_quiet = q;
        v->sysmon_switches = s;
        v->sysmon_queued = queued;
    }
    atomic_store(&roost__sched.nblocked, blocked);
    if (blocked && work && atomic_load(&roost__sched.nidle) == 0) spare_up();
}

bool roost__sched_all_idle(void) {
    return atomic_load(&roost__sched.nidle) + atomic_load(&roost__sched.nretired) == roost__nw();
}

void roost__sched_figures(roost__sched_figures_t *out) {
    memset(out, 0, sizeof *out);
    int nw = roost__nw();
    for (int i = 0; i < nw; i++) {
        out->switches += atomic_load_explicit(&roost__sched.workers[i].switches, memory_order_relaxed);
        out->steals += (uint64_t)atomic_load_explicit(&roost__sched.workers[i].steals, memory_order_relaxed);
    }
    out->stalls = atomic_load_explicit(&roost__sched.stalls, memory_order_relaxed);
    out->workers = roost__sched.base;
    out->started = nw;
    out->idle = atomic_load(&roost__sched.nidle) + atomic_load(&roost__sched.nretired);
    out->blocked = atomic_load(&roost__sched.nblocked);
}

uint64_t roost__sched_switches(void) {
    uint64_t n = 0;
    for (int i = 0, nw = roost__nw(); i < nw; i++)
        n += atomic_load_explicit(&roost__sched.workers[i].switches, memory_order_relaxed);
    return n;
}
