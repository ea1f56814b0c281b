/* 07 a context whose cancel is never called.
 *
 * Go:
 *     ctx, cancel := context.WithCancel(context.Background())
 *     _ = cancel                            // go vet: the cancel function is not used on all paths
 *     go func() {
 *         <-ctx.Done()                      // waits for a cancel that never comes
 *         cleanup()
 *     }()
 *
 * leaky  a watcher task waits on roost_ctx_done(ctx); the owner finishes
 *        its work and drops its reference to the context without
 *        cancelling it. The context is still alive (the watcher holds a
 *        reference), so in principle the watcher itself could cancel it.
 * fixed  defer cancel(): the owner cancels when it is done.
 */
#include "bug.h"

static void watcher(void *arg) {
    roost_ctx_t *ctx = arg;                                    /* the watcher's own reference */
    int rc = roost_chan_recv(NULL, roost_ctx_done(ctx), NULL); /* <-ctx.Done() */
    if (rc != ROOST_ECLOSED) bug_note("watcher: receive: %s", roost_strerror(rc));
    roost_ctx_unref(ctx); /* cleanup() */
}

static roost_ctx_t *start(void) {
    roost_ctx_t *ctx;
    MUST(roost_ctx_with_cancel(NULL, &ctx)); /* ctx, cancel := context.WithCancel(bg) */
    MUST(roost_go(watcher, roost_ctx_ref(ctx)));
    roost_sleep(NULL, 5 * ROOST_MS); /* the work the context was for */
    return ctx;
}

static void leaky(void) {
    roost_ctx_t *ctx = start();
    roost_ctx_unref(ctx); /* done with it, and cancel is never called */
}

static void fixed(void) {
    roost_ctx_t *ctx = start();
    roost_ctx_cancel(ctx); /* defer cancel() */
    roost_ctx_unref(ctx);
}

BUG_MAIN(leaky, fixed)
