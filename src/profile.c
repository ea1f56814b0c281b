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
#include "buf.h"
#include "profile.h"
#include "roost_io.h"
#include "symbolize.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A JSON string, quoted and escaped (NULL: null). Bytes >= 0x80 pass as
 * they are: names and files are taken to be UTF-8. */
static void prof_json_str(roost__buf *b, const char *s) {
    if (!s) {
        roost__buf_puts(b, "null");
        return;
    }
    roost__buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\') q++;
        if (q > p) roost__buf_put(b, p, (size_t)(q - p));
        if (!*q) break;
        switch (*q) {
        case '"': roost__buf_puts(b, "\\\""); break;
        case '\\': roost__buf_puts(b, "\\\\"); break;
        case '\n': roost__buf_puts(b, "\\n"); break;
        case '\t': roost__buf_puts(b, "\\t"); break;
        case '\r': roost__buf_puts(b, "\\r"); break;
        default: roost__buf_printf(b, "\\u%04x", *q); break;
        }
        p = q;
    }
    roost__buf_putc(b, '"');
}

/* ------------------------------------------------------------ per-profile pc table (profile.h) */

static const roost__sym prof_nosym; /* what a failed look-up shows: the bare pc */

static uint64_t pcs_hash_of(size_t i, void *arg) { return roost__hash_ptr(((roost__prof_pcs *)arg)->pcs[i]); }

typedef struct {
    const roost__prof_pcs *P;
    uintptr_t pc;
} pcs_probe;

static bool pcs_eq(size_t i, void *arg) {
    pcs_probe *q = arg;
    return q->P->pcs[i] == q->pc;
}

size_t roost__prof_pcs_find(roost__prof_pcs *P, uintptr_t pc) {
    if (!roost__index_reserve(&P->index, P->n, pcs_hash_of, P)) {
        P->oom = true;
        return SIZE_MAX;
    }
    pcs_probe q = {P, pc};
    uint32_t *slot = roost__index_find(&P->index, roost__hash_ptr(pc), pcs_eq, &q);
    if (*slot) return *slot - 1;
    if (P->n == P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        uintptr_t *pcs = realloc(P->pcs, cap * sizeof *pcs);
        if (pcs) P->pcs = pcs;
        const roost__sym **syms = realloc(P->syms, cap * sizeof *syms);
        if (syms) P->syms = syms;
        if (!pcs || !syms) {
            P->oom = true;
            return SIZE_MAX;
        }
        P->cap = cap;
    }
    P->pcs[P->n] = pc;
    P->syms[P->n] = &prof_nosym; /* until prof_pcs_resolve */
    *slot = (uint32_t)++P->n;
    return P->n - 1;
}

const roost__sym *roost__prof_pcs_sym(roost__prof_pcs *P, uintptr_t pc) {
    if (!pc) return &prof_nosym;
    size_t j = roost__prof_pcs_find(P, pc);
    return j == SIZE_MAX ? &prof_nosym : P->syms[j];
}

static void prof_pcs_free(roost__prof_pcs *P) {
    free(P->pcs), free(P->syms);
    roost__index_free(&P->index);
}

/* Symbolize every pc in P. The process-wide cache answers most, a probe
 * each; the rest need the modules' symbol tables and libdw, which want a
 * deep stack and can take milliseconds (the first profile reads the
 * debug information): from a task they run on the blocking pool while the
 * task parks, so that its worker runs other tasks meanwhile. */
static int prof_pcs_fill(void *arg) {
    roost__prof_pcs *P = arg;
    roost__sym_begin();
    for (size_t i = 0; i < P->n; i++)
        if (!P->syms[i]) P->syms[i] = roost__sym_get(P->pcs[i]);
    return 0;
}

static void *prof_pcs_fill_main(void *arg) {
    prof_pcs_fill(arg);
    return NULL;
}

static void prof_pcs_resolve(roost__prof_pcs *P, bool task) {
    if (P->n && roost__sym_peek(P->pcs, P->syms, P->n)) {
        if (!task || roost_offload(NULL, prof_pcs_fill, P) != ROOST_OK)
            roost__off_task(prof_pcs_fill_main, P);
    }
    for (size_t i = 0; i < P->n; i++)
        if (!P->syms[i]) P->syms[i] = &prof_nosym;
}

