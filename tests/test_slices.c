/* test_slices.c - a pass over every task, taken from a task, runs in slices
 * (registry.c's sliced walk, profile.c): the caller's worker runs its other
 * tasks between the slices, and the walk stays sound while tasks exit
 * under it, odd-size stacks (unmapped at exit) included.
 *
 * One worker and no spare workers (ROOST_BLOCKED_MS far out), so that a
 * witness task runs only when the task taking the profile yields: the
 * count of its runs during a roost_profile call is the count of slices
 * the call gave up the worker for.
 */
#include "check.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTAIL() __asm__ volatile("" ::: "memory") /* keep the caller's frame: no tail calls */
#define ODD_STACK (32 << 10)                       /* not the default size: a mapping of its own */

static _Atomic long witness_runs;
static _Atomic int witness_stop;
static roost_waitgroup_t witness_done = ROOST_WAITGROUP_INIT;

static void witness(void *unused) {
    while (!atomic_load(&witness_stop)) {
        atomic_fetch_add(&witness_runs, 1);
        CHECK_OK(roost_yield());
    }
    CHECK_OK(roost_waitgroup_done(&witness_done));
}

static __attribute__((noinline)) void park_deep(roost_chan_t *ch) {
    CHECK_ERR(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
    NOTAIL();
}

static void parked(void *arg) {
    park_deep(arg);
    NOTAIL();
}

static void wait_recv_parked(int64_t n) {
    int64_t end = roost_now() + 20 * ROOST_S * check_slack();
    roost_counts_t c;
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while (c.by_reason[ROOST_WAIT_CHAN_RECV] < n && roost_now() < end);
    CHECK_EQ(c.by_reason[ROOST_WAIT_CHAN_RECV], n);
}

static bool one_worker(void) { return roost_workers() == 1; }

static void witness_start(void) {
    atomic_store(&witness_stop, 0);
    CHECK_OK(roost_waitgroup_add(&witness_done, 1));
    CHECK_OK(roost_go(witness, NULL));
}

static void witness_end(void) {
    atomic_store(&witness_stop, 1);
    CHECK_OK(roost_waitgroup_wait(NULL, &witness_done));
}

/* roost_profile in format, with the witness's runs meanwhile. */
static char *profile(int format, long *runs) {
    char *buf;
    size_t len;
    long r0 = atomic_load(&witness_runs);
    CHECK_OK(roost_profile(format, &buf, &len));
    *runs = atomic_load(&witness_runs) - r0;
    char *s = malloc(len + 1);
    CHECK(s != NULL);
    memcpy(s, buf, len);
    s[len] = 0;
    free(buf);
    return s;
}

/* Tasks on odd-size stacks exit while the walk stands in their list. The
 * walk visits them newest first and can pause only after every 64th
 * (stack.c's STACK_WALK_BATCH): the tasks it can pause on wait on a
 * channel of their own, which the releaser closes at its first run once
 * the profile has begun (the walk's first yield: in the odd list, as the
 * default-size slots before it take a few microseconds). They are few
 * enough to all be queued ahead of the walking task, so they all exit
 * before it resumes, the one its cursor stands on among them. That
 * mapping must stay until the walk is done with it, and the walk must go
 * on past it. */
static roost_waitgroup_t odd_exited = ROOST_WAITGROUP_INIT;
static _Atomic int release_go;

static void parked_odd(void *arg) {
    park_deep(arg);
    CHECK_OK(roost_waitgroup_done(&odd_exited));
    NOTAIL();
}

static void releaser(void *arg) {
    while (!atomic_load(&release_go)) CHECK_OK(roost_yield());
    CHECK_OK(roost_chan_close(arg));
}

static void t_odd_exit_under_walk(void *unused) {
    int nodd = SCALE(3000, 600);
    long runs;
    roost_chan_t *pause_at, *rest;
    CHECK_OK(roost_chan_make(1, 0, &pause_at));
    CHECK_OK(roost_chan_make(1, 0, &rest));
    CHECK_OK(roost_waitgroup_add(&odd_exited, nodd));
    roost_task_opts_t o = {.stack_size = ODD_STACK};
    for (int i = 0; i < nodd; i++) /* the walk's i-th from the head is the (nodd - 1 - i)-th spawned */
        CHECK_OK(roost_go_opts(parked_odd, (nodd - i) % 64 == 0 ? pause_at : rest, &o));
    wait_recv_parked(nodd);
    witness_start();
    free(profile(ROOST_PROFILE_GROUPED,
                 &runs)); /* symbols read: the next profile needs the pool for nothing */
    witness_end();
    CHECK_OK(roost_go(releaser, pause_at));
    atomic_store(&release_go, 1);
    char *s = profile(ROOST_PROFILE_GROUPED, &runs);
    CHECK_MSG(strstr(s, "task profile: total "), "%s", s);
    free(s);
    CHECK_OK(roost_chan_close(rest));
    CHECK_OK(roost_waitgroup_wait(NULL, &odd_exited));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    roost_chan_unref(pause_at);
    roost_chan_unref(rest);
}

/* The tasks of the grouped profile s whose spawn line has `site`: each
 * group is "N @ pcs" and then "# state; created by ..." (tasks parked at
 * one place can still differ in a frame or two, so can be in a few). */
static int grouped_count(const char *s, const char *site) {
    int total = 0;
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        int n;
        const char *next = strchr(p, '\n');
        if (sscanf(p, "%d @", &n) == 1 && next) {
            const char *end = strchr(next + 1, '\n');
            const char *at = strstr(next + 1, site);
            if (at && (!end || at < end)) total += n;
        }
    }
    return total;
}

/* Every form, over tasks that all stay parked: each parked task is in it
 * exactly once, and the caller yielded during it. */
static void t_forms_yield(void *unused) {
    int n = SCALE(6000, 1500);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(1, 0, &ch));
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(parked, ch));
    wait_recv_parked(n);
    witness_start();
    long runs;
    char *s = profile(ROOST_PROFILE_GROUPED, &runs);
    CHECK_MSG(grouped_count(s, "created by t_forms_yield at ") == n, "not %d tasks in:\n%s", n, s);
    if (one_worker()) CHECK_MSG(runs >= 2, "grouped: %ld witness runs", runs);
    free(s);
    s = profile(ROOST_PROFILE_FULL, &runs);
    int found = 0;
    for (const char *p = s; (p = strstr(p, "created by t_forms_yield at ")) != NULL; p++) found++;
    CHECK_EQ(found, n);
    if (one_worker()) CHECK_MSG(runs >= 2, "full: %ld witness runs", runs);
    free(s);
    s = profile(ROOST_PROFILE_JSON, &runs);
    found = 0;
    for (const char *p = s; (p = strstr(p, "\"func\":\"t_forms_yield\"},\"labels\"")) != NULL; p++) found++;
    CHECK_EQ(found, n);
    if (one_worker()) CHECK_MSG(runs >= 2, "json: %ld witness runs", runs);
    free(s);
    s = profile(ROOST_PROFILE_PPROF, &runs);
    if (one_worker()) CHECK_MSG(runs >= 2, "pprof: %ld witness runs", runs);
    free(s);
    witness_end();
    CHECK_OK(roost_chan_close(ch));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    roost_chan_unref(ch);
}

int main(void) {
    setenv("ROOST_BLOCKED_MS", "3600000", 1); /* no spare workers: see the top */
    check_init_workers(1);
    RUN(t_odd_exit_under_walk);
    RUN(t_forms_yield);
    check_no_leaks();
    return 0;
}
