/* moby 25384 (GoKer blocking kernel), ported to roost.
 *
 * Manager.init adds len(plugins) to a wait group, then for each plugin
 * starts a task that calls Done and waits on the group inside the loop:
 * with two plugins the first Wait needs two Dones and only one task has
 * started. init waits for good. Fix: Wait after the loop. */
#include "bug.h"
#include <stdbool.h>

typedef struct manager {
    int nplugins;
    bool wait_after;
} manager;

static void plugin_task(void *arg) {
    roost_waitgroup_t *group = arg;
    roost_waitgroup_done(group); /* defer group.Done() */
}

static void init_plugins(void *arg) {
    manager *pm = arg;
    roost_waitgroup_t *group = bug_alloc(sizeof *group); /* var group sync.WaitGroup */
    MUST(roost_waitgroup_add(group, pm->nplugins));
    for (int i = 0; i < pm->nplugins; i++) {
        MUST(roost_go(plugin_task, group));
        if (!pm->wait_after) roost_waitgroup_wait(NULL, group); /* blocks here */
    }
    if (pm->wait_after) roost_waitgroup_wait(NULL, group);
    free(group);
    free(pm);
}

static void run(bool fix) {
    manager *pm = bug_alloc(sizeof *pm);
    pm->nplugins = 2, pm->wait_after = fix;
    MUST(roost_go(init_plugins, pm));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
