/* pprof.c - the task profile in profile.proto form, which `go tool pprof`
 * reads (sample type goroutine/count; state, wait reason, spawn site and
 * task labels as sample labels). A hand-written encoder: varints and
 * length-delimited fields, nothing else is needed. It encodes the groups
 * profile.c folds (profile.h); tests/pprof_test.sh checks the result with
 * pprof itself.
 */
#include "profile.h"
#include "symbolize.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ pprof
 * profile.proto (github.com/google/pprof/proto/profile.proto), encoded by
 * hand: a message is a run of (field << 3 | wire type) keys, varints and
 * length-prefixed bytes. Nested messages are built in a scratch buffer and
 * copied in with their length; a profile is small (one sample per group,
 * one location per distinct pc), so the copies cost nothing that matters. */

enum { PB_VARINT = 0, PB_LEN = 2 };

static void pb_varint(roost__buf *b, uint64_t v) {
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    roost__buf_put(b, tmp, n);
}

static void pb_key(roost__buf *b, int field, int wire) {
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* A scalar field; 0 is proto3's default and is left out. */
static void pb_int(roost__buf *b, int field, uint64_t v) {
    if (!v) return;
    pb_key(b, field, PB_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(roost__buf *b, int field, const void *p, size_t n) {
    pb_key(b, field, PB_LEN);
    pb_varint(b, n);
    roost__buf_put(b, p, n);
}

/* Append sub as field `field` of b, and empty sub for reuse. */
static void pb_msg(roost__buf *b, int field, roost__buf *sub) {
    if (sub->oom) b->oom = true;
    pb_bytes(b, field, sub->p, sub->len);
    sub->len = 0;
}

/* The string table: each distinct string once, by content; index 0 is "". */
typedef struct {
    const char **s; /* by index */
    size_t n, cap;
    roost__index index;  /* s by content */
    roost__arena *arena; /* strings made for this profile */
    bool oom;
} pb_strings;

static uint64_t pb_str_hash_of(size_t i, void *arg) { return roost__hash_str(0, ((pb_strings *)arg)->s[i]); }

typedef struct {
    const pb_strings *S;
    const char *s;
} pb_str_probe;

static bool pb_str_eq(size_t i, void *arg) {
    pb_str_probe *q = arg;
    return strcmp(q->S->s[i], q->s) == 0;
}

static uint64_t pb_str_intern(pb_strings *S, const char *s) {
    if (!s) s = "";
    if (!roost__index_reserve(&S->index, S->n, pb_str_hash_of, S)) {
        S->oom = true;
        return 0;
    }
    pb_str_probe q = {S, s};
    uint32_t *slot = roost__index_find(&S->index, roost__hash_str(0, s), pb_str_eq, &q);
    if (*slot) return *slot - 1;
    if (S->n == S->cap) {
        size_t cap = S->cap ? S->cap * 2 : 256;
        const char **v = realloc(S->s, cap * sizeof *v);
        if (!v) {
            S->oom = true;
            return 0;
        }
        S->s = v, S->cap = cap;
    }
    S->s[S->n] = s;
    *slot = (uint32_t)++S->n;
    return S->n - 1;
}

/* A label (key, string value) of a sample. */
static void pb_label(roost__buf *b, roost__buf *tmp, pb_strings *S, const char *key, const char *val) {
    pb_int(tmp, 1, pb_str_intern(S, key));
    pb_int(tmp, 2, pb_str_intern(S, val));
    pb_msg(b, 3, tmp);
}

static void pb_value_type(roost__buf *b, roost__buf *tmp, int field, pb_strings *S, const char *type,
                          const char *unit) {
    pb_int(tmp, 1, pb_str_intern(S, type));
    pb_int(tmp, 2, pb_str_intern(S, unit));
    pb_msg(b, field, tmp);
}

typedef struct {
    const char *name, *file; /* one Function per distinct pair */
} pb_func;

/* Function ids of the stand-ins for tasks without a stack: far above the
 * real ones (ids need only be unique and non-zero). */
#define PB_NOSTACK_FUNC ((uint64_t)1 << 32)

int roost__pprof(roost__buf *b, roost__prof_groups *G1, roost__prof_pcs *P) {
    roost__prof_groups G;
    int rc = roost__prof_group_merge(G1, &G);
    if (rc) return rc;
    pb_strings S = {0};
    roost__buf m1 = {0}, m2 = {0}; /* scratch for nested messages */
    roost__module **mods = NULL;   /* mapping id - 1 -> module */
    size_t nmods = 0, capmods = 0;
    pb_func *funcs = NULL; /* function id - 1 -> (name, file) */
    size_t nfuncs = 0, capfuncs = 0;
    uint32_t *loc_func = NULL; /* location id - 1 -> function id (0: none) */
    uint32_t *loc_map = NULL;  /* location id - 1 -> mapping id (0: none) */
    uintptr_t *loc_pc = NULL;
    pb_strings FS = {0}; /* "name\1file" keys: function id - 1 by index */
    bool oom = false;
    pb_str_intern(&S, "");

    /* Every pc gets its location id (in P, in order of first use); after
     * them come one location per state for tasks without a stack (running
     * ones), which pprof would otherwise drop from its counts. */
    for (size_t i = 0; i < G.n; i++)
        for (int k = 0; k < G.g[i].t->nframes; k++)
            if (G.g[i].t->pcs[k] && roost__prof_pcs_find(P, G.g[i].t->pcs[k]) == SIZE_MAX) oom = true;
    size_t nloc = P->n;
    unsigned nostack = 0; /* states used by stackless groups: bit per state */
    pb_value_type(b, &m1, 1, &S, "goroutine", "count");
    for (size_t i = 0; !oom && i < G.n; i++) {
        roost_task_info_t *t = G.g[i].t;
        if (!t->nframes) {
            int st = t->state & 3;
            nostack |= 1u << st;
            pb_varint(&m2, nloc + 1 + (size_t)st);
        }
        for (int k = 0; k < t->nframes; k++) {
            if (!t->pcs[k]) continue;
            size_t j = roost__prof_pcs_find(P, t->pcs[k]);
            if (j == SIZE_MAX) {
                oom = true;
                break;
            }
            pb_varint(&m2, j + 1); /* packed location ids, leaf first */
        }
        if (m2.len) pb_msg(&m1, 1, &m2);
        pb_varint(&m2, G.g[i].count);
        pb_msg(&m1, 2, &m2);
        pb_label(&m1, &m2, &S, "state", roost_task_state_name(t->state));
        if (t->state == ROOST_TASK_PARKED)
            pb_label(&m1, &m2, &S, "wait_reason", roost_wait_reason_name(t->wait_reason));
        for (int k = 0; k < t->nlabels; k++) pb_label(&m1, &m2, &S, t->labels[k][0], t->labels[k][1]);
        char site[512];
        snprintf(site, sizeof site, "%s (%s:%d)", t->func, t->file, t->line);
        pb_label(&m1, &m2, &S, "created_by", roost__arena_strdup(&S.arena, site));
        pb_msg(b, 2, &m1);
    }

    /* Mappings, functions and locations, per distinct pc. */
    loc_func = calloc(nloc + 1, sizeof *loc_func);
    loc_map = calloc(nloc + 1, sizeof *loc_map);
    loc_pc = calloc(nloc + 1, sizeof *loc_pc);
    if (!loc_func || !loc_map || !loc_pc) oom = true;
    for (size_t j = 0; !oom && j < P->n; j++) {
        const roost__sym *s = P->syms[j];
        size_t id = j + 1;
        loc_pc[id - 1] = P->pcs[j];
        if (s->mod) {
            size_t k = 0;
            while (k < nmods && mods[k] != s->mod) k++;
            if (k == nmods) {
                if (nmods == capmods) {
                    capmods = capmods ? capmods * 2 : 16;
                    roost__module **nm = realloc(mods, capmods * sizeof *nm);
                    if (!nm) {
                        oom = true;
                        break;
                    }
                    mods = nm;
                }
                mods[nmods++] = (roost__module *)s->mod;
            }
            loc_map[id - 1] = (uint32_t)k + 1;
        }
        if (s->func) {
            char key[1024];
            snprintf(key, sizeof key, "%s\001%s", s->func, s->file ? s->file : "");
            size_t before = FS.n;
            uint64_t f = pb_str_intern(&FS, roost__arena_strdup(&FS.arena, key));
            if (FS.oom) {
                oom = true;
                break;
            }
            if (FS.n != before) { /* a new function */
                if (nfuncs == capfuncs) {
                    capfuncs = capfuncs ? capfuncs * 2 : 64;
                    pb_func *nf = realloc(funcs, capfuncs * sizeof *nf);
                    if (!nf) {
                        oom = true;
                        break;
                    }
                    funcs = nf;
                }
                funcs[nfuncs++] = (pb_func){s->func, s->file};
            }
            loc_func[id - 1] = (uint32_t)f + 1;
        }
    }
    for (size_t k = 0; !oom && k < nmods; k++) {
        const roost__module *m = mods[k];
        bool funcs_known = false, lines = false;
        for (size_t j = 0; j < P->n; j++)
            if (P->syms[j]->mod == m) {
                funcs_known |= P->syms[j]->func != NULL;
                lines |= P->syms[j]->file != NULL;
            }
        pb_int(&m1, 1, k + 1);
        pb_int(&m1, 2, m->text_lo);
        pb_int(&m1, 3, m->text_hi);
        pb_int(&m1, 4, m->text_off);
        pb_int(&m1, 5, pb_str_intern(&S, m->path));
        pb_int(&m1, 7, funcs_known); /* has_functions: pprof need not symbolize */
        pb_int(&m1, 8, lines);
        pb_int(&m1, 9, lines);
        pb_msg(b, 3, &m1);
    }
    for (size_t i = 0; !oom && i < nloc; i++) {
        pb_int(&m1, 1, i + 1);
        pb_int(&m1, 2, loc_map[i]);
        pb_int(&m1, 3, loc_pc[i] - 1); /* within the call instruction, as pprof asks */
        if (loc_func[i]) {
            const roost__sym *s = roost__prof_pcs_sym(P, loc_pc[i]);
            pb_int(&m2, 1, loc_func[i]);
            pb_int(&m2, 2, s->file ? (uint64_t)s->line : 0);
            pb_msg(&m1, 4, &m2);
        }
        pb_msg(b, 4, &m1);
    }
    for (int st = 0; !oom && st < 4; st++) {
        if (!(nostack & (1u << st))) continue;
        char name[64];
        snprintf(name, sizeof name, "[%s, no stack]", roost_task_state_name(st));
        pb_int(&m1, 1, nloc + 1 + (size_t)st);
        pb_int(&m2, 1, PB_NOSTACK_FUNC + (uint64_t)st);
        pb_msg(&m1, 4, &m2);
        pb_msg(b, 4, &m1);
        pb_int(&m1, 1, PB_NOSTACK_FUNC + (uint64_t)st);
        pb_int(&m1, 2, pb_str_intern(&S, roost__arena_strdup(&S.arena, name)));
        pb_msg(b, 5, &m1);
    }
    for (size_t i = 0; !oom && i < nfuncs; i++) {
        pb_int(&m1, 1, i + 1);
        pb_int(&m1, 2, pb_str_intern(&S, funcs[i].name));
        pb_int(&m1, 3, pb_str_intern(&S, funcs[i].name));
        pb_int(&m1, 4, pb_str_intern(&S, funcs[i].file));
        pb_msg(b, 5, &m1);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pb_int(b, 9, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    pb_value_type(b, &m1, 11, &S, "goroutine", "count");
    pb_int(b, 12, 1);
    /* The string table last: every string is interned by now. */
    for (size_t i = 0; i < S.n; i++) pb_bytes(b, 6, S.s[i], strlen(S.s[i]));
    if (S.oom || m1.oom || m2.oom) oom = true;

    free(G.g);
    free(S.s), roost__index_free(&S.index), roost__arena_free(S.arena);
    free(FS.s), roost__index_free(&FS.index), roost__arena_free(FS.arena);
    free(m1.p), free(m2.p);
    free(mods), free(funcs), free(loc_func), free(loc_map), free(loc_pc);
    return oom ? ROOST_ENOMEM : ROOST_OK;
}
