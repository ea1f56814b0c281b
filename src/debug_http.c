/* debug_http.c - the live debug endpoint: an HTTP/1.1 server built on roost
 * itself, serving the task profile on Go's paths, Prometheus metrics, and a
 * page with a live chart (roost_obs.h, "debug endpoint").
 *
 * The one idea: the server is an ordinary roost program that must never
 * get in the way of the one it observes. So
 *   - its tasks are labelled component=debug and named "roost debug: ...",
 *     and show in every count and profile like any other task;
 *   - a listener task accepts, and each connection gets a task of its own
 *     in a group (the scope that stop closes), so a slow or hostile client
 *     holds one task and one of MAX_CONNS slots, nothing more; beyond the
 *     slots a connection gets a 503 at once;
 *   - every read and write has a deadline (ROOST_DEBUG_TIMEOUT_MS): a head
 *     not complete in time gets a 408, a client that does not read its
 *     answer is dropped;
 *   - the request parser (http_parse.c) is a pure function with hard limits;
 *   - anything heavier than a count (a profile: a snapshot, symbols, a
 *     pass per task; the metrics; the groups) runs on the blocking pool
 *     (roost_offload), so no worker is held by it and no other task waits
 *     behind it; the connection task parks in "io wait" meanwhile.
 * When nobody connects the endpoint is one task parked in accept: no
 * thread, no timer, no memory beyond that task's stack.
 */
#include "internal.h"
#include "buf.h"
#include "roost_io.h"
#include "http_parse.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEBUG_DEFAULT_ADDR "127.0.0.1:6060"
#define DEBUG_MAX_CONNS 64
#define DEBUG_TOP_GROUPS 20

static struct {
    pthread_mutex_t lock; /* start and stop; everything below but conns */
    bool running;
    int lfd;              /* the listening socket (the listener closes it) */
    char addr[64];        /* bound "host:port" */
    roost_ctx_t *stop;    /* cancelled by stop: ends accept, and the connections' group */
    roost_chan_t *done;   /* closed by the listener once every connection has returned */
    int64_t timeout;      /* read and write deadline, ns */
    _Atomic int conns;    /* connections being served */
    _Atomic int refusing; /* connections being refused (503), beyond conns */
} endpoint = {.lock = PTHREAD_MUTEX_INITIALIZER, .lfd = -1};

/* ------------------------------------------------------------ responses */

static const char *debug_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

typedef struct {
    int status;
    const char *ctype;
    const char *extra; /* more header lines, each ending in CRLF ("" for none) */
    const char *body;  /* static text, or b.p */
    size_t len;
    roost__buf b; /* a built body (freed after the answer) */
} debug_resp;

static void resp_static(debug_resp *r, int status, const char *ctype, const char *body) {
    r->status = status, r->ctype = ctype, r->body = body, r->len = strlen(body);
}

static void resp_error(debug_resp *r, int status, const char *why) {
    roost__buf_printf(&r->b, "%d %s%s%s\n", status, debug_reason(status), why ? ": " : "", why ? why : "");
    r->status = status, r->ctype = "text/plain; charset=utf-8";
    r->body = r->b.p, r->len = r->b.len;
}

/* Write the answer (head, then body unless HEAD). */
static int debug_send(roost_ctx_t *gctx, int fd, debug_resp *r, bool head_only, bool close_after) {
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
                     r->status, debug_reason(r->status), r->ctype, r->len, r->extra ? r->extra : "",
                     close_after ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head) return ROOST_ERANGE;
    /* One write, so that the answer leaves in as few packets as it can. */
    size_t body = head_only ? 0 : r->len;
    char *all = malloc((size_t)n + body);
    if (!all) return ROOST_ENOMEM;
    memcpy(all, head, (size_t)n);
    if (body) memcpy(all + n, r->body, body);
    roost_ctx_t *w;
    int rc = roost_ctx_with_timeout(gctx, endpoint.timeout, &w);
    if (!rc) rc = roost_fd_write(w, fd, all, (size_t)n + body, NULL);
    free(all);
    if (rc) return rc;
    roost_ctx_cancel(w);
    roost_ctx_unref(w);
    return rc;
}

/* After an error answer: close the sending side, then read and drop what
 * the client still sends, for a moment, before the close. Closing with
 * unread bytes makes the kernel send a reset, which can destroy the
 * answer before the client reads it. Bounded: 64 KB, and `most` (or the
 * read deadline, if shorter). */
