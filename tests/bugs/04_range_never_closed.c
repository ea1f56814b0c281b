/* 04 range over a channel that is never closed.
 *
 * Go:
 *     ch := make(chan int)
 *     go func() {
 *         for _, x := range items { ch <- x }
 *         // forgot close(ch)
 *     }()
 *     go func() {
 *         for x := range ch { sum += x }    // waits for a close that never comes
 *         report(sum)
 *     }()
 *
 * leaky  the producer sends its items and returns without closing; the
 *        consumer's range (receive until ROOST_ECLOSED) parks for good.
 * fixed  the producer closes the channel when done (defer close(ch)).
 */
#include "bug.h"

static int produce(roost_chan_t *ch) {
    for (int x = 1; x <= 3; x++) {
        int rc = roost_chan_send(NULL, ch, &x); /* ch <- x */
        if (rc) {
            bug_note("producer: send: %s", roost_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void producer_leaky(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    produce(ch); /* and no close(ch) */
}

static void producer_fixed(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    produce(ch);
    roost_chan_close(ch); /* defer close(ch) */
}

static void consumer(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    int x, sum = 0, rc;
    while ((rc = roost_chan_recv(NULL, ch, &x)) == 0) sum += x; /* for x := range ch */
    if (rc != ROOST_ECLOSED) bug_note("consumer: receive: %s", roost_strerror(rc));
    bug_note("consumer: sum %d", sum);
}

static void pipeline(roost_fn producer) {
    roost_chan_t *ch;
    MUST(roost_chan_make(sizeof(int), 0, &ch));
    MUST(roost_go(producer, roost_chan_ref(ch)));
    MUST(roost_go(consumer, roost_chan_ref(ch)));
    roost_chan_unref(ch);
}

static void leaky(void) { pipeline(producer_leaky); }
static void fixed(void) { pipeline(producer_fixed); }

BUG_MAIN(leaky, fixed)
