/* metrics.c - the runtime's figures in Prometheus text exposition format
 * 0.0.4 (what /metrics serves, and roost_metrics_text).
 *
 * The one idea: a scrape reads counters that exist anyway (registry.c's
 * per-worker counts, the sites' counters, the leak detector's totals, the
 * scheduler's and the blocking pool's figures), so it costs O(workers x
 * sites) loads and no snapshot, whatever the number of tasks: 100,000
 * parked tasks cost a scrape nothing more than ten do.
 *
 * Naming follows Prometheus' conventions: a roost_ prefix, _total on
 * counters, base units (bytes, seconds), and a label per dimension (state,
 * reason, site). Label cardinality is bounded: the wait reasons are a
 * fixed set, and the spawn sites are cut to the METRICS_TOP_SITES with the
 * most tasks alive, the others summed under site="other", so a program
 * with thousands of spawn sites makes no more series than one with twenty.
 * Every wait reason is written, zero or not, so series do not come and go.
 */
#include "internal.h"
#include "buf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_TOP_SITES 20

/* ------------------------------------------------------------ exposition */

/* A label value: backslash, double quote and newline escaped. */
static void metrics_label(roost__buf *b, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\')
            roost__buf_put(b, "\\\\", 2);
        else if (*p == '"')
            roost__buf_put(b, "\\\"", 2);
        else if (*p == '\n')
            roost__buf_put(b, "\\n", 2);
        else
            roost__buf_put(b, p, 1);
    }
}

static void metrics_head(roost__buf *b, const char *name, const char *type, const char *help) {
    roost__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_one(roost__buf *b, const char *name, const char *type, const char *help, double v) {
    metrics_head(b, name, type, help);
    roost__buf_printf(b, "%s %.17g\n", name, v);
}

static int metrics_site_cmp(const void *a, const void *b) {
    const roost_site_info_t *x = a, *y = b;
    if (x->alive != y->alive) return x->alive > y->alive ? -1 : 1;
    if (x->created != y->created) return x->created > y->created ? -1 : 1;
    return 0;
}

/* The process's resident memory (bytes) and CPU time (seconds), from
 * /proc/self/stat; false when it cannot be read. */
static bool metrics_process(double *rss, double *cpu) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return false;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return false;
    unsigned long utime = 0, stime = 0;
    long rss_pages = 0;
    /* Fields from 3 (state) on: utime is 14, stime 15, rss 24. */
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            utime = strtoul(tok, NULL, 10);
        else if (field == 15)
            stime = strtoul(tok, NULL, 10);
        else if (field == 24) {
            rss_pages = strtol(tok, NULL, 10);
            break;
        }
    }
    if (field != 24) return false;
    long hz = sysconf(_SC_CLK_TCK);
    *cpu = (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
    *rss = (double)rss_pages * (double)sysconf(_SC_PAGESIZE);
    return true;
}