static void debug_linger(roost_ctx_t *gctx, int fd, int64_t most) {
    roost_sock_shutdown(fd, ROOST_SHUT_WR);
    roost_ctx_t *c;
    if (roost_ctx_with_timeout(gctx, endpoint.timeout < most ? endpoint.timeout : most, &c)) return;
    char buf[4096];
    for (size_t total = 0; total < 65536;) {
        ssize_t n = roost_fd_read(c, fd, buf, sizeof buf);
        if (n <= 0) break;
        total += (size_t)n;
    }
    roost_ctx_cancel(c);
    roost_ctx_unref(c);
}

/* ------------------------------------------------------------ gzip
 * The protobuf profile goes out gzip'ed, as Go's endpoint sends it. Stored
 * (uncompressed) deflate blocks: a valid gzip stream that any reader takes,
 * with no compressor to link; the profile is grouped, so it is small. */

static uint32_t debug_crc32(uint32_t crc, const unsigned char *p, size_t n) {
    static uint32_t table[256];
    static _Atomic bool ready;
    if (!atomic_load_explicit(&ready, memory_order_acquire)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c; /* the same values from any thread that races here */
        }
        atomic_store_explicit(&ready, true, memory_order_release);
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void debug_gzip(roost__buf *out, const char *in, size_t n) {
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    roost__buf_put(out, hdr, sizeof hdr);
    size_t off = 0;
    do {
        size_t k = n - off > 65535 ? 65535 : n - off;
        unsigned char b[5] = {off + k == n ? 1 : 0, (unsigned char)k, (unsigned char)(k >> 8),
                              (unsigned char)~k, (unsigned char)(~k >> 8)};
        roost__buf_put(out, b, 5);
        roost__buf_put(out, in + off, k);
        off += k;
    } while (off < n);
    uint32_t crc = debug_crc32(0, (const unsigned char *)in, n), size = (uint32_t)n;
    unsigned char t[8] = {(unsigned char)crc,          (unsigned char)(crc >> 8),  (unsigned char)(crc >> 16),
                          (unsigned char)(crc >> 24),  (unsigned char)size,        (unsigned char)(size >> 8),
                          (unsigned char)(size >> 16), (unsigned char)(size >> 24)};
    roost__buf_put(out, t, 8);
}

/* ------------------------------------------------------------ the summary */

static void debug_json_str(roost__buf *b, const char *s) {
    roost__buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            roost__buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            roost__buf_printf(b, "\\u%04x", *p);
        else
            roost__buf_put(b, p, 1);
    }
    roost__buf_put(b, "\"", 1);
}

/* Tasks folded by (spawn site, state or wait reason), by pointer: a site's
 * strings are one static pair, shared by all its tasks. */
typedef struct {
    const char *file, *func;
    int line, what;        /* what: wait reason if parked, else -1 - state */
    int64_t count, oldest; /* oldest: the earliest park time, 0 if none */
} debug_group;

typedef struct {
    debug_group *g; /* open addressing; file == NULL: empty */
    size_t cap, n;
    bool oom;
} debug_groups;

static size_t debug_group_hash(const roost_task_info_t *t, int what) {
    uint64_t h = (uintptr_t)t->file * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)(uint32_t)t->line << 8 | (uint8_t)what) * 0xC2B2AE3D27D4EB4Full;
    h ^= (uintptr_t)t->func;
    return (size_t)(h ^ (h >> 29));
}

static void debug_group_add(const roost_task_info_t *t, void *arg) {
    debug_groups *G = arg;
    if (G->oom) return;
    if (G->n * 2 >= G->cap) {
        size_t cap = G->cap ? G->cap * 2 : 64;
        debug_group *g = calloc(cap, sizeof *g);
        if (!g) {
            G->oom = true;
            return;
        }
        for (size_t i = 0; i < G->cap; i++) {
            if (!G->g[i].file) continue;
            roost_task_info_t k = {.file = G->g[i].file, .func = G->g[i].func, .line = G->g[i].line};
            size_t j = debug_group_hash(&k, G->g[i].what) & (cap - 1);
            while (g[j].file) j = (j + 1) & (cap - 1);
            g[j] = G->g[i];
        }
        free(G->g);
        G->g = g, G->cap = cap;
    }
    int what = t->state == ROOST_TASK_PARKED ? t->wait_reason : -1 - t->state;
    const char *file = t->file ? t->file : "?";
    roost_task_info_t k = *t;
    k.file = file;
    size_t j = debug_group_hash(&k, what) & (G->cap - 1);
    for (;; j = (j + 1) & (G->cap - 1)) {
        debug_group *g = &G->g[j];
        if (!g->file) {
            *g = (debug_group){file, t->func, t->line, what, 0, 0};
            G->n++;
        } else if (g->file != file || g->func != t->func || g->line != t->line || g->what != what) {
            continue;
        }
        g->count++;
        if (t->state == ROOST_TASK_PARKED && t->parked_at && (!g->oldest || t->parked_at < g->oldest))
            g->oldest = t->parked_at;
        return;
    }
}

