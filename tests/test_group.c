/* test_group.c - task groups beside Go's errgroup: first error wins and is
 * the context's cause, the limit holds under stress, TryGo, a spawn waiting
 * for a slot gives up with its context, a wait gives up with its context,
 * a group is one scope (no spawn after its wait), close and the abandoned
 * group (cancelled, waited for, reported), arguments and channels handed
 * over, the group label, and long tasks spread over the workers after
 * short ones. */
#include "check.h"
#include <string.h>

/* ------------------------------------------------------------ helpers */

static int ret_arg(roost_ctx_t *ctx, void *arg) { return (int)(intptr_t)arg; }

/* Blocks until the group's context ends, then returns its error. */
static int until_cancelled(roost_ctx_t *ctx, void *arg) {
    int rc = roost_sleep(ctx, 3600 * ROOST_S);
    if (arg) atomic_fetch_add((atomic_int *)arg, 1);
    return rc;
}

/* Receives one value from a channel (a gate), then returns 0. */
static int gated(roost_ctx_t *ctx, void *arg) {
    roost_chan_t *gate = arg;
    int v;
    int rc = roost_chan_recv(NULL, gate, &v);
    return rc == ROOST_ECLOSED ? 0 : rc;
}

/* ------------------------------------------------------------ tests */

static int count_task(roost_ctx_t *ctx, void *arg) {
    CHECK(ctx != NULL);
    CHECK_EQ(roost_ctx_err(ctx), 0);
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

/* g.Go N times, g.Wait() == nil; after it the group is done. */
static void t_basic(void *unused) {
    roost_group_t *g;
    CHECK_OK(roost_group_make(NULL, &g));
    roost_ctx_t *gctx = roost_group_ctx(g);
    CHECK_EQ(roost_ctx_err(gctx), 0);
    atomic_int n = 0;
    for (int i = 0; i < 100; i++) CHECK_OK(roost_group_go(NULL, g, count_task, &n));
    CHECK_OK(roost_group_wait(NULL, g));
    CHECK_EQ(atomic_load(&n), 100);
    /* As errgroup: the context is cancelled once Wait returns. */
    CHECK_ERR(roost_ctx_err(gctx), ROOST_ECANCELED);
    CHECK_ERR(roost_ctx_cause(gctx), ROOST_ECANCELED);
    /* One scope: no spawn after the wait; waiting again gives the same. */
    CHECK_ERR(roost_group_go(NULL, g, count_task, &n), ROOST_ESTATE);
    CHECK_ERR(roost_group_trygo(g, count_task, &n), ROOST_ESTATE);
    CHECK_ERR(roost_group_set_limit(g, 2), ROOST_ESTATE);
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);

    /* An empty group's wait returns at once. */
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);

    /* The group's context is a child of the parent. */
    roost_ctx_t *parent;
    CHECK_OK(roost_ctx_with_cancel(NULL, &parent));
    CHECK_OK(roost_group_make(parent, &g));
    CHECK_OK(roost_group_go(NULL, g, until_cancelled, NULL));
    roost_ctx_cancel_cause(parent, 77);
    CHECK_ERR(roost_group_wait(NULL, g), ROOST_ECANCELED); /* the task's own return */
    CHECK_EQ(roost_ctx_cause(roost_group_ctx(g)), 77);
    roost_group_unref(g);
    roost_ctx_unref(parent);
}

typedef struct first_arg {
    int code;
    int64_t delay;
} first_arg;

static int fail_after(roost_ctx_t *ctx, void *arg) {
    first_arg *a = arg;
    if (a->delay) roost_sleep(NULL, a->delay);
    return a->code;
}

/* The first error wins, is Wait's result, and is the context's cause; the
 * others see the context cancelled. */
