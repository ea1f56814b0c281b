/* 08 a wait group never done on one path.
 *
 * Go:
 *     results := make(chan int, len(items))
 *     var wg sync.WaitGroup
 *     for _, it := range items {
 *         wg.Add(1)
 *         go func(it int) {
 *             if it < 0 { return }          // forgot wg.Done() on this path
 *             results <- it * 2
 *             wg.Done()
 *         }(it)
 *     }
 *     go func() { wg.Wait(); close(results) }()
 *     for r := range results { ... }        // (here: with a deadline)
 *
 * leaky  one worker returns early without Done; the closer task waits on
 *        the wait group for good. The caller gives up after its deadline.
 * fixed  Done on every path (defer wg.Done()).
 */
#include "bug.h"

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;

typedef struct job {
    roost_chan_t *results; /* adopted */
    int item;
} job;

static roost_chan_t *take(void *arg, int *item) {
    job *j = arg;
    roost_chan_t *results = j->results;
    *item = j->item;
    free(j);
    MUST(roost_chan_adopt(results));
    return results;
}

static void worker_leaky(void *arg) {
    int item;
    roost_chan_t *results = take(arg, &item);
    if (item < 0) return; /* forgot wg.Done() on this path */
    int r = item * 2;
    int rc = roost_chan_send(NULL, results, &r); /* results <- it * 2 */
    if (rc) bug_note("worker: send: %s", roost_strerror(rc));
    roost_waitgroup_done(&wg);
}

static void worker_fixed(void *arg) {
    int item;
    roost_chan_t *results = take(arg, &item);
    if (item >= 0) {
        int r = item * 2;
        int rc = roost_chan_send(NULL, results, &r);
        if (rc) bug_note("worker: send: %s", roost_strerror(rc));
    }
    roost_waitgroup_done(&wg); /* defer wg.Done(): on every path */
}

static void closer(void *arg) {
    roost_chan_t *results = arg;
    MUST(roost_chan_adopt(results));
    int rc = roost_waitgroup_wait(NULL, &wg); /* wg.Wait() */
    if (rc) bug_note("closer: wait: %s", roost_strerror(rc));
    roost_chan_close(results); /* close(results) */
}

static void run(roost_fn worker) {
    static const int items[] = {1, -1, 3};
    roost_chan_t *results;
    roost_ctx_t *ctx;
    MUST(roost_chan_make(sizeof(int), 3, &results));
    for (int i = 0; i < 3; i++) {
        job *j = bug_alloc(sizeof *j);
        j->results = roost_chan_ref(results);
        j->item = items[i];
        MUST(roost_waitgroup_add(&wg, 1));
        MUST(roost_go(worker, j));
    }
    MUST(roost_go(closer, roost_chan_ref(results)));
    MUST(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    int r, sum = 0, rc;
    while ((rc = roost_chan_recv(ctx, results, &r)) == 0) sum += r; /* for r := range results */
    bug_note("caller: sum %d, then %s", sum, roost_strerror(rc));
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
    roost_chan_unref(results);
}

static void leaky(void) { run(worker_leaky); }
static void fixed(void) { run(worker_fixed); }

BUG_MAIN(leaky, fixed)
