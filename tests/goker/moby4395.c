/* moby 4395 (GoKer blocking kernel), ported to roost.
 *
 * Go() starts a task that sends f()'s result on an unbuffered channel and
 * returns the channel; the caller ignores it. Nobody ever receives: the
 * sender parks for good. Fix: a buffer of one, so the send completes. */
#include "bug.h"
#include <stdbool.h>

static void run_f(void *arg) {
    roost_chan_t *ch = arg; /* the task's own reference */
    int err = -1;           /* f() returned an error */
    roost_chan_send(NULL, ch, &err);
    roost_chan_unref(ch);
}

static roost_chan_t *go_f(size_t cap) {
    roost_chan_t *ch;
    MUST(roost_chan_make(sizeof(int), cap, &ch));
    MUST(roost_go(run_f, roost_chan_ref(ch)));
    return ch;
}

static void leaky(void) { roost_chan_unref(go_f(0)); }
static void fixed(void) { roost_chan_unref(go_f(1)); }

BUG_MAIN(leaky, fixed)