static int debug_group_cmp(const void *a, const void *b) {
    const debug_group *x = a, *y = b;
    if (!x->file || !y->file) return !x->file - !y->file; /* empty slots last */
    return x->count != y->count ? (x->count > y->count ? -1 : 1) : 0;
}

static int debug_summary(roost__buf *b, bool groups) {
    roost_counts_t c;
    roost_counts(&c);
    roost_leak_stats_t ls;
    roost_leak_stats(&ls);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    roost__buf_printf(b,
                      "{\"time\":%.3f,\"alive\":%lld,\"running\":%lld,\"runnable\":%lld,\"parked\":%lld,"
                      "\"created\":%lld,\"exited\":%lld,\"leaks_proved\":%lld,\"leaks_woken\":%lld,"
                      "\"workers\":%d",
                      (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, (long long)c.alive, (long long)c.running,
                      (long long)c.runnable, (long long)c.parked, (long long)c.created, (long long)c.exited,
                      (long long)ls.proved, (long long)ls.woken, roost_workers());
    if (groups) {
        debug_groups G = {0};
        int64_t now = roost_now();
        int rc = roost__tasks_each(0, debug_group_add, &G);
        if (rc || G.oom) {
            free(G.g);
            return rc ? rc : ROOST_ENOMEM;
        }
        if (G.cap) qsort(G.g, G.cap, sizeof *G.g, debug_group_cmp);
        roost__buf_printf(b, ",\"ngroups\":%zu,\"groups\":[", G.n);
        for (size_t i = 0; i < G.n && i < DEBUG_TOP_GROUPS; i++) {
            const debug_group *g = &G.g[i];
            roost__buf_printf(b, "%s{\"site\":", i ? "," : "");
            char site[512];
            snprintf(site, sizeof site, "%s:%d", g->file, g->line);
            debug_json_str(b, site);
            roost__buf_printf(b, ",\"func\":");
            debug_json_str(b, g->func);
            roost__buf_printf(b, ",\"state\":");
            debug_json_str(b, g->what >= 0 ? roost_wait_reason_name(g->what)
                                           : roost_task_state_name(-1 - g->what));
            roost__buf_printf(b, ",\"count\":%lld,\"oldest_wait_s\":", (long long)g->count);
            if (g->oldest)
                roost__buf_printf(b, "%.3f", (double)(now > g->oldest ? now - g->oldest : 0) / 1e9);
            else
                roost__buf_printf(b, "null");
            roost__buf_printf(b, "}");
        }
        roost__buf_printf(b, "]");
        free(G.g);
    }
    roost__buf_printf(b, "}\n");
    return b->oom ? ROOST_ENOMEM : ROOST_OK;
}

/* ------------------------------------------------------------ the page */

static const char debug_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>roost: tasks</title>\n"
    "<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}"
    "#figs span{margin-right:1.5em}canvas{border:1px solid #ccc;background:#fff}"
    "table{border-collapse:collapse;margin-top:1em}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;"
    "text-align:left}td.n{text-align:right}#err{color:#b00}</style></head>\n<body>\n"
    "<h1>roost: tasks</h1>\n"
    "<div id=\"figs\"><span>alive <b id=\"alive\">-</b></span><span>parked <b id=\"parked\">-</b></span>"
    "<span>created <b id=\"created\">-</b></span><span>leaks proved <b id=\"leaks\">-</b></span>"
    "<span id=\"err\"></span></div>\n"
    "<canvas id=\"chart\" width=\"900\" height=\"260\" data-points=\"0\"></canvas>\n"
    "<h2 style=\"font-size:1.1em\">Largest groups</h2>\n"
    "<table><thead><tr><th>spawn site</th><th>function</th><th>state</th><th>tasks</th>"
    "<th>oldest wait</th></tr></thead><tbody id=\"groups\"></tbody></table>\n"
    "<p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/debug/pprof/goroutine?debug=1\">"
    "goroutine?debug=1</a> &middot; <a href=\"/debug/pprof/goroutine?debug=2\">goroutine?debug=2</a>"
    " &middot; <a href=\"/debug/roost/tasks.json\">tasks.json</a></p>\n"
    "<script>\n"
    "'use strict';\n"
    "const pts=[];let polls=0;const MAX=600;\n"
    "function $(id){return document.getElementById(id);}\n"
    "function draw(){const c=$('chart'),x=c.getContext('2d'),W=c.width,H=c.height,L=60,B=24;\n"
    " x.clearRect(0,0,W,H);x.font='12px sans-serif';x.fillStyle='#666';\n"
    " let hi=1;for(const p of pts)hi=Math.max(hi,p.v);hi=Math.ceil(hi*1.1);\n"
    " x.strokeStyle='#ddd';x.beginPath();for(let i=0;i<=4;i++){const y=8+(H-B-8)*i/4;"
    "x.moveTo(L,y);x.lineTo(W-8,y);x.fillText(String(Math.round(hi*(4-i)/4)),4,y+4);}x.stroke();\n"
    " if(pts.length>0){const t0=pts[0].t,t1=Math.max(pts[pts.length-1].t,t0+1);\n"
    "  x.fillText(new Date(t0*1000).toLocaleTimeString(),L,H-6);\n"
    "  x.fillText(new Date(t1*1000).toLocaleTimeString(),W-80,H-6);\n"
    "  x.strokeStyle='#1565c0';x.lineWidth=2;x.beginPath();\n"
    "  pts.forEach((p,i)=>{const px=L+(W-8-L)*(p.t-t0)/(t1-t0),py=8+(H-B-8)*(1-p.v/hi);"
    "i?x.lineTo(px,py):x.moveTo(px,py);});x.stroke();}\n"
    " c.dataset.points=String(pts.length);}\n"
    "function cell(tr,s,cls){const td=document.createElement('td');td.textContent=s;if(cls)td.className=cls;"
    "tr.appendChild(td);}\n"
    "function groups(gs){const tb=$('groups');tb.textContent='';for(const g of gs){"
    "const tr=document.createElement('tr');cell(tr,g.site);cell(tr,g.func);cell(tr,g.state);"
    "cell(tr,String(g.count),'n');cell(tr,g.oldest_wait_s==null?'':g.oldest_wait_s.toFixed(1)+' s','n');"
    "tb.appendChild(tr);}}\n"
    "async function poll(){const withGroups=polls++%5===0;\n"
    " try{const r=await fetch('/debug/roost/summary.json'+(withGroups?'?groups=1':''),{cache:'no-store'});\n"
    "  const d=await r.json();pts.push({t:d.time,v:d.alive});if(pts.length>MAX)pts.shift();\n"
    "  $('alive').textContent=d.alive;$('parked').textContent=d.parked;$('created').textContent=d.created;\n"
    "  $('leaks').textContent=d.leaks_proved;$('err').textContent='';if(d.groups)groups(d.groups);draw();}\n"
    " catch(e){$('err').textContent='endpoint unreachable: '+e;}\n"
    " setTimeout(poll,1000);}\n"
    "poll();\n"
    "</script>\n</body></html>\n";

static const char debug_index[] =
    "roost debug endpoint\n\n"
    "/                                 live page: task count over time, largest groups\n"
    "/metrics                          Prometheus text format 0.0.4\n"
    "/debug/pprof/goroutine            task profile, gzip'ed profile.proto (go tool pprof)\n"
    "/debug/pprof/goroutine?debug=1    grouped by stack and wait reason\n"
    "/debug/pprof/goroutine?debug=2    one entry per task\n"
    "/debug/pprof/goroutine?format=json\n"
    "/debug/roost/tasks.json           the same JSON\n"
    "/debug/roost/summary.json[?groups=1]  counts now (and the largest groups)\n";

/* ------------------------------------------------------------ routes */

enum { WORK_PROFILE, WORK_METRICS, WORK_SUMMARY };

typedef struct {
    int what, arg; /* WORK_*; the profile format, or groups for the summary */
    debug_resp *r;
    int rc; /* debug_build's */
} debug_work;

/* Build the body. */
static int debug_build(debug_work *w) {
    debug_resp *r = w->r;
    int rc;
    if (w->what == WORK_PROFILE) {
        char *p = NULL;
        size_t n = 0;
        rc = roost_profile(w->arg, &p, &n);
        if (!rc) {
            if (w->arg == ROOST_PROFILE_PPROF)
                debug_gzip(&r->b, p, n);
            else
                roost__buf_put(&r->b, p, n);
        }
        free(p);
    } else if (w->what == WORK_METRICS) {
        rc = roost__metrics(&r->b);
    } else {
        rc = debug_summary(&r->b, w->arg != 0);
    }
    if (!rc && r->b.oom) rc = ROOST_ENOMEM;
    return rc;
}

/* The builder runs on a thread of its own at a lower priority (nice +10):
 * where the workers keep every CPU busy, it takes what they leave instead
 * of taking time slices from them (a profile of 100,000 tasks is about
 * half a second of CPU). Raising one's own nice value needs no privilege,
 * but lowering it back does, hence a thread of its own rather than the
 * pool thread, which later calls of the program's must find as it was. */
#define DEBUG_NICE 10

static void *debug_niced(void *arg) {
    debug_work *w = arg;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (!errno)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice + DEBUG_NICE > 19 ? 19 : nice + DEBUG_NICE);
    w->rc = debug_build(w);
    return NULL;
}