static void t_first_error(void *unused) {
    roost_group_t *g;
    CHECK_OK(roost_group_make(NULL, &g));
    atomic_int saw = 0;
    for (int i = 0; i < 10; i++) CHECK_OK(roost_group_go(NULL, g, until_cancelled, &saw));
    first_arg a = {42, 5 * ROOST_MS};
    CHECK_OK(roost_group_go(NULL, g, fail_after, &a));
    CHECK_EQ(roost_group_wait(NULL, g), 42);
    CHECK_EQ(atomic_load(&saw), 10);
    CHECK_ERR(roost_ctx_err(roost_group_ctx(g)), ROOST_ECANCELED);
    CHECK_EQ(roost_ctx_cause(roost_group_ctx(g)), 42);
    roost_group_unref(g);

    /* Two failures: the first returned wins, the later one is dropped. */
    CHECK_OK(roost_group_make(NULL, &g));
    first_arg early = {ROOST_ERANGE, 0}, late = {9, 30 * ROOST_MS};
    CHECK_OK(roost_group_go(NULL, g, fail_after, &late));
    CHECK_OK(roost_group_go(NULL, g, fail_after, &early));
    CHECK_ERR(roost_group_wait(NULL, g), ROOST_ERANGE);
    CHECK_ERR(roost_ctx_cause(roost_group_ctx(g)), ROOST_ERANGE);
    roost_group_unref(g);
}

typedef struct conc {
    atomic_int cur, max, ran;
    roost_group_t *g;
    int depth;
} conc;

static int conc_task(roost_ctx_t *ctx, void *arg) {
    conc *c = arg;
    int now = atomic_fetch_add(&c->cur, 1) + 1;
    int m = atomic_load(&c->max);
    while (now > m && !atomic_compare_exchange_weak(&c->max, &m, now)) {
    }
    for (int i = 0; i < 3; i++) roost_yield();
    atomic_fetch_sub(&c->cur, 1);
    atomic_fetch_add(&c->ran, 1);
    return 0;
}

/* Spawners inside and outside the group, all at the limit. */
static int conc_spawner(roost_ctx_t *ctx, void *arg) {
    conc *c = arg;
    int n = SCALE(300, 40);
    for (int i = 0; i < n; i++) CHECK_OK(roost_group_go(NULL, c->g, conc_task, c));
    return 0;
}

static void conc_outside(void *arg) {
    conc *c = arg;
    conc_spawner(NULL, c);
}

/* SetLimit(n): never more than n running, counted with atomics, under
 * spawns from inside and outside the group. */
static void t_limit_stress(void *unused) {
    for (int limit = 1; limit <= 4; limit += 3) {
        conc c = {0};
        CHECK_OK(roost_group_make(NULL, &c.g));
        CHECK_OK(roost_group_set_limit(c.g, limit));
        /* Spawners are tasks of the group too: they hold slots while they
         * wait for one, as in Go (a g.Go inside g.Go). With limit 1 that
         * would deadlock, as it does in Go; spawn from outside only then. */
        if (limit > 2) {
            CHECK_OK(roost_group_go(NULL, c.g, conc_spawner, &c));
        }
        for (int i = 0; i < 2; i++) CHECK_OK(roost_go(conc_outside, &c));
        /* The outside spawners are plain tasks: wait for them by count. */
        int expect = SCALE(300, 40) * (limit > 2 ? 3 : 2);
        while (atomic_load(&c.ran) < expect) roost_sleep(NULL, ROOST_MS);
        CHECK_OK(roost_group_wait(NULL, c.g));
        CHECK_LE(atomic_load(&c.max), limit);
        CHECK_GE(atomic_load(&c.max), 1);
        CHECK_EQ(atomic_load(&c.cur), 0);
        roost_group_unref(c.g);
    }
}

/* TryGo: false (ROOST_EAGAIN) at the limit, true with a slot free; limit 0
 * admits nothing; a spawn waiting for a slot gives up with its context. */
