/* 11 two locks taken in opposite orders.
 *
 * Go:
 *     func transfer(from, to *Account, n int) {
 *         from.mu.Lock(); defer from.mu.Unlock()
 *         to.mu.Lock();   defer to.mu.Unlock()  // transfer(a, b) and transfer(b, a) at once: deadlock
 *         from.balance -= n; to.balance += n
 *     }
 *
 * leaky  two transfers in opposite directions, each holding its first lock
 *        while it waits for the second.
 * fixed  always lock the account with the lower id first.
 */
#include "bug.h"

typedef struct account {
    roost_mutex_t mu;
    int id, balance;
} account;

static account a = {ROOST_MUTEX_INIT, 1, 100}, b = {ROOST_MUTEX_INIT, 2, 100};

/* A balance check against a slow store, between the two locks. It stands
 * for the bad luck the bug needs: it waits (up to 50 ms) until both
 * transfers have taken their first lock. In the fixed version the second
 * transfer waits on its first lock instead, and the check just times out. */
static roost_waitgroup_t both = ROOST_WAITGROUP_INIT;

static void check_balance(void) {
    roost_ctx_t *ctx;
    MUST(roost_ctx_with_timeout(NULL, 50 * ROOST_MS, &ctx));
    roost_waitgroup_done(&both);
    roost_waitgroup_wait(ctx, &both);
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
}

/* Lock first, then second, and move n from `from` to `to`. */
static int locked_move(account *first, account *second, account *from, account *to, int n) {
    int rc = roost_mutex_lock(NULL, &first->mu);
    if (rc) return rc;
    check_balance(); /* the window: both transfers are here at once */
    rc = roost_mutex_lock(NULL, &second->mu);
    if (rc) {
        roost_mutex_unlock(&first->mu);
        return rc;
    }
    from->balance -= n;
    to->balance += n;
    roost_mutex_unlock(&second->mu);
    roost_mutex_unlock(&first->mu);
    return 0;
}

static int transfer_leaky(account *from, account *to, int n) {
    return locked_move(from, to, from, to, n); /* from.mu, then to.mu */
}

static int transfer_fixed(account *from, account *to, int n) {
    if (from->id < to->id) return locked_move(from, to, from, to, n); /* lower id first */
    return locked_move(to, from, from, to, n);
}

typedef struct transfer_args {
    account *from, *to;
    int n;
    int (*transfer)(account *, account *, int);
} transfer_args;

static void transfer_task(void *arg) {
    transfer_args *t = arg;
    int rc = t->transfer(t->from, t->to, t->n);
    bug_note("transfer %d -> %d: %s", t->from->id, t->to->id, roost_strerror(rc));
}

static void run(int (*transfer)(account *, account *, int)) {
    static transfer_args ab, ba;
    MUST(roost_waitgroup_add(&both, 2));
    ab = (transfer_args){&a, &b, 10, transfer};
    ba = (transfer_args){&b, &a, 20, transfer};
    MUST(roost_go(transfer_task, &ab));
    MUST(roost_go(transfer_task, &ba));
}

static void leaky(void) { run(transfer_leaky); }
static void fixed(void) { run(transfer_fixed); }

BUG_MAIN(leaky, fixed)
