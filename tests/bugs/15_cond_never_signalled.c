/* 15 a condition variable waited on with no signal.
 *
 * Go:
 *     mu.Lock()
 *     for !ready { cond.Wait() }
 *     mu.Unlock()
 *     ...
 *     mu.Lock(); ready = true; mu.Unlock()  // forgot cond.Broadcast()
 *
 * leaky  the setter flips the flag without signalling; the waiter that was
 *        already waiting never rechecks it.
 * fixed  broadcast after changing the condition.
 */
#include "bug.h"

static roost_mutex_t mu = ROOST_MUTEX_INIT;
static roost_cond_t cond = ROOST_COND_INIT;
static int ready;

static void waiter(void *arg) {
    if (roost_mutex_lock(NULL, &mu)) return;
    int rc = 0;
    while (!ready && rc == 0) rc = roost_cond_wait(NULL, &cond, &mu); /* for !ready { cond.Wait() } */
    roost_mutex_unlock(&mu);
    if (rc) bug_note("waiter: wait: %s", roost_strerror(rc));
}

static void setter_leaky(void *arg) {
    bug_wait_parked(ROOST_WAIT_COND, 1, 100 * ROOST_MS); /* comes once the waiter waits */
    if (roost_mutex_lock(NULL, &mu)) return;
    ready = 1; /* and no cond.Broadcast() */
    roost_mutex_unlock(&mu);
}

static void setter_fixed(void *arg) {
    bug_wait_parked(ROOST_WAIT_COND, 1, 100 * ROOST_MS); /* comes once the waiter waits */
    if (roost_mutex_lock(NULL, &mu)) return;
    ready = 1;
    roost_mutex_unlock(&mu);
    roost_cond_broadcast(&cond); /* cond.Broadcast() */
}

static void run(roost_fn setter) {
    MUST(roost_go(waiter, NULL));
    MUST(roost_go(setter, NULL));
}

static void leaky(void) { run(setter_leaky); }
static void fixed(void) { run(setter_fixed); }

BUG_MAIN(leaky, fixed)
