/* story_service.c - the story of why roost exists, as real services on real
 * sockets: a slow upstream, a front service that calls it with a timeout per
 * request, and a load generator. examples/story_demo.sh (make demo) runs
 * them on loopback and charts each front's task count and memory.
 *
 *   story_service upstream ADDR [MAX_MS]
 *       An HTTP server whose every answer takes a random 0..MAX_MS-1 ms
 *       (default 40): the slow, variable dependency.
 *   story_service front leaky|fixed ADDR UPSTREAM [TIMEOUT_MS [STATS_MS]]
 *       An HTTP server whose handler fetches from UPSTREAM with a deadline
 *       of TIMEOUT_MS (default 20): 200 and the upstream's answer, or 504
 *       when the deadline passes. Every STATS_MS (default 1000) it prints
 *       a stats line: live tasks, resident memory, requests, timeouts,
 *       leaks proved. The leak detector's reports and the monitor's
 *       growth alert go to stderr.
 *   story_service load ADDR RATE CONNS SECONDS
 *       RATE requests a second in all over CONNS keep-alive connections,
 *       for SECONDS; then a summary line.
 *
 * The front's fetch is the story's, with the request made over TCP:
 *
 *   leaky  The request task gets an unbuffered channel for its result and
 *          no context. When the caller's deadline passes, the caller answers
 *          504 and drops the channel; the request task finishes its call to
 *          the upstream and parks for good on a send nobody will receive.
 *          One task leaked per timeout. The leak detector proves each one
 *          the moment the caller drops the channel (every reference left is
 *          held by the task parked on it), and under ROOST_LEAK=wake the
 *          stranded task gets ROOST_ELEAKED and exits: the same code, flat.
 *   fixed  The result channel has a buffer of one, so the send never waits,
 *          and the request runs under the caller's context, so the connect
 *          and the read stop as soon as the caller gives up.
 *
 * Servers are written as the guide teaches: a task per connection in a task
 * group made under the shutdown context (SIGINT, SIGTERM), a context per
 * request. bench/go/story_service is the same program in Go.
 */
#define _GNU_SOURCE /* memmem */
#include <roost.h>
#include <roost_io.h>
#include <roost_obs.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEAD_MAX 4096       /* request and response heads */
#define IDLE (30 * ROOST_S) /* a keep-alive connection's idle limit */

/* Stop with a message when a call that should not fail does. */
#define CHECK(call)                                                                      \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ < 0) {                                                                   \
            fprintf(stderr, "story_service: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    roost_strerror(rc_));                                                \
            exit(1);                                                                     \
        }                                                                                \
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

static roost_ctx_t *stop; /* cancelled by SIGINT / SIGTERM */

/* ------------------------------------------------------------------ HTTP */

/* Read until buf holds a whole head ("\r\n\r\n"); *have counts the bytes in
 * buf, which may run past the head. Returns the head's length, 0 when the
 * peer closed before a request began, or an error. */
static ssize_t read_head(roost_ctx_t *ctx, int fd, char *buf, size_t cap, size_t *have) {
    for (;;) {
        char *end = memmem(buf, *have, "\r\n\r\n", 4);
        if (end) return end + 4 - buf;
        if (*have == cap) return ROOST_ERANGE;
        ssize_t n = roost_fd_read(ctx, fd, buf + *have, cap - *have);
        if (n <= 0) return n == 0 && *have ? ROOST_ESYS(ECONNRESET) : n;
        *have += (size_t)n;
    }
}

/* Drop the first n bytes of buf. */
static void consume(char *buf, size_t *have, size_t n) {
    memmove(buf, buf + n, *have - n);
    *have -= n;
}

/* The value of a "Content-Length:" header in a head, or 0. */
static size_t content_length(const char *head, size_t len) {
    for (const char *p = head + 1; p + 16 < head + len; p++)
        if (p[-1] == '\n' && strncasecmp(p, "content-length:", 15) == 0) return strtoul(p + 15, NULL, 10);
    return 0;
}

static int respond(roost_ctx_t *ctx, int fd, int status, const char *body) {
    char out[512];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s", status,
                     status == 200   ? "OK"
                     : status == 504 ? "Gateway Timeout"
                                     : "Bad Gateway",
                     strlen(body), body);
    return roost_fd_write(ctx, fd, out, (size_t)n, NULL);
}

/* ------------------------------------------------------------------ upstream */

static int upstream_max_ms = 40;

/* One request, answered after a random delay, then the connection closes
 * (the server closes first, so the client's ports are free at once). */
