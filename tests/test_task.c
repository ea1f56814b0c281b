/* test_task.c - tasks: spawn, yield, sleep, ids, counts, stacks, runtime. */
#include "check.h"
#include <stdbool.h>

#include <pthread.h>

static int g_workers = 3;

/* ------------------------------------------------------------ runtime state */

static void t_runtime_state(void *arg) {
    CHECK_GE(roost_task_id(), 1);
    CHECK_GE(roost_workers(), 1);
    /* roost_run, roost_shutdown and roost_init are refused inside a task. */
    CHECK_ERR(roost_run(t_runtime_state, NULL), ROOST_ESTATE);
    CHECK_ERR(roost_shutdown(), ROOST_ESTATE);
    roost_config_t cfg = {.workers = 1};
    CHECK_ERR(roost_init(&cfg), ROOST_ESTATE);
    CHECK_GE(roost_task_count(), 1); /* this task at least */
}

/* ------------------------------------------------------------ strerror / now */

static void t_strerror_now(void *arg) {
    static const int codes[] = {ROOST_OK,        ROOST_EINVAL,    ROOST_ENOMEM,    ROOST_ECLOSED,
                                ROOST_ECANCELED, ROOST_ETIMEDOUT, ROOST_EAGAIN,    ROOST_EALREADY,
                                ROOST_ESTATE,    ROOST_ERANGE,    ROOST_EDEADLK,   ROOST_ELEAKED,
                                ROOST_EFDCLOSED, ROOST_ENOHOST,   ROOST_ETIMELIMIT};
    const int n = (int)(sizeof codes / sizeof codes[0]);
    const char *unknown = roost_strerror(-12345);
    CHECK(unknown != NULL);
    CHECK(roost_strerror(12345) != NULL);
    CHECK(roost_strerror(INT32_MIN) != NULL);
    for (int i = 0; i < n; i++) {
        const char *m = roost_strerror(codes[i]);
        CHECK(m != NULL);
        CHECK(*m != '\0');
        if (codes[i] != ROOST_OK) CHECK_MSG(strcmp(m, unknown) != 0, "code %d has no message", codes[i]);
        for (int j = 0; j < i; j++)
            CHECK_MSG(strcmp(m, roost_strerror(codes[j])) != 0, "codes %d and %d share message '%s'",
                      codes[i], codes[j], m);
    }
    int64_t prev = roost_now();
    CHECK_GT(prev, 0);
    for (int i = 0; i < 10000; i++) {
        int64_t t = roost_now();
        CHECK_GE(t, prev);
        prev = t;
    }
}

/* ------------------------------------------------------------ spawn / ids */

#define NIDS 1000
typedef struct {
    uint64_t ids[NIDS];
    atomic_int ran[NIDS];
    roost_waitgroup_t wg;
} ids_state;

typedef struct {
    ids_state *s;
    int i;
} ids_arg;
static ids_arg g_ids_args[NIDS];

