/* monitor.c - the opt-in monitor: a count line every interval (Go's
 * runtime.NumGoroutine() on a timer), and alerts when the live count crosses
 * a threshold or keeps growing.
 *
 * The one idea: the monitor is one more reader of what registry.c counts
 * anyway, on a thread of its own that sleeps between samples, so the runtime
 * never knows it is there: no hook on spawn, park or exit, nothing on any hot
 * path. Each sample reads roost_counts() (O(workers)) and roost_sites()
 * (O(sites x workers)) and stores the figures in rings just long enough to
 * span the growth window; the alerts compare the newest sample with the ring.
 *
 * Growth, precisely. The window is n = ceil(window / interval) steps (at
 * least 4), so the rings hold the last n + 1 samples, s[0] (oldest) to s[n]
 * (now). Cut the steps into four quarters at b_j = j * n / 4 (integer
 * division); quarter j holds s[b_j] .. s[b_(j+1) - 1]. A series (the total
 * alive, or one spawn site's alive) is *growing* when each quarter's lowest
 * sample is below every later sample:
 *
 *     min(s[b_j .. b_(j+1) - 1]) < min(s[b_(j+1) .. n])   for j = 0, 1, 2, 3
 *
 * That is, the low-water mark rose in every quarter and the count never came
 * back down to an earlier quarter's low. Ups and downs within a quarter are
 * forgiven (requests in flight come and go; a series that must never dip
 * would miss every real leak under load); a single jump, such as a pool
 * filling up, is not growth (the quarters before the jump share one low);
 * and it takes a rise of at least 4 tasks (five lows, each above the last).
 * The amounts reported ("+40") are each series' rise: now minus its lowest
 * sample in the window.
 *
 * Episodes. A series' episode starts on the first sample it is growing, and
 * ends once it has not been growing for n samples in a row (a whole window),
 * so a leak that stalls for a moment is not reported twice. An alert fires
 * when a site's episode starts, or when the total's starts while no site is
 * in one (a leak spread over many sites, none growing alone); the sites an
 * alert names join the episode, so the same growth is not reported again.
 *
 * What it costs: per sample, the two reads above and a pass over the rings,
 * O((sites + 1) x n); memory 4 bytes per site per sample kept (100 sites, a
 * 1 s interval and a 10 min window: 240 KB). Between samples the thread
 * sleeps on a condition variable, which stop signals, so stopping is prompt.
 */
#include "internal.h"
#include "buf.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#define MON_MIN_STEPS 4    /* a window is at least 4 steps: one per quarter */
#define MON_MAX_STEPS 4096 /* window / interval beyond this: ROOST_ERANGE */
#define MON_NAMED 3        /* sites and wait reasons named in an alert's text */
#define MON_MAX_SITES (ROOST_SITE_BLOCK * ROOST_SITE_BLOCKS)

typedef struct {
    bool active; /* in a growth episode */
    int quiet;   /* samples in a row it has not grown, while active */
} mon_episode;

typedef struct {
    mon_episode ep;
    bool growing; /* scratch, per sample */
    int64_t rise; /* scratch: now minus the lowest in the span */
    int64_t key;  /* scratch: ranking key */
} mon_site;

/* The samples, owned by the monitor thread. Made by roost_monitor_start (so
 * that it can report ENOMEM) and handed over; replaced when the interval or
 * the window changes, since the rings' meaning does. */
typedef struct {
    int64_t interval, window; /* what this history was built for */
    int n;                    /* steps in the window: n + 1 samples kept */
    uint64_t k;               /* samples taken; the newest is in slot (k - 1) % (n + 1) */
    int64_t *total;           /* [n + 1] alive */
    int64_t *reason;          /* [(n + 1) * ROOST_WAIT__COUNT] parked by reason */
    int64_t *seq;             /* [n + 1] scratch: one series, oldest first */
    int32_t *site;            /* [site_cap * (n + 1)]: one ring per site, by id; 0 before it existed */
    mon_site *ms;             /* [site_cap] */
    roost_site_info_t *info;  /* [site_cap]: the latest roost_sites() */
    int site_cap, nsites;
    mon_episode total_ep;
} mon_hist;

