/* svc.c - a small service for the tests that point real tools at the debug
 * endpoint (tests/prom_test.sh: a Prometheus server and the shipped alert
 * rules; tests/page_test.sh: headless Chromium on the live page).
 *
 *   svc leaky|fixed [SECONDS]
 *
 * Requests arrive at a steady REQ_RATE a second, each served by a task
 * spawned in serve_requests that takes 50 to 250 ms: some 30 tasks alive at
 * any moment, going up and down. The leaky variant also spawns LEAK_RATE
 * tasks a second in start_fetch that wait for an answer that never comes
 * (a receive on a channel nobody sends to), so its count climbs from that
 * one site; the fixed variant does not. The receive is on a channel the
 * root task holds, so the leak detector proves nothing and stays quiet:
 * only the counts show it, as on a dashboard.
 *
 * It starts the debug endpoint on a free loopback port, prints
 * "svc: debug endpoint on http://HOST:PORT/" on stdout, and exits 0 after
 * SECONDS (default 120: a test that dies cannot leave it running for long).
 * Spawns keep to the rates by the clock, so a late wake-up on a loaded
 * machine is made up at once.
 */
#include <roost.h>
#include <roost_obs.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQ_RATE 200 /* requests a second, in both variants */
#define LEAK_RATE 40 /* tasks a second that never finish, in the leaky one */

#define CHECK(call)                                                       \
    do {                                                                  \
        int rc_ = (call);                                                 \
        if (rc_ < 0) {                                                    \
            fprintf(stderr, "svc: %s: %s\n", #call, roost_strerror(rc_)); \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

static int leaky;
static int64_t run_for;

/* A request: its work takes arg nanoseconds. */
static void request(void *arg) { CHECK(roost_sleep(NULL, (int64_t)(uintptr_t)arg)); }

/* The leak: waits for an answer nobody sends. */
static void fetch(void *arg) {
    int v;
    roost_chan_recv(NULL, (roost_chan_t *)arg, &v);
}

static void serve_requests(uint64_t *rng) {
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    int64_t work = (50 + (int64_t)(*rng % 201)) * ROOST_MS;
    CHECK(roost_go(request, (void *)(uintptr_t)work));
}

static void start_fetch(roost_chan_t *never) { CHECK(roost_go(fetch, never)); }

static void root(void *unused) {
    char addr[64];
    CHECK(roost_debug_start("127.0.0.1:0"));
    CHECK(roost_debug_addr(addr, sizeof addr));
    printf("svc: debug endpoint on http://%s/\n", addr);
    fflush(stdout);

    roost_chan_t *never;
    CHECK(roost_chan_make(sizeof(int), 0, &never));
    uint64_t rng = 0x9e3779b97f4a7c15u;
    int64_t start = roost_now(), reqs = 0, leaks = 0;
    for (;;) {
        int64_t el = roost_now() - start;
        if (el >= run_for) break;
        for (; reqs < el / (ROOST_S / REQ_RATE); reqs++) serve_requests(&rng);
        for (; leaky && leaks < el / (ROOST_S / LEAK_RATE); leaks++) start_fetch(never);
        CHECK(roost_sleep(NULL, 5 * ROOST_MS));
    }
    printf("svc: done after %lld requests, %lld lost\n", (long long)reqs, (long long)leaks);
    fflush(stdout);
    _exit(0); /* the leaked tasks cannot be waited for */
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "leaky") && strcmp(argv[1], "fixed"))) {
        fprintf(stderr, "usage: svc leaky|fixed [SECONDS]\n");
        return 2;
    }
    leaky = !strcmp(argv[1], "leaky");
    run_for = (argc > 2 ? atoi(argv[2]) : 120) * ROOST_S;
    CHECK(roost_run(root, NULL));
    return 0;
}
