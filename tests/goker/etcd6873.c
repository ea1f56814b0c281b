/* etcd 6873 (GoKer blocking kernel), ported to roost.
 *
 * newWatchBroadcasts starts a task that ranges over updatec, coalescing
 * each update under wbs.mu, and closes donec at the end. stop locks
 * wbs.mu, closes updatec and waits on donec still holding the lock; the
 * ranging task, with an update in hand, waits on the lock. One waits on a
 * channel, the other on a mutex, for good. Fix: stop unlocks before it
 * waits. */
#include "bug.h"
#include <stdbool.h>

typedef struct watch_broadcasts {
    roost_mutex_t mu;
    roost_chan_t *updatec, *donec;
    bool fix;
} watch_broadcasts;

static void coalesce_loop(void *arg) {
    watch_broadcasts *wbs = arg;
    int wb;
    while (roost_chan_recv(NULL, wbs->updatec, &wb) == 0) {
        roost_sleep(NULL, 3 * ROOST_MS); /* stop got the lock meanwhile */
        roost_mutex_lock(NULL, &wbs->mu);
        roost_mutex_unlock(&wbs->mu);
    }
    roost_chan_close(wbs->donec);
}

static void wbs_stop(void *arg) {
    watch_broadcasts *wbs = arg;
    roost_sleep(NULL, ROOST_MS); /* the update was taken */
    roost_mutex_lock(NULL, &wbs->mu);
    roost_chan_close(wbs->updatec);
    if (wbs->fix) roost_mutex_unlock(&wbs->mu);
    char v;
    roost_chan_recv(NULL, wbs->donec, &v);
    if (!wbs->fix) roost_mutex_unlock(&wbs->mu);
}

static void run(bool fix) {
    watch_broadcasts *wbs = bug_alloc(sizeof *wbs);
    MUST(roost_chan_make(sizeof(int), 1, &wbs->updatec));
    MUST(roost_chan_make(1, 0, &wbs->donec));
    wbs->fix = fix;
    MUST(roost_go(coalesce_loop, wbs));
    int wb = 1;
    roost_case_t cs[] = {{.chan = wbs->updatec, .op = ROOST_SEND, .elem = &wb}};
    roost_select(NULL, cs, 1, ROOST_SELECT_NONBLOCK); /* update */
    MUST(roost_go(wbs_stop, wbs));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
