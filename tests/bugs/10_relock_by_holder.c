/* 10 a lock re-taken by its holder.
 *
 * Go:
 *     func (c *Cache) Get(k string) string {
 *         c.mu.Lock()
 *         defer c.mu.Unlock()
 *         v, ok := c.m[k]
 *         if !ok {
 *             v = load(k)
 *             c.Put(k, v)                   // Put locks c.mu again: self-deadlock in Go
 *         }
 *         return v
 *     }
 *
 * roost refuses the second lock with ROOST_EDEADLK instead of parking the
 * task for good. The leaky version ignores that error, as C code that never
 * checks roost_mutex_lock would: Put goes on as if it held the lock, its
 * unlock releases Get's hold, and Get's own unlock then fails with
 * ROOST_ESTATE. Nothing stays stuck; mutual exclusion was silently lost.
 * fixed  Get calls putLocked, which expects the lock to be held.
 */
#include "bug.h"

typedef struct cache {
    roost_mutex_t mu;
    int m[8];
} cache;

static cache c = {ROOST_MUTEX_INIT, {0}};

static void put_locked(cache *cc, int k, int v) { cc->m[k] = v; }

static void put(cache *cc, int k, int v) {
    roost_mutex_lock(NULL, &cc->mu); /* c.mu.Lock() (the result is ignored) */
    put_locked(cc, k, v);
    roost_mutex_unlock(&cc->mu);
}

static int get_leaky(cache *cc, int k) {
    int rc = roost_mutex_lock(NULL, &cc->mu);
    if (rc) return -1;
    int v = cc->m[k];
    if (!v) {
        v = k * 10 + 1; /* load(k) */
        put(cc, k, v);  /* locks c.mu again */
    }
    rc = roost_mutex_unlock(&cc->mu); /* defer c.mu.Unlock() */
    if (rc) bug_note("get: unlock: %s", roost_strerror(rc));
    return v;
}

static int get_fixed(cache *cc, int k) {
    int rc = roost_mutex_lock(NULL, &cc->mu);
    if (rc) return -1;
    int v = cc->m[k];
    if (!v) {
        v = k * 10 + 1;
        put_locked(cc, k, v); /* the lock is held: use the locked form */
    }
    rc = roost_mutex_unlock(&cc->mu);
    if (rc) bug_note("get: unlock: %s", roost_strerror(rc));
    return v;
}

static void handler_leaky(void *arg) { bug_note("get(3) = %d", get_leaky(&c, 3)); }
static void handler_fixed(void *arg) { bug_note("get(3) = %d", get_fixed(&c, 3)); }

static void leaky(void) { MUST(roost_go(handler_leaky, NULL)); }
static void fixed(void) { MUST(roost_go(handler_fixed, NULL)); }

BUG_MAIN_POLICY(leaky, fixed, ROOST_LEAK_REPORT)
