/* cockroach 584 (GoKer blocking kernel), ported to roost.
 *
 * Gossip.bootstrap and Gossip.manage each lock g.mu and, finding the
 * gossip closed, break out of their loop without unlocking; one task calls
 * both, and manage waits on the lock bootstrap left held. Fix: unlock
 * before the break. */
#include "bug.h"
#include <stdbool.h>

typedef struct gossip {
    roost_mutex_t mu;
    bool closed;
    bool unlock_on_close;
} gossip;

static void step(gossip *g) {
    for (;;) {
        roost_mutex_lock(NULL, &g->mu);
        if (g->closed) {
            if (g->unlock_on_close) roost_mutex_unlock(&g->mu);
            break; /* missing unlock in the bug */
        }
        roost_mutex_unlock(&g->mu);
        break;
    }
}

static void g1(void *arg) {
    gossip *g = arg;
    step(g); /* bootstrap */
    step(g); /* manage */
}

static void run(bool fix) {
    gossip *g = bug_alloc(sizeof *g);
    g->closed = true, g->unlock_on_close = fix;
    MUST(roost_go(g1, g));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
