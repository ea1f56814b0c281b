/* 20 sync.Once re-entered from its own function.
 *
 * Go:
 *     var once sync.Once
 *     func config() *Config { once.Do(load); return cfg }
 *     func load() {
 *         cfg = parse()
 *         if cfg.Parent != "" {
 *             cfg.merge(config().Defaults)  // config() calls once.Do(load) again: deadlock
 *         }
 *     }
 *
 * roost refuses the inner once.Do with ROOST_EDEADLK (and reports it)
 * instead of parking the task on itself for good: config() then returns
 * the half-loaded value, load() finishes and the once completes. Nothing
 * stays stuck; the program runs on a config loaded without its defaults.
 *
 * leaky  load() calls config(), which re-enters the once that its own task
 *        is running. The caller waits for the handler with a deadline.
 * fixed  load() uses the defaults directly, not through config().
 */
#include "bug.h"

static roost_once_t once = ROOST_ONCE_INIT;
static int cfg, defaults = 5;

static int config_leaky(void);

static void load_leaky(void *arg) {
    cfg = 10;              /* parse() */
    cfg += config_leaky(); /* config().Defaults: re-enters once.Do */
}

static void load_fixed(void *arg) {
    cfg = 10;
    cfg += defaults; /* the defaults, not config() */
}

static int config(roost_fn load) {
    int rc = roost_once_do(NULL, &once, load, NULL); /* once.Do(load) */
    if (rc) bug_note("config: once: %s", roost_strerror(rc));
    return cfg;
}

static int config_leaky(void) { return config(load_leaky); }
static int config_fixed(void) { return config(load_fixed); }

typedef struct handler_args {
    roost_chan_t *done; /* adopted */
    int (*config)(void);
} handler_args;

static void handler(void *arg) {
    handler_args *h = arg;
    roost_chan_t *done = h->done;
    int (*get)(void) = h->config;
    free(h);
    MUST(roost_chan_adopt(done));
    int v = get();
    int rc = roost_chan_send(NULL, done, &v);
    if (rc) bug_note("handler: send: %s", roost_strerror(rc));
}

static void run(int (*get)(void)) {
    roost_chan_t *done;
    roost_ctx_t *ctx;
    MUST(roost_chan_make(sizeof(int), 1, &done));
    handler_args *h = bug_alloc(sizeof *h);
    h->done = roost_chan_ref(done);
    h->config = get;
    MUST(roost_go(handler, h));
    MUST(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    int v, rc = roost_chan_recv(ctx, done, &v);
    if (rc)
        bug_note("caller: %s", roost_strerror(rc));
    else
        bug_note("caller: config %d", v);
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
    roost_chan_unref(done);
}

static void leaky(void) { run(config_leaky); }
static void fixed(void) { run(config_fixed); }

BUG_MAIN(leaky, fixed)