static void ids_child(void *arg) {
    ids_arg *a = arg;
    a->s->ids[a->i] = roost_task_id();
    atomic_fetch_add(&a->s->ran[a->i], 1);
    CHECK_OK(roost_waitgroup_done(&a->s->wg));
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void t_spawn_ids(void *arg) {
    static ids_state s;
    memset(&s, 0, sizeof s);
    roost_waitgroup_t wg0 = ROOST_WAITGROUP_INIT;
    s.wg = wg0;
    uint64_t me = roost_task_id();
    CHECK_GE(me, 1);
    CHECK_OK(roost_waitgroup_add(&s.wg, NIDS));
    for (int i = 0; i < NIDS; i++) {
        g_ids_args[i].s = &s;
        g_ids_args[i].i = i;
        CHECK_OK(roost_go(ids_child, &g_ids_args[i]));
    }
    CHECK_OK(roost_waitgroup_wait(NULL, &s.wg));
    CHECK_EQ(roost_task_id(), me); /* our id survives blocking */
    for (int i = 0; i < NIDS; i++) {
        CHECK_EQ(atomic_load(&s.ran[i]), 1);
        CHECK_GE(s.ids[i], 1);
        CHECK_NE(s.ids[i], me);
    }
    qsort(s.ids, NIDS, sizeof s.ids[0], cmp_u64);
    for (int i = 1; i < NIDS; i++)
        CHECK_MSG(s.ids[i] != s.ids[i - 1], "duplicate task id %" PRIu64, s.ids[i]);
}

/* bad arguments */
static void t_spawn_einval(void *arg) {
    CHECK_ERR(roost_go(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_go_at(NULL, NULL, NULL, __FILE__, __LINE__, __func__), ROOST_EINVAL);
}

/* ------------------------------------------------------------ yield */

static atomic_int g_flag;
static atomic_long g_yield_counts[2];

static void yield_setter(void *arg) {
    /* With one worker this only runs if the spinning task yields. */
    atomic_store(&g_flag, 1);
}

static void yield_pingpong(void *arg) {
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < 1000; i++) {
        atomic_fetch_add(&g_yield_counts[me], 1);
        CHECK_OK(roost_yield());
    }
}

static void t_yield(void *arg) {
    CHECK_OK(roost_yield()); /* nothing else runnable: returns */
    atomic_store(&g_flag, 0);
    CHECK_OK(roost_go(yield_setter, NULL));
    int64_t t0 = roost_now();
    while (!atomic_load(&g_flag)) {
        CHECK_OK(roost_yield());
        CHECK_MSG(check_since(t0) < 5 * ROOST_S * check_slack(), "yield never let the other task run");
    }
    /* Two yielding tasks both make progress. */
    atomic_store(&g_yield_counts[0], 0);
    atomic_store(&g_yield_counts[1], 0);
    CHECK_OK(roost_go(yield_pingpong, (void *)(intptr_t)0));
    CHECK_OK(roost_go(yield_pingpong, (void *)(intptr_t)1));
    t0 = roost_now();
    while (atomic_load(&g_yield_counts[0]) < 1000 || atomic_load(&g_yield_counts[1]) < 1000) {
        CHECK_OK(roost_yield());
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "yielding tasks stalled");
    }
}

/* ------------------------------------------------------------ sleep */

static atomic_int g_sleepers_done;
static void sleeper(void *arg) {
    CHECK_OK(roost_sleep(NULL, 100 * ROOST_MS));
    atomic_fetch_add(&g_sleepers_done, 1);
}

static void t_sleep(void *arg) {
    int64_t t0 = roost_now();
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    int64_t el = check_since(t0);
    CHECK_GE(el, 20 * ROOST_MS);
    CHECK_LT(el, 2 * ROOST_S * check_slack());

    CHECK_OK(roost_sleep(NULL, 0));
    CHECK_OK(roost_sleep(NULL, -5));
    CHECK_OK(roost_sleep(roost_background(), 1 * ROOST_MS));

    /* Sleeping parks the task, not the worker: 200 sleepers of 100 ms each
     * finish together even with one worker. */
    const int n = 200;
    atomic_store(&g_sleepers_done, 0);
    t0 = roost_now();
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(sleeper, NULL));
    while (atomic_load(&g_sleepers_done) < n) {
        CHECK_OK(roost_sleep(NULL, 5 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "sleepers did not finish");
    }
    el = check_since(t0);
    CHECK_GE(el, 100 * ROOST_MS);
    CHECK_MSG(el < (int64_t)(1.5 * ROOST_S) * check_slack(), "200 x 100ms sleepers took %lld ms: serialised?",
              (long long)(el / ROOST_MS));
}

/* ------------------------------------------------------------ many tasks */

static atomic_long g_many;
static void many_child(void *arg) { atomic_fetch_add(&g_many, 1); }

static int g_many_n;
static void t_many_spawn_only(void *arg) {
    /* Spawn and return at once: the children outlive roost_run. */
    for (int i = 0; i < g_many_n; i++) CHECK_OK(roost_go(many_child, NULL));
}

typedef struct {
    roost_chan_t *gate;
    atomic_int *started;
} blocker_arg;
static void blocker(void *arg) {
    blocker_arg *a = arg;
    atomic_fetch_add(a->started, 1);
    CHECK_ERR(roost_chan_recv(NULL, a->gate, NULL), ROOST_ECLOSED);
}