static void t_trygo(void *unused) {
    roost_group_t *g;
    roost_chan_t *gate;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &gate));
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_ERR(roost_group_set_limit(g, -5), ROOST_OK); /* no limit */
    CHECK_OK(roost_group_set_limit(g, 1));
    CHECK_OK(roost_group_trygo(g, gated, gate));
    CHECK_ERR(roost_group_set_limit(g, 2), ROOST_ESTATE); /* tasks running */
    CHECK_ERR(roost_group_trygo(g, gated, gate), ROOST_EAGAIN);

    /* A blocking spawn under a context that times out. */
    roost_ctx_t *ctx;
    int64_t t0 = roost_now(); /* before the deadline is set: valgrind takes ms between the two */
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
    CHECK_ERR(roost_group_go(ctx, g, gated, gate), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 15 * ROOST_MS);
    CHECK_ERR(roost_group_go(ctx, g, gated, gate), ROOST_ETIMEDOUT); /* already ended */
    roost_ctx_unref(ctx);

    int v = 1;
    CHECK_OK(roost_chan_send(NULL, gate, &v));      /* the first task returns */
    CHECK_OK(roost_group_go(NULL, g, gated, gate)); /* a slot is free (or soon is) */
    CHECK_OK(roost_chan_close(gate));
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);

    /* Limit 0: nothing gets in. */
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_set_limit(g, 0));
    CHECK_ERR(roost_group_trygo(g, ret_arg, NULL), ROOST_EAGAIN);
    CHECK_OK(roost_ctx_with_timeout(NULL, 5 * ROOST_MS, &ctx));
    CHECK_ERR(roost_group_go(ctx, g, ret_arg, NULL), ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx);
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);
    roost_chan_unref(gate);
}

typedef struct cancel_spawn {
    roost_group_t *g;
    roost_ctx_t *ctx;
    roost_chan_t *gate;
    atomic_int rc;
} cancel_spawn;

static void spawn_and_report(void *arg) {
    cancel_spawn *c = arg;
    atomic_store(&c->rc, roost_group_go(c->ctx, c->g, gated, c->gate));
}

/* A spawn parked for a slot returns when its context is cancelled, and the
 * slots stay consistent: later spawns still get in. */
static void t_spawn_cancel(void *unused) {
    cancel_spawn c = {.rc = 1};
    CHECK_OK(roost_chan_make(sizeof(int), 0, &c.gate));
    CHECK_OK(roost_group_make(NULL, &c.g));
    CHECK_OK(roost_group_set_limit(c.g, 1));
    CHECK_OK(roost_group_go(NULL, c.g, gated, c.gate));
    CHECK_OK(roost_ctx_with_cancel(NULL, &c.ctx));
    CHECK_OK(roost_go(spawn_and_report, &c));
    roost_sleep(NULL, 5 * ROOST_MS);
    CHECK_EQ(atomic_load(&c.rc), 1); /* still waiting */
    roost_ctx_cancel(c.ctx);
    while (atomic_load(&c.rc) == 1) roost_sleep(NULL, ROOST_MS);
    CHECK_ERR(atomic_load(&c.rc), ROOST_ECANCELED);
    CHECK_OK(roost_chan_close(c.gate)); /* the running task returns */
    CHECK_OK(roost_group_go(NULL, c.g, gated, c.gate));
    CHECK_OK(roost_group_wait(NULL, c.g));
    roost_group_unref(c.g);
    roost_ctx_unref(c.ctx);
    roost_chan_unref(c.gate);
}

/* A wait with a context that times out leaves the group open and its tasks
 * running; a later wait finds them. */
static void t_wait_timeout(void *unused) {
    roost_group_t *g;
    roost_chan_t *gate;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &gate));
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go(NULL, g, gated, gate));
    roost_ctx_t *ctx;
    int64_t t0 = roost_now(); /* before the deadline is set: valgrind takes ms between the two */
    CHECK_OK(roost_ctx_with_timeout(NULL, 20 * ROOST_MS, &ctx));
    CHECK_ERR(roost_group_wait(ctx, g), ROOST_ETIMEDOUT);
    CHECK_GE(check_since(t0), 15 * ROOST_MS);
    CHECK_ERR(roost_group_wait(ctx, g), ROOST_ETIMEDOUT); /* already ended */
    roost_ctx_unref(ctx);
    CHECK_EQ(roost_ctx_err(roost_group_ctx(g)), 0); /* not cancelled */
    CHECK_OK(roost_group_go(NULL, g, gated, gate)); /* still open */
    CHECK_OK(roost_chan_close(gate));
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);
    roost_chan_unref(gate);
}

