/* cockroach 24808 (GoKer blocking kernel), ported to roost.
 *
 * The test fills the compactor's channel (a buffer of one) and then calls
 * Start, which sends on it again before starting the worker that drains
 * it: the test's own task parks on the full channel for good. Fix: Start's
 * send does not wait (select with default). */
#include "bug.h"
#include <stdbool.h>

typedef struct stopper {
    roost_waitgroup_t stop;
    roost_chan_t *stopper;
} stopper;

typedef struct compactor {
    roost_chan_t *ch;
} compactor;

typedef struct worker_args {
    stopper *s;
    compactor *c;
} worker_args;

static void compactor_worker(void *arg) {
    worker_args *a = arg;
    char v;
    for (;;) {
        roost_case_t cs[] = {{.chan = a->s->stopper, .op = ROOST_RECV, .elem = &v},
                             {.chan = a->c->ch, .op = ROOST_RECV, .elem = &v}};
        if (roost_select(NULL, cs, 2, 0) != 1) break;
    }
    roost_waitgroup_done(&a->s->stop);
    free(a);
}

static void start(compactor *c, stopper *s, bool fix) {
    char v = 0;
    if (fix) {
        roost_case_t cs[] = {{.chan = c->ch, .op = ROOST_SEND, .elem = &v}};
        roost_select(NULL, cs, 1, ROOST_SELECT_NONBLOCK);
    } else {
        roost_chan_send(NULL, c->ch, &v);
    }
    worker_args *a = bug_alloc(sizeof *a);
    a->s = s, a->c = c;
    MUST(roost_waitgroup_add(&s->stop, 1));
    MUST(roost_go(compactor_worker, a));
}

static void run(bool fix) {
    stopper *s = bug_alloc(sizeof *s);
    MUST(roost_chan_make(1, 0, &s->stopper));
    compactor *c = bug_alloc(sizeof *c);
    MUST(roost_chan_make(1, 1, &c->ch));
    char v = 0;
    roost_chan_send(NULL, c->ch, &v);
    start(c, s, fix);
    roost_chan_close(s->stopper); /* defer stopper.Stop() */
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