static void t_task_count(void *arg) {
    int64_t base = roost_task_count();
    CHECK_GE(base, 1);
    const int n = SCALE(2000, 200);
    roost_chan_t *gate;
    atomic_int started = 0;
    CHECK_OK(roost_chan_make(1, 0, &gate));
    blocker_arg ba = {gate, &started};
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(blocker, &ba));
    /* Counted from spawn, not from first run. */
    CHECK_EQ(roost_task_count(), base + n);
    int64_t t0 = roost_now();
    while (atomic_load(&started) < n) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK(check_since(t0) < 10 * ROOST_S * check_slack());
    }
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS));
    CHECK_EQ(roost_task_count(), base + n); /* parked tasks are alive */
    CHECK_OK(roost_chan_close(gate));
    t0 = roost_now();
    while (roost_task_count() > base) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "task count stuck at %lld",
                  (long long)roost_task_count());
    }
    CHECK_EQ(roost_task_count(), base);
    roost_chan_unref(gate);
}

/* ------------------------------------------------------------ stacks */

static atomic_long g_stack_sum;

static __attribute__((noinline)) long use_stack(size_t bytes) {
    volatile unsigned char buf[bytes]; /* VLA: really on the stack */
    for (size_t i = 0; i < bytes; i++) buf[i] = (unsigned char)(i * 7);
    long s = 0;
    for (size_t i = 0; i < bytes; i += 61) s += buf[i];
    return s;
}

static long expected_sum(size_t bytes) {
    long s = 0;
    for (size_t i = 0; i < bytes; i += 61) s += (unsigned char)(i * 7);
    return s;
}

static void stack32k(void *arg) {
    /* ~32 KiB of locals on the default 64 KiB stack. */
    volatile char big[32 * 1024];
    memset((char *)big, 0x5a, sizeof big);
    long s = 0;
    for (size_t i = 0; i < sizeof big; i += 512) s += big[i];
    CHECK_EQ(s, 0x5a * (long)(sizeof big / 512));
    CHECK_OK(roost_yield()); /* survive a switch with a deep frame */
    CHECK_EQ(big[0], 0x5a);
    CHECK_EQ(big[sizeof big - 1], 0x5a);
    atomic_fetch_add(&g_stack_sum, 1);
}

static void stack_big(void *arg) {
    size_t bytes = (size_t)(uintptr_t)arg;
    long s = use_stack(bytes);
    CHECK_EQ(s, expected_sum(bytes));
    CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
    atomic_fetch_add(&g_stack_sum, 1);
}

static int recurse(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth == 0) return pad[0];
    return recurse(depth - 1) + 1 + (pad[0] - (char)depth);
}

static void stack_recurse(void *arg) {
    CHECK_EQ(recurse(100), 100); /* ~30 KiB of frames */
    atomic_fetch_add(&g_stack_sum, 1);
}

static void t_stacks(void *arg) {
    atomic_store(&g_stack_sum, 0);
    stack32k(NULL); /* the roost_run task itself */
    for (int i = 0; i < 50; i++) CHECK_OK(roost_go(stack32k, NULL));
    for (int i = 0; i < 20; i++) CHECK_OK(roost_go(stack_recurse, NULL));

    roost_task_opts_t big = {"big-stack", 1024 * 1024};
    for (int i = 0; i < 4; i++) CHECK_OK(roost_go_opts(stack_big, (void *)(uintptr_t)(768 * 1024), &big));
    roost_task_opts_t named = {"named-task", 0};
    CHECK_OK(roost_go_opts(stack32k, NULL, &named));
    roost_task_opts_t small = {NULL, 32 * 1024};
    CHECK_OK(roost_go_opts(stack_big, (void *)(uintptr_t)(8 * 1024), &small));
    roost_task_opts_t huge = {"huge", 8 * 1024 * 1024};
    /* valgrind treats SP moves over 2 MiB as stack switches: stay under it */
    CHECK_OK(roost_go_opts(stack_big, (void *)(uintptr_t)SCALE(6 * 1024 * 1024, 1536 * 1024), &huge));

    const long want = 1 + 50 + 20 + 4 + 1 + 1 + 1;
    int64_t t0 = roost_now();
    while (atomic_load(&g_stack_sum) < want) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 20 * ROOST_S * check_slack(), "stack tasks did not finish: %ld/%ld",
                  atomic_load(&g_stack_sum), want);
    }
}

/* ------------------------------------------------------------ busy tasks spread out */

