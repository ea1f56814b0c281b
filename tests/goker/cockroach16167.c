/* cockroach 16167 (GoKer blocking kernel), ported to roost.
 *
 * execParsed read-locks systemConfigMu (through the condition's locker)
 * and, deeper down, getDatabaseCache read-locks it again; Start's
 * updateSystemConfig write-locks it in between, and a waiting writer
 * holds back new readers: both wait for good. Fix: the inner read lock is
 * not taken again (the caller holds it). */
#include "bug.h"
#include <stdbool.h>

typedef struct executor {
    roost_rwmutex_t system_config_mu;
    bool fix;
} executor;

static void update_system_config(void *arg) {
    executor *e = arg;
    roost_sleep(NULL, ROOST_MS);                    /* after execParsed's first read lock */
    roost_rwmutex_lock(NULL, &e->system_config_mu); /* blocks here */
    roost_rwmutex_unlock(&e->system_config_mu);
}

static void get_database_cache(executor *e) {
    if (e->fix) return;
    roost_rwmutex_rlock(NULL, &e->system_config_mu);
    roost_rwmutex_runlock(&e->system_config_mu);
}

static void exec_parsed(void *arg) {
    executor *e = arg;
    roost_rwmutex_rlock(NULL, &e->system_config_mu); /* systemConfigCond.L.Lock() */
    roost_sleep(NULL, 3 * ROOST_MS);
    get_database_cache(e); /* runTxnAttempt ... Prepare ... resetForBatch */
    roost_rwmutex_runlock(&e->system_config_mu);
}

static void run(bool fix) {
    executor *e = bug_alloc(sizeof *e);
    e->fix = fix;
    MUST(roost_go(update_system_config, e));
    MUST(roost_go(exec_parsed, e));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