static struct {
    pthread_mutex_t ctl;  /* serializes start and stop (held across the join) */
    pthread_mutex_t lock; /* everything below; never held while sampling */
    pthread_cond_t cond;  /* the thread sleeps on it between samples */
    bool cond_ready;      /* cond made (CLOCK_MONOTONIC), under ctl */
    bool thread;          /* a thread exists and must be joined */
    bool stop;            /* asks it to exit */
    pthread_t tid;
    roost_monitor_opts_t opts; /* the configuration, normalized */
    uint64_t gen;              /* bumped by every start: the thread rereads opts */
    mon_hist *pending;         /* a new history for the thread to take up */
} monitor = {.ctl = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER};

/* True on the monitor thread: start and stop from the alert hook must not
 * join the thread they run on. */
static _Thread_local bool mon_on_thread;

/* ------------------------------------------------------------ history */

static void mon_hist_free(mon_hist *h) {
    if (!h) return;
    free(h->total);
    free(h->reason);
    free(h->seq);
    free(h->site);
    free(h->ms);
    free(h->info);
    free(h);
}

static mon_hist *mon_hist_new(int64_t interval, int64_t window, int n) {
    mon_hist *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->interval = interval, h->window = window, h->n = n;
    h->total = calloc((size_t)n + 1, sizeof *h->total);
    h->reason = calloc(((size_t)n + 1) * ROOST_WAIT__COUNT, sizeof *h->reason);
    h->seq = calloc((size_t)n + 1, sizeof *h->seq);
    if (!h->total || !h->reason || !h->seq) {
        mon_hist_free(h);
        return NULL;
    }
    return h;
}

/* Room for `want` sites. On failure the capacity stays as it was and the
 * sites beyond it are not tracked (the total still is). */
static void mon_sites_grow(mon_hist *h, int want) {
    int cap = h->site_cap ? h->site_cap : 16;
    while (cap < want) cap *= 2;
    if (cap > MON_MAX_SITES) cap = MON_MAX_SITES;
    if (cap <= h->site_cap) return;
    size_t S = (size_t)h->n + 1, old = (size_t)h->site_cap;
    int32_t *site = realloc(h->site, (size_t)cap * S * sizeof *site);
    if (!site) return;
    h->site = site;
    memset(site + old * S, 0, ((size_t)cap - old) * S * sizeof *site);
    mon_site *ms = realloc(h->ms, (size_t)cap * sizeof *ms);
    if (!ms) return;
    h->ms = ms;
    memset(ms + old, 0, ((size_t)cap - old) * sizeof *ms);
    roost_site_info_t *info = realloc(h->info, (size_t)cap * sizeof *info);
    if (!info) return;
    h->info = info;
    h->site_cap = cap;
}

enum { MON_TOTAL, MON_REASON, MON_SITE };

/* The last m samples of one series into h->seq, oldest first. */
static void mon_series(mon_hist *h, int m, int which, int idx) {
    uint64_t S = (uint64_t)h->n + 1;
    for (int j = 0; j < m; j++) {
        size_t slot = (size_t)((h->k - (uint64_t)m + (uint64_t)j) % S);
        h->seq[j] = which == MON_TOTAL    ? h->total[slot]
                    : which == MON_REASON ? h->reason[slot * ROOST_WAIT__COUNT + (size_t)idx]
                                          : h->site[(size_t)idx * S + slot];
    }
}

/* Now minus the lowest of s[0 .. m-1]. */
static int64_t mon_rise(const int64_t *s, int m) {
    int64_t lo = s[0];
    for (int j = 1; j < m; j++)
        if (s[j] < lo) lo = s[j];
    return s[m - 1] - lo;
}

/* The growth test of the header comment, on s[0 .. n]. */
static bool mon_growing(const int64_t *s, int n) {
    int64_t after = s[n]; /* the lowest sample after the quarter being looked at */
    for (int j = 3; j >= 0; j--) {
        int b0 = j * n / 4, b1 = (j + 1) * n / 4;
        int64_t lo = s[b0];
        for (int i = b0 + 1; i < b1; i++)
            if (s[i] < lo) lo = s[i];
        if (lo >= after) return false;
        after = lo;
    }
    return true;
}