static int upstream_conn(roost_ctx_t *ctx, void *arg) {
    int fd = *(int *)arg;
    char buf[HEAD_MAX];
    size_t have = 0;
    roost_ctx_t *req;
    roost_ctx_with_timeout(ctx, 5 * ROOST_S, &req);
    if (read_head(req, fd, buf, sizeof buf, &have) > 0 &&
        roost_sleep(req, rand_intn(upstream_max_ms) * ROOST_MS) == 0)
        respond(req, fd, 200, "item 42\n");
    roost_ctx_cancel(req);
    roost_ctx_unref(req);
    roost_fd_close(fd);
    return 0;
}

/* ------------------------------------------------------------------ fetch */

/* What a fetch hands back: channels copy their elements, so it travels by
 * value and nobody frees it. */
typedef struct result {
    int err;    /* 0, or why the call failed (Go's error) */
    int status; /* the upstream's HTTP status */
    char body[64];
} result;

/* GET / from the upstream at addr under ctx (NULL: no deadline at all). */
static void http_get(roost_ctx_t *ctx, const char *addr, result *out) {
    memset(out, 0, sizeof *out);
    int fd;
    if ((out->err = roost_tcp_connect(ctx, addr, &fd))) return;
    static const char req[] = "GET / HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n";
    char buf[HEAD_MAX];
    size_t have = 0;
    ssize_t head = roost_fd_write(ctx, fd, req, sizeof req - 1, NULL);
    if (!head) head = read_head(ctx, fd, buf, sizeof buf - 1, &have);
    if (head > 0) {
        buf[have] = 0;
        out->status = atoi(buf + 9); /* "HTTP/1.1 200" */
        snprintf(out->body, sizeof out->body, "%s", buf + head);
    } else {
        out->err = head ? (int)head : ROOST_ESYS(ECONNRESET);
    }
    roost_fd_close(fd);
}

/* A request task's argument: a reference to each object it keeps. */
typedef struct request {
    roost_ctx_t *ctx; /* fixed only: the caller's context */
    roost_chan_t *ch; /* where the result goes; adopted by the task */
    const char *upstream;
} request;

static request *new_request(roost_ctx_t *ctx, roost_chan_t *ch, const char *upstream) {
    request *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "story_service: out of memory\n");
        exit(1);
    }
    r->ctx = ctx ? roost_ctx_ref(ctx) : NULL;
    r->ch = roost_chan_ref(ch);
    r->upstream = upstream;
    return r;
}

static void free_request(request *r) {
    if (r->ctx) roost_ctx_unref(r->ctx);
    free(r); /* r->ch was adopted: released when the task exits */
}

/* Leaky: no context, and the caller may be gone by the time of the send.
 * Go: func doRequestLeaky(addr string, ch chan *Result) */
static void do_request_leaky(void *arg) {
    request *req = arg;
    CHECK(roost_chan_adopt(req->ch));
    result r;
    http_get(NULL, req->upstream, &r);
    /* Parks for good once the caller has gone: this is the leak. Under
     * ROOST_LEAK=wake it returns ROOST_ELEAKED and the task exits. */
    (void)roost_chan_send(NULL, req->ch, &r);
    free_request(req);
}

/* Fixed: the caller's context bounds the call, and the buffer of one takes
 * the result whether or not anyone is still there to read it. */
static void do_request(void *arg) {
    request *req = arg;
    CHECK(roost_chan_adopt(req->ch));
    result r;
    http_get(req->ctx, req->upstream, &r);
    CHECK(roost_chan_send(NULL, req->ch, &r)); /* buffer of one: never waits */
    free_request(req);
}

/* The one function the two versions differ in. Returns 0 and *out, or the
 * context's error when its deadline passes first, or the call's error. */
static int fetch(roost_ctx_t *ctx, bool leaky, const char *upstream, result *out) {
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(result), leaky ? 0 : 1, &ch));
    if (leaky)
        CHECK(roost_go(do_request_leaky, new_request(NULL, ch, upstream)));
    else
        CHECK(roost_go(do_request, new_request(ctx, ch, upstream)));
    roost_case_t cases[] = {
        {.chan = ch, .op = ROOST_RECV, .elem = out},                   /* r := <-ch */
        {.chan = roost_ctx_done(ctx), .op = ROOST_RECV, .elem = NULL}, /* <-ctx.Done() */
    };
    int i = roost_select(NULL, cases, 2, 0);
    roost_chan_unref(ch); /* the caller walks away: leaky's task is stranded here */
    CHECK(i);
    if (i == 1) return roost_ctx_err(ctx); /* return nil, ctx.Err() */
    return cases[0].err ? cases[0].err : out->err;
}

/* ------------------------------------------------------------------ front */

static struct {
    bool leaky;
    const char *upstream;
    int64_t timeout;
    _Atomic long requests, ok, timeouts;
} front;

/* One keep-alive connection: a request, a fetch under its own deadline, an
 * answer; until the client closes, idles out, or the server stops. */