/* close: cancel, refuse spawns (and those waiting for a slot), wait; the
 * result is the first error before the close. */
static void t_close(void *unused) {
    roost_group_t *g;
    atomic_int saw = 0;
    CHECK_OK(roost_group_make(NULL, &g));
    for (int i = 0; i < 20; i++) CHECK_OK(roost_group_go(NULL, g, until_cancelled, &saw));
    CHECK_OK(roost_group_close(g)); /* their ROOST_ECANCELED is the close's doing */
    CHECK_EQ(atomic_load(&saw), 20);

    CHECK_OK(roost_group_make(NULL, &g));
    first_arg a = {5, 0};
    CHECK_OK(roost_group_go(NULL, g, fail_after, &a));
    while (!roost_ctx_err(roost_group_ctx(g))) roost_sleep(NULL, ROOST_MS);
    CHECK_OK(roost_group_go(NULL, g, until_cancelled, NULL));
    CHECK_EQ(roost_group_close(g), 5);

    /* A spawn waiting for a slot is failed by the close. */
    cancel_spawn c = {.rc = 1};
    CHECK_OK(roost_group_make(NULL, &c.g));
    CHECK_OK(roost_group_set_limit(c.g, 1));
    CHECK_OK(roost_group_go(NULL, c.g, until_cancelled, NULL));
    roost_group_ref(c.g); /* the spawner's */
    CHECK_OK(roost_go(spawn_and_report, &c));
    roost_sleep(NULL, 5 * ROOST_MS);
    CHECK_OK(roost_group_close(c.g));
    while (atomic_load(&c.rc) == 1) roost_sleep(NULL, ROOST_MS);
    CHECK_ERR(atomic_load(&c.rc), ROOST_ESTATE);
    roost_group_unref(c.g);
}

/* ------------------------------------------------------------ leaks */

static atomic_int leak_reports, leak_tasks, leak_site_named;
static void on_leak(const roost_leak_t *l, void *arg) {
    if (l->kind != ROOST_LEAK_GROUP) return;
    atomic_fetch_add(&leak_reports, 1);
    atomic_fetch_add(&leak_tasks, (int)l->ntasks);
    if (strstr(l->text, "test_group.c:") && strstr(l->text, "group abandoned") &&
        strstr(l->text, "until_cancelled"))
        atomic_store(&leak_site_named, 1);
}

/* Dropping the last reference with tasks running: they are cancelled and
 * waited for, and the group is reported with its site and its tasks, not
 * another group's (found by walking the tasks: a group keeps no list). */
static void t_abandoned(void *unused) {
    roost_leak_hook(on_leak, NULL);
    roost_group_t *g, *other;
    atomic_int saw = 0, saw_other = 0;
    CHECK_OK(roost_group_make(NULL, &other));
    for (int i = 0; i < 2; i++) CHECK_OK(roost_group_go(NULL, other, until_cancelled, &saw_other));
    CHECK_OK(roost_group_make(NULL, &g));
    for (int i = 0; i < 3; i++) CHECK_OK(roost_group_go(NULL, g, until_cancelled, &saw));
    for (;;) { /* all parked, for the stacks */
        roost_counts_t c;
        roost_counts(&c);
        if (c.by_reason[ROOST_WAIT_SLEEP] >= 5) break;
        roost_sleep(NULL, ROOST_MS);
    }
    int64_t before = roost_leaks_found();
    roost_group_unref(g);
    CHECK_EQ(atomic_load(&saw), 3); /* cancelled and waited for */
    CHECK_EQ(atomic_load(&leak_reports), 1);
    CHECK_EQ(atomic_load(&leak_tasks), 3);
    CHECK_EQ(atomic_load(&leak_site_named), 1);
    CHECK_EQ(roost_leaks_found() - before, 3);
    CHECK_EQ(atomic_load(&saw_other), 0);
    CHECK_OK(roost_group_close(other));
    CHECK_EQ(atomic_load(&saw_other), 2);
    CHECK_EQ(atomic_load(&leak_reports), 1);

    /* Dropped with no task running: nothing to say. */
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go(NULL, g, ret_arg, NULL));
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);
    CHECK_EQ(atomic_load(&leak_reports), 1);
    roost_leak_hook(NULL, NULL);
}

