/* profile.c - task profiles in four formats, and the SIGQUIT dump.
 *
 * The one idea: a profile is a snapshot (registry.c) folded twice. Tasks
 * with the same key (stack, wait reason, state, spawn site, labels) fold
 * into one group through a hash table, and every distinct pc is symbolized
 * once (symbolize.c), so the cost of a profile is the snapshot plus one hash
 * per task, whatever the number of tasks that share a stack: 100,000 tasks
 * parked at three sites make three groups and a dozen symbol look-ups. Only
 * the full and JSON forms write one entry per task.
 *
 * SIGQUIT: the handler only bumps a counter and wakes a futex; a dumper
 * thread, started with the handler and blocked in the futex otherwise, takes
 * the full profile and writes it to stderr.
 */
#include "internal.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ output buffer */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;                  /* an append failed: the result is incomplete */
} prof_buf;

static bool prof_reserve(prof_buf *b, size_t n) {
    if (b->oom) return false;
    if (b->cap - b->len >= n) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p, b->cap = cap;
    return true;
}

static void prof_put(prof_buf *b, const void *s, size_t n) {
    if (!prof_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void prof_puts(prof_buf *b, const char *s) { prof_put(b, s, strlen(s)); }

static void prof_putc(prof_buf *b, char c) {
    if (!prof_reserve(b, 1)) return;
    b->p[b->len++] = c;
}

__attribute__((format(printf, 2, 3))) static void prof_printf(prof_buf *b, const char *fmt, ...) {
    for (int tries = 0; tries < 2; tries++) {
        if (!prof_reserve(b, 64)) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (!prof_reserve(b, (size_t)n + 1)) return;
    }
}

/* A JSON string, quoted and escaped (NULL: null). Bytes >= 0x80 pass as
 * they are: names and files are taken to be UTF-8. */
static void prof_json_str(prof_buf *b, const char *s) {
    if (!s) {
        prof_puts(b, "null");
        return;
    }
    prof_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\') q++;
        if (q > p) prof_put(b, p, (size_t)(q - p));
        if (!*q) break;
        switch (*q) {
        case '"': prof_puts(b, "\\\""); break;
        case '\\': prof_puts(b, "\\\\"); break;
        case '\n': prof_puts(b, "\\n"); break;
        case '\t': prof_puts(b, "\\t"); break;
        case '\r': prof_puts(b, "\\r"); break;
        default: prof_printf(b, "\\u%04x", *q); break;
        }
        p = q;
    }
    prof_putc(b, '"');
}

/* ------------------------------------------------------------ per-profile pc table
 * The distinct pcs of one profile, each with its cached symbol: the global
 * cache costs a lock per look-up, this costs a probe. */
typedef struct {
    uintptr_t *pcs;            /* 0: empty slot */
    const prof_sym **syms;
    uint32_t *ids;             /* pprof location ids, 1-based in order of first use */
    size_t cap, n;
    bool oom;
} prof_pcs;

static const prof_sym prof_nosym; /* what a failed look-up shows: the bare pc */

static size_t prof_pcs_find(prof_pcs *P, uintptr_t pc) {
    if (P->n * 2 >= P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        uintptr_t *pcs = calloc(cap, sizeof *pcs);
        const prof_sym **syms = calloc(cap, sizeof *syms);
        uint32_t *ids = calloc(cap, sizeof *ids);
        if (!pcs || !syms || !ids) {
            free(pcs), free(syms), free(ids);
            P->oom = true;
            return SIZE_MAX;
        }
        for (size_t i = 0; i < P->cap; i++) {
            if (!P->pcs[i]) continue;
            size_t j = prof_pc_hash(P->pcs[i]) & (cap - 1);
            while (pcs[j]) j = (j + 1) & (cap - 1);
            pcs[j] = P->pcs[i], syms[j] = P->syms[i], ids[j] = P->ids[i];
        }
        free(P->pcs), free(P->syms), free(P->ids);
        P->pcs = pcs, P->syms = syms, P->ids = ids, P->cap = cap;
    }
    size_t j = prof_pc_hash(pc) & (P->cap - 1);
    while (P->pcs[j] && P->pcs[j] != pc) j = (j + 1) & (P->cap - 1);
    if (!P->pcs[j]) {
        const prof_sym *s = prof_sym_get(pc);
        P->pcs[j] = pc;
        P->syms[j] = s ? s : &prof_nosym;
        P->ids[j] = (uint32_t)++P->n;
    }
    return j;
}

static const prof_sym *prof_pcs_sym(prof_pcs *P, uintptr_t pc) {
    if (!pc) return &prof_nosym;
    size_t j = prof_pcs_find(P, pc);
    return j == SIZE_MAX ? &prof_nosym : P->syms[j];
}

static void prof_pcs_free(prof_pcs *P) { free(P->pcs), free(P->syms), free(P->ids); }

/* ------------------------------------------------------------ grouping */

typedef struct {
    roost_task_info_t *t;      /* the first task of the group (in the snapshot, or a copy) */
    size_t count;
    uint64_t hash;
} prof_group;

typedef struct {
    prof_group *g;
    size_t n, cap;
    uint32_t *slots;           /* index + 1 into g; 0 empty */
    size_t nslots;
    bool by_content;           /* compare strings by content (else by pointer) */
    bool owns;                 /* t is a malloc'ed copy of each group's first task */
} prof_groups;

static uint64_t prof_mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

static uint64_t prof_str_hash(uint64_t h, const char *s) {
    uint64_t x = 0xcbf29ce484222325ull;
    for (; s && *s; s++) x = (x ^ (unsigned char)*s) * 0x100000001b3ull;
    return prof_mix(h, x);
}

static bool prof_str_eq(const char *a, const char *b, bool content) {
    if (a == b) return true;
    return content && a && b && strcmp(a, b) == 0;
}

/* What makes two tasks one entry: stack, state, wait reason, spawn site and
 * labels (pprof groups by label set, and so does Go's debug=1). The first
 * pass compares strings by pointer (they are static strings, shared by
 * every task of a site); a second pass over the groups merges those whose
 * strings are equal but not the same, so 100,000 tasks are never strcmp'ed. */
static uint64_t prof_key_hash(const roost_task_info_t *t, bool content) {
    uint64_t h = prof_mix((uint64_t)t->state << 32 | (uint32_t)t->wait_reason, (uint64_t)t->nframes);
    for (int i = 0; i < t->nframes; i++) h = prof_mix(h, t->pcs[i]);
    h = prof_mix(h, (uint64_t)t->line);
    if (content) {
        h = prof_str_hash(h, t->file), h = prof_str_hash(h, t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = prof_str_hash(prof_str_hash(h, t->labels[i][0]), t->labels[i][1]);
    } else {
        h = prof_mix(prof_mix(h, (uintptr_t)t->file), (uintptr_t)t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = prof_mix(prof_mix(h, (uintptr_t)t->labels[i][0]), (uintptr_t)t->labels[i][1]);
    }
    return h;
}

static bool prof_key_eq(const roost_task_info_t *a, const roost_task_info_t *b, bool content) {
    if (a->state != b->state || a->wait_reason != b->wait_reason || a->nframes != b->nframes ||
        a->line != b->line || a->nlabels != b->nlabels)
        return false;
    if (memcmp(a->pcs, b->pcs, sizeof a->pcs[0] * (size_t)a->nframes) != 0) return false;
    if (!prof_str_eq(a->file, b->file, content) || !prof_str_eq(a->func, b->func, content)) return false;
    for (int i = 0; i < a->nlabels; i++)
        if (!prof_str_eq(a->labels[i][0], b->labels[i][0], content) ||
            !prof_str_eq(a->labels[i][1], b->labels[i][1], content))
            return false;
    return true;
}

/* Add count tasks like t (copied, if G owns its tasks); false when out of
 * memory. */
static bool prof_group_add(prof_groups *G, const roost_task_info_t *t, size_t count) {
    if (G->n * 2 >= G->nslots) {
        size_t ns = G->nslots ? G->nslots * 2 : 64;
        uint32_t *s = calloc(ns, sizeof *s);
        if (!s) return false;
        for (size_t i = 0; i < G->n; i++) {
            size_t j = G->g[i].hash & (ns - 1);
            while (s[j]) j = (j + 1) & (ns - 1);
            s[j] = (uint32_t)i + 1;
        }
        free(G->slots);
        G->slots = s, G->nslots = ns;
    }
    uint64_t h = prof_key_hash(t, G->by_content);
    size_t j = h & (G->nslots - 1);
    for (uint32_t k; (k = G->slots[j]); j = (j + 1) & (G->nslots - 1)) {
        prof_group *g = &G->g[k - 1];
        if (g->hash == h && prof_key_eq(g->t, t, G->by_content)) {
            g->count += count;
            return true;
        }
    }
    if (G->n == G->cap) {
        size_t cap = G->cap ? G->cap * 2 : 64;
        prof_group *g = realloc(G->g, cap * sizeof *g);
        if (!g) return false;
        G->g = g, G->cap = cap;
    }
    roost_task_info_t *rep = (roost_task_info_t *)t;
    if (G->owns) {
        if (!(rep = malloc(sizeof *rep))) return false;
        *rep = *t;
    }
    G->g[G->n] = (prof_group){rep, count, h};
    G->slots[j] = (uint32_t)++G->n;
    return true;
}

static int prof_label_cmp(const void *a, const void *b) {
    const char *const *x = a, *const *y = b;
    return strcmp(x[0], y[0]);
}

static int prof_group_cmp(const void *a, const void *b) {
    const prof_group *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->t->id < y->t->id ? -1 : x->t->id > y->t->id;
}

static void prof_groups_free(prof_groups *G) {
    if (G->owns)
        for (size_t i = 0; i < G->n; i++) free(G->g[i].t);
    free(G->g), free(G->slots);
    memset(G, 0, sizeof *G);
}

/* Merge groups formed by pointer identity (G1, which keeps its tasks) into
 * groups by content, *out, sorted by count, descending. */
static int prof_group_merge(prof_groups *G1, prof_groups *out) {
    memset(out, 0, sizeof *out);
    out->by_content = true;
    for (size_t i = 0; i < G1->n; i++) {
        roost_task_info_t *t = G1->g[i].t;
        /* A label set is a set: sort it (the copy is ours to change). */
        qsort(t->labels, (size_t)t->nlabels, sizeof t->labels[0], prof_label_cmp);
        if (!prof_group_add(out, t, G1->g[i].count)) {
            prof_groups_free(out);
            return ROOST_ENOMEM;
        }
    }
    free(out->slots);
    out->slots = NULL;
    if (out->n) qsort(out->g, out->n, sizeof *out->g, prof_group_cmp);
    return ROOST_OK;
}

/* ------------------------------------------------------------ common pieces */

static const char *prof_state_word(const roost_task_info_t *t) {
    if (t->state == ROOST_TASK_PARKED) return roost_wait_reason_name(t->wait_reason);
    return roost_task_state_name(t->state);
}

static void prof_labels_text(prof_buf *b, const roost_task_info_t *t) {
    for (int i = 0; i < t->nlabels; i++)
        prof_printf(b, "%s%s=%s", i ? ", " : "{", t->labels[i][0], t->labels[i][1] ? t->labels[i][1] : "");
    if (t->nlabels) prof_putc(b, '}');
}

static int prof_id_cmp(const void *a, const void *b) {
    const roost_task_info_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void prof_sort_by_id(roost_task_info_t *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (v[i].id < v[i - 1].id) {
            qsort(v, n, sizeof *v, prof_id_cmp);
            return;
        }
}

static double prof_waited_s(const roost_task_info_t *t, int64_t now) {
    if (t->state != ROOST_TASK_PARKED || !t->parked_at) return -1;
    int64_t d = now - t->parked_at;
    return d > 0 ? (double)d / 1e9 : 0;
}

/* ------------------------------------------------------------ grouped (debug=1) */

static int prof_grouped(prof_buf *b, prof_groups *G1, size_t n, prof_pcs *P) {
    prof_groups G;
    int rc = prof_group_merge(G1, &G);
    if (rc) return rc;
    prof_printf(b, "task profile: total %zu\n", n);
    for (size_t i = 0; i < G.n; i++) {
        const roost_task_info_t *t = G.g[i].t;
        prof_printf(b, "%zu @", G.g[i].count);
        for (int k = 0; k < t->nframes; k++) prof_printf(b, " %#lx", (unsigned long)t->pcs[k]);
        prof_printf(b, "\n# %s; created by %s at %s:%d\n", prof_state_word(t), t->func, t->file, t->line);
        if (t->nlabels) {
            prof_puts(b, "# labels: ");
            prof_labels_text(b, t);
            prof_putc(b, '\n');
        }
        for (int k = 0; k < t->nframes; k++) {
            const prof_sym *s = prof_pcs_sym(P, t->pcs[k]);
            prof_printf(b, "#\t%#lx\t", (unsigned long)t->pcs[k]);
            if (s->func)
                prof_printf(b, "%s+%#lx", s->func, (unsigned long)s->off);
            else if (s->mod)
                prof_printf(b, "%s+%#lx", s->mod->base, (unsigned long)s->off);
            else
                prof_puts(b, "?");
            if (s->file) prof_printf(b, "\t%s:%d", s->file, s->line);
            prof_putc(b, '\n');
        }
        prof_putc(b, '\n');
    }
    free(G.g);
    return ROOST_OK;
}

/* ------------------------------------------------------------ full (debug=2) */

static void prof_full_task(prof_buf *b, const roost_task_info_t *t, int64_t now, prof_pcs *P) {
    prof_printf(b, "task %llu", (unsigned long long)t->id);
    if (t->name) prof_printf(b, " \"%s\"", t->name);
    double s = prof_waited_s(t, now);
    if (s >= 0)
        prof_printf(b, " [%s, %.*fs]", prof_state_word(t), s < 10 ? 1 : 0, s);
    else
        prof_printf(b, " [%s]", prof_state_word(t));
    if (t->nlabels) {
        prof_putc(b, ' ');
        prof_labels_text(b, t);
    }
    prof_puts(b, ":\n");
    char sym[512];
    for (int i = 0; i < t->nframes; i++) {
        prof_sym_format(prof_pcs_sym(P, t->pcs[i]), t->pcs[i], sym, sizeof sym);
        prof_printf(b, "    #%d %#lx %s\n", i, (unsigned long)t->pcs[i], sym);
    }
    if (t->parent_id)
        prof_printf(b, "    created by %s at %s:%d (task %llu)\n\n", t->func, t->file, t->line,
                    (unsigned long long)t->parent_id);
    else
        prof_printf(b, "    created by %s at %s:%d (from a thread)\n\n", t->func, t->file, t->line);
}

static int prof_full(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n);
    prof_printf(b, "task profile: total %zu\n\n", n);
    for (size_t i = 0; i < n; i++) prof_full_task(b, &v[i], now, P);
    return ROOST_OK;
}

/* ------------------------------------------------------------ JSON */

static int prof_json(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n);
    prof_printf(b, "{\"total\":%zu,\"tasks\":[", n);
    for (size_t i = 0; i < n; i++) {
        const roost_task_info_t *t = &v[i];
        prof_printf(b, "%s\n{\"id\":%llu,\"parent\":%llu,\"name\":", i ? "," : "", (unsigned long long)t->id,
                    (unsigned long long)t->parent_id);
        prof_json_str(b, t->name);
        prof_puts(b, ",\"state\":");
        prof_json_str(b, roost_task_state_name(t->state));
        prof_puts(b, ",\"wait_reason\":");
        prof_json_str(b, t->state == ROOST_TASK_PARKED ? roost_wait_reason_name(t->wait_reason) : NULL);
        double s = prof_waited_s(t, now);
        if (s >= 0)
            prof_printf(b, ",\"waiting_s\":%.3f", s);
        else
            prof_puts(b, ",\"waiting_s\":null");
        prof_printf(b, ",\"age_s\":%.3f", t->created && now > t->created ? (double)(now - t->created) / 1e9 : 0.0);
        prof_puts(b, ",\"created_at\":{\"file\":");
        prof_json_str(b, t->file);
        prof_printf(b, ",\"line\":%d,\"func\":", t->line);
        prof_json_str(b, t->func);
        prof_puts(b, "},\"labels\":{");
        for (int k = 0; k < t->nlabels; k++) {
            if (k) prof_putc(b, ',');
            prof_json_str(b, t->labels[k][0]);
            prof_putc(b, ':');
            prof_json_str(b, t->labels[k][1] ? t->labels[k][1] : "");
        }
        prof_puts(b, "},\"stack\":[");
        for (int k = 0; k < t->nframes; k++) {
            const prof_sym *sy = prof_pcs_sym(P, t->pcs[k]);
            prof_printf(b, "%s{\"pc\":\"%#lx\",\"func\":", k ? "," : "", (unsigned long)t->pcs[k]);
            prof_json_str(b, sy->func);
            prof_printf(b, ",\"off\":%lu,\"module\":", (unsigned long)sy->off);
            prof_json_str(b, sy->mod ? sy->mod->base : NULL);
            prof_puts(b, ",\"file\":");
            prof_json_str(b, sy->file);
            if (sy->file)
                prof_printf(b, ",\"line\":%d}", sy->line);
            else
                prof_puts(b, ",\"line\":null}");
        }
        prof_puts(b, "]}");
    }
    prof_puts(b, "\n]}\n");
    return ROOST_OK;
}

#include "pprof.c"

/* ------------------------------------------------------------ entry points */

/* The grouped forms fold tasks as the registry walks them: one copy per
 * distinct (pointer-identical) key is kept, with a count, so 100,000 tasks
 * parked at three sites cost three records, not a 40 MB snapshot. */
typedef struct {
    prof_groups G;             /* owns its tasks */
    size_t total;
    bool oom;
} prof_stream;

static void prof_stream_one(const roost_task_info_t *t, void *arg) {
    prof_stream *S = arg;
    S->total++;
    if (!S->oom && !prof_group_add(&S->G, t, 1)) S->oom = true;
}

static int prof_take(int format, char **buf, size_t *len) {
    roost_task_info_t *v = NULL;
    size_t n = 0;
    prof_stream S = {.G.owns = true};
    int rc;
    bool grouped = format == ROOST_PROFILE_GROUPED || format == ROOST_PROFILE_PPROF;
    if (grouped) {
        rc = roost__tasks_each(ROOST_SNAP_STACKS, prof_stream_one, &S);
        if (!rc && S.oom) rc = ROOST_ENOMEM;
        if (rc) {
            prof_groups_free(&S.G);
            return rc;
        }
    } else if ((rc = roost_tasks_snapshot(&v, &n, ROOST_SNAP_STACKS))) {
        return rc;
    }
    prof_sym_begin();
    prof_buf b = {0};
    prof_pcs P = {0};
    switch (format) {
    case ROOST_PROFILE_GROUPED: rc = prof_grouped(&b, &S.G, S.total, &P); break;
    case ROOST_PROFILE_FULL: rc = prof_full(&b, v, n, &P); break;
    case ROOST_PROFILE_PPROF: rc = prof_pprof(&b, &S.G, &P); break;
    default: rc = prof_json(&b, v, n, &P); break;
    }
    if (!rc && (b.oom || P.oom)) rc = ROOST_ENOMEM;
    prof_pcs_free(&P);
    free(v);
    prof_groups_free(&S.G);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (!b.p) prof_reserve(&b, 1); /* an empty profile is still a buffer to free */
    if (!b.p) return ROOST_ENOMEM;
    *buf = b.p, *len = b.len;
    return ROOST_OK;
}

typedef struct {
    int format;
    char **buf;
    size_t *len;
    int rc;
} prof_req;

static void *prof_take_main(void *arg) {
    prof_req *r = arg;
    r->rc = prof_take(r->format, r->buf, r->len);
    return NULL;
}

int roost_profile(int format, char **buf, size_t *len) {
    if (!buf || !len) return ROOST_EINVAL;
    *buf = NULL, *len = 0;
    if (format < ROOST_PROFILE_GROUPED || format > ROOST_PROFILE_JSON) return ROOST_EINVAL;
    prof_req r = {format, buf, len, ROOST_OK};
    prof_off_task(prof_take_main, &r);
    return r.rc;
}

static int prof_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ROOST_EINVAL; /* a bad or closed fd: the caller's argument */
        }
        p += w, n -= (size_t)w;
    }
    return ROOST_OK;
}

