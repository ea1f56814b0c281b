/* kubernetes 10182 (GoKer blocking kernel), ported to roost.
 *
 * statusManager's sync task receives from podStatusChannel and then takes
 * podStatusesLock; SetPodStatus takes the lock and then sends on the
 * unbuffered channel. With two SetPodStatus calls, the second sends while
 * holding the lock the sync task needs: one waits on the channel, the
 * other on the lock, for good. Fix: SetPodStatus sends after unlocking. */
#include "bug.h"
#include <stdbool.h>

typedef struct status_manager {
    roost_rwmutex_t lock;
    roost_chan_t *ch;
    bool fix;
} status_manager;

static void sync_loop(void *arg) {
    status_manager *s = arg;
    for (int i = 0; i < 2; i++) {
        bool v;
        roost_chan_recv(NULL, s->ch, &v);
        roost_rwmutex_lock(NULL, &s->lock); /* DeletePodStatus */
        roost_rwmutex_unlock(&s->lock);
    }
}

static void set_pod_status(void *arg) {
    status_manager *s = arg;
    bool v = true;
    roost_rwmutex_lock(NULL, &s->lock);
    if (s->fix) roost_rwmutex_unlock(&s->lock);
    roost_chan_send(NULL, s->ch, &v);
    if (!s->fix) roost_rwmutex_unlock(&s->lock);
}

static void set_pod_status_later(void *arg) {
    roost_sleep(NULL, ROOST_MS);
    set_pod_status(arg);
}

static void run(bool fix) {
    status_manager *s = bug_alloc(sizeof *s);
    MUST(roost_chan_make(sizeof(bool), 0, &s->ch));
    s->fix = fix;
    MUST(roost_go(set_pod_status, s));
    MUST(roost_go(set_pod_status_later, s));
    roost_sleep(NULL, 3 * ROOST_MS); /* both are in before the sync task starts */
    MUST(roost_go(sync_loop, s));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