static int member_drops(roost_ctx_t *ctx, void *arg) {
    roost_group_t *g = arg;
    CHECK_ERR(roost_group_wait(NULL, g), ROOST_EDEADLK);
    CHECK_ERR(roost_group_close(g), ROOST_EDEADLK);
    roost_group_unref(g); /* the program's last reference, handed to us */
    return 0;
}

/* A task of the group cannot wait on it or close it; if it drops the last
 * reference, the others are cancelled and the last one out frees it. */
static void t_member_rules(void *unused) {
    roost_leak_hook(on_leak, NULL);
    int reports = atomic_load(&leak_reports);
    roost_group_t *g;
    atomic_int saw = 0;
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go(NULL, g, until_cancelled, &saw));
    CHECK_OK(roost_group_go(NULL, g, member_drops, g));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&saw), 1);
    CHECK_EQ(atomic_load(&leak_reports), reports + 1);
    roost_leak_hook(NULL, NULL);
}

/* ------------------------------------------------------------ arguments */

typedef struct fetch_arg {
    roost_chan_t *out;
    int id;
} fetch_arg;

static int fetch_one(roost_ctx_t *ctx, void *arg) {
    fetch_arg *a = arg; /* the task's own copy */
    int v = a->id * 10;
    return roost_chan_send(NULL, a->out, &v);
}

typedef struct big_arg {
    roost_chan_t *c[5];
    int v;
    char pad[200];
} big_arg;

/* Each channel must still be there: a send fills its one slot, a receive
 * empties it again. */
static int big_task(roost_ctx_t *ctx, void *arg) {
    big_arg *a = arg;
    for (int i = 0; i < 5; i++) {
        int v = a->v, got;
        CHECK_OK(roost_chan_send(NULL, a->c[i], &v));
        CHECK_OK(roost_chan_recv(NULL, a->c[i], &got));
    }
    return 0;
}

/* An argument of `size` bytes: its size, then a pattern. */
static atomic_int checked;
static roost_site_t check_site = {__FILE__, "t_go_with", __LINE__, 0};
static void fill_bytes(unsigned char *b, size_t size, int k) {
    memcpy(b, &size, sizeof size);
    for (size_t i = sizeof size; i < size; i++) b[i] = (unsigned char)(i * 7 + k);
}
static int check_bytes(roost_ctx_t *ctx, void *arg) {
    const unsigned char *b = arg;
    size_t size;
    CHECK_EQ((uintptr_t)arg % _Alignof(max_align_t), 0);
    roost_sleep(NULL, 100 * ROOST_US); /* while the spawner goes on */
    memcpy(&size, b, sizeof size);
    int k = b[sizeof size] - (int)(sizeof size * 7 % 256);
    for (size_t i = sizeof size; i < size; i++) CHECK_EQ(b[i], (unsigned char)(i * 7 + k));
    atomic_fetch_add(&checked, 1);
    return 0;
}

static atomic_int chan_leaks;
static void on_chan_leak(const roost_leak_t *l, void *arg) {
    if (l->kind == ROOST_LEAK_CHAN) atomic_fetch_add(&chan_leaks, 1);
}

/* go_with copies the argument and hands the channel over: the task owns a
 * reference the runtime releases, so when the caller walks away the leak
 * detector proves the task stranded (the story's leak, inside a group),
 * and under the wake policy the group's wait reports it. */
