/* test_debug.c - the debug endpoint: the request parser alone (a pure
 * function), then the server over real sockets: every route, the 4xx
 * answers, the limits (head size, header count, read deadline, connection
 * count), keep-alive and pipelining, a slow client not stalling another,
 * stop and restart, and ROOST_DEBUG_ADDR.
 *
 *   test_debug                 the tests
 *   test_debug --serve N       tests/debug_test.sh's subject: leak N tasks
 *                              from one site (leak_here), start the endpoint
 *                              on a free port, print its address, serve
 *                              until stdin closes
 */
#include "check.h"
#include "http_parse.h"
#include "roost_io.h"
#include "roost_obs.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ------------------------------------------------------------ the parser */

static long parse(const char *s, roost__http_req *q) { return roost__http_parse(s, strlen(s), q); }

static bool span_is(const char *p, size_t n, const char *want) {
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void t_parser(void *arg) {
    roost__http_req q;
    const char *get = "GET /debug/pprof/goroutine?debug=1&x HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_EQ(parse(get, &q), (long)strlen(get));
    CHECK(span_is(q.method, q.method_len, "GET"));
    CHECK(span_is(q.path, q.path_len, "/debug/pprof/goroutine"));
    CHECK(span_is(q.query, q.query_len, "debug=1&x"));
    CHECK(q.minor == 1 && q.keep_alive && !q.head && q.nheaders == 1);
    const char *v;
    size_t vn;
    CHECK(roost__http_query(q.query, q.query_len, "debug", &v, &vn) && span_is(v, vn, "1"));
    CHECK(roost__http_query(q.query, q.query_len, "x", &v, &vn) && vn == 0);
    CHECK(!roost__http_query(q.query, q.query_len, "deb", &v, &vn));
    CHECK(!roost__http_query(NULL, 0, "debug", &v, &vn));
    /* Every prefix of a complete head is incomplete, not an error. */
    for (size_t i = 0; i < strlen(get); i++) CHECK_EQ(roost__http_parse(get, i, &q), 0);
    /* Bare LF line ends, HEAD, 1.0, Connection. */
    CHECK_EQ(parse("HEAD / HTTP/1.0\n\n", &q), 17);
    CHECK(q.head && !q.keep_alive && q.minor == 0 && q.query == NULL && q.nheaders == 0);
    CHECK_GT(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &q), 0);
    CHECK(q.keep_alive);
    CHECK_GT(parse("GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n", &q), 0);
    CHECK(!q.keep_alive);
    CHECK_GT(parse("GET / HTTP/1.1\r\nContent-Length: 000\r\nX-Empty:\r\n\r\n", &q), 0);
    /* Pipelined: the first head's length. */
    CHECK_EQ(parse("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", &q), 19);
    /* Refusals. */
    CHECK_EQ(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &q), -501);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &q), -413);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/2.0\r\n\r\n", &q), -505);
    CHECK_EQ(parse("GET / HTTP/1.2\r\n\r\n", &q), -505);
    CHECK_EQ(parse("GET / HTTP/x.1\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET /\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET  / HTTP/1.1\r\n\r\n", &q), -400);
    CHECK_EQ(parse("G(T / HTTP/1.1\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET http://a/ HTTP/1.1\r\n\r\n", &q), -400);
    CHECK_EQ(parse("\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nNo colon\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\n: empty name\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nName : v\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", &q), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", &q), -400);
    CHECK_EQ(roost__http_parse("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24, &q), -400);
    /* Limits: the request line, complete or not. */
    char big[ROOST_HTTP_MAX_HEAD + 64];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    CHECK_EQ(roost__http_parse(big, ROOST_HTTP_MAX_LINE + 2, &q), -414);
    CHECK_EQ(roost__http_parse(big, ROOST_HTTP_MAX_LINE, &q), 0);
    snprintf(big, sizeof big, "GET /%0*d HTTP/1.1\r\n\r\n", ROOST_HTTP_MAX_LINE - 14, 0);
    CHECK_EQ(parse(big, &q), (long)strlen(big)); /* exactly the limit */
    snprintf(big, sizeof big, "GET /%0*d HTTP/1.1\r\n\r\n", ROOST_HTTP_MAX_LINE - 13, 0);
    CHECK_EQ(parse(big, &q), -414);
    /* Header count. */
    size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < ROOST_HTTP_MAX_HEADERS; i++) n += (size_t)sprintf(big + n, "H%d: v\r\n", i);
    strcpy(big + n, "\r\n");
    CHECK_GT(parse(big, &q), 0);
    CHECK_EQ(q.nheaders, ROOST_HTTP_MAX_HEADERS);
    n += (size_t)sprintf(big + n, "One: more\r\n");
    CHECK_EQ(roost__http_parse(big, n, &q), -431); /* refused before the head is complete */
    /* The whole head. */
    n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nBig: ");
    memset(big + n, 'v', sizeof big - n);
    CHECK_EQ(roost__http_parse(big, ROOST_HTTP_MAX_HEAD - 1, &q), 0);
    CHECK_EQ(roost__http_parse(big, ROOST_HTTP_MAX_HEAD, &q), -431);
    CHECK_EQ(roost__http_parse(big, sizeof big, &q), -431);
}

/* ------------------------------------------------------------ a client */

typedef struct {
    int status;
    char *head, *body; /* malloc'ed, NUL-terminated */
    size_t body_len;
} reply;

static void reply_free(reply *r) { free(r->head), free(r->body); }

/* Send req (raw) on a new connection, read until the server closes it, and
 * split the answer. The answer must come within 10 s (x slack). */
static int fetch_raw(const char *addr, const char *req, size_t req_len, reply *out) {
    memset(out, 0, sizeof *out);
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 10 * ROOST_S * check_slack(), &ctx));
    int fd, rc = roost_tcp_connect(ctx, addr, &fd);
    if (rc) {
        roost_ctx_unref(ctx);
        return rc;
    }
    rc = roost_fd_write(ctx, fd, req, req_len, NULL);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    for (ssize_t got; !rc && (got = roost_fd_read(ctx, fd, buf + len, cap - len - 1)) != 0;) {
        if (got < 0) {
            rc = (int)got;
            break;
        }
        len += (size_t)got;
        if (cap - len < 2) CHECK((buf = realloc(buf, cap *= 2)) != NULL);
    }
    buf[len] = '\0';
    roost_fd_close(fd);
    roost_ctx_unref(ctx);
    char *sep = strstr(buf, "\r\n\r\n");
    if (rc == 0 && sep && sscanf(buf, "HTTP/1.1 %d ", &out->status) == 1) {
        out->head = strndup(buf, (size_t)(sep - buf) + 2);
        out->body_len = len - (size_t)(sep + 4 - buf);
        out->body = malloc(out->body_len + 1);
        memcpy(out->body, sep + 4, out->body_len);
        out->body[out->body_len] = '\0';
    } else if (!rc) {
        rc = ROOST_EINVAL;
    }
    free(buf);
    return rc;
}

