/* grpc 1460 (GoKer blocking kernel), ported to roost.
 *
 * keepalive locks t.mu and, with no active stream, waits on the
 * unbuffered awakenKeepalive channel still holding the lock; NewStream
 * needs the lock to add a stream and wake it. keepalive waits on the
 * channel, NewStream on the mutex, for good. Fix: keepalive lets go of the
 * lock before it waits, and NewStream sends outside the lock. */
#include "bug.h"
#include <stdbool.h>

typedef struct http2_client {
    roost_mutex_t mu;
    roost_chan_t *awaken_keepalive;
    int active_streams;
    bool fix;
} http2_client;

static void keepalive(void *arg) {
    http2_client *t = arg;
    char v;
    roost_mutex_lock(NULL, &t->mu);
    if (t->active_streams < 1) {
        if (t->fix) {
            roost_mutex_unlock(&t->mu);
            roost_chan_recv(NULL, t->awaken_keepalive, &v);
            return;
        }
        roost_chan_recv(NULL, t->awaken_keepalive, &v);
    }
    roost_mutex_unlock(&t->mu);
}

static void new_stream(void *arg) {
    http2_client *t = arg;
    roost_sleep(NULL, 2 * ROOST_MS); /* keepalive got there first */
    char v = 0;
    roost_mutex_lock(NULL, &t->mu);
    int n = ++t->active_streams;
    if (t->fix) roost_mutex_unlock(&t->mu);
    if (n == 1) roost_chan_send(NULL, t->awaken_keepalive, &v);
    if (!t->fix) roost_mutex_unlock(&t->mu);
}

static void run(bool fix) {
    http2_client *c = bug_alloc(sizeof *c);
    MUST(roost_chan_make(1, 0, &c->awaken_keepalive));
    c->fix = fix;
    MUST(roost_go(keepalive, c));
    MUST(roost_go(new_stream, c));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