/* An episode's step; true when one starts. */
static bool mon_episode_step(mon_episode *e, bool growing, int n) {
    if (growing) {
        e->quiet = 0;
        if (e->active) return false;
        e->active = true;
        return true;
    }
    if (e->active && ++e->quiet >= n) e->active = false;
    return false;
}

/* The sites' ranking keys, for mon_top (NULL before any site is tracked). */
static const int64_t *mon_site_keys(const mon_hist *h) { return h->ms ? &h->ms->key : NULL; }

/* Up to k indices with the largest positive keys, largest first. O(len x k). */
static int mon_top(const int64_t *key, size_t stride, int len, int *out, int k) {
    int got = 0;
    if (!key) return 0;
    while (got < k) {
        int best = -1;
        for (int i = 0; i < len; i++) {
            int64_t v = *(const int64_t *)((const char *)key + (size_t)i * stride);
            if (v <= 0) continue;
            bool taken = false;
            for (int t = 0; t < got; t++) taken |= out[t] == i;
            if (!taken && (best < 0 || v > *(const int64_t *)((const char *)key + (size_t)best * stride)))
                best = i;
        }
        if (best < 0) break;
        out[got++] = best;
    }
    return got;
}

/* ------------------------------------------------------------ output */

/* Write b out and free it. Out of memory, nothing is written (a cut line
 * would mislead). A broken pipe (SIGPIPE is blocked on this thread, so
 * write says EPIPE) or a full non-blocking fd loses the line rather than
 * stalling the monitor. */
static void mon_write(int fd, roost__buf *b) {
    if (!b->oom) roost__write_all(fd, b->p, b->len);
    roost__buf_free(b);
}

static void mon_dur(char *buf, size_t size, double ns) {
    if (ns < 1e9)
        snprintf(buf, size, "%g ms", ns / 1e6);
    else
        snprintf(buf, size, "%g s", ns / 1e9);
}

/* roost: tasks alive=123 running=2 runnable=0 parked=121 (chan send 120,
 * sleep 1) created=5000 exited=4877 */
static void mon_log_counts(int fd, const roost_counts_t *c) {
    roost__buf b = {0};
    roost__buf_printf(&b, "roost: tasks alive=%lld running=%lld runnable=%lld parked=%lld",
                      (long long)c->alive, (long long)c->running, (long long)c->runnable,
                      (long long)c->parked);
    const char *sep = " (";
    for (int r = 1; r < ROOST_WAIT__COUNT; r++) {
        if (!c->by_reason[r]) continue;
        roost__buf_printf(&b, "%s%s %lld", sep, roost_wait_reason_name(r), (long long)c->by_reason[r]);
        sep = ", ";
    }
    if (sep[0] == ',') roost__buf_putc(&b, ')');
    roost__buf_printf(&b, " created=%lld exited=%lld\n", (long long)c->created, (long long)c->exited);
    mon_write(fd, &b);
}

/* Fill and deliver an alert. sites[]/nsites: the sites to name (the first
 * goes in the struct); m: samples in the span the rises are over. The wait
 * reasons are ranked here: by rise for GROWTH, by tasks parked for
 * THRESHOLD. */
