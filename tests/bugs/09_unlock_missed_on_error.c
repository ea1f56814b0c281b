/* 09 a mutex never unlocked on an error path.
 *
 * Go:
 *     func (a *Account) Withdraw(n int) error {
 *         a.mu.Lock()
 *         if n > a.balance {
 *             return ErrInsufficient        // returns holding a.mu
 *         }
 *         a.balance -= n
 *         a.mu.Unlock()
 *         return nil
 *     }
 *
 * leaky  one task's withdrawal fails and its task returns holding the
 *        lock; the next withdrawal blocks on it for good.
 * fixed  unlock on every path (defer a.mu.Unlock(); in C, one exit).
 */
#include "bug.h"

typedef struct account {
    roost_mutex_t mu;
    int balance;
} account;

static account account_a = {ROOST_MUTEX_INIT, 100};

static int withdraw_leaky(account *a, int n) {
    int rc = roost_mutex_lock(NULL, &a->mu);
    if (rc) return rc;
    if (n > a->balance) return ROOST_ERANGE; /* returns holding a->mu */
    a->balance -= n;
    roost_mutex_unlock(&a->mu);
    return 0;
}

static int withdraw_fixed(account *a, int n) {
    int rc = roost_mutex_lock(NULL, &a->mu);
    if (rc) return rc;
    if (n > a->balance)
        rc = ROOST_ERANGE;
    else
        a->balance -= n;
    roost_mutex_unlock(&a->mu); /* defer a.mu.Unlock() */
    return rc;
}

static int (*withdraw)(account *, int);

static roost_waitgroup_t first_done = ROOST_WAITGROUP_INIT;

static void big(void *arg) {
    int rc = withdraw(&account_a, 500);
    bug_note("withdraw 500: %s", roost_strerror(rc));
    roost_waitgroup_done(&first_done);
}

static void small(void *arg) {
    int rc = withdraw(&account_a, 10);
    bug_note("withdraw 10: %s", roost_strerror(rc));
}

/* Two requests, one after the other, each on its own task. */
static void run(void) {
    MUST(roost_waitgroup_add(&first_done, 1));
    MUST(roost_go(big, NULL));
    MUST(roost_waitgroup_wait(NULL, &first_done));
    MUST(roost_go(small, NULL));
}

static void leaky(void) {
    withdraw = withdraw_leaky;
    run();
}
static void fixed(void) {
    withdraw = withdraw_fixed;
    run();
}

BUG_MAIN(leaky, fixed)
