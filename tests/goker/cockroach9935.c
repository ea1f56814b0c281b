/* cockroach 9935 (GoKer blocking kernel), ported to roost.
 *
 * loggingT.outputLogEntry locks l.mu and, when creating the log file
 * fails, calls exit, which locks l.mu again. Fix: unlock before exit. */
#include "bug.h"
#include <stdbool.h>

typedef struct logging {
    roost_mutex_t mu;
    bool fix;
} logging;

static int create_file(void) { return -1; /* the failing case */ }

static void log_exit(logging *l) {
    roost_mutex_lock(NULL, &l->mu);
    roost_mutex_unlock(&l->mu);
}

static void output_log_entry(void *arg) {
    logging *l = arg;
    roost_mutex_lock(NULL, &l->mu);
    if (create_file() != 0) {
        if (l->fix) roost_mutex_unlock(&l->mu);
        log_exit(l);
        if (l->fix) return;
    }
    roost_mutex_unlock(&l->mu);
}

static void run(bool fix) {
    logging *l = bug_alloc(sizeof *l);
    l->fix = fix;
    MUST(roost_go(output_log_entry, l));
}

static void leaky(void) { run(false); }
static void fixed(void) { run(true); }

BUG_MAIN(leaky, fixed)