static int fetch(const char *addr, const char *method, const char *target, reply *out) {
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method,
                     target, addr);
    return fetch_raw(addr, req, (size_t)n, out);
}

/* The answer's status, for the 4xx cases. */
static int status_of(const char *addr, const char *req) {
    reply r;
    CHECK_OK(fetch_raw(addr, req, strlen(req), &r));
    int s = r.status;
    CHECK(strstr(r.head, "Connection: close") != NULL);
    reply_free(&r);
    return s;
}

/* ------------------------------------------------------------ the server */

static roost_chan_t *never; /* nobody receives: tasks sending on it park for good */

static void leak_here(void *arg) { roost_chan_send(NULL, never, &arg); }

/* n tasks parked for good at one site; returns once they are parked. */
static void leak(int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(leak_here, NULL));
    roost_counts_t c;
    for (roost_counts(&c); c.by_reason[ROOST_WAIT_CHAN_SEND] < n; roost_counts(&c))
        roost_sleep(NULL, ROOST_MS);
}

/* Free the leaked tasks: close the channel they send on. */
static void unleak(void) {
    roost_chan_close(never);
    roost_chan_unref(never);
    CHECK_OK(roost_chan_make(sizeof(void *), 0, &never));
}

static void start(char *addr, size_t n) {
    CHECK_OK(roost_debug_start("127.0.0.1:0"));
    CHECK_OK(roost_debug_addr(addr, n));
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
}

