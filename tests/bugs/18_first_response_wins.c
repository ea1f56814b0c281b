/* 18 first response wins: the other replicas' senders are left behind.
 *
 * Go (the "replicated search" of Go Concurrency Patterns):
 *     func First(q string, replicas ...Search) Result {
 *         c := make(chan Result)
 *         for _, r := range replicas {
 *             go func(r Search) { c <- r(q) }(r)   // all but the first block forever
 *         }
 *         return <-c
 *     }
 *
 * leaky  three replicas answer on an unbuffered channel; the caller takes
 *        the first answer and leaves; the two slower replicas park on their
 *        sends (one leak of two tasks on one channel).
 * fixed  make(chan Result, len(replicas)).
 */
#include "bug.h"

typedef struct replica_args {
    roost_chan_t *c; /* adopted */
    int delay_ms;
} replica_args;

static void replica(void *arg) {
    replica_args *a = arg;
    MUST(roost_chan_adopt(a->c));
    roost_sleep(NULL, a->delay_ms * ROOST_MS); /* r(q) */
    int r = a->delay_ms;
    int rc = roost_chan_send(NULL, a->c, &r); /* c <- r(q) */
    if (rc) bug_note("replica %d ms: send: %s", a->delay_ms, roost_strerror(rc));
    free(a);
}

static void first(size_t cap) {
    static const int delays[] = {2, 6, 10};
    roost_chan_t *c;
    MUST(roost_chan_make(sizeof(int), cap, &c));
    for (int i = 0; i < 3; i++) {
        replica_args *a = bug_alloc(sizeof *a);
        a->c = roost_chan_ref(c);
        a->delay_ms = delays[i];
        MUST(roost_go(replica, a));
    }
    int r;
    MUST(roost_chan_recv(NULL, c, &r)); /* return <-c */
    bug_note("first: %d ms", r);
    roost_chan_unref(c);
}

static void leaky(void) { first(0); }
static void fixed(void) { first(3); }

BUG_MAIN(leaky, fixed)