static int front_conn(roost_ctx_t *ctx, void *arg) {
    int fd = *(int *)arg;
    char buf[HEAD_MAX];
    size_t have = 0;
    for (;;) {
        roost_ctx_t *idle;
        roost_ctx_with_timeout(ctx, IDLE, &idle);
        ssize_t head = read_head(idle, fd, buf, sizeof buf, &have);
        roost_ctx_cancel(idle);
        roost_ctx_unref(idle);
        if (head <= 0) break;
        consume(buf, &have, (size_t)head); /* GET: no body */
        atomic_fetch_add(&front.requests, 1);
        roost_ctx_t *req;
        roost_ctx_with_timeout(ctx, front.timeout, &req); /* ctx, cancel := WithTimeout */
        result r;
        int rc = fetch(req, front.leaky, front.upstream, &r);
        roost_ctx_cancel(req);
        roost_ctx_unref(req);
        bool late = rc == ROOST_ETIMEDOUT || rc == ROOST_ECANCELED;
        if (rc == 0) atomic_fetch_add(&front.ok, 1);
        if (late) atomic_fetch_add(&front.timeouts, 1);
        if (rc == 0)
            rc = respond(ctx, fd, r.status, r.body);
        else
            rc = respond(ctx, fd, late ? 504 : 502, late ? "timeout\n" : "upstream failed\n");
        if (rc) break;
    }
    roost_fd_close(fd);
    return 0;
}

/* Resident memory in KiB, from /proc/self/statm (through the blocking pool,
 * as every file read from a task should go). */
