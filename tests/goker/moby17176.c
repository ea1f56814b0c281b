/* moby 17176 (GoKer blocking kernel), ported to roost.
 *
 * cleanupDeletedDevices locks the device set and, with nothing deleted,
 * returns without unlocking. The test then starts a task that locks the
 * set and reports on doneChan, and gives up on it after a millisecond:
 * the task waits on the lock for good. Fix: unlock before returning. */
#include "bug.h"
#include <stdbool.h>

typedef struct device_set {
    roost_mutex_t mu;
    int nr_deleted_devices;
    bool fix;
} device_set;

typedef struct lock_args {
    device_set *ds;
    roost_chan_t *done;
} lock_args;

static int cleanup_deleted_devices(device_set *ds) {
    roost_mutex_lock(NULL, &ds->mu);
    if (ds->nr_deleted_devices == 0) {
        if (ds->fix) roost_mutex_unlock(&ds->mu);
        return 0; /* missing unlock in the bug */
    }
    roost_mutex_unlock(&ds->mu);
    return -1;
}

static void locker(void *arg) {
    lock_args *a = arg;
    roost_mutex_lock(NULL, &a->ds->mu);
    bool t = true;
    roost_case_t cs[] = {{.chan = a->done, .op = ROOST_SEND, .elem = &t}};
    roost_select(NULL, cs, 1, ROOST_SELECT_NONBLOCK); /* the fix's buffer takes it */
    roost_mutex_unlock(&a->ds->mu);
    roost_chan_unref(a->done);
    free(a);
}

static void test_body(void *arg) {
    device_set *ds = arg;
    cleanup_deleted_devices(ds);
    roost_chan_t *done;
    MUST(roost_chan_make(sizeof(bool), 1, &done));
    lock_args *a = bug_alloc(sizeof *a);
    a->ds = ds, a->done = roost_chan_ref(done);
    MUST(roost_go(locker, a));
    roost_ctx_t *ctx; /* time.After(time.Millisecond) */
    MUST(roost_ctx_with_timeout(NULL, ROOST_MS, &ctx));
    bool v;
    roost_case_t cs[] = {{.chan = roost_ctx_done(ctx), .op = ROOST_RECV},
                         {.chan = done, .op = ROOST_RECV, .elem = &v}};
    roost_select(NULL, cs, 2, 0);
    roost_ctx_unref(ctx);
    roost_chan_unref(done);
}

static void run(bool fix) {
    device_set *ds = bug_alloc(sizeof *ds);
    ds->fix = fix;
    MUST(roost_go(test_body, ds));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
