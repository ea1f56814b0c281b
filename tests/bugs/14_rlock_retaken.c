/* 14 a read lock re-taken while a writer waits.
 *
 * Go:
 *     func (s *Store) Get(k string) string {
 *         s.mu.RLock(); defer s.mu.RUnlock()
 *         return s.lookup(k)                // lookup takes s.mu.RLock() again
 *     }
 *     // a Set (s.mu.Lock()) arriving between the two RLocks waits for the
 *     // first; the second RLock waits behind the writer: deadlock
 *
 * leaky  the reader's nested read lock queues behind a waiting writer,
 *        which waits for the reader's first read lock.
 * fixed  lookup expects the read lock to be held and does not take it.
 */
#include "bug.h"

typedef struct store {
    roost_rwmutex_t mu;
    int m[8];
} store;

static store s = {ROOST_RWMUTEX_INIT, {0}};

static int lookup_locked(store *st, int k) { return st->m[k]; }

static int lookup(store *st, int k) {
    int rc = roost_rwmutex_rlock(NULL, &st->mu); /* s.mu.RLock() again */
    if (rc) {
        bug_note("lookup: rlock: %s", roost_strerror(rc));
        return -1;
    }
    int v = lookup_locked(st, k);
    roost_rwmutex_runlock(&st->mu);
    return v;
}

/* Some work under the read lock, long enough for a writer to arrive: it
 * tells the writer the lock is held and waits (up to 100 ms) until the
 * writer is queued, the interleaving the bug needs, every time. */
static void work_under_read_lock(roost_chan_t *held) {
    char x = 1;
    roost_chan_trysend(held, &x);
    bug_wait_parked(ROOST_WAIT_RWMUTEX_W, 1, 100 * ROOST_MS);
}

static int get_leaky(store *st, int k, roost_chan_t *held) {
    int rc = roost_rwmutex_rlock(NULL, &st->mu);
    if (rc) return -1;
    work_under_read_lock(held);
    int v = lookup(st, k);          /* takes the read lock again */
    roost_rwmutex_runlock(&st->mu); /* defer s.mu.RUnlock() */
    return v;
}

static int get_fixed(store *st, int k, roost_chan_t *held) {
    int rc = roost_rwmutex_rlock(NULL, &st->mu);
    if (rc) return -1;
    work_under_read_lock(held);
    int v = lookup_locked(st, k); /* the lock is held: use the locked form */
    roost_rwmutex_runlock(&st->mu);
    return v;
}

static void reader_leaky(void *arg) {
    roost_chan_t *held = arg;
    MUST(roost_chan_adopt(held));
    bug_note("get(2) = %d", get_leaky(&s, 2, held));
}

static void reader_fixed(void *arg) {
    roost_chan_t *held = arg;
    MUST(roost_chan_adopt(held));
    bug_note("get(2) = %d", get_fixed(&s, 2, held));
}

static void writer(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    char x;
    roost_chan_recv(NULL, ch, &x);            /* arrives while the reader holds the lock */
    int rc = roost_rwmutex_lock(NULL, &s.mu); /* s.mu.Lock() */
    if (rc) {
        bug_note("set: lock: %s", roost_strerror(rc));
        return;
    }
    s.m[2] = 22;
    roost_rwmutex_unlock(&s.mu);
}

static void run(roost_fn reader) {
    roost_chan_t *held;
    MUST(roost_chan_make(1, 1, &held)); /* "the reader holds the lock", buffer of one */
    MUST(roost_go(reader, roost_chan_ref(held)));
    MUST(roost_go(writer, roost_chan_ref(held)));
    roost_chan_unref(held);
}

static void leaky(void) { run(reader_leaky); }
static void fixed(void) { run(reader_fixed); }

BUG_MAIN(leaky, fixed)
