/* cockroach 6181 (GoKer blocking kernel), ported to roost.
 *
 * LookupRangeDescriptor read-locks the cache and, formatting it, read-locks
 * it again (String). A writer that comes between the two read locks waits
 * for the first, and holds back the second (a waiting writer holds back
 * new readers): reader and writer wait for good, and so does the test on
 * its wait group. Fix: the formatting uses the locked variant. */
#include "bug.h"
#include <stdbool.h>

typedef struct cache {
    roost_rwmutex_t mu;
    bool fix;
} cache;

typedef struct lookup_args {
    cache *c;
    roost_waitgroup_t *wg;
    int writer;
} lookup_args;

static void lookup(void *arg) {
    lookup_args *a = arg;
    cache *c = a->c;
    if (a->writer) {
        roost_sleep(NULL, ROOST_MS); /* after the reader's first lock */
    } else {
        roost_rwmutex_rlock(NULL, &c->mu);
        roost_sleep(NULL, 3 * ROOST_MS); /* the writer is waiting by now */
        if (!c->fix) {                   /* fmt.Printf("%s", rdc): String() read-locks again */
            roost_rwmutex_rlock(NULL, &c->mu);
            roost_rwmutex_runlock(&c->mu);
        }
        roost_rwmutex_runlock(&c->mu);
    }
    roost_rwmutex_lock(NULL, &c->mu);
    roost_rwmutex_unlock(&c->mu);
    roost_waitgroup_done(a->wg);
    free(a);
}

static void coalesced_requests(void *arg) {
    cache *c = arg;
    roost_waitgroup_t *wg = bug_alloc(sizeof *wg);
    for (int i = 0; i < 2; i++) {
        MUST(roost_waitgroup_add(wg, 1));
        lookup_args *a = bug_alloc(sizeof *a);
        a->c = c, a->wg = wg, a->writer = i;
        MUST(roost_go(lookup, a));
    }
    roost_waitgroup_wait(NULL, wg);
    free(wg);
}

static void run(bool fix) {
    cache *c = bug_alloc(sizeof *c);
    c->fix = fix;
    MUST(roost_go(coalesced_requests, c));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
