/* 01 forgotten receiver (the story).
 *
 * Go:
 *     ch := make(chan Result)
 *     go func() { ch <- doRequest() }()
 *     select {
 *     case r := <-ch:    return r, nil
 *     case <-ctx.Done(): return nil, ctx.Err()   // the caller leaves; the sender blocks forever
 *     }
 *
 * leaky  the result travels on an unbuffered channel and the request does
 *        not watch the caller's context: after the caller timed out and
 *        dropped its reference, the request task parks on a send nobody can
 *        ever receive.
 * fixed  make(chan Result, 1), so the send never waits, and the request
 *        selects on its work against ctx.Done() so it stops early.
 */
#include "bug.h"

typedef struct result {
    int value;
} result;

typedef struct request {
    roost_chan_t *ch; /* adopted by the request task */
    roost_ctx_t *ctx; /* fixed only: the task's own reference */
} request;

/* ------------------------------------------------------------------ leaky */

static void do_request_leaky(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    roost_sleep(NULL, 30 * ROOST_MS); /* the slow backend */
    result r = {42};
    int rc = roost_chan_send(NULL, ch, &r); /* ch <- r */
    if (rc) bug_note("request: send: %s", roost_strerror(rc));
}

static void leaky(void) {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    result r;
    MUST(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
    MUST(roost_chan_make(sizeof r, 0, &ch)); /* make(chan Result) */
    MUST(roost_go(do_request_leaky, roost_chan_ref(ch)));
    roost_case_t cases[] = {
        {.chan = ch, .op = ROOST_RECV, .elem = &r},
        {.chan = roost_ctx_done(ctx), .op = ROOST_RECV},
    };
    int i = roost_select(NULL, cases, 2, 0);
    if (i == 1) bug_note("caller: %s", roost_strerror(roost_ctx_err(ctx)));
    roost_chan_unref(ch);
    roost_ctx_cancel(ctx); /* defer cancel() */
    roost_ctx_unref(ctx);
}

/* ------------------------------------------------------------------ fixed */

static void do_request(void *arg) {
    request *req = arg;
    MUST(roost_chan_adopt(req->ch));
    roost_chan_t *work;
    int64_t t;
    MUST(roost_after(30 * ROOST_MS, &work)); /* the slow backend */
    roost_case_t cases[] = {
        {.chan = work, .op = ROOST_RECV, .elem = &t},
        {.chan = roost_ctx_done(req->ctx), .op = ROOST_RECV}, /* <-ctx.Done() */
    };
    roost_select(NULL, cases, 2, 0);
    roost_chan_unref(work);
    result r = {42};
    int rc = roost_chan_send(NULL, req->ch, &r); /* buffer of one: never waits */
    if (rc) bug_note("request: send: %s", roost_strerror(rc));
    roost_ctx_unref(req->ctx);
    free(req);
}

static void fixed(void) {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    result r;
    MUST(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
    MUST(roost_chan_make(sizeof r, 1, &ch)); /* make(chan Result, 1) */
    request *req = bug_alloc(sizeof *req);
    req->ch = roost_chan_ref(ch);
    req->ctx = roost_ctx_ref(ctx);
    MUST(roost_go(do_request, req));
    roost_case_t cases[] = {
        {.chan = ch, .op = ROOST_RECV, .elem = &r},
        {.chan = roost_ctx_done(ctx), .op = ROOST_RECV},
    };
    int i = roost_select(NULL, cases, 2, 0);
    if (i == 1) bug_note("caller: %s", roost_strerror(roost_ctx_err(ctx)));
    roost_chan_unref(ch);
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
}

BUG_MAIN(leaky, fixed)
