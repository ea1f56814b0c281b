/* cockroach 13755 (GoKer blocking kernel), ported to roost.
 *
 * Rows.initContextClose derives a cancellable context, keeps its cancel in
 * the rows and starts awaitDone on it; the rows are never closed, so
 * nothing cancels and awaitDone waits for good. Fix: the caller closes
 * the rows, which cancels. */
#include "bug.h"
#include <stdbool.h>

typedef struct rows {
    roost_ctx_t *cancel; /* rs.cancel */
} rows;

static void await_done(void *arg) {
    roost_ctx_t *ctx = arg;
    roost_chan_recv(NULL, roost_ctx_done(ctx), NULL);
    roost_ctx_unref(ctx);
}

static rows *init_context_close(void) {
    rows *rs = bug_alloc(sizeof *rs);
    MUST(roost_ctx_with_cancel(NULL, &rs->cancel));
    MUST(roost_go(await_done, roost_ctx_ref(rs->cancel)));
    return rs;
}

static void leaky(void) { init_context_close(); }
static void fixed(void) { roost_ctx_cancel(init_context_close()->cancel); }

BUG_MAIN(leaky, fixed)