static void mon_alert(mon_hist *h, const roost_monitor_opts_t *o, int kind, const roost_counts_t *c, int m,
                      const int *sites, int nsites) {
    roost_alert_t a = {.kind = kind, .alive = c->alive, .reason = ROOST_WAIT_NONE};
    mon_series(h, m, MON_TOTAL, 0);
    a.grew_by = mon_rise(h->seq, m);
    int64_t rrise[ROOST_WAIT__COUNT] = {0}, rkey[ROOST_WAIT__COUNT] = {0};
    for (int r = 1; r < ROOST_WAIT__COUNT; r++) {
        mon_series(h, m, MON_REASON, r);
        rrise[r] = mon_rise(h->seq, m);
        rkey[r] = kind == ROOST_ALERT_GROWTH ? rrise[r] : c->by_reason[r];
    }
    int reasons[MON_NAMED];
    int nreasons = mon_top(rkey, sizeof rkey[0], ROOST_WAIT__COUNT, reasons, MON_NAMED);
    if (nsites) {
        const roost_site_info_t *s = &h->info[sites[0]];
        a.site_file = s->file, a.site_func = s->func, a.site_line = s->line;
        a.site_grew_by = h->ms[sites[0]].rise;
    }
    if (nreasons) a.reason = reasons[0], a.reason_grew_by = rrise[reasons[0]];

    char span[32];
    roost__buf b = {0};
    mon_dur(span, sizeof span, (double)(m - 1) * (double)h->interval);
    if (kind == ROOST_ALERT_GROWTH)
        roost__buf_printf(&b,
                          "roost: alert: tasks growing over %s without coming back down: alive=%lld (+%lld)",
                          span, (long long)c->alive, (long long)a.grew_by);
    else
        roost__buf_printf(&b, "roost: alert: tasks alive=%lld >= threshold %lld (+%lld over %s)",
                          (long long)c->alive, (long long)o->threshold, (long long)a.grew_by, span);
    for (int i = 0; i < nsites; i++) {
        const roost_site_info_t *s = &h->info[sites[i]];
        roost__buf_printf(&b, "%s%s:%d %s +%lld (alive %lld)", i ? ", " : "; sites: ", s->file, s->line,
                          s->func, (long long)h->ms[sites[i]].rise, (long long)s->alive);
    }
    for (int i = 0; i < nreasons; i++)
        roost__buf_printf(&b, "%s%s +%lld (parked %lld)",
                          i ? ", " : "; waits: ", roost_wait_reason_name(reasons[i]),
                          (long long)rrise[reasons[i]], (long long)c->by_reason[reasons[i]]);
    const char *text = roost__buf_str(&b);
    a.text = text ? text : "roost: alert (out of memory for its text)";
    if (o->alert) {
        o->alert(&a, o->alert_arg);
        roost__buf_free(&b);
    } else {
        roost__buf_putc(&b, '\n');
        mon_write(o->log_fd >= 0 ? o->log_fd : 2, &b);
    }
}

/* ------------------------------------------------------------ sampling */

static void mon_check_growth(mon_hist *h, const roost_monitor_opts_t *o, const roost_counts_t *c) {
    int n = h->n;
    bool site_started = false, site_active = false;
    for (int i = 0; i < h->nsites; i++) {
        mon_site *s = &h->ms[i];
        mon_series(h, n + 1, MON_SITE, i);
        s->growing = mon_growing(h->seq, n);
        s->rise = mon_rise(h->seq, n + 1);
        site_active |= s->ep.active;
        site_started |= mon_episode_step(&s->ep, s->growing, n);
    }
    mon_series(h, n + 1, MON_TOTAL, 0);
    bool total_started = mon_episode_step(&h->total_ep, mon_growing(h->seq, n), n);
    if (!site_started && !(total_started && !site_active)) return;

    /* Name the growing sites, biggest rise first; when only the total grew,
     * the sites that rose most. Either way they join the episode. */
    int named[MON_NAMED], nnamed = 0;
    for (int i = 0; i < h->nsites; i++) h->ms[i].key = h->ms[i].growing ? h->ms[i].rise : 0;
    nnamed = mon_top(mon_site_keys(h), sizeof h->ms[0], h->nsites, named, MON_NAMED);
    if (!nnamed) {
        for (int i = 0; i < h->nsites; i++) h->ms[i].key = h->ms[i].rise;
        nnamed = mon_top(mon_site_keys(h), sizeof h->ms[0], h->nsites, named, MON_NAMED);
    }
    for (int i = 0; i < nnamed; i++) h->ms[named[i]].ep = (mon_episode){.active = true};
    mon_alert(h, o, ROOST_ALERT_GROWTH, c, n + 1, named, nnamed);
}

/* One sample: read the counts, log them, check the alerts. Everything read
 * from the runtime is read first, so an alert hook that stops the monitor
 * and shuts the runtime down leaves nothing below touching freed workers. */
