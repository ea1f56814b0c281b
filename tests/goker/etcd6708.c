/* etcd 6708 (GoKer blocking kernel), ported to roost.
 *
 * httpClusterClient.Sync write-locks the client and, with leader-first
 * endpoint selection, asks the members API for the leader, which calls
 * back into the client's Do, which read-locks it: the task waits on a
 * lock it holds. Fix: the leader is looked up outside the lock. */
#include "bug.h"
#include <stdbool.h>

typedef struct cluster_client {
    roost_rwmutex_t mu;
    bool prioritize_leader;
    bool fix;
} cluster_client;

static void client_do(cluster_client *c) {
    roost_rwmutex_rlock(NULL, &c->mu); /* blocks here */
    roost_rwmutex_runlock(&c->mu);
}

static void set_endpoints(cluster_client *c) {
    if (c->prioritize_leader) client_do(c); /* getLeaderEndpoint: mAPI.Leader */
}

static void sync_client(void *arg) {
    cluster_client *c = arg;
    if (c->fix) {
        set_endpoints(c);
        roost_rwmutex_lock(NULL, &c->mu);
        roost_rwmutex_unlock(&c->mu);
        return;
    }
    roost_rwmutex_lock(NULL, &c->mu);
    set_endpoints(c);
    roost_rwmutex_unlock(&c->mu);
}

static void run(bool fix) {
    cluster_client *c = bug_alloc(sizeof *c);
    c->prioritize_leader = true, c->fix = fix;
    MUST(roost_go(sync_client, c));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
