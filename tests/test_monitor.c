/* test_monitor.c - the monitor (src/monitor.c): the count line, the
 * threshold and growth alerts, stop, start and reconfiguration.
 *
 * The monitor samples on its own clock, so the tests count its samples by
 * the lines it logs to a pipe (each line is one sample) rather than by
 * sleeping for a guessed time. Intervals are short (5 ms) so the suite stays
 * quick; deadlines are scaled by check_slack(). */
#include "check.h"
#include "roost_obs.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>

#define IVL (5 * ROOST_MS)

static int64_t deadline(void) { return roost_now() + 10 * ROOST_S * check_slack(); }

/* ------------------------------------------------------------ a log pipe */

typedef struct {
    int r, w;
    char buf[1 << 16]; /* what was read since the last pipe_clear */
    size_t len;
} logpipe;

/* Two of them, static: 64 KiB is more than a task's stack. */
static logpipe log1, log2;

static void pipe_open(logpipe *p) {
    int fds[2];
    /* Non-blocking both ways: the test never waits in read(), and a full
     * pipe loses lines instead of blocking the monitor. */
    CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    p->r = fds[0], p->w = fds[1], p->len = 0;
}

static void pipe_close(logpipe *p) {
    close(p->r);
    close(p->w);
}

/* Read what is there (keeping the newest text when the buffer fills). */
static void pipe_read(logpipe *p) {
    for (;;) {
        if (p->len > sizeof p->buf - 4096) {
            memmove(p->buf, p->buf + 32768, p->len - 32768);
            p->len -= 32768;
        }
        ssize_t n = read(p->r, p->buf + p->len, sizeof p->buf - 1 - p->len);
        if (n <= 0) break;
        p->len += (size_t)n;
    }
    p->buf[p->len] = 0;
}

static void pipe_clear(logpipe *p) {
    pipe_read(p);
    p->len = 0;
    p->buf[0] = 0;
}

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *q = s; (q = strstr(q, needle)); q += strlen(needle)) n++;
    return n;
}

/* Wait until k more count lines (samples) arrived; the earlier text is
 * dropped. */
static void wait_samples(logpipe *p, int k) {
    pipe_clear(p);
    int64_t end = deadline();
    while (count_str(p->buf, "roost: tasks alive=") < k) {
        CHECK_MSG(roost_now() < end, "waited for %d samples, got %d", k,
                  count_str(p->buf, "roost: tasks alive="));
        roost_sleep(NULL, ROOST_MS);
        pipe_read(p);
    }
}

/* ------------------------------------------------------------ an alert recorder */

static struct {
    pthread_mutex_t lock;
    int n[3];              /* alerts by kind */
    roost_alert_t last[3]; /* the latest of each kind */
    char text[3][1024];
    bool stop_in_hook; /* the hook stops the monitor */
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_alert(const roost_alert_t *a, void *arg) {
    CHECK_PTR(arg, &rec);
    CHECK(a->kind == ROOST_ALERT_THRESHOLD || a->kind == ROOST_ALERT_GROWTH);
    CHECK(a->text != NULL && strchr(a->text, '\n') == NULL);
    pthread_mutex_lock(&rec.lock);
    rec.n[a->kind]++;
    rec.last[a->kind] = *a;
    snprintf(rec.text[a->kind], sizeof rec.text[0], "%s", a->text);
    rec.last[a->kind].text = rec.text[a->kind];
    bool stop = rec.stop_in_hook;
    pthread_mutex_unlock(&rec.lock);
    if (stop) roost_monitor_stop();
}

static void rec_reset(void) {
    pthread_mutex_lock(&rec.lock);
    memset(rec.n, 0, sizeof rec.n);
    rec.stop_in_hook = false;
    pthread_mutex_unlock(&rec.lock);
}

static int rec_count(int kind) {
    pthread_mutex_lock(&rec.lock);
    int n = rec.n[kind];
    pthread_mutex_unlock(&rec.lock);
    return n;
}

static roost_alert_t rec_last(int kind) {
    pthread_mutex_lock(&rec.lock);
    roost_alert_t a = rec.last[kind];
    pthread_mutex_unlock(&rec.lock);
    return a;
}

static void wait_alerts(int kind, int n) {
    int64_t end = deadline();
    while (rec_count(kind) < n) {
        CHECK_MSG(roost_now() < end, "waited for %d alert(s) of kind %d, got %d", n, kind, rec_count(kind));
        roost_sleep(NULL, ROOST_MS);
    }
}

/* ------------------------------------------------------------ tasks */

/* Parked until the channel gives it a value or is closed. */
static void receiver(void *arg) {
    int v;
    int rc = roost_chan_recv(NULL, arg, &v);
    CHECK(rc == ROOST_OK || rc == ROOST_ECLOSED);
}

/* Parked on a send nobody receives: the leak, until the channel closes. */
static void stuck_sender(void *arg) {
    int v = 1;
    CHECK_ERR(roost_chan_send(NULL, arg, &v), ROOST_ECLOSED);
}

static void short_lived(void *arg) { roost_sleep(NULL, (int64_t)(intptr_t)arg * ROOST_MS); }

static void spawn_receivers(roost_chan_t *ch, int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(receiver, ch));
}