static void t_routes(void *arg) {
    char addr[64];
    leak(7);
    start(addr, sizeof addr);
    reply r;

    CHECK_OK(fetch(addr, "GET", "/", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "Content-Type: text/html") && strstr(r.body, "<canvas"));
    CHECK(!strstr(r.body, "http://") && !strstr(r.body, "https://")); /* nothing from outside */
    reply_free(&r);

    CHECK_OK(fetch(addr, "GET", "/metrics", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "text/plain; version=0.0.4"));
    CHECK(strstr(r.body, "# TYPE roost_tasks gauge\n"));
    CHECK(strstr(r.body, "roost_tasks_parked{reason=\"chan send\"} 7\n"));
    CHECK(strstr(r.body, ",func=\"leak\"} 7\n"));
    CHECK(strstr(r.body, "# TYPE roost_tasks_created_total counter\n"));
    CHECK(strstr(r.body, "roost_sched_switches_total "));
    CHECK(strstr(r.body, "roost_blocking_pool_calls_total "));
    CHECK(strstr(r.body, "roost_leaks_woken_total 0\n"));
    reply_free(&r);

    CHECK_OK(fetch(addr, "GET", "/debug/pprof/goroutine?debug=1", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.body, "task profile: total ", 20) == 0);
    /* (The tasks may park on more than one path: count by entry.) */
    int parked = 0;
    for (const char *p = r.body; (p = strstr(p, "\n# chan send; created by leak at ")); p++) {
        const char *e = p;
        while (e > r.body && e[-1] != '\n') e--;
        parked += atoi(e);
    }
    CHECK_EQ(parked, 7);
    CHECK(strstr(r.body, "leak_here"));
    CHECK(strstr(r.body, "# labels: {component=debug")); /* the endpoint's own tasks, labelled */
    reply_free(&r);

    CHECK_OK(fetch(addr, "GET", "/debug/pprof/goroutine?debug=2", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "[chan send") && strstr(r.body, "\"roost debug: listener\""));
    reply_free(&r);

    /* The protobuf form, gzip'ed: the magic, and the length in the trailer. */
    CHECK_OK(fetch(addr, "GET", "/debug/pprof/goroutine", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.head, "application/octet-stream"));
    CHECK(r.body_len > 18 && (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
    const unsigned char *t = (const unsigned char *)r.body + r.body_len - 4;
    size_t isize = t[0] | t[1] << 8 | t[2] << 16 | (size_t)t[3] << 24;
    CHECK_EQ(isize + 10 + 8 + 5 * ((isize + 65534) / 65535 + !isize), r.body_len); /* stored blocks */
    reply_free(&r);

    const char *json[] = {"/debug/pprof/goroutine?format=json", "/debug/roost/tasks.json"};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(fetch(addr, "GET", json[i], &r));
        CHECK_EQ(r.status, 200);
        CHECK(strstr(r.head, "application/json") && strncmp(r.body, "{\"total\":", 9) == 0);
        reply_free(&r);
    }
    CHECK_OK(fetch(addr, "GET", "/debug/roost/summary.json?groups=1", &r));
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"func\":\"leak\",\"state\":\"chan send\",\"count\":7,\"oldest_wait_s\":"));
    reply_free(&r);
    CHECK_OK(fetch(addr, "GET", "/debug/roost/summary.json", &r));
    CHECK(strstr(r.body, "\"alive\":") && !strstr(r.body, "\"groups\""));
    reply_free(&r);
    CHECK_OK(fetch(addr, "GET", "/debug/pprof/", &r));
    CHECK(r.status == 200 && strstr(r.body, "/debug/pprof/goroutine?debug=1"));
    reply_free(&r);

    /* HEAD: the length, no body. */
    CHECK_OK(fetch(addr, "HEAD", "/metrics", &r));
    CHECK(r.status == 200 && r.body_len == 0 && strstr(r.head, "Content-Length: "));
    reply_free(&r);

    /* 4xx and 5xx. */
    CHECK_OK(fetch(addr, "GET", "/nowhere", &r));
    CHECK_EQ(r.status, 404);
    reply_free(&r);
    CHECK_OK(fetch(addr, "POST", "/metrics", &r));
    CHECK(r.status == 405 && strstr(r.head, "Allow: GET, HEAD"));
    reply_free(&r);
    CHECK_OK(fetch(addr, "GET", "/debug/pprof/goroutine?debug=3", &r));
    CHECK_EQ(r.status, 400);
    reply_free(&r);
    CHECK_OK(fetch(addr, "GET", "/debug/pprof/goroutine?format=xml", &r));
    CHECK_EQ(r.status, 400);
    reply_free(&r);
    CHECK_EQ(status_of(addr, "garbage\r\n\r\n"), 400);
    CHECK_EQ(status_of(addr, "GET / HTTP/2.0\r\n\r\n"), 505);
    CHECK_EQ(status_of(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 413);
    CHECK_EQ(status_of(addr, "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    static char big[ROOST_HTTP_MAX_HEAD + 100];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "GET /", 5);
    CHECK_EQ(status_of(addr, big), 414);
    int n = sprintf(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= ROOST_HTTP_MAX_HEADERS; i++) n += sprintf(big + n, "H%d: v\r\n", i);
    strcpy(big + n, "\r\n");
    CHECK_EQ(status_of(addr, big), 431);

    roost_debug_stop();
    unleak();
}

/* Keep-alive: two requests on one connection, the second pipelined with a
 * third in one write; the last asks to close. */
static void t_keepalive(void *arg) {
    char addr[64];
    start(addr, sizeof addr);
    int fd;
    CHECK_OK(roost_tcp_connect(NULL, addr, &fd));
    const char *one = "GET /debug/roost/summary.json HTTP/1.1\r\n\r\n";
    CHECK_OK(roost_fd_write(NULL, fd, one, strlen(one), NULL));
    char buf[8192] = "";
    /* One whole answer: its head, then Content-Length bytes. */
    size_t len = 0, want = 0;
    ssize_t got;
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
        if (end && cl && len >= (want = (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))) break;
        CHECK_GT(got = roost_fd_read(NULL, fd, buf + len, sizeof buf - 1 - len), 0);
        len += (size_t)got;
        buf[len] = '\0';
    }
    CHECK_EQ(len, want); /* nothing more came */
    CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 && !strstr(buf, "Connection: close"));
    const char *two =
        "GET /nope HTTP/1.1\r\n\r\nGET /debug/roost/summary.json HTTP/1.1\r\nConnection: close\r\n\r\n";
    CHECK_OK(roost_fd_write(NULL, fd, two, strlen(two), NULL));
    len = 0;
    while ((got = roost_fd_read(NULL, fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    CHECK_EQ(got, 0); /* the server closed after the last */
    buf[len] = '\0';
    char *second = strstr(buf, "HTTP/1.1 200 OK\r\n");
    CHECK(strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24) == 0 && second &&
          strstr(second, "Connection: close"));
    roost_fd_close(fd);
    roost_debug_stop();
}

/* A client that sends half a head and waits: answered 408 once the read
 * deadline passes, while other clients are served meanwhile without
 * waiting for it; an idle connection is closed without an answer. */
typedef struct {
    const char *addr;
    int status;         /* the answer's, -1 for none */
    size_t got;         /* bytes of answer */
    int64_t took;       /* from connect to the server's close */
    const char *send;   /* what to send first ("": nothing) */
    roost_chan_t *done; /* one value on return */
} slow_arg;

static void slow_client(void *arg) {
    slow_arg *s = arg;
    int64_t t0 = roost_now();
    int fd;
    CHECK_OK(roost_tcp_connect(NULL, s->addr, &fd));
    if (*s->send) CHECK_OK(roost_fd_write(NULL, fd, s->send, strlen(s->send), NULL));
    char buf[512];
    size_t len = 0;
    ssize_t got;
    while ((got = roost_fd_read(NULL, fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    buf[len] = '\0';
    s->got = len;
    if (sscanf(buf, "HTTP/1.1 %d", &s->status) != 1) s->status = -1;
    s->took = roost_now() - t0;
    roost_fd_close(fd);
    int one = 1;
    roost_chan_send(NULL, s->done, &one);
}

static void t_slow_client(void *arg) {
    char addr[64];
    /* Long enough that the other clients' answers, slow as a loaded
     * machine makes them, come well within it. */
    int64_t timeout = 2 * ROOST_S * check_slack();
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)(timeout / ROOST_MS));
    setenv("ROOST_DEBUG_TIMEOUT_MS", v, 1);
    start(addr, sizeof addr);
    unsetenv("ROOST_DEBUG_TIMEOUT_MS");
    enum { SLOW = 8 };
    roost_chan_t *done;
    CHECK_OK(roost_chan_make(sizeof(int), SLOW, &done));
    slow_arg s[SLOW];
    for (int i = 0; i < SLOW; i++) {
        /* Half a head, or nothing at all (an idle connection). */
        s[i] = (slow_arg){addr, 0, 0, 0, i % 2 ? "GET /metrics HTTP/1.1\r\nHost: sl" : "", done};
        CHECK_OK(roost_go(slow_client, &s[i]));
    }
    roost_sleep(NULL, 20 * ROOST_MS);
    /* Meanwhile, others are served at once. */
    for (int i = 0; i < 5; i++) {
        int64_t t0 = roost_now();
        reply r;
        CHECK_OK(fetch(addr, "GET", "/metrics", &r));
        CHECK_EQ(r.status, 200);
        reply_free(&r);
        CHECK_LT(check_since(t0), timeout / 2);
    }
    for (int i = 0; i < SLOW; i++) CHECK_OK(roost_chan_recv(NULL, done, NULL));
    for (int i = 0; i < SLOW; i++) {
        CHECK_GE(s[i].took, timeout * 9 / 10);
        CHECK_LT(s[i].took, timeout + 5 * ROOST_S * check_slack());
        if (i % 2)
            CHECK_EQ(s[i].status, 408);
        else
            CHECK_EQ(s[i].got, 0); /* idle: closed, nothing said */
    }
    roost_chan_unref(done);
    roost_debug_stop();
}

/* More connections than the endpoint serves at once: the ones beyond get
 * a 503 at once; once some close, new ones are served again. */
static void t_conn_limit(void *arg) {
    char addr[64];
    start(addr, sizeof addr);
    enum { HOLD = 64 };
    int fds[HOLD];
    for (int i = 0; i < HOLD; i++) CHECK_OK(roost_tcp_connect(NULL, addr, &fds[i]));
    /* The listener counts a connection once it has accepted it: wait until
     * it has taken all of them. */
    int64_t t0 = roost_now();
    int status = 0;
    while (status != 503 && check_since(t0) < 10 * ROOST_S * check_slack()) {
        reply r;
        CHECK_OK(fetch(addr, "GET", "/metrics", &r));
        status = r.status;
        reply_free(&r);
        if (status != 503) roost_sleep(NULL, 5 * ROOST_MS);
    }
    CHECK_EQ(status, 503);
    for (int i = 0; i < HOLD; i++) roost_fd_close(fds[i]);
    t0 = roost_now();
    while (status != 200 && check_since(t0) < 10 * ROOST_S * check_slack()) {
        reply r;
        CHECK_OK(fetch(addr, "GET", "/metrics", &r));
        status = r.status;
        reply_free(&r);
        if (status != 200) roost_sleep(NULL, 5 * ROOST_MS);
    }
    CHECK_EQ(status, 200);
    roost_debug_stop();
}

/* Start, stop, restart; bad addresses; the API outside a start. */
static void t_lifecycle(void *arg) {
    char addr[64];
    CHECK_ERR(roost_debug_addr(addr, sizeof addr), ROOST_ESTATE);
    roost_debug_stop(); /* not running: nothing */
    start(addr, sizeof addr);
    CHECK_ERR(roost_debug_start("127.0.0.1:0"), ROOST_ESTATE);
    char tiny[4];
    CHECK_ERR(roost_debug_addr(tiny, sizeof tiny), ROOST_ERANGE);
    CHECK_ERR(roost_debug_addr(NULL, 4), ROOST_EINVAL);
    /* A client connected while the endpoint stops is let go. */
    int fd;
    CHECK_OK(roost_tcp_connect(NULL, addr, &fd));
    roost_sleep(NULL, 10 * ROOST_MS);
    roost_debug_stop();
    /* Closed: by the connection's task, or (not accepted yet) with the
     * listening socket, which resets it. */
    char buf[16];
    ssize_t got = roost_fd_read(NULL, fd, buf, sizeof buf);
    CHECK_MSG(got == 0 || got == ROOST_ESYS(ECONNRESET), "read: %zd", got);
    roost_fd_close(fd);
    CHECK_ERR(roost_debug_addr(addr, sizeof addr), ROOST_ESTATE);
    /* The port is free again, and a second start works. */
    CHECK_OK(roost_debug_start(addr));
    char again[64];
    CHECK_OK(roost_debug_addr(again, sizeof again));
    CHECK(strcmp(addr, again) == 0);
    CHECK_ERR(roost_debug_start("127.0.0.1:0"), ROOST_ESTATE);
    roost_debug_stop();
    int lfd;
    CHECK_OK(roost_tcp_listen(NULL, "127.0.0.1:0", 0, &lfd));
    CHECK_OK(roost_sock_addr(lfd, 0, addr, sizeof addr));
    CHECK_ERR(roost_debug_start(addr), ROOST_ESYS(EADDRINUSE));
    roost_fd_close(lfd);
    CHECK_ERR(roost_debug_start("127.0.0.1:notaport"), ROOST_ENOHOST);
    CHECK_ERR(roost_debug_addr(addr, sizeof addr), ROOST_ESTATE);
}

/* roost_metrics_text, without the server. */
static void t_metrics_text(void *arg) {
    char *m;
    size_t n;
    CHECK_ERR(roost_metrics_text(NULL, &n), ROOST_EINVAL);
    leak(3);
    CHECK_OK(roost_metrics_text(&m, &n));
    CHECK_EQ(strlen(m), n);
    CHECK(strstr(m, "roost_tasks_parked{reason=\"chan send\"} 3\n"));
    free(m);
    unleak();
}

/* ROOST_DEBUG_ADDR: the runtime starts the endpoint when it starts. */
static void t_env(void *arg) {
    char addr[64];
    CHECK_OK(roost_debug_addr(addr, sizeof addr));
    reply r;
    CHECK_OK(fetch(addr, "GET", "/metrics", &r));
    CHECK_EQ(r.status, 200);
    reply_free(&r);
    roost_debug_stop();
}

/* ------------------------------------------------------------ --serve */

static int serve_n;

static void serve(void *arg) {
    leak(serve_n);
    char addr[64];
    start(addr, sizeof addr);
    printf("%s\n", addr);
    fflush(stdout);
    /* Until stdin closes: read it on the blocking pool. */
    char c;
    while (roost_file_read(NULL, 0, &c, 1, -1) == 1) {
    }
    roost_debug_stop();
    unleak();
}

int main(int argc, char **argv) {
    CHECK_OK(roost_chan_make(sizeof(void *), 0, &never));
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
        serve_n = atoi(argv[2]);
        CHECK_OK(roost_run(serve, NULL));
        return 0;
    }
    RUN(t_parser);
    RUN(t_routes);
    RUN(t_keepalive);
    RUN(t_slow_client);
    RUN(t_conn_limit);
    RUN(t_lifecycle);
    RUN(t_metrics_text);
    check_no_leaks();
    /* A fresh runtime with ROOST_DEBUG_ADDR set. */
    CHECK_OK(roost_shutdown());
    setenv("ROOST_DEBUG_ADDR", "127.0.0.1:0", 1);
    RUN(t_env);
    unsetenv("ROOST_DEBUG_ADDR");
    roost_chan_unref(never);
    check_no_leaks();
    return 0;
}
