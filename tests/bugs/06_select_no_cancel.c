/* 06 a select with no way out.
 *
 * Go:
 *     go func() {
 *         for {
 *             select {
 *             case j := <-jobs:  process(j)
 *             case <-flush:      flushAll()
 *             }                  // no case <-ctx.Done(): nothing ends this loop
 *         }
 *     }()
 *
 * leaky  the worker loops on a select over its two channels; the owner
 *        hands it a few jobs and goes away without closing either, so the
 *        worker waits in select for good.
 * fixed  the select has a third case, <-ctx.Done(), and the owner cancels
 *        (defer cancel()) when it is done with the worker.
 */
#include "bug.h"

typedef struct worker_args {
    roost_chan_t *jobs, *flush; /* adopted */
    roost_ctx_t *ctx;           /* fixed: the worker's own reference */
} worker_args;

static worker_args *adopt_args(void *arg) {
    worker_args *a = arg;
    MUST(roost_chan_adopt(a->jobs));
    MUST(roost_chan_adopt(a->flush));
    return a;
}

static void worker_leaky(void *arg) {
    worker_args *a = adopt_args(arg);
    int processed = 0, j;
    for (;;) {
        roost_case_t cases[] = {
            {.chan = a->jobs, .op = ROOST_RECV, .elem = &j}, /* case j := <-jobs: */
            {.chan = a->flush, .op = ROOST_RECV},            /* case <-flush: */
        };
        int i = roost_select(NULL, cases, 2, 0);
        if (i < 0) {
            bug_note("worker: select: %s", roost_strerror(i));
            break;
        }
        if (i == 0) processed++; /* process(j) */
    }
    bug_note("worker: processed %d", processed);
    free(a);
}

static void worker_fixed(void *arg) {
    worker_args *a = adopt_args(arg);
    int processed = 0, j;
    for (;;) {
        roost_case_t cases[] = {
            {.chan = a->jobs, .op = ROOST_RECV, .elem = &j},
            {.chan = a->flush, .op = ROOST_RECV},
            {.chan = roost_ctx_done(a->ctx), .op = ROOST_RECV}, /* case <-ctx.Done(): return */
        };
        int i = roost_select(NULL, cases, 3, 0);
        if (i < 0) {
            bug_note("worker: select: %s", roost_strerror(i));
            break;
        }
        if (i == 2) break;
        if (i == 0) processed++;
    }
    bug_note("worker: processed %d", processed);
    roost_ctx_unref(a->ctx);
    free(a);
}

static void run(int with_ctx) {
    roost_chan_t *jobs, *flush;
    roost_ctx_t *ctx = NULL;
    MUST(roost_chan_make(sizeof(int), 0, &jobs));
    MUST(roost_chan_make(1, 0, &flush));
    if (with_ctx) MUST(roost_ctx_with_cancel(NULL, &ctx));
    worker_args *a = bug_alloc(sizeof *a);
    a->jobs = roost_chan_ref(jobs);
    a->flush = roost_chan_ref(flush);
    a->ctx = ctx ? roost_ctx_ref(ctx) : NULL;
    MUST(roost_go(with_ctx ? worker_fixed : worker_leaky, a));
    for (int j = 0; j < 3; j++) MUST(roost_chan_send(NULL, jobs, &j));
    char f = 1;
    MUST(roost_chan_send(NULL, flush, &f));
    roost_chan_unref(jobs);
    roost_chan_unref(flush);
    if (ctx) {
        roost_ctx_cancel(ctx); /* defer cancel() */
        roost_ctx_unref(ctx);
    }
}

static void leaky(void) { run(0); }
static void fixed(void) { run(1); }

BUG_MAIN(leaky, fixed)