static void mon_sample(mon_hist *h, const roost_monitor_opts_t *o, bool *armed) {
    roost_counts_t c;
    roost_counts(&c);
    int ns = roost_sites(NULL, 0);
    if (ns > h->site_cap) mon_sites_grow(h, ns);
    if (ns > h->site_cap) ns = h->site_cap;
    if (ns > 0) {
        int got = roost_sites(h->info, ns);
        if (got < ns) ns = got;
    }
    if (ns > h->nsites) h->nsites = ns;

    size_t S = (size_t)h->n + 1, slot = (size_t)(h->k % S);
    h->total[slot] = c.alive;
    memcpy(&h->reason[slot * ROOST_WAIT__COUNT], c.by_reason, sizeof c.by_reason);
    for (int i = 0; i < ns; i++)
        h->site[(size_t)i * S + slot] = h->info[i].alive > INT32_MAX ? INT32_MAX : (int32_t)h->info[i].alive;
    h->k++;
    int m = h->k < S ? (int)h->k : (int)S; /* samples in the span so far */

    if (o->log_fd >= 0) mon_log_counts(o->log_fd, &c);

    if (o->threshold > 0 && c.alive < o->threshold) {
        *armed = true;
    } else if (o->threshold > 0 && *armed) {
        *armed = false;
        /* Name the sites holding the most tasks, with their rise. */
        int named[MON_NAMED];
        for (int i = 0; i < h->nsites; i++) {
            mon_series(h, m, MON_SITE, i);
            h->ms[i].rise = mon_rise(h->seq, m);
            h->ms[i].key = h->info[i].alive;
        }
        int nnamed = mon_top(mon_site_keys(h), sizeof h->ms[0], h->nsites, named, MON_NAMED);
        mon_alert(h, o, ROOST_ALERT_THRESHOLD, &c, m, named, nnamed);
    }

    if (o->window > 0 && (size_t)m == S) mon_check_growth(h, o, &c);
}

/* ------------------------------------------------------------ the thread */

static void mon_wait_until(int64_t when) {
    struct timespec ts = {.tv_sec = (time_t)(when / ROOST_S), .tv_nsec = (long)(when % ROOST_S)};
    roost__scrub_stack();
    ROOST_IDLE(pthread_cond_timedwait(&monitor.cond, &monitor.lock, &ts));
}

static void *mon_main(void *arg) {
    mon_on_thread = true;
    mon_hist *h = arg, *old = NULL;
    roost_monitor_opts_t o = {0};
    uint64_t gen = 0;
    bool armed = true; /* the threshold alert may fire */
    int64_t next = 0;  /* when the next sample is due */
    pthread_mutex_lock(&monitor.lock);
    while (!monitor.stop) {
        if (monitor.gen != gen) {
            /* (Re)configured. Same interval and window: the history and the
             * schedule carry on, and an unchanged threshold that has fired
             * stays quiet. Otherwise a fresh history, sampled from now. */
            if (gen == 0 || monitor.opts.threshold != o.threshold) armed = true;
            o = monitor.opts, gen = monitor.gen;
            if (monitor.pending) old = h, h = monitor.pending, monitor.pending = NULL, next = 0;
            if (old) {
                pthread_mutex_unlock(&monitor.lock);
                mon_hist_free(old);
                old = NULL;
                pthread_mutex_lock(&monitor.lock);
                continue;
            }
        }
        int64_t now = roost_now();
        if (now < next) {
            mon_wait_until(next);
            continue;
        }
        /* Keep the cadence; after falling behind (a slow hook), start
         * again from now. Saturating: an interval may be huge. */
        int64_t base = next && next > now - o.interval ? next : now;
        next = roost__add_sat(base, o.interval);
        pthread_mutex_unlock(&monitor.lock);
        mon_sample(h, &o, &armed);
        pthread_mutex_lock(&monitor.lock);
    }
    pthread_mutex_unlock(&monitor.lock);
    mon_hist_free(h);
    return NULL;
}

/* Join a thread asked to stop. With ctl held, monitor.lock not. */
static void mon_reap(void) {
    pthread_join(monitor.tid, NULL);
    pthread_mutex_lock(&monitor.lock);
    monitor.thread = false;
    mon_hist *p = monitor.pending;
    monitor.pending = NULL;
    pthread_mutex_unlock(&monitor.lock);
    mon_hist_free(p);
}