/* A worker's short ring is left to it (sched.c, STEAL_BATCH), but not when
 * it stays queued: three tasks that compute and yield in turn on one worker
 * must bring an idle one to take some of them (the monitor wakes it), and
 * so must two that compute without a switch. Each task stops once two
 * worker threads have been seen running them, or at a deadline. */
static _Atomic pid_t g_spread_tid[2];
static roost_waitgroup_t g_spread_wg = ROOST_WAITGROUP_INIT;

static void spread_note_thread(void) {
    pid_t me = gettid(), first = 0, none = 0;
    if (atomic_compare_exchange_strong(&g_spread_tid[0], &first, me) || first == me) return;
    atomic_compare_exchange_strong(&g_spread_tid[1], &none, me);
}

static void spread_busy(void *arg) {
    bool yields = (intptr_t)arg;
    int64_t t0 = roost_now();
    while (!atomic_load(&g_spread_tid[1]) && check_since(t0) < 5 * ROOST_S * check_slack()) {
        spread_note_thread();
        int64_t until = roost_now() + 20 * ROOST_US;
        while (roost_now() < until) {
        }
        if (yields) CHECK_OK(roost_yield());
    }
    CHECK_OK(roost_waitgroup_done(&g_spread_wg));
}

static void spread_run(int ntasks, bool yields) {
    atomic_store(&g_spread_tid[0], 0);
    atomic_store(&g_spread_tid[1], 0);
    CHECK_OK(roost_waitgroup_add(&g_spread_wg, ntasks));
    for (int i = 0; i < ntasks; i++) CHECK_OK(roost_go(spread_busy, (void *)(intptr_t)yields));
    CHECK_OK(roost_waitgroup_wait(NULL, &g_spread_wg));
    CHECK_MSG(atomic_load(&g_spread_tid[1]) != 0, "%d busy tasks (%s) never left one worker", ntasks,
              yields ? "yielding" : "not switching");
}

static void t_spread(void *arg) {
    if (roost_workers() < 2) return;
    spread_run(3, true);
    spread_run(2, false);
}

/* ------------------------------------------------------------ spawn from tasks, nested */

static roost_waitgroup_t g_tree_wg = ROOST_WAITGROUP_INIT;
static atomic_long g_tree_nodes;
static void tree(void *arg) {
    int depth = (int)(intptr_t)arg;
    atomic_fetch_add(&g_tree_nodes, 1);
    if (depth > 0) {
        CHECK_OK(roost_waitgroup_add(&g_tree_wg, 2));
        CHECK_OK(roost_go(tree, (void *)(intptr_t)(depth - 1)));
        CHECK_OK(roost_go(tree, (void *)(intptr_t)(depth - 1)));
    }
    CHECK_OK(roost_waitgroup_done(&g_tree_wg));
}

static void t_tree(void *arg) {
    int depth = SCALE(13, 8);
    atomic_store(&g_tree_nodes, 0);
    CHECK_OK(roost_waitgroup_add(&g_tree_wg, 1));
    CHECK_OK(roost_go(tree, (void *)(intptr_t)depth));
    CHECK_OK(roost_waitgroup_wait(NULL, &g_tree_wg));
    CHECK_EQ(atomic_load(&g_tree_nodes), (1L << (depth + 1)) - 1);
}

/* ------------------------------------------------------------ yield order, one worker */

/* roost_yield lets every task queued on its worker run before the caller
 * runs again. Checked on one worker (no thief to reorder anything): the
 * tasks spawned before a yield have all run when it returns; and two tasks
 * yielding in a loop until a task spawned from a plain thread (so waiting
 * in the global queue) sets a flag must let it run (when a yield took the
 * ring's oldest task next, the two swapped places at the ring's head for
 * ever, and the global queue was never looked at). */
static atomic_int g_order_ran, g_order_flag;
static void order_note(void *arg) { atomic_fetch_add(&g_order_ran, 1); }
static void order_spin_yield(void *arg) {
    int64_t t0 = roost_now();
    while (!atomic_load(&g_order_flag)) {
        CHECK_OK(roost_yield());
        CHECK_MSG(check_since(t0) < 5 * ROOST_S * check_slack(),
                  "two yielders starved the task queued behind them");
    }
}
static void order_set_flag(void *arg) { atomic_store(&g_order_flag, 1); }
static void *order_spawn_from_thread(void *arg) {
    CHECK_OK(roost_go(order_set_flag, NULL));
    return NULL;
}

