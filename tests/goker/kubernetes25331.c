/* kubernetes 25331 (GoKer blocking kernel), ported to roost.
 *
 * watchChan.run selects on errChan and the context; Stop sends an error
 * and cancels. run takes the error, cancels, and sends the result on the
 * unbuffered resultChan, which nobody reads: it parks for good, and the
 * cancel that should have ended it came before. Fix: the result send
 * selects on the context too. */
#include "bug.h"
#include <stdbool.h>

typedef struct watch_chan {
    roost_ctx_t *ctx; /* ctx and cancel */
    roost_chan_t *result_chan, *err_chan;
    bool fix;
} watch_chan;

static void wc_stop(void *arg) {
    watch_chan *wc = arg;
    int err = -1;
    roost_chan_send(NULL, wc->err_chan, &err);
    roost_ctx_cancel(wc->ctx);
}

static void wc_run(void *arg) {
    watch_chan *wc = arg;
    int err;
    roost_case_t cs[] = {{.chan = wc->err_chan, .op = ROOST_RECV, .elem = &err},
                         {.chan = roost_ctx_done(wc->ctx), .op = ROOST_RECV}};
    if (roost_select(NULL, cs, 2, 0) != 0) return;
    bool res = err != 0;
    if (!wc->fix) {
        roost_ctx_cancel(wc->ctx);
        roost_chan_send(NULL, wc->result_chan, &res);
        return;
    }
    roost_case_t out[] = {{.chan = wc->result_chan, .op = ROOST_SEND, .elem = &res},
                          {.chan = roost_ctx_done(wc->ctx), .op = ROOST_RECV}};
    roost_select(NULL, out, 2, 0);
}

static void run(bool fix) {
    watch_chan *wc = bug_alloc(sizeof *wc);
    MUST(roost_ctx_with_cancel(NULL, &wc->ctx));
    MUST(roost_chan_make(sizeof(bool), 0, &wc->result_chan));
    MUST(roost_chan_make(sizeof(int), 0, &wc->err_chan));
    wc->fix = fix;
    MUST(roost_go(wc_run, wc));
    MUST(roost_go(wc_stop, wc));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
