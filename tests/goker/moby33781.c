/* moby 33781 (GoKer blocking kernel), ported to roost.
 *
 * monitor probes on a period: each probe starts a task that sends its
 * result on an unbuffered channel, and monitor selects on stop, the
 * result and the probe's timeout. When stop wins, monitor returns without
 * draining the result: the probe task parks on its send for good. Fix: the
 * stop case drains the result first. */
#include "bug.h"
#include <stdbool.h>

typedef struct mon {
    roost_chan_t *stop;
    bool fix;
} mon;

static void probe(void *arg) {
    roost_chan_t *results = arg;
    roost_sleep(NULL, 3 * ROOST_MS); /* the probe's work: stop comes first */
    bool t = true;
    roost_chan_send(NULL, results, &t);
    roost_chan_close(results);
    roost_chan_unref(results);
}

static void monitor(void *arg) {
    mon *m = arg;
    for (;;) {
        roost_chan_t *results;
        MUST(roost_chan_make(sizeof(bool), 0, &results));
        roost_ctx_t *ctx;
        MUST(roost_ctx_with_timeout(NULL, 50 * ROOST_MS, &ctx));
        MUST(roost_go(probe, roost_chan_ref(results)));
        bool v;
        roost_case_t cs[] = {{.chan = m->stop, .op = ROOST_RECV, .elem = &v},
                             {.chan = results, .op = ROOST_RECV, .elem = &v},
                             {.chan = roost_ctx_done(ctx), .op = ROOST_RECV}};
        int i = roost_select(NULL, cs, 3, 0);
        if (i == 0 && m->fix) roost_chan_recv(NULL, results, &v);
        if (i == 2) roost_chan_recv(NULL, results, &v);
        roost_ctx_cancel(ctx);
        roost_ctx_unref(ctx);
        roost_chan_unref(results);
        if (i == 0) return;
    }
}

static void stopper(void *arg) {
    mon *m = arg;
    roost_sleep(NULL, ROOST_MS);
    bool t = true;
    roost_chan_send(NULL, m->stop, &t);
}

static void run(bool fix) {
    mon *m = bug_alloc(sizeof *m);
    MUST(roost_chan_make(sizeof(bool), 0, &m->stop));
    m->fix = fix;
    MUST(roost_go(monitor, m));
    MUST(roost_go(stopper, m));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