/* ------------------------------------------------------------ grouping */

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
    uint64_t h = roost__hash_mix((uint64_t)t->state << 32 | (uint32_t)t->wait_reason, (uint64_t)t->nframes);
    for (int i = 0; i < t->nframes; i++) h = roost__hash_mix(h, t->pcs[i]);
    h = roost__hash_mix(h, (uint64_t)t->line);
    if (content) {
        h = roost__hash_str(h, t->file), h = roost__hash_str(h, t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = roost__hash_str(roost__hash_str(h, t->labels[i][0]), t->labels[i][1]);
    } else {
        h = roost__hash_mix(roost__hash_mix(h, (uintptr_t)t->file), (uintptr_t)t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = roost__hash_mix(roost__hash_mix(h, (uintptr_t)t->labels[i][0]), (uintptr_t)t->labels[i][1]);
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
static uint64_t group_hash_of(size_t i, void *arg) { return ((roost__prof_groups *)arg)->g[i].hash; }

typedef struct {
    const roost__prof_groups *G;
    const roost_task_info_t *t;
    uint64_t hash;
} group_probe;

static bool group_eq(size_t i, void *arg) {
    group_probe *q = arg;
    const roost__prof_group *g = &q->G->g[i];
    return g->hash == q->hash && prof_key_eq(g->t, q->t, q->G->by_content);
}

static bool prof_group_add(roost__prof_groups *G, const roost_task_info_t *t, size_t count) {
    if (!roost__index_reserve(&G->index, G->n, group_hash_of, G)) return false;
    group_probe q = {G, t, prof_key_hash(t, G->by_content)};
    uint32_t *slot = roost__index_find(&G->index, q.hash, group_eq, &q);
    if (*slot) {
        G->g[*slot - 1].count += count;
        return true;
    }
    if (G->n == G->cap) {
        size_t cap = G->cap ? G->cap * 2 : 64;
        roost__prof_group *g = realloc(G->g, cap * sizeof *g);
        if (!g) return false;
        G->g = g, G->cap = cap;
    }
    roost_task_info_t *rep = (roost_task_info_t *)t;
    if (G->owns) {
        if (!(rep = malloc(sizeof *rep))) return false;
        *rep = *t;
    }
    G->g[G->n] = (roost__prof_group){rep, count, q.hash};
    *slot = (uint32_t)++G->n;
    return true;
}

static int prof_label_cmp(const void *a, const void *b) {
    const char *const *x = a, *const *y = b;
    return strcmp(x[0], y[0]);
}

static int prof_group_cmp(const void *a, const void *b) {
    const roost__prof_group *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->t->id < y->t->id ? -1 : x->t->id > y->t->id;
}

static void prof_groups_free(roost__prof_groups *G) {
    if (G->owns)
        for (size_t i = 0; i < G->n; i++) free(G->g[i].t);
    free(G->g);
    roost__index_free(&G->index);
    memset(G, 0, sizeof *G);
}

/* Merge groups formed by pointer identity (G1, which keeps its tasks) into
 * groups by content, *out, sorted by count, descending. */
int roost__prof_group_merge(roost__prof_groups *G1, roost__prof_groups *out) {
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
    roost__index_free(&out->index);
    if (out->n) qsort(out->g, out->n, sizeof *out->g, prof_group_cmp);
    return ROOST_OK;
}

/* ------------------------------------------------------------ common pieces */

static const char *prof_state_word(const roost_task_info_t *t) {
    if (t->state == ROOST_TASK_PARKED) return roost_wait_reason_name(t->wait_reason);
    return roost_task_state_name(t->state);
}

static void prof_labels_text(roost__buf *b, const roost_task_info_t *t) {
    for (int i = 0; i < t->nlabels; i++)
        roost__buf_printf(b, "%s%s=%s", i ? ", " : "{", t->labels[i][0],
                          t->labels[i][1] ? t->labels[i][1] : "");
    if (t->nlabels) roost__buf_putc(b, '}');
}

static int prof_id_cmp(const void *a, const void *b) {
    const roost_task_info_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct {
    roost_task_info_t *v;
    size_t n;
} prof_sort_req;

static int prof_sort_job(void *arg) {
    prof_sort_req *r = arg;
    for (size_t i = 1; i < r->n; i++)
        if (r->v[i].id < r->v[i - 1].id) {
            qsort(r->v, r->n, sizeof *r->v, prof_id_cmp);
            break;
        }
    return 0;
}

/* In the order of ids. 100,000 records take tens of ms to sort, in one
 * piece: from a task, on the blocking pool, with the task parked. */
static void prof_sort_by_id(roost_task_info_t *v, size_t n, bool task) {
    prof_sort_req r = {v, n};
    if (!task || n < 1024 || roost_offload(NULL, prof_sort_job, &r) != ROOST_OK) prof_sort_job(&r);
}

static double prof_waited_s(const roost_task_info_t *t, int64_t now) {
    if (t->state != ROOST_TASK_PARKED || !t->parked_at) return -1;
    int64_t d = now - t->parked_at;
    return d > 0 ? (double)d / 1e9 : 0;
}

/* ------------------------------------------------------------ grouped (debug=1) */

static int prof_grouped(roost__buf *b, roost__prof_groups *G1, size_t n, roost__prof_pcs *P) {
    roost__prof_groups G;
    int rc = roost__prof_group_merge(G1, &G);
    if (rc) return rc;
    roost__buf_printf(b, "task profile: total %zu\n", n);
    for (size_t i = 0; i < G.n; i++) {
        const roost_task_info_t *t = G.g[i].t;
        roost__buf_printf(b, "%zu @", G.g[i].count);
        for (int k = 0; k < t->nframes; k++) roost__buf_printf(b, " %#lx", (unsigned long)t->pcs[k]);
        roost__buf_printf(b, "\n# %s; created by %s at %s:%d\n", prof_state_word(t), t->func, t->file,
                          t->line);
        if (t->nlabels) {
            roost__buf_puts(b, "# labels: ");
            prof_labels_text(b, t);
            roost__buf_putc(b, '\n');
        }
        for (int k = 0; k < t->nframes; k++) {
            const roost__sym *s = roost__prof_pcs_sym(P, t->pcs[k]);
            roost__buf_printf(b, "#\t%#lx\t", (unsigned long)t->pcs[k]);
            if (s->func)
                roost__buf_printf(b, "%s+%#lx", s->func, (unsigned long)s->off);
            else if (s->mod)
                roost__buf_printf(b, "%s+%#lx", s->mod->base, (unsigned long)s->off);
            else
                roost__buf_puts(b, "?");
            if (s->file) roost__buf_printf(b, "\t%s:%d", s->file, s->line);
            roost__buf_putc(b, '\n');
        }
        roost__buf_putc(b, '\n');
    }
    free(G.g);
    return ROOST_OK;
}

/* ------------------------------------------------------------ full (debug=2) */

/* One task, as Go prints a goroutine:
 *   task 42 "name" [chan send, 3.2s] {k=v}:
 *       #0 function+0x1f (file.c:12)
 *       created by fetch at story.c:40 (task 7)
 * The leak reports (leak.c, group.c) and the full profile (with
 * ROOST__TB_PROFILE) all print tasks so. The profile's form: each frame's
 * pc before its symbol, symbols from P's table, labels separated by
 * commas, the time parked only when known, "(from a thread)" for a task a
 * plain thread spawned, and a blank line after. */
void roost__traceback(roost__buf *b, const roost_task_info_t *t, int64_t now, int flags, roost__prof_pcs *P) {
    bool prof = flags & ROOST__TB_PROFILE;
    roost__buf_printf(b, "task %llu", (unsigned long long)t->id);
    if (t->name) roost__buf_printf(b, " \"%s\"", t->name);
    double s;
    bool timed;
    const char *word;
    if (prof) {
        s = prof_waited_s(t, now);
        timed = s >= 0;
        word = prof_state_word(t);
    } else {
        timed = t->state == ROOST_TASK_PARKED || t->wait_reason;
        s = t->parked_at ? (double)(now - t->parked_at) / 1e9 : 0;
        word = timed ? roost_wait_reason_name(t->wait_reason) : roost_task_state_name(t->state);
    }
    if (timed)
        roost__buf_printf(b, " [%s, %.*fs]", word, s < 10 ? 1 : 0, s);
    else
        roost__buf_printf(b, " [%s]", word);
    for (int i = 0; i < t->nlabels; i++)
        roost__buf_printf(b, "%s%s=%s", i ? (prof ? ", " : " ") : " {", t->labels[i][0],
                          t->labels[i][1] ? t->labels[i][1] : "");
    roost__buf_puts(b, t->nlabels ? "}:\n" : ":\n");
    char sym[512];
    for (int i = 0; i < t->nframes; i++) {
        if (prof) {
            roost__sym_format(roost__prof_pcs_sym(P, t->pcs[i]), t->pcs[i], sym, sizeof sym);
            roost__buf_printf(b, "    #%d %#lx %s\n", i, (unsigned long)t->pcs[i], sym);
        } else {
            roost_symbolize(t->pcs[i], sym, sizeof sym);
            roost__buf_printf(b, "    #%d %s\n", i, sym);
        }
    }
    roost__buf_printf(b, "    created by %s at %s:%d ", t->func, t->file, t->line);
    if (prof && !t->parent_id)
        roost__buf_puts(b, "(from a thread)\n\n");
    else
        roost__buf_printf(b, "(task %llu)\n%s", (unsigned long long)t->parent_id, prof ? "\n" : "");
}

static int prof_full(roost__buf *b, roost_task_info_t *v, size_t n, roost__prof_pcs *P, roost__slice *sl) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n, sl->task);
    roost__buf_printf(b, "task profile: total %zu\n\n", n);
    for (size_t i = 0; i < n; i++) {
        roost__traceback(b, &v[i], now, ROOST__TB_PROFILE, P);
        roost__slice_check(sl);
    }
    return ROOST_OK;
}

/* ------------------------------------------------------------ JSON */

static int prof_json(roost__buf *b, roost_task_info_t *v, size_t n, roost__prof_pcs *P, roost__slice *sl) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n, sl->task);
    roost__buf_printf(b, "{\"total\":%zu,\"tasks\":[", n);
    for (size_t i = 0; i < n; i++) {
        const roost_task_info_t *t = &v[i];
        roost__buf_printf(b, "%s\n{\"id\":%llu,\"parent\":%llu,\"name\":", i ? "," : "",
                          (unsigned long long)t->id, (unsigned long long)t->parent_id);
        prof_json_str(b, t->name);
        roost__buf_puts(b, ",\"state\":");
        prof_json_str(b, roost_task_state_name(t->state));
        roost__buf_puts(b, ",\"wait_reason\":");
        prof_json_str(b, t->state == ROOST_TASK_PARKED ? roost_wait_reason_name(t->wait_reason) : NULL);
        double s = prof_waited_s(t, now);
        if (s >= 0)
            roost__buf_printf(b, ",\"waiting_s\":%.3f", s);
        else
            roost__buf_puts(b, ",\"waiting_s\":null");
        roost__buf_printf(b, ",\"age_s\":%.3f",
                          t->created && now > t->created ? (double)(now - t->created) / 1e9 : 0.0);
        roost__buf_puts(b, ",\"created_at\":{\"file\":");
        prof_json_str(b, t->file);
        roost__buf_printf(b, ",\"line\":%d,\"func\":", t->line);
        prof_json_str(b, t->func);
        roost__buf_puts(b, "},\"labels\":{");
        for (int k = 0; k < t->nlabels; k++) {
            if (k) roost__buf_putc(b, ',');
            prof_json_str(b, t->labels[k][0]);
            roost__buf_putc(b, ':');
            prof_json_str(b, t->labels[k][1] ? t->labels[k][1] : "");
        }
        roost__buf_puts(b, "},\"stack\":[");
        for (int k = 0; k < t->nframes; k++) {
            const roost__sym *sy = roost__prof_pcs_sym(P, t->pcs[k]);
            roost__buf_printf(b, "%s{\"pc\":\"%#lx\",\"func\":", k ? "," : "", (unsigned long)t->pcs[k]);
            prof_json_str(b, sy->func);
            roost__buf_printf(b, ",\"off\":%lu,\"module\":", (unsigned long)sy->off);
            prof_json_str(b, sy->mod ? sy->mod->base : NULL);
            roost__buf_puts(b, ",\"file\":");
            prof_json_str(b, sy->file);
            if (sy->file)
                roost__buf_printf(b, ",\"line\":%d}", sy->line);
            else
                roost__buf_puts(b, ",\"line\":null}");
        }
        roost__buf_puts(b, "]}");
        roost__slice_check(sl);
    }
    roost__buf_puts(b, "\n]}\n");
    return ROOST_OK;
}

