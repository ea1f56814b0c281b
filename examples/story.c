/* story.c - the leaky client from the story of why roost exists, and its fix.
 *
 * A line-by-line port of bench/go/story/main.go. A caller gives each fetch a
 * 10 ms deadline; the request behind it takes a random 0-19 ms, so about half
 * of the calls time out and the caller walks away.
 *
 *   leaky  The result travels on an unbuffered channel and nothing listens to
 *          the caller's context. When the caller walks away, the task that
 *          was to hand it the result blocks forever on its send: one task
 *          leaked per timeout, and the live count climbs for as long as the
 *          program runs.
 *   fixed  The result channel has a buffer of one, so its send never waits,
 *          and the request selects on its delay against ctx done, so it stops
 *          early. The live count stays flat.
 *
 * Every 500 ms the program prints the live task count (Go's
 * runtime.NumGoroutine) and the timeouts so far.
 *
 *   usage: story leaky|leaky-wake|fixed [seconds]      (default 5 seconds)
 *   (leaky-wake: the leaky code under the wake policy, ROOST_LEAK=wake)
 *
 * How roost catches the leak, every way at once:
 *   - the count climbs, and the monitor's growth alert fires, naming the
 *     spawn site and "chan send";
 *   - the leak detector proves each leak the moment the caller walks away
 *     (every reference to `done` left is held by the task parked on it) and
 *     reports it on stderr: the first in full, then a line a second with
 *     the count of those that followed at the same site (roost_leaks_found
 *     on the status lines counts them all);
 *   - at the end the grouped task profile shows one entry at the leaky spawn
 *     site, in chan send, with the count;
 *   - with ROOST_LEAK=wake the same leaky code stays flat: each stranded task
 *     is woken with ROOST_ELEAKED and exits.
 * The fixed mode raises nothing.
 *
 * The one idea to hold: every task that keeps a pointer to a channel holds
 * its own reference, and a task tells the runtime which ones it holds by
 * adopting them (roost_chan_adopt: released when the task exits). That is
 * what lets either side walk away first, and the detector prove a leak.
 */
#include "roost.h"
#include "roost_obs.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stop with a message when a call that should not fail does. */
#define CHECK(call)                                                                                    \
    do {                                                                                               \
        int rc_ = (call);                                                                              \
        if (rc_ < 0) {                                                                                 \
            fprintf(stderr, "story: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, roost_strerror(rc_)); \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/* Go's rand.Intn, safe from any task on any worker (a splitmix64 sequence). */
static _Atomic uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static int rand_intn(int n) {
    uint64_t z = atomic_fetch_add(&rng_state, 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (int)(z % (uint64_t)n);
}

/* type Result struct{ id string }. Channels copy their elements, so results
 * travel by value and no one has to free them. */
typedef struct result {
    char id[16];
} result;

/* What a request task is given. It owns the references it holds. */
typedef struct request {
    roost_ctx_t *ctx; /* fixed only; a reference owned by the task */
    roost_chan_t *ch; /* where to send the result; adopted by the task */
    char id[16];
} request;

static request *new_request(roost_ctx_t *ctx, roost_chan_t *ch, const char *id) {
    request *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "story: out of memory\n");
        exit(1);
    }
    r->ctx = ctx ? roost_ctx_ref(ctx) : NULL;
    r->ch = roost_chan_ref(ch);
    snprintf(r->id, sizeof r->id, "%s", id);
    return r;
}

static void free_request(request *r) {
    if (r->ctx) roost_ctx_unref(r->ctx);
    free(r); /* r->ch was adopted: released when the task exits */
}

/* ------------------------------------------------------------------ leaky */

/* func (c *Client) doRequestLeaky(id string, ch chan *Result) */
static void do_request_leaky(void *arg) {
    request *req = arg;
    CHECK(roost_chan_adopt(req->ch));
    CHECK(roost_sleep(NULL, rand_intn(20) * ROOST_MS));
    result r;
    snprintf(r.id, sizeof r.id, "%s", req->id);
    CHECK(roost_chan_send(NULL, req->ch, &r)); /* ch <- &Result{id} */
    free_request(req);
}

/* Leaky: unbuffered channel, no context.
 * func (c *Client) fetchLeaky(id string) (*Result, error) */
static int fetch_leaky(const char *id, result *out) {
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(result), 0, &ch)); /* make(chan *Result) */
    CHECK(roost_go(do_request_leaky, new_request(NULL, ch, id)));
    int rc = roost_chan_recv(NULL, ch, out); /* return <-ch, nil */
    roost_chan_unref(ch);
    return rc;
}

/* The caller's side of a leaky fetch, Go's
 *     go func() { r, _ := c.fetchLeaky("x"); done <- r }()
 * When the caller has walked away nobody will ever receive from done, so
 * this task parks on its send for good: this is the leak. */
static void fetch_leaky_task(void *arg) {
    roost_chan_t *done = arg;
    CHECK(roost_chan_adopt(done)); /* ours until we exit */
    result r;
    CHECK(fetch_leaky("x", &r));
    /* Parks for good once the caller has gone; under ROOST_LEAK=wake it
     * returns ROOST_ELEAKED instead and we exit. */
    (void)roost_chan_send(NULL, done, &r); /* done <- r */
}

/* ------------------------------------------------------------------ fixed */

