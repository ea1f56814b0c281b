/* 03 double send: an error path that sends and falls through to send again.
 *
 * Go:
 *     go func() {
 *         v, err := fetch()
 *         if err != nil {
 *             ch <- -1                      // missing return
 *         }
 *         ch <- v                           // second send: nobody receives it
 *     }()
 *     r := <-ch                             // the caller receives once
 *
 * leaky  the worker reports the error and then sends its value too; the
 *        caller took one value and went away, so the second send parks.
 * fixed  return after sending the error.
 */
#include "bug.h"

static int fetch(int *v) {
    roost_sleep(NULL, 2 * ROOST_MS);
    *v = 0;
    return ROOST_ETIMEDOUT; /* the backend failed */
}

static void worker_leaky(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    int v, rc;
    if (fetch(&v) != 0) {
        int e = -1;
        rc = roost_chan_send(NULL, ch, &e); /* ch <- -1 (and no return) */
        if (rc) bug_note("worker: send error: %s", roost_strerror(rc));
    }
    rc = roost_chan_send(NULL, ch, &v); /* ch <- v */
    if (rc) bug_note("worker: send value: %s", roost_strerror(rc));
}

static void worker_fixed(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    int v, rc;
    if (fetch(&v) != 0) {
        int e = -1;
        rc = roost_chan_send(NULL, ch, &e); /* ch <- -1 */
        if (rc) bug_note("worker: send error: %s", roost_strerror(rc));
        return; /* return */
    }
    rc = roost_chan_send(NULL, ch, &v);
    if (rc) bug_note("worker: send value: %s", roost_strerror(rc));
}

static void caller(roost_fn worker) {
    roost_chan_t *ch;
    int r;
    MUST(roost_chan_make(sizeof(int), 0, &ch));
    MUST(roost_go(worker, roost_chan_ref(ch)));
    int rc = roost_chan_recv(NULL, ch, &r); /* r := <-ch */
    bug_note("caller: got %d (%s)", r, roost_strerror(rc));
    roost_chan_unref(ch);
}

static void leaky(void) { caller(worker_leaky); }
static void fixed(void) { caller(worker_fixed); }

BUG_MAIN(leaky, fixed)
