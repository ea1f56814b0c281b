/* moby 33293 (GoKer blocking kernel), ported to roost.
 *
 * containerWait makes an unbuffered error channel and, when the call it
 * wraps fails, sends the error on it before returning it: the task sends
 * to a channel only it holds, and parks for good. Fix: a buffer of one. */
#include "bug.h"
#include <stdbool.h>

static size_t cap_of_errc;

static roost_chan_t *container_wait(void) {
    roost_chan_t *errc;
    MUST(roost_chan_make(sizeof(int), cap_of_errc, &errc));
    int err = -5; /* MayReturnError(): it did */
    roost_chan_send(NULL, errc, &err);
    return errc;
}

static void g1(void *arg) {
    (void)arg;
    roost_chan_t *errc = container_wait();
    roost_chan_unref(errc);
}

static void leaky(void) {
    cap_of_errc = 0;
    MUST(roost_go(g1, NULL));
}
static void fixed(void) {
    cap_of_errc = 1;
    MUST(roost_go(g1, NULL));
}

BUG_MAIN(leaky, fixed)