static int leaky_line;
static void leaky_spawn(roost_chan_t *ch) {
    leaky_line = __LINE__ + 1; /* the next line is the site */
    CHECK_OK(roost_go(stuck_sender, ch));
}

static int64_t alive_now(void) {
    roost_counts_t c;
    roost_counts(&c);
    return c.alive;
}

static void wait_alive(int64_t n) {
    int64_t end = deadline();
    while (alive_now() != n) {
        CHECK_MSG(roost_now() < end, "alive %lld, waiting for %lld", (long long)alive_now(), (long long)n);
        roost_sleep(NULL, ROOST_MS);
    }
}

/* ------------------------------------------------------------ tests */

/* One line per sample, Go's NumGoroutine() on a timer, with the parked
 * tasks by reason; nothing after stop. Alerts without a hook go to the log. */
static void t_log_line(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    spawn_receivers(ch, 3);
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = pp->w}));
    int64_t end = deadline();
    const char *line;
    while (!(line = strstr(pp->buf, "chan receive 3"))) {
        CHECK_MSG(roost_now() < end, "no line with the receivers: '%s'", pp->buf);
        roost_sleep(NULL, ROOST_MS);
        pipe_read(pp);
    }
    while (line > pp->buf && line[-1] != '\n') line--;
    long long alive, running, runnable, parked, created, exited;
    CHECK_EQ(sscanf(line, "roost: tasks alive=%lld running=%lld runnable=%lld parked=%lld", &alive, &running,
                    &runnable, &parked),
             4);
    CHECK_GE(alive, 4); /* the receivers and this task */
    CHECK_EQ(alive, running + runnable + parked);
    CHECK_GE(parked, 3);
    const char *tail = strstr(line, ") created=");
    CHECK(tail != NULL);
    CHECK_EQ(sscanf(tail, ") created=%lld exited=%lld", &created, &exited), 2);
    CHECK_EQ(created - exited, alive);
    CHECK(strchr(line, '\n') != NULL);

    roost_monitor_stop();
    roost_monitor_stop(); /* a no-op */
    pipe_clear(pp);
    roost_sleep(NULL, 10 * IVL);
    pipe_read(pp);
    CHECK_MSG(pp->len == 0, "a line after stop: '%s'", pp->buf);

    /* No hook: the alert is a line on the log, once. */
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = pp->w, .threshold = 3}));
    end = deadline();
    while (!strstr(pp->buf, "roost: alert: ")) {
        CHECK_MSG(roost_now() < end, "no alert line: '%s'", pp->buf);
        roost_sleep(NULL, ROOST_MS);
        pipe_read(pp);
    }
    CHECK(strstr(pp->buf, ">= threshold 3") != NULL);
    wait_samples(pp, 10);
    roost_monitor_stop();
    CHECK_EQ(count_str(pp->buf, "roost: alert:"), 0); /* once: the 10 samples after it have none */

    CHECK_OK(roost_chan_close(ch));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(ch);
    pipe_close(pp);
}

static void thr_spawn(roost_chan_t *ch, int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(receiver, ch));
}

/* The threshold alert fires when the count reaches it, once, and again only
 * after the count went below it. */
static void t_threshold(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    rec_reset();
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    int64_t base = alive_now(), thr = base + 10;
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .threshold = thr, .alert = on_alert, .alert_arg = &rec}));
    wait_samples(pp, 3);
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 0);

    thr_spawn(ch, 10);
    wait_alerts(ROOST_ALERT_THRESHOLD, 1);
    roost_alert_t a = rec_last(ROOST_ALERT_THRESHOLD);
    printf("  %s\n", a.text);
    CHECK_EQ(a.kind, ROOST_ALERT_THRESHOLD);
    CHECK_GE(a.alive, thr);
    CHECK(a.site_func && strcmp(a.site_func, "thr_spawn") == 0);
    CHECK(strstr(a.site_file, "test_monitor.c") != NULL);
    CHECK_EQ(a.reason, ROOST_WAIT_CHAN_RECV);
    CHECK(strstr(a.text, "threshold") && strstr(a.text, "thr_spawn") && strstr(a.text, "chan receive"));

    wait_samples(pp, 10);
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 1); /* once while above */

    for (int i = 0; i < 5; i++) CHECK_OK(roost_chan_send(NULL, ch, &i));
    wait_alive(base + 5);
    wait_samples(pp, 3); /* the monitor saw it below */
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 1);

    thr_spawn(ch, 5);
    wait_alerts(ROOST_ALERT_THRESHOLD, 2); /* crossed again */
    wait_samples(pp, 5);
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 2);
    CHECK_EQ(rec_count(ROOST_ALERT_GROWTH), 0); /* growth is off */

    roost_monitor_stop();
    CHECK_OK(roost_chan_close(ch));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(ch);
    pipe_close(pp);
}