static void t_go_with(void *unused) {
    roost_group_t *g;
    roost_chan_t *out;
    CHECK_OK(roost_chan_make(sizeof(int), 3, &out));
    CHECK_OK(roost_group_make(NULL, &g));
    fetch_arg a = {out, 0};
    for (a.id = 1; a.id <= 3; a.id++) CHECK_OK(roost_group_go_with(NULL, g, (out), fetch_one, &a));
    CHECK_OK(roost_group_wait(NULL, g));
    int sum = 0, v;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(roost_chan_recv(NULL, out, &v));
        sum += v;
    }
    CHECK_EQ(sum, 60); /* each task saw its own id: the copies */
    roost_group_unref(g);
    roost_chan_unref(out);

    /* No arguments beyond the copy. */
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go_with(NULL, g, (), fail_after, &(first_arg){3, 0}));
    CHECK_EQ(roost_group_wait(NULL, g), 3);
    roost_group_unref(g);

    /* More channels than a task's record holds: they and the argument
     * are malloc'ed, and freed at the task's return. */
    roost_chan_t *c[5];
    for (int i = 0; i < 5; i++) CHECK_OK(roost_chan_make(sizeof(int), 1, &c[i]));
    CHECK_OK(roost_group_make(NULL, &g));
    for (int i = 0; i < 3; i++)
        CHECK_OK(roost_group_go_with(NULL, g, (c[0], c[1], c[2], c[3], c[4]), big_task,
                                     &(big_arg){.c = {c[0], c[1], c[2], c[3], c[4]}, .v = i}));
    for (int i = 0; i < 5; i++) roost_chan_unref(c[i]); /* the tasks hold their own */
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);

    /* An argument copied with the record onto the task's stack, at the
     * largest size that fits there, and one past it (malloc'ed). */
    for (size_t size = 16; size <= 2048; size *= 2) {
        CHECK_OK(roost_group_make(NULL, &g));
        unsigned char buf[2048];
        for (int k = 0; k < 3; k++) {
            fill_bytes(buf, size, k);
            CHECK_OK(roost_group_go_site(NULL, g, check_bytes, buf, size, NULL, 0, 0, &check_site));
        }
        memset(buf, 0, sizeof buf); /* the tasks have their copies */
        CHECK_OK(roost_group_wait(NULL, g));
        roost_group_unref(g);
    }
    CHECK_EQ(atomic_load(&checked), 3 * 8);

    /* The leak: unbuffered, the caller drops its reference. */
    int old = roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    roost_leak_hook(on_chan_leak, NULL);
    CHECK_OK(roost_chan_make(sizeof(int), 0, &out));
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go_with(NULL, g, (out), fetch_one, &(fetch_arg){out, 1}));
    roost_sleep(NULL, 2 * ROOST_MS);
    roost_chan_unref(out); /* the caller walks away */
    CHECK_ERR(roost_group_wait(NULL, g), ROOST_ELEAKED);
    CHECK_OK(roost_leak_flush(ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&chan_leaks), 1);
    roost_group_unref(g);
    roost_leak_hook(NULL, NULL);
    roost_leak_policy(old);
}

static int label_task(roost_ctx_t *ctx, void *arg) {
    roost_task_info_t *v;
    size_t n;
    CHECK_OK(roost_tasks_snapshot(0, &v, &n));
    uint64_t me = roost_task_id();
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].id != me) continue;
        for (int l = 0; l < v[i].nlabels; l++)
            if (!strcmp(v[i].labels[l][0], "group") && strstr(v[i].labels[l][1], "test_group.c:")) found = 1;
    }
    free(v);
    CHECK(found);
    return 0;
}

/* Each task carries group=FILE:LINE of the group's creation. */
static void t_label(void *unused) {
    roost_group_t *g;
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go(NULL, g, label_task, NULL));
    CHECK_OK(roost_group_wait(NULL, g));
    roost_group_unref(g);
}

static int nop_task(roost_ctx_t *ctx, void *arg) { return 0; }

/* Computes, never switching, until both tasks of the pair have started
 * (or a deadline passes, reported as a failure). */