int roost__metrics(roost__buf *b) {
    roost_counts_t c;
    roost_counts(&c);
    metrics_head(b, "roost_tasks", "gauge", "Tasks alive, by state.");
    roost__buf_printf(b,
                      "roost_tasks{state=\"running\"} %lld\nroost_tasks{state=\"runnable\"} %lld\n"
                      "roost_tasks{state=\"parked\"} %lld\n",
                      (long long)c.running, (long long)c.runnable, (long long)c.parked);
    metrics_head(b, "roost_tasks_parked", "gauge", "Parked tasks, by wait reason.");
    for (int r = 1; r < ROOST_WAIT__COUNT; r++) {
        roost__buf_printf(b, "roost_tasks_parked{reason=\"");
        metrics_label(b, roost_wait_reason_name(r));
        roost__buf_printf(b, "\"} %lld\n", (long long)c.by_reason[r]);
    }
    metrics_one(b, "roost_tasks_created_total", "counter", "Tasks spawned since start.", (double)c.created);
    metrics_one(b, "roost_tasks_exited_total", "counter", "Tasks that returned since start.",
                (double)c.exited);

    /* Spawn sites: the top ones by tasks alive, the rest summed. */
    int ns = roost_sites(NULL, 0);
    roost_site_info_t *sites = ns > 0 ? malloc((size_t)ns * sizeof *sites) : NULL;
    if (ns > 0 && !sites) return ROOST_ENOMEM;
    if (sites) {
        int got = roost_sites(sites, ns);
        ns = got < ns ? got : ns;
        qsort(sites, (size_t)ns, sizeof *sites, metrics_site_cmp);
    }
    metrics_head(b, "roost_site_tasks", "gauge",
                 "Tasks alive by spawn site: the 20 sites with the most, the others summed under "
                 "site=\"other\".");
    int64_t other = 0;
    for (int i = 0; i < ns; i++) {
        if (i >= METRICS_TOP_SITES) {
            other += sites[i].alive;
            continue;
        }
        roost__buf_printf(b, "roost_site_tasks{site=\"");
        metrics_label(b, sites[i].file);
        roost__buf_printf(b, ":%d\",func=\"", sites[i].line);
        metrics_label(b, sites[i].func);
        roost__buf_printf(b, "\"} %lld\n", (long long)sites[i].alive);
    }
    roost__buf_printf(b, "roost_site_tasks{site=\"other\",func=\"\"} %lld\n", (long long)other);
    free(sites);

    roost_leak_stats_t ls;
    roost_leak_stats(&ls);
    metrics_one(b, "roost_leaks_proved_total", "counter", "Tasks the leak detector proved leaked.",
                (double)ls.proved);
    metrics_one(b, "roost_leaks_suspected_total", "counter",
                "Tasks reported as leak suspects (parked too long, nothing proved).", (double)ls.suspects);
    metrics_one(b, "roost_leaks_woken_total", "counter",
                "Leaked tasks the wake policy woke with ROOST_ELEAKED (leaks averted).", (double)ls.woken);

    roost__sched_figures_t sf;
    roost__sched_figures(&sf);
    metrics_one(b, "roost_workers", "gauge", "Worker threads asked for (ROOST_WORKERS).", sf.workers);
    metrics_one(b, "roost_worker_threads", "gauge", "Worker threads started, spares included.", sf.started);
    metrics_one(b, "roost_workers_idle", "gauge", "Worker threads asleep for want of work.", sf.idle);
    metrics_one(b, "roost_workers_blocked", "gauge",
                "Workers running one task without a switch for longer than ROOST_BLOCKED_MS.", sf.blocked);
    metrics_one(b, "roost_sched_switches_total", "counter", "Task switches.", (double)sf.switches);
    metrics_one(b, "roost_sched_steals_total", "counter", "Tasks a worker took from another's queue.",
                (double)sf.steals);
    metrics_one(b, "roost_sched_stalls_total", "counter",
                "Times a worker was seen blocked (a blocking call or a long computation in a task).",
                (double)sf.stalls);

    roost__offload_figures_t of;
    roost__offload_figures(&of);
    metrics_one(b, "roost_blocking_pool_threads", "gauge", "Blocking-pool threads alive.", of.threads);
    metrics_one(b, "roost_blocking_pool_idle_threads", "gauge", "Blocking-pool threads waiting for a call.",
                of.idle);
    metrics_one(b, "roost_blocking_pool_max_threads", "gauge", "The blocking pool's thread limit.", of.max);
    metrics_one(b, "roost_blocking_pool_queued_calls", "gauge", "Calls waiting for a blocking-pool thread.",
                of.queued);
    metrics_one(b, "roost_blocking_pool_calls_total", "counter", "Calls handed to the blocking pool.",
                (double)of.calls);

    double rss, cpu;
    if (metrics_process(&rss, &cpu)) {
        metrics_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
        metrics_one(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
                    cpu);
    }
    metrics_head(b, "roost_build_info", "gauge", "The roost library's version, as a label.");
    roost__buf_printf(b, "roost_build_info{version=\"%d.%d.%d\"} 1\n", ROOST_VERSION_MAJOR,
                      ROOST_VERSION_MINOR, ROOST_VERSION_PATCH);
    return b->oom ? ROOST_ENOMEM : ROOST_OK;
}

int roost_metrics_text(char **buf, size_t *len) {
    if (!buf || !len) return ROOST_EINVAL;
    roost__buf b = {0};
    int rc = roost__metrics(&b);
    if (!rc && !roost__buf_str(&b)) rc = ROOST_ENOMEM;
    if (rc) {
        roost__buf_free(&b);
        return rc;
    }
    *buf = b.p, *len = b.len;
    return ROOST_OK;
}
