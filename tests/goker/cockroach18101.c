/* cockroach 18101 (GoKer blocking kernel), ported to roost.
 *
 * restore starts splitAndScatter, which sends chanSize + 2 values on a
 * channel with a buffer of chanSize; restore takes one value, sees the
 * context cancelled and returns. The sender fills the buffer and parks on
 * its next send for good: the context stops only the receiver. Fix: the
 * sender selects on the context too. */
#include "bug.h"
#include <stdbool.h>

#define CHAN_SIZE 6

typedef struct scatter {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    bool watch_ctx;
} scatter;

static void split_and_scatter(void *arg) {
    scatter *s = arg;
    for (int i = 0; i < CHAN_SIZE + 2; i++) {
        bool v = i != 0;
        if (!s->watch_ctx) {
            roost_chan_send(NULL, s->ch, &v);
            continue;
        }
        roost_case_t cs[] = {{.chan = s->ch, .op = ROOST_SEND, .elem = &v},
                             {.chan = roost_ctx_done(s->ctx), .op = ROOST_RECV}};
        if (roost_select(NULL, cs, 2, 0) != 0) break;
    }
    roost_chan_close(s->ch);
    roost_chan_unref(s->ch);
    roost_ctx_unref(s->ctx);
    free(s);
}

typedef struct args {
    roost_ctx_t *ctx;
    bool fix;
} args;

static void restore(void *arg) {
    args *a = arg;
    roost_chan_t *ch;
    MUST(roost_chan_make(sizeof(bool), CHAN_SIZE, &ch));
    scatter *s = bug_alloc(sizeof *s);
    s->ch = roost_chan_ref(ch), s->ctx = roost_ctx_ref(a->ctx), s->watch_ctx = a->fix;
    MUST(roost_go(split_and_scatter, s));
    bool v;
    while (roost_chan_recv(NULL, ch, &v) == 0) {
        /* select { case <-ctx.Done(): return } */
        roost_chan_recv(NULL, roost_ctx_done(a->ctx), NULL);
        break;
    }
    roost_chan_unref(ch);
    roost_ctx_unref(a->ctx);
    free(a);
}

static void cancel(void *arg) {
    roost_ctx_t *ctx = arg;
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
}

static void run(bool fix) {
    roost_ctx_t *ctx;
    MUST(roost_ctx_with_cancel(NULL, &ctx));
    args *a = bug_alloc(sizeof *a);
    a->ctx = roost_ctx_ref(ctx), a->fix = fix;
    MUST(roost_go(restore, a));
    MUST(roost_go(cancel, ctx));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