/* ------------------------------------------------------------ entry points */

/* What the walk feeds. The grouped forms fold tasks as the registry walks
 * them: one copy per distinct (pointer-identical) key is kept, with a
 * count, so 100,000 tasks parked at three sites cost three records, not a
 * 40 MB snapshot. The full and JSON forms keep every task, and note each
 * pc as they go (P), so that symbolizing needs no second pass. */
typedef struct {
    roost__prof_groups G; /* grouped: owns its tasks */
    roost__task_vec all;  /* full, JSON: every task */
    roost__prof_pcs *P;
    size_t total;
    bool oom; /* the grouping's allocation failed */
} prof_stream;

static void prof_stream_group(const roost_task_info_t *t, void *arg) {
    prof_stream *S = arg;
    S->total++;
    if (!S->oom && !prof_group_add(&S->G, t, 1)) S->oom = true;
}

static void prof_stream_all(const roost_task_info_t *t, void *arg) {
    prof_stream *S = arg;
    S->total++;
    roost__task_vec_push(&S->all, t);
    if (S->all.oom) return;
    for (int k = 0; k < t->nframes; k++)
        if (t->pcs[k]) roost__prof_pcs_find(S->P, t->pcs[k]);
}

/* Take a profile. From a task, nothing here holds its worker for more than
 * a slice (ROOST__SLICE_NS) at a time, whatever the number of tasks: the
 * walk and the formatting of one entry per task yield between slices
 * (registry.c's sliced walk says what the snapshot then is: the same as
 * ever, over a longer span), and what cannot be cut (symbolizing new pcs,
 * sorting 100,000 records) runs on the blocking pool while the task
 * parks. The grouped forms format a few groups: no slicing needed. From
 * a plain thread it all runs right here, in one piece. */
