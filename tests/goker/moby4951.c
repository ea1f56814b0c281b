/* moby 4951 (GoKer blocking kernel), ported to roost.
 *
 * DeleteDevice locks the device set, then the device; removing it drops
 * the set's lock for a moment and takes it back. A second DeleteDevice of
 * the same device takes the set's lock in that moment and waits on the
 * device's; the first waits on the set's: a lock cycle. Fix: the device's
 * lock is taken first, then the set's. */
#include "bug.h"
#include <stdbool.h>

typedef struct dev_info {
    roost_mutex_t lock;
} dev_info;

typedef struct device_set {
    roost_mutex_t mu;
    dev_info *info1;
    bool fix;
} device_set;

static void remove_device_and_wait(device_set *ds) {
    roost_mutex_unlock(&ds->mu);
    roost_sleep(NULL, 2 * ROOST_MS);
    roost_mutex_lock(NULL, &ds->mu);
}

static void delete_device(void *arg) {
    device_set *ds = arg;
    dev_info *info = ds->info1;
    if (ds->fix) roost_mutex_lock(NULL, &info->lock);
    roost_mutex_lock(NULL, &ds->mu);
    if (!ds->fix) roost_mutex_lock(NULL, &info->lock);
    remove_device_and_wait(ds);
    roost_mutex_unlock(&info->lock);
    roost_mutex_unlock(&ds->mu);
}

static void delete_device_later(void *arg) {
    roost_sleep(NULL, ROOST_MS);
    delete_device(arg);
}

static void run(bool fix) {
    device_set *ds = bug_alloc(sizeof *ds);
    ds->info1 = bug_alloc(sizeof *ds->info1);
    ds->fix = fix;
    MUST(roost_go(delete_device, ds));
    MUST(roost_go(delete_device_later, ds));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
