/* etcd 10492 (GoKer blocking kernel), ported to roost.
 *
 * lessor.Renew write-locks le.mu and calls the checkpointer, which calls
 * Checkpoint, which write-locks le.mu again: the test's task waits on a
 * lock it holds. Fix: Renew lets go of the lock before calling out. */
#include "bug.h"
#include <stdbool.h>

typedef struct lessor lessor;
typedef void (*checkpointer)(lessor *le);
struct lessor {
    roost_rwmutex_t mu;
    checkpointer cp;
    bool fix;
};

static void checkpoint(lessor *le) {
    roost_rwmutex_lock(NULL, &le->mu); /* blocks here */
    roost_rwmutex_unlock(&le->mu);
}

static void set_checkpointer(lessor *le, checkpointer cp) {
    roost_rwmutex_lock(NULL, &le->mu);
    le->cp = cp;
    roost_rwmutex_unlock(&le->mu);
}

static void renew(lessor *le) {
    roost_rwmutex_lock(NULL, &le->mu);
    checkpointer cp = le->cp;
    if (le->fix) roost_rwmutex_unlock(&le->mu);
    if (cp) cp(le);
    if (!le->fix) roost_rwmutex_unlock(&le->mu);
}

static void test_body(void *arg) {
    lessor *le = arg;
    set_checkpointer(le, checkpoint);
    roost_rwmutex_lock(NULL, &le->mu);
    roost_rwmutex_unlock(&le->mu);
    renew(le);
}

static void run(bool fix) {
    lessor *le = bug_alloc(sizeof *le);
    le->fix = fix;
    MUST(roost_go(test_body, le));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
