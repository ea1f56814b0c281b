/* test_obs.c - live counts, spawn sites, labels and task snapshots
 * (src/registry.c). */
#include "check.h"
#include "roost_obs.h"
#include <stdatomic.h>
#include <stdbool.h>

static roost_site_info_t *find_site(roost_site_info_t *v, int n, const char *func) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].func, func) == 0) return &v[i];
    return NULL;
}

static void blocked_sender(void *arg) {
    roost_chan_t *ch = arg;
    int v = 1;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
}

static void blocked_receiver(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    CHECK_OK(roost_chan_recv(NULL, ch, &v));
}

static void spawn_senders(roost_chan_t *ch, int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(blocked_sender, ch));
}

/* Counts by reason and by site follow tasks parking and leaving. */
static void t_counts(void *unused) {
    const int n = 50;
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    roost_counts_t c0, c;
    roost_counts(&c0);
    spawn_senders(ch, n);
    CHECK_OK(roost_go(blocked_receiver, ch)); /* takes one sender's value */
    /* Wait for the receiver to finish and the n-1 remaining senders to
     * park (until the receiver runs, all n may be parked). */
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while ((c.by_reason[ROOST_WAIT_CHAN_SEND] != n - 1 || c.alive != c0.alive + n - 1) &&
             roost_now() < end);
    CHECK_EQ(c.by_reason[ROOST_WAIT_CHAN_SEND], n - 1);
    CHECK_EQ(c.alive, c0.alive + n - 1);
    CHECK_EQ(c.created, c0.created + n + 1);
    CHECK_EQ(c.alive, c.running + c.runnable + c.parked);
    CHECK_GE(c.running, 1); /* us */

    roost_site_info_t sites[64];
    int ns = roost_sites(sites, 64);
    CHECK_GE(ns, 2);
    CHECK_EQ(roost_sites(NULL, 5), ns); /* NULL: the count alone */
    roost_site_info_t *s = find_site(sites, ns < 64 ? ns : 64, "spawn_senders");
    CHECK(s != NULL);
    CHECK_EQ(s->alive, n - 1);
    CHECK_EQ(s->created, n);
    CHECK(strstr(s->file, "test_obs.c") != NULL);

    for (int i = 0; i < n - 1; i++) CHECK_OK(roost_chan_recv(NULL, ch, NULL));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S));
    roost_counts(&c);
    CHECK_EQ(c.by_reason[ROOST_WAIT_CHAN_SEND], 0);
    ns = roost_sites(sites, 64);
    s = find_site(sites, ns < 64 ? ns : 64, "spawn_senders");
    CHECK_EQ(s->alive, 0);
    roost_chan_unref(ch);
}

static void labelled(void *arg) {
    roost_chan_t *ch = arg;
    CHECK_OK(roost_task_set_name("child"));
    CHECK_OK(roost_chan_recv(NULL, ch, NULL));
}

/* Labels are set, replaced, removed, inherited; snapshots carry them, the
 * wait reason and object, the park time and the stack. */
static void t_snapshot(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    CHECK_OK(roost_task_label("request", "r1"));
    CHECK_OK(roost_task_label("user", "u"));
    CHECK_OK(roost_task_label("user", "u2"));
    CHECK_OK(roost_task_label("gone", "x"));
    CHECK_OK(roost_task_label("gone", NULL));
    CHECK_OK(roost_task_label("c", "3"));
    CHECK_OK(roost_task_label("d", "4"));
    CHECK_ERR(roost_task_label("e", "5"), ROOST_ERANGE);
    CHECK_OK(roost_task_label("d", NULL));
    int64_t before = roost_now();
    CHECK_OK(roost_go(labelled, ch));
    roost_task_info_t *v = NULL;
    size_t n;
    roost_task_info_t *child = NULL, *me = NULL;
    int64_t after, end = roost_now() + 5 * ROOST_S * check_slack();
    do { /* until the child has named itself and parked (slow under emulation) */
        free(v);
        roost_sleep(NULL, 20 * ROOST_MS);
        after = roost_now();
        CHECK_OK(roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n));
        child = me = NULL;
        for (size_t i = 0; i < n; i++) {
            if (v[i].id == roost_task_id()) me = &v[i];
            if (v[i].name && strcmp(v[i].name, "child") == 0) child = &v[i];
        }
    } while (!(child && child->state == ROOST_TASK_PARKED) && roost_now() < end);
    CHECK(me != NULL && child != NULL);
    CHECK_EQ(me->state, ROOST_TASK_RUNNING);
    CHECK_EQ(me->nframes, 0);
    CHECK_EQ(child->state, ROOST_TASK_PARKED);
    CHECK_EQ(child->wait_reason, ROOST_WAIT_CHAN_RECV);
    CHECK_PTR(child->wait_obj, ch);
    CHECK_EQ(child->parent_id, roost_task_id());
    CHECK_EQ(child->nlabels, 3);
    CHECK(strcmp(child->labels[0][0], "request") == 0 && strcmp(child->labels[0][1], "r1") == 0);
    CHECK(strcmp(child->labels[1][1], "u2") == 0);
    CHECK(strcmp(child->labels[2][0], "c") == 0);
    CHECK(strcmp(child->func, "t_snapshot") == 0);
    /* Creation and park times come from a clock refreshed every ~2 ms
     * (ROOST_OBSERVE=1): they may lag the exact clock by that much. */
    int64_t lag = 10 * ROOST_MS * check_slack();
    CHECK_GE(child->created, before - lag);
    CHECK_LE(child->created, after + ROOST_MS);
    CHECK_GE(child->parked_at, child->created - lag);
    CHECK_LE(child->parked_at, after + ROOST_MS);
    /* The stack walk reaches the task's own function (not under ASan,
     * whose instrumented frames the walk does not follow past the park). */
