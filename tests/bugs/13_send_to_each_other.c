/* 13 two loops each sending to the other.
 *
 * Go:
 *     func peer(out chan<- Msg, in <-chan Msg) {
 *         for i := 0; i < 3; i++ {
 *             out <- hello(i)               // both peers send first on unbuffered channels
 *             m := <-in
 *         }
 *     }
 *     go peer(ab, ba); go peer(ba, ab)
 *
 * leaky  both peers start with a send; neither ever reaches its receive.
 * fixed  each peer selects between its pending send and a receive (a nil
 *        channel disables a case that is done), as Go code would.
 */
#include "bug.h"

typedef struct peer_args {
    roost_chan_t *out, *in; /* adopted */
    const char *name;
} peer_args;

static peer_args *adopt_args(void *arg) {
    peer_args *p = arg;
    MUST(roost_chan_adopt(p->out));
    MUST(roost_chan_adopt(p->in));
    return p;
}

static void peer_leaky(void *arg) {
    peer_args *p = adopt_args(arg);
    for (int i = 0; i < 3; i++) {
        int m, rc = roost_chan_send(NULL, p->out, &i);  /* out <- hello(i) */
        if (!rc) rc = roost_chan_recv(NULL, p->in, &m); /* m := <-in */
        if (rc) {
            bug_note("peer %s: %s", p->name, roost_strerror(rc));
            break;
        }
    }
    free(p);
}

static void peer_fixed(void *arg) {
    peer_args *p = adopt_args(arg);
    int sent = 0, got = 0, m;
    while (sent < 3 || got < 3) {
        roost_case_t cases[] = {
            {.chan = sent < 3 ? p->out : NULL,
             .op = ROOST_SEND,
             .elem = &sent},                                                /* case out <- hello(sent): */
            {.chan = got < 3 ? p->in : NULL, .op = ROOST_RECV, .elem = &m}, /* case m := <-in: */
        };
        int i = roost_select(NULL, cases, 2, 0);
        if (i == 0)
            sent++;
        else if (i == 1)
            got++;
        else {
            bug_note("peer %s: %s", p->name, roost_strerror(i));
            break;
        }
    }
    free(p);
}

static void run(roost_fn peer) {
    roost_chan_t *ab, *ba;
    MUST(roost_chan_make(sizeof(int), 0, &ab));
    MUST(roost_chan_make(sizeof(int), 0, &ba));
    peer_args *x = bug_alloc(sizeof *x), *y = bug_alloc(sizeof *y);
    *x = (peer_args){roost_chan_ref(ab), roost_chan_ref(ba), "a"};
    *y = (peer_args){roost_chan_ref(ba), roost_chan_ref(ab), "b"};
    MUST(roost_go(peer, x));
    MUST(roost_go(peer, y));
    roost_chan_unref(ab);
    roost_chan_unref(ba);
}

static void leaky(void) { run(peer_leaky); }
static void fixed(void) { run(peer_fixed); }

BUG_MAIN(leaky, fixed)
