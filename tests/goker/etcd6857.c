/* etcd 6857 (GoKer blocking kernel), ported to roost.
 *
 * node.run serves status requests and stops on n.stop, closing n.done.
 * Status sends a reply channel on the unbuffered n.status and waits for
 * the reply. Once Stop has stopped run, a Status call parks on its send
 * for good. Fix: Status gives up when n.done is closed. */
#include "bug.h"
#include <stdbool.h>

typedef struct node {
    roost_chan_t *status, *stop, *done;
    bool fix;
} node;

static void node_run(void *arg) {
    node *n = arg;
    for (;;) {
        roost_chan_t *c;
        char v;
        roost_case_t cs[] = {{.chan = n->status, .op = ROOST_RECV, .elem = &c},
                             {.chan = n->stop, .op = ROOST_RECV, .elem = &v}};
        if (roost_select(NULL, cs, 2, 0) == 0) {
            int st = 0;
            roost_chan_send(NULL, c, &st);
            continue;
        }
        roost_chan_close(n->done);
        return;
    }
}

static void node_status(void *arg) {
    node *n = arg;
    roost_sleep(NULL, 3 * ROOST_MS); /* after Stop */
    roost_chan_t *c;
    MUST(roost_chan_make(sizeof(int), 0, &c));
    char v;
    if (n->fix) {
        roost_case_t cs[] = {{.chan = n->status, .op = ROOST_SEND, .elem = &c},
                             {.chan = n->done, .op = ROOST_RECV, .elem = &v}};
        if (roost_select(NULL, cs, 2, 0) != 0) {
            roost_chan_unref(c);
            return;
        }
    } else {
        roost_chan_send(NULL, n->status, &c);
    }
    int st;
    roost_chan_recv(NULL, c, &st);
    roost_chan_unref(c);
}

static void node_stop(void *arg) {
    node *n = arg;
    char v = 0;
    roost_case_t cs[] = {{.chan = n->stop, .op = ROOST_SEND, .elem = &v},
                         {.chan = n->done, .op = ROOST_RECV, .elem = &v}};
    if (roost_select(NULL, cs, 2, 0) == 1) return;
    roost_chan_recv(NULL, n->done, &v);
}

static void run(bool fix) {
    node *n = bug_alloc(sizeof *n);
    MUST(roost_chan_make(sizeof(roost_chan_t *), 0, &n->status));
    MUST(roost_chan_make(1, 0, &n->stop));
    MUST(roost_chan_make(1, 0, &n->done));
    n->fix = fix;
    MUST(roost_go(node_run, n));
    MUST(roost_go(node_status, n));
    MUST(roost_go(node_stop, n));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
