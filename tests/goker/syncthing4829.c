/* syncthing 4829 (GoKer blocking kernel), ported to roost.
 *
 * Service.RemoveMapping calls Mapping.clearAddresses, which write-locks
 * m.mut and, having removed addresses, calls notify, which read-locks
 * m.mut: the task waits on a lock it holds. Fix: notify after unlocking. */
#include "bug.h"
#include <stdbool.h>

typedef struct mapping {
    roost_rwmutex_t mut;
    int ext_addresses;
} mapping;

typedef struct service {
    roost_rwmutex_t mut;
    mapping *mappings[4];
    int n;
    bool fix;
} service;

static void notify(mapping *m) {
    roost_rwmutex_rlock(NULL, &m->mut); /* second locking */
    roost_rwmutex_runlock(&m->mut);
}

static void clear_addresses(mapping *m, bool fix) {
    roost_rwmutex_lock(NULL, &m->mut);
    int removed = m->ext_addresses;
    m->ext_addresses = 0;
    if (fix) roost_rwmutex_unlock(&m->mut);
    if (removed > 0) notify(m);
    if (!fix) roost_rwmutex_unlock(&m->mut);
}

static void remove_mapping(service *s, mapping *m) {
    roost_rwmutex_lock(NULL, &s->mut);
    for (int i = 0; i < s->n; i++)
        if (s->mappings[i] == m) clear_addresses(m, s->fix);
    roost_rwmutex_unlock(&s->mut);
}

static void test_body(void *arg) {
    service *s = arg;
    mapping *m = bug_alloc(sizeof *m);
    roost_rwmutex_lock(NULL, &s->mut);
    s->mappings[s->n++] = m;
    roost_rwmutex_unlock(&s->mut);
    m->ext_addresses = 1;
    remove_mapping(s, m);
}

static void run(bool fix) {
    service *s = bug_alloc(sizeof *s);
    s->fix = fix;
    MUST(roost_go(test_body, s));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