/* The story's leak: one more task every 10 ms, parked forever on a send. The
 * growth alert fires once, naming the spawn site and "chan send". */
static void t_growth_leaky(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    rec_reset();
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    const int64_t window = 20 * IVL;
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .window = window, .alert = on_alert, .alert_arg = &rec}));
    int leaked = 0;
    int64_t end = deadline();
    while (rec_count(ROOST_ALERT_GROWTH) == 0) {
        CHECK_MSG(roost_now() < end && leaked < 1000, "no growth alert after %d leaked tasks", leaked);
        leaky_spawn(ch);
        leaked++;
        roost_sleep(NULL, 10 * ROOST_MS);
        pipe_clear(pp);
    }
    roost_alert_t a = rec_last(ROOST_ALERT_GROWTH);
    printf("  %s\n", a.text);
    CHECK_EQ(a.kind, ROOST_ALERT_GROWTH);
    CHECK_GE(a.grew_by, 4);
    CHECK(a.site_func && strcmp(a.site_func, "leaky_spawn") == 0);
    CHECK(strstr(a.site_file, "test_monitor.c") != NULL);
    CHECK_EQ(a.site_line, leaky_line);
    CHECK_GE(a.site_grew_by, 4);
    CHECK_EQ(a.reason, ROOST_WAIT_CHAN_SEND);
    CHECK_GE(a.reason_grew_by, 4);
    char where[64];
    snprintf(where, sizeof where, "test_monitor.c:%d leaky_spawn +", leaky_line);
    CHECK_MSG(strstr(a.text, where) && strstr(a.text, "chan send +"), "alert text: %s", a.text);
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 0);

    /* It keeps leaking for two more windows: the same episode, no new alert. */
    for (int i = 0; i < 2 * (int)(window / (10 * ROOST_MS)); i++) {
        leaky_spawn(ch);
        roost_sleep(NULL, 10 * ROOST_MS);
        pipe_clear(pp);
    }
    CHECK_EQ(rec_count(ROOST_ALERT_GROWTH), 1);

    roost_monitor_stop();
    CHECK_OK(roost_chan_close(ch)); /* every sender gets ROOST_ECLOSED */
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(ch);
    pipe_close(pp);
}

/* Tasks that finish: the count goes up and down but not on, no alert. */
static void t_growth_flat(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    rec_reset();
    const int64_t window = 20 * IVL;
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .window = window, .alert = on_alert, .alert_arg = &rec}));
    int samples = 0, spawned = 0;
    int64_t end = deadline();
    while (samples < 4 * 21) { /* four windows' worth */
        CHECK_MSG(roost_now() < end, "only %d samples", samples);
        CHECK_OK(roost_go(short_lived, (void *)(intptr_t)(spawned++ % 4)));
        roost_sleep(NULL, ROOST_MS);
        pipe_read(pp);
        samples += count_str(pp->buf, "roost: tasks alive=");
        pp->len = 0, pp->buf[0] = 0;
    }
    roost_monitor_stop();
    CHECK_EQ(rec_count(ROOST_ALERT_GROWTH), 0);
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    pipe_close(pp);
}

static void pool_spawn(roost_chan_t *ch, int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(receiver, ch));
}

/* One site grows while the total stays flat (a pool of other tasks drains
 * as fast): the alert names that site. */
static void t_growth_one_site(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    rec_reset();
    roost_chan_t *leak, *pool;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &leak));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &pool));
    const int npool = 200;
    pool_spawn(pool, npool);
    int64_t end = deadline();
    for (roost_counts_t c; roost_counts(&c), c.by_reason[ROOST_WAIT_CHAN_RECV] < npool;) {
        CHECK_MSG(roost_now() < end, "the pool did not park");
        roost_sleep(NULL, ROOST_MS); /* parked before the window opens: the pool is not growth */
    }
    const int64_t window = 20 * IVL;
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .window = window, .alert = on_alert, .alert_arg = &rec}));
    int i = 0;
    end = deadline();
    while (rec_count(ROOST_ALERT_GROWTH) == 0) {
        CHECK_MSG(roost_now() < end && i < npool, "no growth alert after %d steps", i);
        leaky_spawn(leak);
        CHECK_OK(roost_chan_send(NULL, pool, &i)); /* one pool task leaves */
        i++;
        roost_sleep(NULL, 10 * ROOST_MS);
        pipe_clear(pp);
    }
    roost_alert_t a = rec_last(ROOST_ALERT_GROWTH);
    printf("  %s\n", a.text);
    CHECK(a.site_func && strcmp(a.site_func, "leaky_spawn") == 0);
    CHECK_EQ(a.reason, ROOST_WAIT_CHAN_SEND);
    CHECK_LE(a.grew_by, 3); /* the total did not grow */
    roost_monitor_stop();
    CHECK_OK(roost_chan_close(leak));
    CHECK_OK(roost_chan_close(pool));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(leak);
    roost_chan_unref(pool);
    pipe_close(pp);
}

