/* kubernetes 38669 (GoKer blocking kernel), ported to roost.
 *
 * newCacheWatcher starts process, which first sends each initial event on
 * the watcher's result channel (unbuffered here) and then drains input
 * until Stop closes it. Nobody reads results: process parks on its first
 * send for good, and Stop's close of input never reaches it. Fix: the
 * result channel has room for the initial events. */
#include "bug.h"
#include <stdbool.h>

typedef struct cache_watcher {
    roost_mutex_t mu;
    roost_chan_t *input, *result;
    bool stopped;
    int init_events[2];
} cache_watcher;

static void watcher_stop(cache_watcher *c) {
    roost_mutex_lock(NULL, &c->mu);
    if (!c->stopped) {
        c->stopped = true;
        roost_chan_close(c->input);
    }
    roost_mutex_unlock(&c->mu);
}

static void process(void *arg) {
    cache_watcher *c = arg;
    for (int i = 0; i < 2; i++) roost_chan_send(NULL, c->result, &c->init_events[i]);
    int ev;
    while (roost_chan_recv(NULL, c->input, &ev) == 0) {
    }
    watcher_stop(c);
    roost_chan_close(c->result);
}

static cache_watcher *new_cache_watcher(size_t chan_size) {
    cache_watcher *w = bug_alloc(sizeof *w);
    MUST(roost_chan_make(sizeof(int), chan_size, &w->input));
    MUST(roost_chan_make(sizeof(int), chan_size, &w->result));
    w->init_events[0] = 1, w->init_events[1] = 2;
    MUST(roost_go(process, w));
    return w;
}

static void leaky(void) { watcher_stop(new_cache_watcher(0)); }
static void fixed(void) {
    cache_watcher *w = bug_alloc(sizeof *w);
    MUST(roost_chan_make(sizeof(int), 0, &w->input));
    MUST(roost_chan_make(sizeof(int), 2, &w->result)); /* room for the initial events */
    w->init_events[0] = 1, w->init_events[1] = 2;
    MUST(roost_go(process, w));
    watcher_stop(w);
}

BUG_MAIN(leaky, fixed)
