/* cockroach 25456 (GoKer blocking kernel), ported to roost.
 *
 * The test builds a store with a stopper whose quiesce channel nobody will
 * close, and has the consistency queue process a replica: process waits on
 * the channel, in the test's own task, for good. Fix: the stopper is
 * stopped (its channel closed) once the test is done with it. */
#include "bug.h"
#include <stdbool.h>

typedef struct stopper {
    roost_chan_t *quiescer;
} stopper;

typedef struct store {
    stopper *stopper;
} store;

typedef struct replica {
    store *store;
} replica;

static void process(replica *repl) {
    char v;
    roost_chan_recv(NULL, repl->store->stopper->quiescer, &v); /* <-ShouldQuiesce() */
}

static void stop_later(void *arg) {
    stopper *s = arg;
    roost_sleep(NULL, 2 * ROOST_MS);
    roost_chan_close(s->quiescer);
}

static void run(bool fix) {
    stopper *s = bug_alloc(sizeof *s);
    MUST(roost_chan_make(1, 0, &s->quiescer));
    store *st = bug_alloc(sizeof *st);
    st->stopper = s;
    replica *r = bug_alloc(sizeof *r);
    r->store = st;
    if (fix) MUST(roost_go(stop_later, s));
    for (int i = 0; i < 2; i++) process(r);
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