static int prof_take(int format, char **buf, size_t *len) {
    roost__slice sl;
    roost__slice_begin(&sl);
    roost__prof_pcs P = {0};
    prof_stream S = {.G.owns = true, .P = &P};
    bool grouped = format == ROOST_PROFILE_GROUPED || format == ROOST_PROFILE_PPROF;
    int rc;
    if (grouped) {
        rc = roost__tasks_each(ROOST_SNAP_STACKS | ROOST__SNAP_SLICED, prof_stream_group, &S);
        for (size_t i = 0; i < S.G.n; i++)
            for (int k = 0; k < S.G.g[i].t->nframes; k++)
                if (S.G.g[i].t->pcs[k]) roost__prof_pcs_find(&P, S.G.g[i].t->pcs[k]);
    } else {
        roost__task_vec_init(&S.all);
        rc = roost__tasks_each(ROOST_SNAP_STACKS | ROOST__SNAP_SLICED, prof_stream_all, &S);
    }
    if (!rc && (S.oom || S.all.oom || P.oom)) rc = ROOST_ENOMEM;
    roost__buf b = {0};
    if (!rc) {
        prof_pcs_resolve(&P, sl.task);
        switch (format) {
        case ROOST_PROFILE_GROUPED: rc = prof_grouped(&b, &S.G, S.total, &P); break;
        case ROOST_PROFILE_FULL: rc = prof_full(&b, S.all.v, S.all.n, &P, &sl); break;
        case ROOST_PROFILE_PPROF: rc = roost__pprof(&b, &S.G, &P); break;
        default: rc = prof_json(&b, S.all.v, S.all.n, &P, &sl); break;
        }
    }
    if (!rc && (b.oom || P.oom)) rc = ROOST_ENOMEM;
    prof_pcs_free(&P);
    free(S.all.v);
    prof_groups_free(&S.G);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (!b.p) roost__buf_reserve(&b, 1); /* an empty profile is still a buffer to free */
    if (!b.p) return ROOST_ENOMEM;
    *buf = b.p, *len = b.len;
    return ROOST_OK;
}

