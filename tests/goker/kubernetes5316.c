/* kubernetes 5316 (GoKer blocking kernel), ported to roost.
 *
 * finishRequest starts fn in a task that reports on ch or errCh (both
 * unbuffered), then selects on them and on a timeout. fn takes longer than
 * the timeout: finishRequest returns, and the task parks on its send for
 * good. Fix: both channels have a buffer of one. */
#include "bug.h"
#include <stdbool.h>

typedef struct req {
    roost_chan_t *ch, *errch;
} req;

static void do_fn(void *arg) {
    req *r = arg;
    roost_sleep(NULL, 4 * ROOST_MS); /* fn(): slower than the timeout */
    int err = -1;
    roost_chan_send(NULL, r->errch, &err); /* errCh <- err */
    roost_chan_unref(r->ch);
    roost_chan_unref(r->errch);
    free(r);
}

static void finish_request(void *arg) {
    size_t cap = (size_t)(uintptr_t)arg;
    roost_chan_t *ch, *errch;
    MUST(roost_chan_make(sizeof(bool), cap, &ch));
    MUST(roost_chan_make(sizeof(int), cap, &errch));
    req *r = bug_alloc(sizeof *r);
    r->ch = roost_chan_ref(ch), r->errch = roost_chan_ref(errch);
    MUST(roost_go(do_fn, r));
    roost_ctx_t *ctx; /* time.After(timeout) */
    MUST(roost_ctx_with_timeout(NULL, ROOST_MS, &ctx));
    bool b;
    int e;
    roost_case_t cs[] = {{.chan = ch, .op = ROOST_RECV, .elem = &b},
                         {.chan = errch, .op = ROOST_RECV, .elem = &e},
                         {.chan = roost_ctx_done(ctx), .op = ROOST_RECV}};
    roost_select(NULL, cs, 3, 0);
    roost_ctx_unref(ctx);
    roost_chan_unref(ch);
    roost_chan_unref(errch);
}

static void leaky(void) { MUST(roost_go(finish_request, (void *)(uintptr_t)0)); }
static void fixed(void) { MUST(roost_go(finish_request, (void *)(uintptr_t)1)); }

BUG_MAIN(leaky, fixed)
