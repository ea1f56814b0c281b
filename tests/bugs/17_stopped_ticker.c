/* 17 a ticker stopped under a task that ranges over its channel.
 *
 * Go:
 *     t := time.NewTicker(5 * time.Millisecond)
 *     go func() {
 *         for range t.C { poll() }          // Stop does not close t.C: blocks forever
 *     }()
 *     ...
 *     t.Stop()
 *
 * leaky  the poller holds its own reference to the ticker's channel and
 *        receives ticks until ... never: roost_ticker_stop, like Go's Stop,
 *        does not close the channel.
 * fixed  the poller selects on the tick and on ctx.Done(); the owner
 *        cancels the context before it stops the ticker.
 */
#include "bug.h"

typedef struct poller_args {
    roost_chan_t *tick; /* adopted */
    roost_ctx_t *ctx;   /* NULL in the leaky version */
} poller_args;

static void poller_leaky(void *arg) {
    poller_args *a = arg;
    MUST(roost_chan_adopt(a->tick));
    int polls = 0, rc;
    int64_t now;
    while ((rc = roost_chan_recv(NULL, a->tick, &now)) == 0) polls++; /* for range t.C { poll() } */
    bug_note("poller: %s after %d polls", roost_strerror(rc), polls);
    free(a);
}

static void poller_fixed(void *arg) {
    poller_args *a = arg;
    MUST(roost_chan_adopt(a->tick));
    int polls = 0;
    for (;;) {
        int64_t now;
        roost_case_t cases[] = {
            {.chan = a->tick, .op = ROOST_RECV, .elem = &now},  /* case <-t.C: poll() */
            {.chan = roost_ctx_done(a->ctx), .op = ROOST_RECV}, /* case <-ctx.Done(): return */
        };
        int i = roost_select(NULL, cases, 2, 0);
        if (i != 0) {
            if (i < 0) bug_note("poller: select: %s", roost_strerror(i));
            break;
        }
        polls++;
    }
    roost_ctx_unref(a->ctx);
    free(a);
}

static void run(int with_ctx) {
    roost_ticker_t *t;
    roost_ctx_t *ctx = NULL;
    MUST(roost_ticker_make(5 * ROOST_MS, &t));
    if (with_ctx) MUST(roost_ctx_with_cancel(NULL, &ctx));
    poller_args *a = bug_alloc(sizeof *a);
    a->tick = roost_chan_ref(roost_ticker_chan(t));
    a->ctx = ctx ? roost_ctx_ref(ctx) : NULL;
    MUST(roost_go(with_ctx ? poller_fixed : poller_leaky, a));
    roost_sleep(NULL, 22 * ROOST_MS);
    if (ctx) {
        roost_ctx_cancel(ctx); /* cancel() */
        roost_ctx_unref(ctx);
    }
    MUST(roost_ticker_stop(t)); /* t.Stop() */
}

static void leaky(void) { run(0); }
static void fixed(void) { run(1); }

BUG_MAIN(leaky, fixed)