int roost_profile(int format, char **buf, size_t *len) {
    if (!buf || !len) return ROOST_EINVAL;
    *buf = NULL, *len = 0;
    if (format < ROOST_PROFILE_GROUPED || format > ROOST_PROFILE_JSON) return ROOST_EINVAL;
    return prof_take(format, buf, len);
}

int roost_profile_write(int fd, int format) {
    if (fd < 0) return ROOST_EINVAL;
    char *buf;
    size_t len;
    int rc = roost_profile(format, &buf, &len);
    if (rc) return rc;
    rc = roost__write_all(fd, buf, len) ? ROOST_EINVAL
                                        : ROOST_OK; /* a bad or closed fd: the caller's argument */
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ signals */

static struct {
    pthread_mutex_t lock; /* starting the dumper */
    bool started;
    bool exit_after;      /* ROOST_SIGQUIT_EXIT=1 */
    _Atomic uint32_t req; /* bumped by the handler; futex word */
    _Atomic int signo;    /* the last signal taken */
} profq = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Async-signal-safe: an atomic add and a futex wake (one syscall), errno
 * kept. Everything else happens on the dumper thread. */
static void prof_on_signal(int signo) {
    int e = errno;
    atomic_store_explicit(&profq.signo, signo, memory_order_relaxed);
    atomic_fetch_add_explicit(&profq.req, 1, memory_order_release);
    roost__futex_wake(&profq.req, 1);
    errno = e;
}

static void prof_dump(int signo) {
    char head[128];
    const char *name = signo == SIGQUIT ? "SIGQUIT: quit" : strsignal(signo);
    int n = snprintf(head, sizeof head, "%s\nroost: task dump (signal %d)\n", name ? name : "signal", signo);
    if (n > 0) roost__write_all(2, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (roost_profile_write(2, ROOST_PROFILE_FULL) != ROOST_OK) {
        static const char fail[] = "roost: task dump failed (out of memory)\n";
        roost__write_all(2, fail, sizeof fail - 1);
    }
    static const char end[] = "roost: end of task dump\n";
    roost__write_all(2, end, sizeof end - 1);
}

/* Blocked in the futex until a signal bumps req: no CPU, and detached, so
 * it never keeps the process from exiting (exit ends it wherever it is). */
static void *prof_dumper(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, ROOST_STOP_SIGNAL); /* the reachability proof's stop (reach_stop.c) */
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    uint32_t seen = 0;
    for (;;) {
        uint32_t now = atomic_load_explicit(&profq.req, memory_order_acquire);
        if (now == seen) {
            ROOST_IDLE(roost__futex_wait(&profq.req, seen, -1));
            continue;
        }
        seen = now;
        prof_dump(atomic_load_explicit(&profq.signo, memory_order_relaxed));
        if (profq.exit_after) exit(2); /* Go's status after a SIGQUIT dump */
    }
    return NULL;
}

/* Start the dumper once per process. Its thread blocks every signal (the
 * runtime's threads leave SIGQUIT open: this one closes it too), so the
 * handler runs on some other thread and never interrupts a dump. */
static int prof_dumper_start(void) {
    pthread_mutex_lock(&profq.lock);
    int rc = ROOST_OK;
    if (!profq.started) {
        const char *e = getenv("ROOST_SIGQUIT_EXIT");
        profq.exit_after = e && *e && strcmp(e, "0") != 0;
        rc = roost__thread_start(NULL, prof_dumper, NULL, "roost-dump", true);
        if (!rc) profq.started = true;
    }
    pthread_mutex_unlock(&profq.lock);
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
