/* moby 36114 (GoKer blocking kernel), ported to roost.
 *
 * serviceVM.hotAddVHDsAtStart locks the VM and calls hotRemoveVHDsAtStart,
 * which locks it again: the task waits on a lock it holds. Fix: the inner
 * call expects the lock held. */
#include "bug.h"
#include <stdbool.h>

typedef struct service_vm {
    roost_mutex_t mu;
    bool inner_locks;
} service_vm;

static void hot_remove(service_vm *svm) {
    if (svm->inner_locks) roost_mutex_lock(NULL, &svm->mu); /* double lock */
    if (svm->inner_locks) roost_mutex_unlock(&svm->mu);
}

static void hot_add(void *arg) {
    service_vm *svm = arg;
    roost_mutex_lock(NULL, &svm->mu);
    hot_remove(svm);
    roost_mutex_unlock(&svm->mu);
}

static void run(bool fix) {
    service_vm *s = bug_alloc(sizeof *s);
    s->inner_locks = !fix;
    MUST(roost_go(hot_add, s));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
