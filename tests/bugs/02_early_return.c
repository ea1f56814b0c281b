/* 02 early return before the receive.
 *
 * Go:
 *     func handle(req Request) error {
 *         ch := make(chan int)
 *         go func() { ch <- lookup(req.Key) }()
 *         if err := validate(req); err != nil {
 *             return err                    // returns before <-ch: the lookup blocks forever
 *         }
 *         v := <-ch
 *         ...
 *     }
 *
 * leaky  the handler validates after starting the lookup and returns on the
 *        error path without receiving; the lookup parks on its send.
 * fixed  make(chan int, 1): the lookup's send completes whether or not
 *        anyone receives, and the task exits.
 */
#include "bug.h"

static void lookup(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    roost_sleep(NULL, 5 * ROOST_MS); /* the lookup's work */
    int v = 7;
    int rc = roost_chan_send(NULL, ch, &v); /* ch <- lookup(req.Key) */
    if (rc) bug_note("lookup: send: %s", roost_strerror(rc));
}

static int validate(int key) { return key < 0 ? ROOST_EINVAL : 0; }

static int handle(int key, size_t cap) {
    roost_chan_t *ch;
    MUST(roost_chan_make(sizeof(int), cap, &ch));
    MUST(roost_go(lookup, roost_chan_ref(ch)));
    int err = validate(key);
    if (err) {
        roost_chan_unref(ch);
        return err; /* early return: nobody receives */
    }
    int v;
    err = roost_chan_recv(NULL, ch, &v); /* v := <-ch */
    roost_chan_unref(ch);
    return err;
}

static void leaky(void) {
    int err = handle(-1, 0); /* make(chan int) */
    bug_note("handle: %s", roost_strerror(err));
}

static void fixed(void) {
    int err = handle(-1, 1); /* make(chan int, 1) */
    bug_note("handle: %s", roost_strerror(err));
}

BUG_MAIN(leaky, fixed)
