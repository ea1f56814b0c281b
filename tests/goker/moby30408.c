/* moby 30408 (GoKer blocking kernel), ported to roost.
 *
 * testActive starts a task that waits on the plugin's condition until it
 * is activated, then closes done; the caller waits on done. Activation
 * failed (activateErr set, no manifest) and nobody signals: the waiter
 * waits for good, and the caller with it. Fix: the failed activation
 * broadcasts, and waitActive also returns on an error. */
#include "bug.h"
#include <stdbool.h>

typedef struct plugin {
    roost_mutex_t mu; /* activateWait.L */
    roost_cond_t activate_wait;
    int activate_err;
    void *manifest;
} plugin;

typedef struct active_args {
    plugin *p;
    roost_chan_t *done;
} active_args;

static void wait_active(void *arg) {
    active_args *a = arg;
    plugin *p = a->p;
    roost_mutex_lock(NULL, &p->mu);
    while (!p->manifest && !p->activate_err) roost_cond_wait(NULL, &p->activate_wait, &p->mu);
    roost_mutex_unlock(&p->mu);
    roost_chan_close(a->done);
    roost_chan_unref(a->done);
    free(a);
}

static void fail_activation(void *arg) {
    plugin *p = arg;
    roost_sleep(NULL, 2 * ROOST_MS);
    roost_mutex_lock(NULL, &p->mu);
    p->activate_err = -1;
    roost_cond_broadcast(&p->activate_wait);
    roost_mutex_unlock(&p->mu);
}

static void test_active(plugin *p) {
    roost_chan_t *done;
    MUST(roost_chan_make(1, 0, &done));
    active_args *a = bug_alloc(sizeof *a);
    a->p = p, a->done = roost_chan_ref(done);
    MUST(roost_go(wait_active, a));
    roost_chan_recv(NULL, done, NULL);
    roost_chan_unref(done);
}

static void leaky(void) {
    plugin *p = bug_alloc(sizeof *p);
    /* The error was set before the waiter looked, and the bug's loop
     * checks only the manifest: model that as an error it never sees. */
    test_active(p);
}

static void fixed(void) {
    plugin *p = bug_alloc(sizeof *p);
    MUST(roost_go(fail_activation, p));
    test_active(p);
}

BUG_MAIN(leaky, fixed)
