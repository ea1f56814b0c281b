/* 12 a lock held across a send whose receiver needs that lock.
 *
 * Go:
 *     // publisher
 *     s.mu.Lock()
 *     s.version++
 *     updates <- s.version                  // sends while holding s.mu
 *     s.mu.Unlock()
 *
 *     // subscriber
 *     for {
 *         s.mu.Lock(); seen := s.version; s.mu.Unlock()   // needs s.mu before it receives
 *         v, ok := <-updates
 *         ...
 *     }
 *
 * leaky  the publisher parks on its send holding the lock; the subscriber
 *        parks on the lock before it gets to the receive.
 * fixed  read what to send under the lock, unlock, then send.
 */
#include "bug.h"

typedef struct state {
    roost_mutex_t mu;
    int version;
} state;

static state s = {ROOST_MUTEX_INIT, 0};

static void publisher_leaky(void *arg) {
    roost_chan_t *updates = arg;
    MUST(roost_chan_adopt(updates));
    for (int i = 0; i < 3; i++) {
        if (roost_mutex_lock(NULL, &s.mu)) return;
        s.version++;
        int rc = roost_chan_send(NULL, updates, &s.version); /* updates <- s.version, under s.mu */
        roost_mutex_unlock(&s.mu);
        if (rc) {
            bug_note("publisher: send: %s", roost_strerror(rc));
            return;
        }
    }
    roost_chan_close(updates);
}

static void publisher_fixed(void *arg) {
    roost_chan_t *updates = arg;
    MUST(roost_chan_adopt(updates));
    for (int i = 0; i < 3; i++) {
        if (roost_mutex_lock(NULL, &s.mu)) return;
        int v = ++s.version;
        roost_mutex_unlock(&s.mu);
        int rc = roost_chan_send(NULL, updates, &v); /* send after unlocking */
        if (rc) {
            bug_note("publisher: send: %s", roost_strerror(rc));
            return;
        }
    }
    roost_chan_close(updates);
}

static void subscriber(void *arg) {
    roost_chan_t *updates = arg;
    MUST(roost_chan_adopt(updates));
    int got = 0;
    for (;;) {
        int rc = roost_mutex_lock(NULL, &s.mu);
        if (rc) {
            bug_note("subscriber: lock: %s", roost_strerror(rc));
            return;
        }
        int seen = s.version;
        roost_mutex_unlock(&s.mu);
        int v;
        rc = roost_chan_recv(NULL, updates, &v);
        if (rc) {
            if (rc != ROOST_ECLOSED) bug_note("subscriber: receive: %s", roost_strerror(rc));
            break;
        }
        got++;
        (void)seen;
    }
    bug_note("subscriber: %d updates", got);
}

static void run(roost_fn publisher) {
    roost_chan_t *updates;
    MUST(roost_chan_make(sizeof(int), 0, &updates));
    MUST(roost_go(publisher, roost_chan_ref(updates)));
    /* The subscriber comes up a little later, once the publisher is waiting
     * on its first send (the interleaving the bug needs, every time). */
    bug_wait_parked(ROOST_WAIT_CHAN_SEND, 1, 100 * ROOST_MS);
    MUST(roost_go(subscriber, roost_chan_ref(updates)));
    roost_chan_unref(updates);
}

static void leaky(void) { run(publisher_leaky); }
static void fixed(void) { run(publisher_fixed); }

BUG_MAIN(leaky, fixed)