/* On a blocking-pool thread: build the body; a heavy one (a pass over the
 * tasks) on the niced thread, unless no thread can be had. */
static int debug_work_run(void *arg) {
    debug_work *w = arg;
    pthread_t th;
    bool heavy = w->what == WORK_PROFILE || (w->what == WORK_SUMMARY && w->arg);
    if (!heavy || roost__thread_start(&th, debug_niced, w, "roost-debug", false) != 0) return debug_build(w);
    pthread_join(th, NULL);
    return w->rc;
}

static bool debug_path_is(const roost__http_req *q, const char *p) {
    return q->path_len == strlen(p) && memcmp(q->path, p, q->path_len) == 0;
}

static bool debug_query_is(const roost__http_req *q, const char *name, const char *val) {
    const char *v;
    size_t n;
    return roost__http_query(q->query, q->query_len, name, &v, &n) && n == strlen(val) &&
           memcmp(v, val, n) == 0;
}

static void debug_route(const roost__http_req *q, debug_resp *r) {
    bool get = (q->method_len == 3 && memcmp(q->method, "GET", 3) == 0) || q->head;
    debug_work w = {.what = -1, .r = r};
    const char *v;
    size_t vn;
    if (debug_path_is(q, "/") || debug_path_is(q, "/debug/roost/") || debug_path_is(q, "/debug/roost")) {
        resp_static(r, 200, "text/html; charset=utf-8", debug_page);
    } else if (debug_path_is(q, "/debug/pprof/") || debug_path_is(q, "/debug/pprof")) {
        resp_static(r, 200, "text/plain; charset=utf-8", debug_index);
    } else if (debug_path_is(q, "/metrics")) {
        w.what = WORK_METRICS;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (debug_path_is(q, "/debug/roost/tasks.json")) {
        w.what = WORK_PROFILE, w.arg = ROOST_PROFILE_JSON;
        r->ctype = "application/json";
    } else if (debug_path_is(q, "/debug/roost/summary.json")) {
        w.what = WORK_SUMMARY, w.arg = debug_query_is(q, "groups", "1");
        r->ctype = "application/json";
    } else if (debug_path_is(q, "/debug/pprof/goroutine")) {
        w.what = WORK_PROFILE;
        if (roost__http_query(q->query, q->query_len, "format", &v, &vn)) {
            if (!(vn == 4 && memcmp(v, "json", 4) == 0)) {
                resp_error(r, 400, "format: json is the only one");
                return;
            }
            w.arg = ROOST_PROFILE_JSON;
            r->ctype = "application/json";
        } else if (!roost__http_query(q->query, q->query_len, "debug", &v, &vn) || (vn == 1 && v[0] == '0')) {
            w.arg = ROOST_PROFILE_PPROF;
            r->ctype = "application/octet-stream";
            r->extra = "Content-Disposition: attachment; filename=\"goroutine\"\r\n";
        } else if (vn == 1 && v[0] == '1') {
            w.arg = ROOST_PROFILE_GROUPED;
            r->ctype = "text/plain; charset=utf-8";
        } else if (vn == 1 && v[0] == '2') {
            w.arg = ROOST_PROFILE_FULL;
            r->ctype = "text/plain; charset=utf-8";
        } else {
            resp_error(r, 400, "debug: 0, 1 or 2");
            return;
        }
    } else {
        resp_error(r, 404, NULL);
        return;
    }
    if (!get) {
        memset(r, 0, sizeof *r);
        resp_error(r, 405, "GET or HEAD");
        r->extra = "Allow: GET, HEAD\r\n";
        return;
    }
    if (w.what < 0) return;
    /* Background context: a call on the pool cannot be taken back, and it
     * fills r, so wait for it however long (it is bounded: one profile). */
    int rc = roost_offload(NULL, debug_work_run, &w);
    if (rc) {
        free(r->b.p);
        memset(&r->b, 0, sizeof r->b);
        resp_error(r, 500, roost_strerror(rc));
        return;
    }
    r->status = 200, r->body = r->b.p, r->len = r->b.len;
}

/* ------------------------------------------------------------ connections */

typedef struct {
    int fd;
} debug_conn_arg;

/* A connection beyond the limit: a 503, then the lingering close (at most
 * 250 ms), on a task of its own so that the listener never waits. */
static int debug_refuse(roost_ctx_t *gctx, void *arg) {
    int fd = ((debug_conn_arg *)arg)->fd;
    roost_task_set_name("roost debug: refuse");
    debug_resp r = {0};
    resp_error(&r, 503, "too many clients");
    if (!debug_send(gctx, fd, &r, false, true)) debug_linger(gctx, fd, 250 * ROOST_MS);
    free(r.b.p);
    roost_fd_close(fd);
    atomic_fetch_sub(&endpoint.refusing, 1);
    return 0;
}

/* One connection: requests in turn (keep-alive, pipelined ones answered in
 * order), each head read under its own deadline. */
static int debug_conn(roost_ctx_t *gctx, void *arg) {
    int fd = ((debug_conn_arg *)arg)->fd;
    roost_task_set_name("roost debug: connection");
    char buf[ROOST_HTTP_MAX_HEAD];
    size_t have = 0;
    for (bool more = true; more;) {
        roost_ctx_t *rctx;
        if (roost_ctx_with_timeout(gctx, endpoint.timeout, &rctx)) break;
        roost__http_req q;
        long n;
        int rc = 0;
        while ((n = roost__http_parse(buf, have, &q)) == 0) {
            ssize_t got = roost_fd_read(rctx, fd, buf + have, sizeof buf - have);
            if (got <= 0) {
                rc = got ? (int)got : ROOST_ECLOSED; /* end of file */
                break;
            }
            have += (size_t)got;
        }
        bool timed_out = rc && roost_ctx_err(rctx) == ROOST_ETIMEDOUT && !roost_ctx_err(gctx);
        roost_ctx_cancel(rctx);
        roost_ctx_unref(rctx);
        debug_resp r = {0};
        if (rc) {
            /* Closed, failed, stopped, or too slow: only the last, with part
             * of a head read, gets an answer. */
            if (timed_out && have) {
                resp_error(&r, 408, "the request head took too long");
                if (!debug_send(gctx, fd, &r, false, true)) debug_linger(gctx, fd, ROOST_S);
                free(r.b.p);
            }
            break;
        }
        if (n < 0) {
            resp_error(&r, (int)-n, NULL);
            if (!debug_send(gctx, fd, &r, false, true)) debug_linger(gctx, fd, ROOST_S);
            free(r.b.p);
            break;
        }
        debug_route(&q, &r);
        more = q.keep_alive && !roost_ctx_err(gctx);
        rc = debug_send(gctx, fd, &r, q.head, !more);
        free(r.b.p);
        if (rc) break;
        memmove(buf, buf + n, have - (size_t)n);
        have -= (size_t)n;
    }
    roost_fd_close(fd);
    atomic_fetch_sub(&endpoint.conns, 1);
    return 0;
}

static void debug_listener(void *arg) {
    (void)arg;
    roost_task_label("component", "debug");
    roost_task_set_name("roost debug: listener");
    int lfd = endpoint.lfd;
    roost_group_t *g = NULL;
    if (roost_group_make(endpoint.stop, &g)) g = NULL;
    for (;;) {
        int fd, rc = roost_accept(endpoint.stop, lfd, &fd);
        if (rc == ROOST_ECANCELED || rc == ROOST_EFDCLOSED) break;
        if (rc) { /* a connection reset before accept, ...: go on */
            if (roost_sleep(endpoint.stop, 10 * ROOST_MS)) break;
            continue;
        }
        if (!g || atomic_load(&endpoint.conns) >= DEBUG_MAX_CONNS) {
            /* Refused: with a 503 while refusals are few, else closed. */
            if (g && atomic_load(&endpoint.refusing) < DEBUG_MAX_CONNS) {
                atomic_fetch_add(&endpoint.refusing, 1);
                if (!roost_group_go_with(NULL, g, (), debug_refuse, &(debug_conn_arg){fd})) continue;
                atomic_fetch_sub(&endpoint.refusing, 1);
            }
            roost_fd_close(fd);
            continue;
        }
        atomic_fetch_add(&endpoint.conns, 1);
        if (roost_group_go_with(NULL, g, (), debug_conn, &(debug_conn_arg){fd})) {
            atomic_fetch_sub(&endpoint.conns, 1);
            roost_fd_close(fd);
        }
    }
    roost_fd_close(lfd);
    if (g) roost_group_close(g);
    roost_chan_close(endpoint.done);
}

/* ------------------------------------------------------------ start, stop */

int roost_debug_start(const char *addr) {
    if (!addr) addr = DEBUG_DEFAULT_ADDR;
    int rc = roost__ensure_started();
    if (rc) return rc;
    pthread_mutex_lock(&endpoint.lock);
    if (endpoint.running) {
        pthread_mutex_unlock(&endpoint.lock);
        return ROOST_ESTATE;
    }
    long ms = 10000;
    const char *e = getenv("ROOST_DEBUG_TIMEOUT_MS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (!*end && v > 0 && v <= 3600 * 1000) ms = v;
    }
    endpoint.timeout = ms * ROOST_MS;
    int lfd = -1;
    rc = roost_tcp_listen(NULL, addr, 128, &lfd);
    if (!rc) rc = roost_sock_addr(lfd, 0, endpoint.addr, sizeof endpoint.addr);
    if (!rc) rc = roost_ctx_with_cancel(NULL, &endpoint.stop);
    if (!rc && (rc = roost_chan_make(1, 0, &endpoint.done))) {
        roost_ctx_unref(endpoint.stop);
    }
    if (!rc) {
        endpoint.lfd = lfd;
        roost_task_opts_t o = {.name = "roost debug: listener"};
        if ((rc = roost_go_opts(debug_listener, NULL, &o))) {
            roost_ctx_unref(endpoint.stop);
            roost_chan_unref(endpoint.done);
        }
    }
    if (rc && lfd >= 0) roost_fd_close(lfd);
    endpoint.running = rc == 0;
    pthread_mutex_unlock(&endpoint.lock);
    return rc;
}

int roost_debug_addr(char *buf, size_t len) {
    if (!buf) return ROOST_EINVAL;
    pthread_mutex_lock(&endpoint.lock);
    int rc = !endpoint.running                                     ? ROOST_ESTATE
             : snprintf(buf, len, "%s", endpoint.addr) >= (int)len ? ROOST_ERANGE
                                                                   : 0;
    pthread_mutex_unlock(&endpoint.lock);
    return rc;
}

void roost_debug_stop(void) {
    pthread_mutex_lock(&endpoint.lock);
    if (!endpoint.running) {
        pthread_mutex_unlock(&endpoint.lock);
        return;
    }
    roost_ctx_cancel(endpoint.stop);
    roost_chan_recv(NULL, endpoint.done, NULL); /* returns ROOST_ECLOSED once the listener is done */
    roost_ctx_unref(endpoint.stop);
    roost_chan_unref(endpoint.done);
    endpoint.stop = NULL, endpoint.done = NULL, endpoint.lfd = -1;
    endpoint.running = false;
    pthread_mutex_unlock(&endpoint.lock);
}

void roost__debug_autostart(void) {
    const char *addr = getenv("ROOST_DEBUG_ADDR");
    if (!addr || !*addr) return;
    int rc = roost_debug_start(addr);
    char where[64];
    if (!rc && !roost_debug_addr(where, sizeof where))
        fprintf(stderr, "roost: debug endpoint on http://%s/\n", where);
    else if (rc && rc != ROOST_ESTATE)
        fprintf(stderr, "roost: debug endpoint: cannot listen on %s: %s\n", addr, roost_strerror(rc));
}