static atomic_int pair_started;
static int pair_task(roost_ctx_t *ctx, void *arg) {
    atomic_fetch_add(&pair_started, 1);
    int64_t end = roost_now() + 10 * ROOST_S * check_slack();
    while (atomic_load(&pair_started) < 2 && roost_now() < end) {
    }
    return atomic_load(&pair_started) == 2 ? 0 : ROOST_ETIMELIMIT;
}

/* Tasks that compute for long still spread over the workers after a
 * fan-out of tasks that returned at once (which makes spawns into groups
 * wake no idle worker): two tasks that each wait, without a switch, for
 * the other to start finish only if they run at once. */
static void t_spread(void *unused) {
    if (roost_workers() < 2) {
        printf("SKIP: t_spread needs 2 workers\n");
        return;
    }
    for (int r = 0; r < 3; r++) {
        roost_group_t *g;
        CHECK_OK(roost_group_make(NULL, &g));
        for (int i = 0; i < 1000; i++) CHECK_OK(roost_group_go(NULL, g, nop_task, NULL));
        CHECK_OK(roost_group_wait(NULL, g));
        roost_group_unref(g);
        atomic_store(&pair_started, 0);
        CHECK_OK(roost_group_make(NULL, &g));
        for (int i = 0; i < 2; i++) CHECK_OK(roost_group_go(NULL, g, pair_task, NULL));
        CHECK_OK(roost_group_wait(NULL, g));
        roost_group_unref(g);
    }
}

/* Tasks that spawn into their own group while its wait runs, round after
 * round on four workers: the count reaches zero once, at the very end, and
 * the wait sees every task done (a wait woken too early, or never, shows
 * here as a short count or a hang). */
typedef struct nest {
    roost_group_t *g;
    atomic_int ran;
} nest;

static int nest_leaf(roost_ctx_t *ctx, void *arg) {
    atomic_fetch_add(&((nest *)arg)->ran, 1);
    return 0;
}

static int nest_branch(roost_ctx_t *ctx, void *arg) {
    nest *n = arg;
    for (int i = 0; i < 3; i++) CHECK_OK(roost_group_go(NULL, n->g, nest_leaf, n));
    if (atomic_fetch_add(&n->ran, 1) % 7 == 0) roost_yield();
    return 0;
}

static void t_nested(void *unused) {
    for (int r = 0; r < 50; r++) {
        nest n = {0};
        CHECK_OK(roost_group_make(NULL, &n.g));
        for (int i = 0; i < 20; i++) CHECK_OK(roost_group_go(NULL, n.g, nest_branch, &n));
        CHECK_OK(roost_group_wait(NULL, n.g));
        CHECK_EQ(atomic_load(&n.ran), 20 * 4);
        CHECK_ERR(roost_group_go(NULL, n.g, nest_leaf, &n), ROOST_ESTATE);
        roost_group_unref(n.g);
    }
}

static void t_einval(void *unused) {
    roost_group_t *g;
    CHECK_ERR(roost_group_make(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_group_go(NULL, NULL, ret_arg, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_group_wait(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_group_close(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_group_set_limit(NULL, 1), ROOST_EINVAL);
    CHECK(roost_group_ctx(NULL) == NULL);
    roost_group_unref(NULL);
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_ERR(roost_group_go(NULL, g, NULL, NULL), ROOST_EINVAL);
    roost_chan_t *none = NULL;
    CHECK_ERR(roost_group_go_with(NULL, g, (none), ret_arg, &(int){1}), ROOST_EINVAL);
    CHECK_OK(roost_group_close(g));
}

int main(void) {
    check_init_workers(4);
    RUN(t_basic);
    RUN(t_first_error);
    RUN(t_limit_stress);
    RUN(t_trygo);
    RUN(t_spawn_cancel);
    RUN(t_wait_timeout);
    RUN(t_close);
    RUN(t_abandoned);
    RUN(t_member_rules);
    RUN(t_go_with);
    RUN(t_label);
    RUN(t_spread);
    RUN(t_nested);
    RUN(t_einval);
    check_no_leaks();
    return 0;
}