int roost_profile_write(int fd, int format) {
    if (fd < 0) return ROOST_EINVAL;
    char *buf;
    size_t len;
    int rc = roost_profile(format, &buf, &len);
    if (rc) return rc;
    rc = prof_write_all(fd, buf, len);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ signals */

static struct {
    pthread_mutex_t lock;      /* starting the dumper */
    bool started;
    bool exit_after;           /* ROOST_SIGQUIT_EXIT=1 */
    _Atomic uint32_t req;      /* bumped by the handler; futex word */
    _Atomic int signo;         /* the last signal taken */
} PQ = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Async-signal-safe: an atomic add and a futex wake (one syscall), errno
 * kept. Everything else happens on the dumper thread. */
static void prof_on_signal(int signo) {
    int e = errno;
    atomic_store_explicit(&PQ.signo, signo, memory_order_relaxed);
    atomic_fetch_add_explicit(&PQ.req, 1, memory_order_release);
    roost__futex_wake(&PQ.req, 1);
    errno = e;
}

static void prof_dump(int signo) {
    char head[128];
    const char *name = signo == SIGQUIT ? "SIGQUIT: quit" : strsignal(signo);
    int n = snprintf(head, sizeof head, "%s\nroost: task dump (signal %d)\n", name ? name : "signal", signo);
    if (n > 0) prof_write_all(2, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (roost_profile_write(2, ROOST_PROFILE_FULL) != ROOST_OK) {
        static const char fail[] = "roost: task dump failed (out of memory)\n";
        prof_write_all(2, fail, sizeof fail - 1);
    }
    static const char end[] = "roost: end of task dump\n";
    prof_write_all(2, end, sizeof end - 1);
}

/* Blocked in the futex until a signal bumps req: no CPU, and detached, so
 * it never keeps the process from exiting (exit ends it wherever it is). */
static void *prof_dumper(void *unused) {
    (void)unused;
    uint32_t seen = 0;
    for (;;) {
        uint32_t now = atomic_load_explicit(&PQ.req, memory_order_acquire);
        if (now == seen) {
            roost__futex_wait(&PQ.req, seen, -1);
            continue;
        }
        seen = now;
        prof_dump(atomic_load_explicit(&PQ.signo, memory_order_relaxed));
        if (PQ.exit_after) exit(2); /* Go's status after a SIGQUIT dump */
    }
    return NULL;
}

/* Start the dumper once per process. Its thread has every signal blocked,
 * so the handler runs on some other thread and never interrupts a dump. */
static int prof_dumper_start(void) {
    pthread_mutex_lock(&PQ.lock);
    int rc = ROOST_OK;
    if (!PQ.started) {
        const char *e = getenv("ROOST_SIGQUIT_EXIT");
        PQ.exit_after = e && *e && strcmp(e, "0") != 0;
        sigset_t all, old;
        sigfillset(&all);
        sigdelset(&all, ROOST_STOP_SIGNAL); /* the reachability proof's stop (reach.c) */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t at;
        pthread_t th;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, prof_dumper, NULL) == 0) {
            PQ.started = true;
            pthread_setname_np(th, "roost-dump");
        } else {
            rc = ROOST_ENOMEM;
        }
        pthread_attr_destroy(&at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_unlock(&PQ.lock);
    return rc;
}

int roost_profile_on_signal(int signo) {
    if (!signo) signo = SIGQUIT;
    if (signo < 1 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) return ROOST_EINVAL;
    int rc = prof_dumper_start();
    if (rc) return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prof_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* the program's system calls go on as if nothing happened */
    return sigaction(signo, &sa, NULL) == 0 ? ROOST_OK : ROOST_EINVAL;
}

/* Called at each runtime start (sched.c start_locked); acts once. The
 * default handler goes in only where SIGQUIT has its default action: a
 * handler the program installed stays, and so does SIG_IGN (a program
 * started in the background by a shell, or told to ignore it). */
static void prof_default_signal(void) {
    const char *e = getenv("ROOST_SIGQUIT");
    if (e && strcmp(e, "0") == 0) return;
    struct sigaction old;
    if (sigaction(SIGQUIT, NULL, &old) != 0) return;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return;
    roost_profile_on_signal(SIGQUIT);
}

void roost__profile_start(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, prof_default_signal);
}