/* func (c *Client) doRequest(ctx context.Context, id string, ch chan *Result) */
static void do_request(void *arg) {
    request *req = arg;
    CHECK(roost_chan_adopt(req->ch));
    roost_chan_t *delay;
    int64_t t;
    CHECK(roost_after(rand_intn(20) * ROOST_MS, &delay));
    roost_case_t cases[] = {
        {.chan = delay, .op = ROOST_RECV, .elem = &t},                      /* <-time.After(...) */
        {.chan = roost_ctx_done(req->ctx), .op = ROOST_RECV, .elem = NULL}, /* <-ctx.Done() */
    };
    CHECK(roost_select(NULL, cases, 2, 0));
    roost_chan_unref(delay);
    result r;
    snprintf(r.id, sizeof r.id, "%s", req->id);
    CHECK(roost_chan_send(NULL, req->ch, &r)); /* buffer of one: never waits */
    free_request(req);
}

/* Fixed: buffered channel of one, select on ctx done.
 * func (c *Client) fetch(ctx context.Context, id string) (*Result, error) */
static int fetch(roost_ctx_t *ctx, const char *id, result *out) {
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(result), 1, &ch)); /* make(chan *Result, 1) */
    CHECK(roost_go(do_request, new_request(ctx, ch, id)));
    roost_case_t cases[] = {
        {.chan = ch, .op = ROOST_RECV, .elem = out},                   /* r := <-ch */
        {.chan = roost_ctx_done(ctx), .op = ROOST_RECV, .elem = NULL}, /* <-ctx.Done() */
    };
    int i = roost_select(NULL, cases, 2, 0);
    roost_chan_unref(ch);
    CHECK(i);
    if (i == 0) return cases[0].err; /* return r, nil */
    return roost_ctx_err(ctx);       /* return nil, ctx.Err() */
}

/* ------------------------------------------------------------------ main */

typedef struct story_args {
    const char *mode;
    int64_t duration;
} story_args;

static void story(void *arg) {
    story_args *a = arg;
    const char *mode = a->mode;
    int leaky = strncmp(mode, "leaky", 5) == 0;
    if (strcmp(mode, "leaky-wake") == 0) roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    roost_ticker_t *tick;
    roost_chan_t *end;
    int64_t now;
    CHECK(roost_ticker_make(500 * ROOST_MS, &tick)); /* time.NewTicker(500 * time.Millisecond) */
    /* The monitor: a growth alert if the count climbs for 2 s straight. */
    roost_monitor_opts_t mo = {.interval = 250 * ROOST_MS, .log_fd = -1, .window = 2 * ROOST_S};
    if (roost_monitor_start(&mo) != 0) fprintf(stderr, "story: no monitor\n");
    CHECK(roost_after(a->duration, &end)); /* time.After(5 * time.Second) */
    long timeouts = 0;
    for (;;) {
        roost_case_t cases[] = {
            {.chan = roost_ticker_chan(tick), .op = ROOST_RECV, .elem = &now},
            {.chan = end, .op = ROOST_RECV, .elem = &now},
        };
        int i = roost_select(NULL, cases, 2, ROOST_SELECT_NONBLOCK);
        if (i == 0) {
            printf("%s tasks %lld timeouts %ld leaks-reported %ld\n", mode, (long long)roost_task_count(),
                   timeouts, (long)roost_leaks_found());
            continue;
        }
        if (i == 1) {
            printf("%s final tasks %lld timeouts %ld leaks-reported %ld\n", mode,
                   (long long)roost_task_count(), timeouts, (long)roost_leaks_found());
            break;
        }
        if (i != ROOST_EAGAIN) CHECK(i); /* default: */

        roost_ctx_t *ctx;
        CHECK(roost_ctx_with_timeout(NULL, 10 * ROOST_MS, &ctx));
        if (leaky) {
            /* The caller walks away from fetch when its timeout expires. */
            roost_chan_t *done;
            result r;
            CHECK(roost_chan_make(sizeof(result), 0, &done));
            CHECK(roost_go(fetch_leaky_task, roost_chan_ref(done)));
            roost_case_t wait[] = {
                {.chan = done, .op = ROOST_RECV, .elem = &r},
                {.chan = roost_ctx_done(ctx), .op = ROOST_RECV, .elem = NULL},
            };
            int w = roost_select(NULL, wait, 2, 0);
            CHECK(w);
            if (w == 1) timeouts++;
            roost_chan_unref(done);
        } else {
            result r;
            if (fetch(ctx, "x", &r) != 0) timeouts++;
        }
        roost_ctx_cancel(ctx); /* cancel() */
        roost_ctx_unref(ctx);
    }
    CHECK(roost_ticker_stop(tick));
    roost_chan_unref(end);
    roost_monitor_stop();
    /* The grouped task profile's first entry: where the tasks are. */
    char *prof;
    size_t len;
    if (roost_profile(ROOST_PROFILE_GROUPED, &prof, &len) == 0) {
        char *cut = strstr(prof, "\n\n"); /* the header line, then entries by count */
        printf("%s profile (top entry):\n%.*s\n", mode, (int)(cut ? cut - prof : (ptrdiff_t)len), prof);
        free(prof);
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "leaky") != 0 && strcmp(argv[1], "leaky-wake") != 0 &&
                     strcmp(argv[1], "fixed") != 0)) {
        fprintf(stderr, "usage: %s leaky|leaky-wake|fixed [seconds]\n", argv[0]);
        return 2;
    }
    double secs = argc > 2 ? strtod(argv[2], NULL) : 5;
    if (!(secs > 0)) {
        fprintf(stderr, "story: seconds must be a positive number\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one whole line at a time when piped */
    story_args a = {argv[1], (int64_t)(secs * ROOST_S)};
    CHECK(roost_run(story, &a));
    /* In leaky mode the leaked tasks are parked for good: nothing will ever
     * wake them, so roost_shutdown would refuse (ROOST_ESTATE). Leave them to
     * the process's exit, as a Go program does. */
    exit(0);
}