static void t_yield_order(void *arg) {
    CHECK_EQ(roost_workers(), 1);
    atomic_store(&g_order_ran, 0);
    for (int i = 0; i < 5; i++) CHECK_OK(roost_go(order_note, NULL));
    CHECK_OK(roost_yield());
    CHECK_EQ(atomic_load(&g_order_ran), 5);
    atomic_store(&g_order_flag, 0);
    CHECK_OK(roost_go(order_spin_yield, NULL));
    CHECK_OK(roost_go(order_spin_yield, NULL));
    CHECK_OK(roost_yield()); /* both spinners are running their loops */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, order_spawn_from_thread, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0); /* blocks the worker a moment: fine here */
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
}

/* ------------------------------------------------------------ main */

static atomic_int g_thread_spawned_ran;
static void from_thread(void *arg) {
    CHECK_GE(roost_task_id(), 1);
    atomic_fetch_add(&g_thread_spawned_ran, 1);
}

static void return_value(void *arg) { *(int *)arg = 42; }

int main(void) {
    /* Before the runtime starts. */
    CHECK_EQ(roost_workers(), 0);
    CHECK_EQ(roost_task_id(), 0);
    CHECK_EQ(roost_task_count(), 0);

    check_init_workers(g_workers);
    roost_config_t cfg = {.workers = 2};
    CHECK_ERR(roost_init(&cfg), ROOST_ESTATE);
    CHECK_EQ(roost_task_id(), 0); /* main is not a task */

    int v = 0;
    CHECK_OK(roost_run(return_value, &v));
    CHECK_EQ(v, 42);
    CHECK_ERR(roost_run(NULL, NULL), ROOST_EINVAL);

    RUN(t_runtime_state);
    RUN(t_strerror_now);
    RUN(t_spawn_ids);
    RUN(t_spawn_einval);
    RUN(t_yield);
    RUN(t_sleep);
    RUN(t_task_count);
    RUN(t_stacks);
    RUN(t_tree);
    RUN(t_spread);

    /* 100k tasks spawned (by a task that returns at once) and finished. */
    g_many_n = SCALE(100000, 5000);
    atomic_store(&g_many, 0);
    int64_t t0 = roost_now();
    CHECK_OK(roost_run(t_many_spawn_only, NULL));
    CHECK_OK(roost_wait_tasks(0, 30 * ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&g_many), g_many_n);
    CHECK_EQ(roost_task_count(), 0);
    printf("ok many_tasks %d (%.1f ms)\n", g_many_n, (double)check_since(t0) / 1e6);

    /* roost_go from a plain thread (main): a task with parent 0. */
    atomic_store(&g_thread_spawned_ran, 0);
    for (int i = 0; i < 100; i++) CHECK_OK(roost_go(from_thread, NULL));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&g_thread_spawned_ran), 100);
    printf("ok spawn_from_thread\n");

    /* wait_tasks times out while a task is parked; shutdown is refused. */
    roost_chan_t *gate;
    atomic_int started = 0;
    CHECK_OK(roost_chan_make(1, 0, &gate));
    blocker_arg ba = {gate, &started};
    CHECK_OK(roost_go(blocker, &ba));
    t0 = roost_now();
    CHECK_ERR(roost_wait_tasks(0, 50 * ROOST_MS), ROOST_ETIMELIMIT);
    CHECK_GE(check_since(t0), 50 * ROOST_MS);
    CHECK_EQ(roost_task_count(), 1);
    CHECK_ERR(roost_shutdown(), ROOST_ESTATE);
    CHECK_OK(roost_chan_close(gate)); /* from a plain thread */
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    CHECK_EQ(atomic_load(&started), 1);
    roost_chan_unref(gate);
    printf("ok wait_tasks_and_shutdown_refused\n");

    check_no_leaks();
    CHECK_OK(roost_shutdown());
    printf("ok shutdown\n");

    /* The runtime again, on one worker. */
    roost_config_t one = {.workers = 1};
    CHECK_OK(roost_init(&one));
    RUN(t_yield_order);
    check_no_leaks();
    CHECK_OK(roost_shutdown());
    return 0;
}
