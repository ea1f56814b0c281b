/* groups.c - task groups (Go's errgroup): four patterns, each next to the Go
 * it ports (docs/guide.md, "Task groups", has them side by side with the
 * line counts).
 *
 *   pool      a worker pool under a deadline: SetLimit workers, the feeding
 *             loop stops when the deadline passes, Wait reports it
 *   pipeline  generate -> square -> consume, and the consumer stops early:
 *             its error cancels the stages upstream
 *   fanout    fan-out/fan-in: one task per input, results by index
 *   fetch     the story's fetch: the request runs in a group bound to the
 *             caller's context, so it cannot outlive the call
 *
 * Then a group's tasks as a task profile shows them: each with the label
 * group=FILE:LINE of the group's creation.
 *
 *   build: make examples (build/examples/groups); run it: no arguments
 *   prints one line per pattern and "groups: ok"; exit status 1 on failure.
 */
#include <roost.h>
#include <roost_obs.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                     \
    do {                                                                                                \
        int rc_ = (call);                                                                               \
        if (rc_ < 0) {                                                                                  \
            fprintf(stderr, "groups: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, roost_strerror(rc_)); \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)

/* ------------------------------------------------------------ worker pool */

typedef struct item_arg {
    int item;
    atomic_long *sum;
} item_arg;

/* The work: item milliseconds, cut short by the context. */
static int process(roost_ctx_t *ctx, void *arg) {
    item_arg *a = arg;
    int rc = roost_sleep(ctx, a->item * ROOST_MS);
    if (rc) return rc;
    atomic_fetch_add(a->sum, a->item);
    return 0;
}

/* At most `workers` items at once; everything stops at the deadline. */
static int pool(roost_ctx_t *parent, const int *items, int n, int workers, int64_t deadline, long *sum_out) {
    roost_ctx_t *ctx;
    roost_group_t *g;
    atomic_long sum = 0;
    CHECK(roost_ctx_with_timeout(parent, deadline, &ctx)); /* ctx, cancel := WithTimeout */
    CHECK(roost_group_make(ctx, &g));                      /* g, ctx := WithContext(ctx) */
    CHECK(roost_group_set_limit(g, workers));              /* g.SetLimit(workers) */
    int spawn_rc = 0;
    for (int i = 0; i < n; i++) /* for _, it := range items */
        if ((spawn_rc = roost_group_go_with(roost_group_ctx(g), g, (), process, &(item_arg){items[i], &sum})))
            break;                      /* the deadline passed */
    int rc = roost_group_wait(NULL, g); /* err := g.Wait() */
    if (!rc) rc = spawn_rc;             /* the deadline can pass while no task runs to report it */
    roost_group_unref(g);
    roost_ctx_cancel(ctx); /* defer cancel() */
    roost_ctx_unref(ctx);
    *sum_out = atomic_load(&sum);
    return rc;
}

/* ------------------------------------------------------------ pipeline */

enum { ENOUGH = 1 }; /* the program's own error: the consumer has what it wants */

typedef struct stage {
    roost_chan_t *in, *out;
    int n;
} stage;

static int gen(roost_ctx_t *ctx, void *arg) {
    stage *s = arg;
    for (int i = 1; i <= s->n; i++) {
        int rc = roost_chan_send(ctx, s->out, &i); /* select { case out <- i: */
        if (rc) return rc;                         /* case <-ctx.Done(): } */
    }
    return roost_chan_close(s->out);
}

static int square(roost_ctx_t *ctx, void *arg) {
    stage *s = arg;
    int x, rc;
    while ((rc = roost_chan_recv(ctx, s->in, &x)) == 0) { /* for x := range in */
        x *= x;
        if ((rc = roost_chan_send(ctx, s->out, &x))) return rc;
    }
    roost_chan_close(s->out);
    return rc == ROOST_ECLOSED ? 0 : rc;
}

typedef struct consumer {
    roost_chan_t *in;
    int want;
    long *sum;
} consumer;

static int consume(roost_ctx_t *ctx, void *arg) {
    consumer *c = arg;
    int x, rc, got = 0;
    while ((rc = roost_chan_recv(ctx, c->in, &x)) == 0) {
        *c->sum += x;
        if (++got == c->want) return ENOUGH; /* cancels gen and square */
    }
    return rc == ROOST_ECLOSED ? 0 : rc;
}

static int pipeline(roost_ctx_t *parent, int n, int want, long *sum) {
    roost_group_t *g;
    roost_chan_t *nums, *squares;
    CHECK(roost_group_make(parent, &g));
    CHECK(roost_chan_make(sizeof(int), 0, &nums));
    CHECK(roost_chan_make(sizeof(int), 0, &squares));
    *sum = 0;
    CHECK(roost_group_go_with(NULL, g, (nums), gen, &(stage){.out = nums, .n = n}));
    CHECK(roost_group_go_with(NULL, g, (nums, squares), square, &(stage){nums, squares, 0}));
    CHECK(roost_group_go_with(NULL, g, (squares), consume, &(consumer){squares, want, sum}));
    roost_chan_unref(nums); /* the stages own theirs */
    roost_chan_unref(squares);
    int rc = roost_group_wait(NULL, g);
    roost_group_unref(g);
    return rc == ENOUGH ? 0 : rc;
}

/* ------------------------------------------------------------ fan-out / fan-in */

typedef struct lookup_arg {
    int id;
    int *out;
} lookup_arg;

/* A look-up that takes a little while and honours its context. */
static int lookup(roost_ctx_t *ctx, void *arg) {
    lookup_arg *a = arg;
    int rc = roost_sleep(ctx, (a->id % 3) * ROOST_MS);
    if (rc) return rc;
    *a->out = a->id * a->id;
    return 0;
}

static int fanout(roost_ctx_t *ctx, const int *ids, int n, int *results) {
    roost_group_t *g;
    int rc = roost_group_make(ctx, &g); /* g, ctx := WithContext(ctx) */
    if (rc) return rc;
    for (int i = 0; i < n; i++) /* for i, id := range ids */
        CHECK(roost_group_go_with(NULL, g, (), lookup, &(lookup_arg){ids[i], &results[i]}));
    rc = roost_group_wait(NULL, g); /* return results, g.Wait() */
    roost_group_unref(g);
    return rc;
}

/* ------------------------------------------------------------ the story's fetch */

typedef struct result {
    char id[16];
} result;

typedef struct request {
    const char *id;
    result *out;
} request;

/* func doRequest(ctx context.Context, id string) (*Result, error) */
static int do_request(roost_ctx_t *ctx, void *arg) {
    request *r = arg;
    int rc = roost_sleep(ctx, (rand() % 20) * ROOST_MS); /* select { time.After; ctx.Done } */
    if (rc) return rc;
    snprintf(r->out->id, sizeof r->out->id, "%s", r->id);
    return 0;
}

/* func fetch(ctx context.Context, id string) (*Result, error) */
static int fetch(roost_ctx_t *ctx, const char *id, result *out) {
    roost_group_t *g;
    int rc = roost_group_make(ctx, &g); /* g, ctx := WithContext(ctx) */
    if (rc) return rc;
    rc = roost_group_go_with(NULL, g, (), do_request, &(request){id, out});
    if (!rc) rc = roost_group_wait(NULL, g); /* return r, g.Wait() */
    roost_group_unref(g);
    return rc;
}

/* ------------------------------------------------------------ main */

static int parked_until_cancelled(roost_ctx_t *ctx, void *arg) { return roost_sleep(ctx, 3600 * ROOST_S); }

static void show_profile(void) {
    roost_group_t *g;
    CHECK(roost_group_make(NULL, &g));
    for (int i = 0; i < 3; i++) CHECK(roost_group_go(NULL, g, parked_until_cancelled, NULL));
    CHECK(roost_sleep(NULL, 5 * ROOST_MS));
    char *buf;
    size_t len;
    CHECK(roost_profile(ROOST_PROFILE_FULL, &buf, &len));
    /* Each task's header line in the dump, with its group's label. */
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "task ", 5) && strstr(line, "group=")) printf("profile: %s\n", line);
    free(buf);
    CHECK(roost_group_close(g)); /* cancels and waits */
}

static int failed;

static void body(void *unused) {
    (void)unused;
    int items[40];
    for (int i = 0; i < 40; i++) items[i] = 1 + i % 5; /* 120 ms of work in all */
    long sum;
    int rc = pool(NULL, items, 40, 4, 1000 * ROOST_MS, &sum);
    printf("pool: 4 workers, 1 s deadline: %s, sum %ld\n", roost_strerror(rc), sum);
    failed |= rc != 0 || sum != 120;
    rc = pool(NULL, items, 40, 4, 10 * ROOST_MS, &sum);
    printf("pool: 4 workers, 10 ms deadline: %s, sum %ld (partial)\n", roost_strerror(rc), sum);
    failed |= rc != ROOST_ETIMEDOUT || sum >= 120;

    rc = pipeline(NULL, 1000000, 10, &sum);
    printf("pipeline: first 10 squares of 1..1000000, then stop: %s, sum %ld\n", roost_strerror(rc), sum);
    failed |= rc != 0 || sum != 385;

    int ids[8] = {1, 2, 3, 4, 5, 6, 7, 8}, res[8];
    rc = fanout(NULL, ids, 8, res);
    printf("fanout: %s, results", roost_strerror(rc));
    for (int i = 0; i < 8; i++) printf(" %d", res[i]);
    printf("\n");
    failed |= rc != 0 || res[7] != 64;

    int timeouts = 0;
    for (int i = 0; i < 50; i++) {
        roost_ctx_t *ctx;
        result r;
        CHECK(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
        if (fetch(ctx, "x", &r) != 0) timeouts++;
        roost_ctx_cancel(ctx);
        roost_ctx_unref(ctx);
    }
    printf("fetch: 50 calls, 10 ms timeout: %d timed out, tasks left %lld\n", timeouts,
           (long long)roost_task_count() - 1);
    failed |= roost_task_count() != 1;

    show_profile();
}

int main(void) {
    CHECK(roost_run(body, NULL));
    if (roost_wait_tasks(0, ROOST_S) != 0) failed = 1;
    printf("groups: %s\n", failed ? "FAILED" : "ok");
    return failed;
}