static long rss_kib(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = roost_file_read(NULL, fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    long pages = 0;
    sscanf(buf, "%*d %ld", &pages);
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static void print_stats(int64_t t0) {
    printf("stats ms %lld tasks %lld rss_kib %ld requests %ld timeouts %ld leaks %lld\n",
           (long long)((roost_now() - t0) / ROOST_MS), (long long)roost_task_count(), rss_kib(),
           atomic_load(&front.requests), atomic_load(&front.timeouts), (long long)roost_leaks_found());
}

/* The stats line every period, until the group's context ends. */
static int stats_loop(roost_ctx_t *ctx, void *arg) {
    int64_t period = *(int64_t *)arg, t0 = roost_now();
    roost_ticker_t *tick;
    CHECK(roost_ticker_make(period, &tick));
    int64_t now;
    print_stats(t0);
    while (roost_chan_recv(ctx, roost_ticker_chan(tick), &now) == 0) print_stats(t0);
    roost_ticker_stop(tick);
    return 0;
}

/* ------------------------------------------------------------------ servers */

typedef struct server_args {
    const char *role, *addr;
    roost_group_fn conn; /* a connection's task */
    int64_t stats;       /* front: the stats period; 0: none */
} server_args;

static void server(void *arg) {
    server_args *a = arg;
    int sigs[] = {SIGINT, SIGTERM};
    CHECK(roost_ctx_with_signals(NULL, sigs, 2, &stop));
    int lfd, rc;
    if ((rc = roost_tcp_listen(NULL, a->addr, 1024, &lfd))) {
        fprintf(stderr, "story_service: %s: listen %s: %s\n", a->role, a->addr, roost_strerror(rc));
        exit(1);
    }
    char where[64];
    roost_sock_addr(lfd, 0, where, sizeof where);
    printf("%s: listening on %s\n", a->role, where);

    roost_group_t *g; /* every connection, and the stats task: cancelled by `stop` */
    CHECK(roost_group_make(stop, &g));
    if (a->stats) {
        CHECK(roost_group_go_with(NULL, g, (), stats_loop, &a->stats));
        /* The monitor: an alert on stderr when the task count climbs for
         * 2 s straight, naming the sites and wait reasons that grew. */
        roost_monitor_opts_t mo = {.interval = 250 * ROOST_MS, .log_fd = -1, .window = 2 * ROOST_S};
        CHECK(roost_monitor_start(&mo));
    }
    int fd;
    while ((rc = roost_accept(stop, lfd, &fd)) == 0) CHECK(roost_group_go_with(NULL, g, (), a->conn, &fd));
    roost_fd_close(lfd);
    if (rc != ROOST_ECANCELED) fprintf(stderr, "story_service: accept: %s\n", roost_strerror(rc));
    roost_group_close(g); /* cancel, wait, drop */
    if (a->stats) roost_monitor_stop();
    printf("%s: stopped\n", a->role);
    roost_ctx_unref(stop);
    /* The leaky front's stranded tasks are parked for good: nothing will
     * ever wake them, so roost_shutdown would refuse. Leave them to the
     * process's exit, as a Go program does. */
    exit(0);
}

/* ------------------------------------------------------------------ load */

static struct {
    const char *addr;
    int64_t period; /* between two requests on one connection */
    _Atomic long sent, ok, timeouts, errors;
} load;

/* One connection: a request every load.period, each answer read whole. */
static int load_conn(roost_ctx_t *ctx, void *arg) {
    int fd;
    if (roost_tcp_connect(ctx, load.addr, &fd)) {
        atomic_fetch_add(&load.errors, 1);
        return 0;
    }
    static const char req[] = "GET / HTTP/1.1\r\nHost: front\r\n\r\n";
    char buf[HEAD_MAX];
    size_t have = 0;
    /* Connections start spread over one period, so the load is even. */
    int64_t next = roost_now() + rand_intn((int)(load.period / ROOST_MS) + 1) * ROOST_MS;
    for (;;) {
        int64_t wait = next - roost_now();
        if (wait > 0 && roost_sleep(ctx, wait)) break;
        next += load.period;
        if (roost_now() > next) next = roost_now(); /* behind: do not burst to catch up */
        if (roost_fd_write(ctx, fd, req, sizeof req - 1, NULL)) break;
        atomic_fetch_add(&load.sent, 1);
        ssize_t head = read_head(ctx, fd, buf, sizeof buf, &have);
        if (head <= 0) break;
        int status = atoi(buf + 9);
        size_t body = content_length(buf, (size_t)head);
        consume(buf, &have, (size_t)head);
        while (have < body) { /* bodies are small: they fit the buffer */
            ssize_t n = roost_fd_read(ctx, fd, buf + have, sizeof buf - have);
            if (n <= 0) goto out;
            have += (size_t)n;
        }
        consume(buf, &have, body);
        atomic_fetch_add(status == 200 ? &load.ok : status == 504 ? &load.timeouts : &load.errors, 1);
    }
out:
    if (!roost_ctx_err(ctx)) atomic_fetch_add(&load.errors, 1);
    roost_fd_close(fd);
    return 0;
}

typedef struct load_args {
    int conns;
    int64_t duration;
} load_args;

static void load_main(void *arg) {
    load_args *a = arg;
    roost_ctx_t *ctx;
    CHECK(roost_ctx_with_timeout(NULL, a->duration, &ctx));
    roost_group_t *g;
    CHECK(roost_group_make(ctx, &g));
    for (int i = 0; i < a->conns; i++) CHECK(roost_group_go(NULL, g, load_conn, NULL));
    CHECK(roost_group_wait(NULL, g));
    roost_group_unref(g);
    roost_ctx_unref(ctx);
    printf("load: %s sent %ld ok %ld timeouts %ld errors %ld\n", load.addr, atomic_load(&load.sent),
           atomic_load(&load.ok), atomic_load(&load.timeouts), atomic_load(&load.errors));
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
    fprintf(stderr, "usage: story_service upstream ADDR [MAX_MS]\n"
                    "       story_service front leaky|fixed ADDR UPSTREAM [TIMEOUT_MS [STATS_MS]]\n"
                    "       story_service load ADDR RATE CONNS SECONDS\n");
    exit(2);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also to a file or pipe */
    if (argc >= 3 && strcmp(argv[1], "upstream") == 0) {
        if (argc > 3 && (upstream_max_ms = atoi(argv[3])) <= 0) usage();
        server_args a = {"upstream", argv[2], upstream_conn, 0};
        return roost_run(server, &a) != 0;
    }
    if (argc >= 5 && strcmp(argv[1], "front") == 0) {
        if (strcmp(argv[2], "leaky") != 0 && strcmp(argv[2], "fixed") != 0) usage();
        front.leaky = strcmp(argv[2], "leaky") == 0;
        front.upstream = argv[4];
        int timeout_ms = argc > 5 ? atoi(argv[5]) : 20, stats_ms = argc > 6 ? atoi(argv[6]) : 1000;
        if (timeout_ms <= 0 || stats_ms <= 0) usage();
        front.timeout = timeout_ms * ROOST_MS;
        server_args a = {front.leaky ? "front leaky" : "front fixed", argv[3], front_conn,
                         stats_ms * ROOST_MS};
        return roost_run(server, &a) != 0;
    }
    if (argc == 6 && strcmp(argv[1], "load") == 0) {
        double rate = strtod(argv[3], NULL), secs = strtod(argv[5], NULL);
        int conns = atoi(argv[4]);
        if (!(rate > 0) || conns <= 0 || !(secs > 0)) usage();
        load.addr = argv[2];
        load.period = (int64_t)(conns / rate * ROOST_S);
        load_args a = {conns, (int64_t)(secs * ROOST_S)};
        return roost_run(load_main, &a) != 0;
    }
    usage();
}