#if defined(__SANITIZE_ADDRESS__)
    CHECK_GE(child->nframes, 1);
#else
    CHECK_GE(child->nframes, 2);
    bool found = false;
    for (int i = 0; i < child->nframes; i++) {
        uintptr_t pc = child->pcs[i];
        if (pc > (uintptr_t)labelled && pc < (uintptr_t)labelled + 256) found = true;
    }
    CHECK_MSG(found, "labelled() not on the child's stack (%d frames)", child->nframes);
#endif
    free(v);
    CHECK_OK(roost_chan_send(NULL, ch, &(int){1}));
    roost_chan_unref(ch);
}

/* Snapshots while tasks churn: never a torn or dead record. */
static atomic_bool churn_stop;
static void churner(void *arg) {
    roost_chan_t *ch = arg;
    while (!atomic_load(&churn_stop)) {
        int v = 0;
        if (roost_chan_send(NULL, ch, &v)) break;
        roost_yield();
    }
}
static void drainer(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    while (roost_chan_recv(NULL, ch, &v) == 0) {
    }
}
static void quick(void *arg) { (void)arg; }

static void t_snapshot_churn(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    atomic_store(&churn_stop, false);
    for (int i = 0; i < 8; i++) CHECK_OK(roost_go(churner, ch));
    for (int i = 0; i < 4; i++) CHECK_OK(roost_go(drainer, ch));
    int rounds = SCALE(200, 20);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 20; i++) CHECK_OK(roost_go(quick, NULL));
        roost_task_info_t *v;
        size_t n;
        CHECK_OK(roost_tasks_snapshot(ROOST_SNAP_STACKS, &v, &n));
        for (size_t i = 0; i < n; i++) {
            CHECK_NE(v[i].id, 0);
            CHECK(v[i].state != ROOST_TASK_DEAD);
            CHECK(v[i].file != NULL && v[i].func != NULL);
            if (v[i].state == ROOST_TASK_PARKED) CHECK(v[i].wait_reason != ROOST_WAIT_NONE);
        }
        free(v);
    }
    atomic_store(&churn_stop, true);
    roost_chan_close(ch);
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    roost_chan_unref(ch); /* only now: the tasks borrowed our reference */
}

static void go_at_child(void *arg) { (void)arg; }

/* roost_go_at: sites by (file, line, func), counted like macro sites. */
static void t_go_at(void *unused) {
    static const char file[] = "binding.c", func[] = "bound";
    for (int i = 0; i < 3; i++) CHECK_OK(roost_go_at(go_at_child, NULL, NULL, file, 7, func));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S));
    roost_site_info_t sites[64];
    int ns = roost_sites(sites, 64);
    roost_site_info_t *s = find_site(sites, ns < 64 ? ns : 64, "bound");
    CHECK(s != NULL);
    CHECK_EQ(s->created, 3);
    CHECK_EQ(s->line, 7);
}

/* A task is counted under its last wait reason only while parked: once
 * it runs again, yields, parks for another reason or exits, the counts
 * follow (a task keeps its reason between parks, and roost_counts takes the
 * running ones out: see roost__task.counted). */
static atomic_int spin_stop;
static void recv_then_spin(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    CHECK_OK(roost_chan_recv(NULL, ch, &v)); /* parks: counted as chan receive */
    while (!atomic_load(&spin_stop)) CHECK_OK(roost_yield());
    CHECK_OK(roost_chan_recv(NULL, ch, &v));    /* parks again */
    CHECK_OK(roost_sleep(NULL, 50 * ROOST_MS)); /* moves to sleep */
}

static int64_t wait_reason_count(int reason, int64_t want) {
    roost_counts_t c;
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while (c.by_reason[reason] != want && roost_now() < end);
    return c.by_reason[reason];
}

static void t_counts_follow_resume(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    atomic_store(&spin_stop, 0);
    roost_counts_t c0;
    roost_counts(&c0);
    int64_t recv0 = c0.by_reason[ROOST_WAIT_CHAN_RECV], sleep0 = c0.by_reason[ROOST_WAIT_SLEEP];
    CHECK_OK(roost_go(recv_then_spin, ch));
    CHECK_EQ(wait_reason_count(ROOST_WAIT_CHAN_RECV, recv0 + 1), recv0 + 1);
    int v = 1;
    CHECK_OK(roost_chan_send(NULL, ch, &v)); /* it runs and yields in a loop */
    CHECK_EQ(wait_reason_count(ROOST_WAIT_CHAN_RECV, recv0), recv0);
    atomic_store(&spin_stop, 1);
    CHECK_EQ(wait_reason_count(ROOST_WAIT_CHAN_RECV, recv0 + 1), recv0 + 1);
    CHECK_OK(roost_chan_send(NULL, ch, &v)); /* now it sleeps */
    CHECK_EQ(wait_reason_count(ROOST_WAIT_SLEEP, sleep0 + 1), sleep0 + 1);
    CHECK_EQ(wait_reason_count(ROOST_WAIT_CHAN_RECV, recv0), recv0);
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S)); /* and exits */
    roost_counts_t c;
    roost_counts(&c);
    CHECK_EQ(c.by_reason[ROOST_WAIT_CHAN_RECV], recv0);
    CHECK_EQ(c.by_reason[ROOST_WAIT_SLEEP], sleep0);
    roost_chan_unref(ch);
}

int main(void) {
    check_init_workers(2);
    RUN(t_counts);
    RUN(t_counts_follow_resume);
    RUN(t_snapshot);
    RUN(t_snapshot_churn);
    RUN(t_go_at);
    check_no_leaks();
    return 0;
}
