/* etcd 5509 (GoKer blocking kernel), ported to roost.
 *
 * remoteClient.acquire read-locks the client and, finding it closed,
 * returns without unlocking. Client.Close, which had let go of its write
 * lock for a moment, takes it again and waits for that reader, which is
 * gone: Close waits for good, and the test with it. Fix: acquire unlocks
 * before it returns. */
#include "bug.h"
#include <stdbool.h>

typedef struct client {
    roost_rwmutex_t mu;
    roost_ctx_t *cancel; /* NULL once closed */
    bool fix;
} client;

typedef struct get_args {
    client *c;
    roost_chan_t *donec;
} get_args;

static int acquire(client *c) {
    for (;;) {
        roost_rwmutex_rlock(NULL, &c->mu);
        bool closed = c->cancel == NULL;
        if (closed) {
            if (c->fix) roost_rwmutex_runlock(&c->mu);
            return ROOST_ECANCELED; /* missing RUnlock in the bug */
        }
        roost_rwmutex_runlock(&c->mu);
        roost_sleep(NULL, ROOST_MS);
    }
}

static void kv_get(void *arg) {
    get_args *a = arg;
    acquire(a->c);
    roost_chan_close(a->donec);
    roost_chan_unref(a->donec);
    free(a);
}

static void client_close(client *c) {
    roost_rwmutex_lock(NULL, &c->mu);
    if (!c->cancel) {
        roost_rwmutex_unlock(&c->mu);
        return;
    }
    roost_ctx_cancel(c->cancel);
    roost_ctx_unref(c->cancel);
    c->cancel = NULL;
    roost_rwmutex_unlock(&c->mu);
    roost_sleep(NULL, 3 * ROOST_MS);  /* the reader sees it closed meanwhile */
    roost_rwmutex_lock(NULL, &c->mu); /* blocks here */
    roost_rwmutex_unlock(&c->mu);
}

static void test_body(void *arg) {
    client *c = arg;
    MUST(roost_ctx_with_cancel(NULL, &c->cancel));
    roost_chan_t *donec;
    MUST(roost_chan_make(1, 0, &donec));
    get_args *a = bug_alloc(sizeof *a);
    a->c = c, a->donec = roost_chan_ref(donec);
    MUST(roost_go(kv_get, a));
    client_close(c);
    roost_chan_recv(NULL, donec, NULL);
    roost_chan_unref(donec);
}

static void run(bool fix) {
    client *c = bug_alloc(sizeof *c);
    c->fix = fix;
    MUST(roost_go(test_body, c));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