/* Start, reconfigure (the log moves to another fd), bad options leave the
 * running monitor alone, stop, stop again, start again. */
static void t_reconfigure(void *unused) {
    logpipe *q1 = &log1, *q2 = &log2;
    pipe_open(q1);
    pipe_open(q2);
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = q1->w}));
    wait_samples(q1, 2);

    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = q2->w}));
    wait_samples(q2, 2);
    pipe_clear(q1); /* a sample under way during the change may still have gone to p1 */
    wait_samples(q2, 3);
    pipe_read(q1);
    CHECK_MSG(q1->len == 0, "lines on the old fd: '%s'", q1->buf);

    CHECK_ERR(roost_monitor_start(&(roost_monitor_opts_t){.interval = -1}), ROOST_EINVAL);
    CHECK_ERR(roost_monitor_start(&(roost_monitor_opts_t){.interval = ROOST_US}), ROOST_EINVAL);
    CHECK_ERR(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .threshold = -1}), ROOST_EINVAL);
    CHECK_ERR(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .window = -IVL}), ROOST_EINVAL);
    CHECK_ERR(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .window = 5000 * IVL}),
              ROOST_ERANGE);
    wait_samples(q2, 2); /* still running as it was */

    /* A new interval and window: a fresh history, still logging. */
    CHECK_OK(roost_monitor_start(
        &(roost_monitor_opts_t){.interval = 2 * IVL, .log_fd = q2->w, .window = 8 * IVL}));
    wait_samples(q2, 3);

    roost_monitor_stop();
    roost_monitor_stop();
    pipe_clear(q2);
    roost_sleep(NULL, 10 * IVL);
    pipe_read(q2);
    CHECK_EQ(q2->len, 0);

    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = q1->w}));
    wait_samples(q1, 2);
    roost_monitor_stop();

    /* NULL: the defaults, a line a second on stderr (one line here). */
    CHECK_OK(roost_monitor_start(NULL));
    roost_monitor_stop();
    pipe_close(q1);
    pipe_close(q2);
}

/* The hook may stop the monitor; a later start joins that thread and runs
 * a new one. */
static void t_stop_from_hook(void *unused) {
    logpipe *pp = &log1;
    pipe_open(pp);
    rec_reset();
    pthread_mutex_lock(&rec.lock);
    rec.stop_in_hook = true;
    pthread_mutex_unlock(&rec.lock);
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .threshold = 1, .alert = on_alert, .alert_arg = &rec}));
    wait_alerts(ROOST_ALERT_THRESHOLD, 1);
    roost_sleep(NULL, 2 * IVL);
    pipe_clear(pp);
    roost_sleep(NULL, 10 * IVL);
    pipe_read(pp);
    CHECK_MSG(pp->len == 0, "lines after the hook stopped it: '%s'", pp->buf);

    rec_reset();
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){
        .interval = IVL, .log_fd = pp->w, .threshold = 1, .alert = on_alert, .alert_arg = &rec}));
    wait_alerts(ROOST_ALERT_THRESHOLD, 1); /* a fresh monitor: armed again */
    wait_samples(pp, 3);
    CHECK_EQ(rec_count(ROOST_ALERT_THRESHOLD), 1);
    roost_monitor_stop();
    pipe_close(pp);
}

int main(void) {
    check_init_workers(2);
    RUN(t_log_line);
    RUN(t_threshold);
    RUN(t_growth_leaky);
    RUN(t_growth_flat);
    RUN(t_growth_one_site);
    RUN(t_reconfigure);
    RUN(t_stop_from_hook);
    check_no_leaks();
    /* roost_shutdown stops a running monitor; stopping again is a no-op. */
    CHECK_OK(roost_monitor_start(&(roost_monitor_opts_t){.interval = IVL, .log_fd = -1}));
    CHECK_OK(roost_shutdown());
    roost_monitor_stop();
    printf("ok shutdown stops the monitor\n");
    return 0;
}
