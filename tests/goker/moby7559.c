/* moby 7559 (GoKer blocking kernel), ported to roost.
 *
 * UDPProxy.Run locks connTrackLock at the top of each round; when the dial
 * fails it continues without unlocking, and the next round waits on the
 * lock it holds. Fix: unlock before continue. */
#include "bug.h"
#include <stdbool.h>

typedef struct udp_proxy {
    roost_mutex_t conn_track_lock;
    bool fix;
} udp_proxy;

static int dial_udp(void) { return ROOST_EINVAL; /* nil addresses */ }

static void proxy_run(void *arg) {
    udp_proxy *p = arg;
    for (int i = 0; i < 2; i++) {
        roost_mutex_lock(NULL, &p->conn_track_lock);
        if (dial_udp() != 0) {
            if (p->fix) roost_mutex_unlock(&p->conn_track_lock);
            continue; /* missing unlock in the bug */
        }
        if (i == 0) break;
    }
    if (!p->fix) roost_mutex_unlock(&p->conn_track_lock);
}

static void run(bool fix) {
    udp_proxy *p = bug_alloc(sizeof *p);
    p->fix = fix;
    MUST(roost_go(proxy_run, p));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
