/* kubernetes 6632 (GoKer blocking kernel), ported to roost.
 *
 * WriteFrame holds writeLock while it sends on the unbuffered resetChan;
 * monitor, told to close by closeChan, needs writeLock to close resetChan.
 * WriteFrame waits on the channel, monitor on the lock, for good. Fix:
 * monitor starts a task that drains resetChan before it takes the lock. */
#include "bug.h"
#include <stdbool.h>

typedef struct framer {
    roost_chan_t *reset_chan, *close_chan;
    roost_mutex_t write_lock;
    bool closed;
    bool fix;
} framer;

static void drain(void *arg) {
    roost_chan_t *ch = arg;
    bool v;
    while (roost_chan_recv(NULL, ch, &v) == 0) {
    }
    roost_chan_unref(ch);
}

static void monitor(void *arg) {
    framer *f = arg;
    bool v;
    roost_chan_recv(NULL, f->close_chan, &v);
    if (f->fix) MUST(roost_go(drain, roost_chan_ref(f->reset_chan)));
    roost_mutex_lock(NULL, &f->write_lock);
    roost_chan_close(f->reset_chan);
    f->closed = true;
    roost_mutex_unlock(&f->write_lock);
}

static void write_frame(void *arg) {
    framer *f = arg;
    roost_mutex_lock(NULL, &f->write_lock);
    if (!f->closed) {
        bool t = true;
        roost_chan_send(NULL, f->reset_chan, &t);
    }
    roost_mutex_unlock(&f->write_lock);
}

static void helper(void *arg) {
    framer *f = arg;
    roost_sleep(NULL, 2 * ROOST_MS); /* WriteFrame is in */
    bool t = true;
    roost_chan_send(NULL, f->close_chan, &t);
}

static void run(bool fix) {
    framer *f = bug_alloc(sizeof *f);
    MUST(roost_chan_make(sizeof(bool), 0, &f->reset_chan));
    MUST(roost_chan_make(sizeof(bool), 0, &f->close_chan));
    f->fix = fix;
    MUST(roost_go(helper, f));
    MUST(roost_go(monitor, f));
    MUST(roost_go(write_frame, f));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
