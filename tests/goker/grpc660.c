/* grpc 660 (GoKer blocking kernel), ported to roost.
 *
 * doCloseLoopUnary loops: it makes a done channel, starts a call task that
 * sends its result on it, and selects on the client's stop channel and
 * done. A helper sends on stop; the loop returns without draining done, and
 * the call task of that round parks on its send for good. Fix: done has a
 * buffer of one. */
#include "bug.h"
#include <stdbool.h>

typedef struct client {
    roost_chan_t *stop;
    size_t done_cap;
} client;

static void call(void *arg) {
    roost_chan_t *done = arg;
    roost_sleep(NULL, 2 * ROOST_MS); /* the call's work */
    bool ok = true;
    roost_chan_send(NULL, done, &ok);
    roost_chan_unref(done);
}

static void close_loop_unary(void *arg) {
    client *bc = arg;
    for (;;) {
        roost_chan_t *done;
        MUST(roost_chan_make(sizeof(bool), bc->done_cap, &done));
        MUST(roost_go(call, roost_chan_ref(done)));
        bool v;
        roost_case_t cs[] = {{.chan = bc->stop, .op = ROOST_RECV, .elem = &v},
                             {.chan = done, .op = ROOST_RECV, .elem = &v}};
        int i = roost_select(NULL, cs, 2, 0);
        roost_chan_unref(done);
        if (i != 1) return;
    }
}

static void helper(void *arg) {
    client *bc = arg;
    bool t = true;
    roost_chan_send(NULL, bc->stop, &t);
}

static void run(size_t cap) {
    client *bc = bug_alloc(sizeof *bc);
    MUST(roost_chan_make(sizeof(bool), 0, &bc->stop));
    bc->done_cap = cap;
    MUST(roost_go(close_loop_unary, bc));
    MUST(roost_go(helper, bc));
}

static void leaky(void) { run(0); }
static void fixed(void) { run(1); }

BUG_MAIN(leaky, fixed)
