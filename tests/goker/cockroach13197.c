/* cockroach 13197 (GoKer blocking kernel), ported to roost.
 *
 * DB.begin makes a cancellable context for a transaction and starts
 * awaitDone, which waits on the context's done channel; the caller drops
 * the transaction without Rollback, so the cancel is never called and
 * awaitDone waits for good. Fix: the caller rolls back (cancels). */
#include "bug.h"
#include <stdbool.h>

typedef struct tx {
    roost_ctx_t *ctx; /* cancel and ctx in one */
} tx;

static void await_done(void *arg) {
    roost_ctx_t *ctx = arg;
    roost_chan_recv(NULL, roost_ctx_done(ctx), NULL); /* <-tx.ctx.Done() */
    roost_ctx_unref(ctx);
}

static tx *begin(void) {
    tx *t = bug_alloc(sizeof *t);
    MUST(roost_ctx_with_cancel(NULL, &t->ctx));
    MUST(roost_go(await_done, roost_ctx_ref(t->ctx)));
    return t;
}

static void rollback(tx *t) { roost_ctx_cancel(t->ctx); }

static void leaky(void) { begin(); }
static void fixed(void) { rollback(begin()); }

BUG_MAIN(leaky, fixed)