/* Hand a configuration to the running thread, with monitor.lock held. Returns
 * the history not needed (h itself when the geometry did not change, or a
 * pending one it replaces), to free after unlocking. */
static mon_hist *mon_install(const roost_monitor_opts_t *o, mon_hist *h) {
    mon_hist *unused = h;
    if (o->interval != monitor.opts.interval || o->window != monitor.opts.window) {
        unused = monitor.pending;
        monitor.pending = h;
    }
    monitor.opts = *o;
    monitor.gen++;
    monitor.stop = false;
    pthread_cond_signal(&monitor.cond);
    return unused;
}

int roost_monitor_start(const roost_monitor_opts_t *opts) {
    roost_monitor_opts_t o = opts ? *opts : (roost_monitor_opts_t){0};
    if (o.interval < 0 || o.threshold < 0 || o.window < 0) return ROOST_EINVAL;
    if (!o.interval) o.interval = ROOST_S;
    if (o.interval < ROOST_MS) return ROOST_EINVAL;
    if (o.log_fd == 0) o.log_fd = 2;
    if (o.log_fd < 0) o.log_fd = -1;
    int64_t steps = o.window / o.interval + (o.window % o.interval != 0);
    if (steps > MON_MAX_STEPS) return ROOST_ERANGE;
    mon_hist *h = mon_hist_new(o.interval, o.window, steps < MON_MIN_STEPS ? MON_MIN_STEPS : (int)steps);
    if (!h) return ROOST_ENOMEM;

    if (mon_on_thread) { /* from the alert hook: the thread is this one */
        pthread_mutex_lock(&monitor.lock);
        mon_hist *unused = mon_install(&o, h);
        pthread_mutex_unlock(&monitor.lock);
        mon_hist_free(unused);
        return ROOST_OK;
    }
    int rc = ROOST_OK;
    pthread_mutex_lock(&monitor.ctl);
    if (!monitor.cond_ready) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* roost_now()'s clock */
        pthread_cond_init(&monitor.cond, &ca);
        pthread_condattr_destroy(&ca);
        monitor.cond_ready = true;
    }
    pthread_mutex_lock(&monitor.lock);
    if (monitor.thread && monitor.stop) { /* stopped from its alert hook, not joined yet */
        pthread_mutex_unlock(&monitor.lock);
        mon_reap();
        pthread_mutex_lock(&monitor.lock);
    }
    mon_hist *unused = NULL;
    if (monitor.thread) {
        unused = mon_install(&o, h);
    } else {
        monitor.opts = o;
        monitor.gen++;
        monitor.stop = false;
        /* All signals blocked on the monitor thread: the process's signals
         * go to the program's threads, and a write to a closed pipe fails
         * with EPIPE instead of killing the process. */
        sigset_t all, prev;
        sigfillset(&all);
        sigdelset(&all, ROOST_STOP_SIGNAL); /* the reachability proof's stop (reach_stop.c) */
        pthread_sigmask(SIG_SETMASK, &all, &prev);
        if (pthread_create(&monitor.tid, NULL, mon_main, h) == 0) {
            monitor.thread = true;
        } else {
            unused = h;
            rc = ROOST_ENOMEM;
        }
        pthread_sigmask(SIG_SETMASK, &prev, NULL);
    }
    pthread_mutex_unlock(&monitor.lock);
    pthread_mutex_unlock(&monitor.ctl);
    mon_hist_free(unused);
    return rc;
}

void roost_monitor_stop(void) {
    if (mon_on_thread) { /* from the alert hook: exit once it returns; joined later */
        pthread_mutex_lock(&monitor.lock);
        monitor.stop = true;
        pthread_mutex_unlock(&monitor.lock);
        return;
    }
    pthread_mutex_lock(&monitor.ctl);
    pthread_mutex_lock(&monitor.lock);
    bool running = monitor.thread;
    if (running) {
        monitor.stop = true;
        pthread_cond_signal(&monitor.cond);
    }
    pthread_mutex_unlock(&monitor.lock);
    if (running) mon_reap();
    pthread_mutex_unlock(&monitor.ctl);
}
