/* registry.c - what observers can read about tasks: live counts, spawn
 * sites, labels, and consistent copies of task records and their stacks.
 *
 * The one idea: observing must cost the observed almost nothing, so nothing
 * here adds a lock or a shared write to spawn, park or exit. Counters are per
 * worker and single-writer (a load and a store on the worker's own cache
 * line); readers sum them over the workers, which is constant time in the
 * number of tasks. There is no list of live tasks to maintain either: every
 * task record sits at the top of a stack slot, and stack slots live in
 * chunks that are never unmapped while the runtime runs, so a reader walks
 * the chunks. Each record carries a sequence counter (even while the task is
 * switched out, odd while it runs or is being set up); a reader copies the
 * record, and the stack above its saved stack pointer, then checks that the
 * counter did not move, and tries again if it did. No worker ever waits for
 * a reader.
 *
 * What it costs: per spawn, a load of the site's id and one counter add; per
 * park, a TSC read and one counter add (roost__block); per switch, one more
 * store (the sequence counter). Per snapshot, a walk of every slot ever
 * allocated: about 100,000 tasks in a few tens of ms (bench profile100k).
 */
#include "internal.h"
#include "hash.h"
#include <stdlib.h>
#include <string.h>

int roost__observe = 1;
_Atomic uint64_t roost__coarse_tick;

static struct {
    pthread_mutex_t lock; /* site registration, the go_at table */
    uint64_t tick0;       /* tick and clock at start, for conversion */
    int64_t ns0;
    _Atomic int nsites;                                       /* ids 1..nsites are taken */
    roost_site_t **site_blk[ROOST_SITE_BLOCKS];               /* id -> site */
    _Atomic(_Atomic int64_t *) thread_ctr[ROOST_SITE_BLOCKS]; /* spawns from plain threads */
    roost_site_t **at;                                        /* roost_go_at's sites, in order of first use */
    size_t nat, capat;
    roost__index at_index; /* at by (file, line, func) */
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

void roost__registry_init(void) {
    if (!registry.tick0) {
        registry.tick0 = roost__tick();
        registry.ns0 = roost_now();
    }
    roost__coarse_refresh();
}

/* ------------------------------------------------------------ clock */

/* Ticks to roost_now() nanoseconds, by the rate measured since start. Right
 * after start the interval is too short to measure, so wait until 2 ms have
 * passed (only a profile taken in the first 2 ms pays this). */
typedef struct {
    uint64_t t1;
    int64_t n1;
    double ns_per_tick;
} tick_clock;

static void clock_now(tick_clock *c) {
    do {
        c->n1 = roost_now();
        c->t1 = roost__tick();
    } while (c->n1 - registry.ns0 < 2 * ROOST_MS);
    c->ns_per_tick =
        c->t1 > registry.tick0 ? (double)(c->n1 - registry.ns0) / (double)(c->t1 - registry.tick0) : 1.0;
}

static int64_t clock_conv(const tick_clock *c, uint64_t tick) {
    if (!tick) return 0;
    return c->n1 - (int64_t)((double)(int64_t)(c->t1 - tick) * c->ns_per_tick);
}

int64_t roost__tick_to_ns(uint64_t tick) {
    tick_clock c;
    clock_now(&c);
    return clock_conv(&c, tick);
}

/* ------------------------------------------------------------ spawn sites */

static roost_site_t *site_at(int id) {
    return registry.site_blk[id / ROOST_SITE_BLOCK][id % ROOST_SITE_BLOCK];
}

/* Give a site its id on its first spawn. Sites beyond the table (16,383)
 * get id -1: they spawn normally but are not counted per site. */
int roost__site_id(roost_site_t *site) {
    pthread_mutex_lock(&registry.lock);
    int id = site->id;
    if (!id) {
        int n = atomic_load(&registry.nsites) + 1;
        if (n >= ROOST_SITE_BLOCK * ROOST_SITE_BLOCKS) {
            id = -1;
        } else {
            roost_site_t ***blk = &registry.site_blk[n / ROOST_SITE_BLOCK];
            if (!*blk) *blk = calloc(ROOST_SITE_BLOCK, sizeof **blk);
            if (!*blk) {
                id = -1;
            } else {
                (*blk)[n % ROOST_SITE_BLOCK] = site;
                atomic_store(&registry.nsites, n);
                id = n;
            }
        }
        __atomic_store_n(&site->id, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&registry.lock);
    return id;
}

/* One counter block: [site % BLOCK][0 spawned, 1 exited]. */
static _Atomic int64_t *ctr_block(_Atomic(_Atomic int64_t *) *slot) {
    _Atomic int64_t *b = atomic_load_explicit(slot, memory_order_acquire);
    if (ROOST_LIKELY(b)) return b;
    _Atomic int64_t *nb = calloc(2 * ROOST_SITE_BLOCK, sizeof *nb);
    if (!nb) return NULL;
    if (atomic_compare_exchange_strong(slot, &b, nb)) return nb;
    free(nb);
    return b;
}

void roost__site_count_slow(roost__worker *w, int site, int which) {
    if (site <= 0) return;
    _Atomic(_Atomic int64_t *) *slot =
        w ? &w->site_ctr[site / ROOST_SITE_BLOCK] : &registry.thread_ctr[site / ROOST_SITE_BLOCK];
    _Atomic int64_t *b = ctr_block(slot);
    if (!b) return;
    _Atomic int64_t *c = &b[(site % ROOST_SITE_BLOCK) * 2 + which];
    if (w)
        roost__ctr_add(c, 1);
    else
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void roost__registry_worker_fini(roost__worker *w) {
    for (int i = 1; i < ROOST_SITE_BLOCKS; i++) free((void *)atomic_load(&w->site_ctr[i])); /* 0 is inline */
}

static int64_t site_sum(int id, int which) {
    int64_t n = 0;
    int b = id / ROOST_SITE_BLOCK, i = (id % ROOST_SITE_BLOCK) * 2 + which;
    _Atomic int64_t *blk = atomic_load_explicit(&registry.thread_ctr[b], memory_order_acquire);
    if (blk) n += atomic_load_explicit(&blk[i], memory_order_relaxed);
    for (int k = 0, nw = roost__nworkers(); k < nw; k++) {
        blk = atomic_load_explicit(&roost__worker_at(k)->site_ctr[b], memory_order_acquire);
        if (blk) n += atomic_load_explicit(&blk[i], memory_order_relaxed);
    }
    return n;
}

int roost_sites(roost_site_info_t *out, int max) {
    int n = atomic_load(&registry.nsites);
    if (!out) max = 0; /* NULL asks only how many there are */
    for (int id = 1; id <= n && id <= max; id++) {
        roost_site_t *s = site_at(id);
        int64_t exited = site_sum(id, 1); /* exits first: never below zero */
        int64_t created = site_sum(id, 0);
        out[id - 1] =
            (roost_site_info_t){s->file, s->func, s->line, created > exited ? created - exited : 0, created};
    }
    return n;
}

/* For callers without a static site: one per (file, line, func), made on
 * first use and kept for the life of the process. */
static uint64_t site_hash(const char *file, int line, const char *func) {
    return roost__hash_mix(roost__hash_mix(roost__hash_ptr((uintptr_t)file), (uintptr_t)func),
                           (uint64_t)line);
}

static uint64_t at_hash_of(size_t i, void *unused) {
    (void)unused;
    const roost_site_t *s = registry.at[i];
    return site_hash(s->file, s->line, s->func);
}

static bool at_eq(size_t i, void *key) {
    const roost_site_t *s = registry.at[i], *k = key;
    return s->line == k->line && s->file == k->file && s->func == k->func;
}

int roost_go_at(roost_fn fn, void *arg, const roost_task_opts_t *opts, const char *file, int line,
                const char *func) {
    if (!fn) return ROOST_EINVAL;
    if (!file) file = "?";
    if (!func) func = "?";
    pthread_mutex_lock(&registry.lock);
    roost_site_t key = {file, func, line, 0}, *s = NULL;
    if (!roost__index_reserve(&registry.at_index, registry.nat, at_hash_of, NULL)) {
        pthread_mutex_unlock(&registry.lock);
        return ROOST_ENOMEM;
    }
    uint32_t *slot = roost__index_find(&registry.at_index, site_hash(file, line, func), at_eq, &key);
    if (*slot) {
        s = registry.at[*slot - 1];
    } else {
        if (registry.nat == registry.capat) {
            size_t cap = registry.capat ? registry.capat * 2 : 64;
            roost_site_t **v = realloc(registry.at, cap * sizeof *v);
            if (!v) {
                pthread_mutex_unlock(&registry.lock);
                return ROOST_ENOMEM;
            }
            registry.at = v, registry.capat = cap;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
            pthread_mutex_unlock(&registry.lock);
            return ROOST_ENOMEM;
        }
        *s = key;
        registry.at[registry.nat] = s;
        *slot = (uint32_t)++registry.nat;
    }
    pthread_mutex_unlock(&registry.lock);
    return roost_go_site(fn, arg, opts, s);
}

/* ------------------------------------------------------------ counts */

/* A record's counted byte, read while a spawn may be zeroing the record for
 * a new task with plain stores (sched.c, zero_record): racy by design, and
 * the caller clamps what it sums. */
__attribute__((no_sanitize("thread"))) static int racy_counted(roost__task *t) {
    return *(volatile uint8_t *)&t->counted;
}

void roost_counts(roost_counts_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    int nw = roost__nworkers();
    int64_t exited = 0, created = 0;
    /* Exits before spawns (see roost_task_count): never fewer alive than are. */
    for (int i = 0; i < nw; i++) {
        roost__worker *w = roost__worker_at(i);
        exited += atomic_load_explicit(&w->exited, memory_order_acquire);
    }
    created = roost__thread_spawned();
    for (int i = 0; i < nw; i++) {
        roost__worker *w = roost__worker_at(i);
        created += atomic_load_explicit(&w->spawned, memory_order_acquire);
        for (int r = 1; r < ROOST_WAIT__COUNT; r++)
            out->by_reason[r] += atomic_load_explicit(&w->parked[r], memory_order_relaxed);
        /* A running task stays counted under its last wait reason until
         * it parks again (roost__task.counted): take it out. The record
         * stays mapped (stacks are pooled), so the racy read is safe. */
        roost__task *cur = __atomic_load_n(&w->current, __ATOMIC_RELAXED);
        if (cur) {
            out->running++;
            int was = racy_counted(cur);
            if (was > 0 && was < ROOST_WAIT__COUNT) out->by_reason[was]--;
        }
    }
    out->created = created;
    out->exited = exited;
    out->alive = created > exited ? created - exited : 0;
    for (int r = 1; r < ROOST_WAIT__COUNT; r++) {
        if (out->by_reason[r] < 0) out->by_reason[r] = 0;
        out->parked += out->by_reason[r];
    }
    if (out->running > out->alive) out->running = out->alive;
    if (out->parked > out->alive - out->running) out->parked = out->alive - out->running;
    out->runnable = out->alive - out->running - out->parked;
}

/* ------------------------------------------------------------ names, labels */

int roost_task_set_name(const char *name) {
    roost__task *t = roost__self();
    if (!t) return ROOST_ESTATE;
    t->name = name;
    return ROOST_OK;
}

int roost_task_label(const char *key, const char *value) {
    if (!key) return ROOST_EINVAL;
    roost__task *t = roost__self();
    if (!t) return ROOST_ESTATE;
    for (int i = 0; i < t->nlabels; i++) {
        if (strcmp(t->labels[i][0], key) != 0) continue;
        if (value) {
            t->labels[i][1] = value;
        } else {
            t->nlabels--;
            memmove(&t->labels[i], &t->labels[i + 1], sizeof t->labels[0] * (size_t)(t->nlabels - i));
        }
        return ROOST_OK;
    }
    if (!value) return ROOST_OK;
    if (t->nlabels == ROOST_MAX_LABELS) return ROOST_ERANGE;
    t->labels[t->nlabels][0] = key;
    t->labels[t->nlabels][1] = value;
    t->nlabels++;
    return ROOST_OK;
}

/* ------------------------------------------------------------ adopted references */

int roost_chan_adopt(roost_chan_t *ch) {
    if (!ch) return ROOST_EINVAL;
    roost__chan_check(ch, "roost_chan_adopt");
    roost__task *t = roost__self();
    if (!t) return ROOST_ESTATE;
    roost_chan_t **arr = t->owned ? t->owned : t->owned_small;
    int cap = t->owned ? t->owned_cap : 4;
    /* One adopted reference per channel and task: a second adopt is the
     * same reference taken over twice (it would be dropped twice at exit),
     * and a task given two should adopt one and unref the other. */
    for (int i = 0; i < t->nowned; i++)
        if (ROOST_UNLIKELY(arr[i] == ch))
            roost__misuse(ch,
                          "second roost_chan_adopt of channel %p by the same task "
                          "(each reference is adopted once; it is dropped when the task exits)",
                          (void *)ch);
    if (ROOST_UNLIKELY(ROOST_CHAN_REFS(atomic_load_explicit(&ch->refs, memory_order_relaxed)) == 0))
        roost__misuse(ch, "roost_chan_adopt of channel %p, which has no reference left to adopt", (void *)ch);
    if (t->nowned == cap) {
        roost_chan_t **n = malloc(sizeof *n * (size_t)cap * 2);
        if (!n) return ROOST_ENOMEM;
        memcpy(n, arr, sizeof *n * (size_t)cap);
        if (t->owned) free(t->owned);
        t->owned = arr = n;
        t->owned_cap = cap * 2;
    }
    arr[t->nowned++] = ch;
    return ROOST_OK;
}

void roost__task_release_owned(roost__task *t) {
    if (t->nowned) {
        roost_chan_t **arr = t->owned ? t->owned : t->owned_small;
        int n = t->nowned;
        t->nowned = 0;
        for (int i = 0; i < n; i++) roost_chan_unref(arr[i]);
        free(t->owned);
        t->owned = NULL;
    }
}

/* ------------------------------------------------------------ snapshots */

/* Racy reads of memory another worker may be writing: validated by the
 * sequence counter afterwards, and kept from the sanitizers, which would
 * otherwise report the race the counter is there to detect. volatile keeps
 * the compiler from turning the loop back into a (sanitized) memcpy. */
__attribute__((no_sanitize("address", "thread"))) static void racy_copy(void *dst, const void *src,
                                                                        size_t n) {
    volatile const uintptr_t *s = src;
    uintptr_t *d = dst;
    for (size_t i = 0; i < n / sizeof(uintptr_t); i++) d[i] = s[i];
}

/* Where the saved frame pointer and return address sit above a saved stack
 * pointer (src/arch/switch_*.S). */
#if defined(__x86_64__)
#define SAVED_FP 48
#define SAVED_PC 56
#elif defined(__aarch64__)
#define SAVED_FP 80
#define SAVED_PC 88
#endif

#define racy_word(a) ((uintptr_t)roost__racy_load64((const void *)(a)))

/* Walk the frame-pointer chain of a switched-out stack in place, between
 * its saved stack pointer and the task record at its top. Reading in place
 * (two words a frame) rather than copying the stack first is what keeps a
 * profile of 100,000 tasks fast; a task that moves meanwhile is caught by
 * the caller's sequence check, and stacks are never unmapped under us. */
static int walk(uintptr_t sp, uintptr_t top, uintptr_t *pcs, int max) {
#ifdef SAVED_FP
    if (sp + SAVED_PC + 8 > top) return 0;
    int n = 0;
    uintptr_t fp = racy_word(sp + SAVED_FP);
    pcs[n++] = racy_word(sp + SAVED_PC);
    while (n < max && fp >= sp && fp + 16 <= top && (fp & 7) == 0) {
        uintptr_t next = racy_word(fp), pc = racy_word(fp + 8);
        if (!pc) break;
        pcs[n++] = pc;
        if (next <= fp) break; /* frames grow up the stack; anything else ends it */
        fp = next;
    }
    return n;
#else
    (void)sp, (void)top, (void)pcs, (void)max;
    return 0;
#endif
}

/* Copy t's record (and, with ROOST_SNAP_STACKS, walk its stack) into *o,
 * consistently. false if no live task is there. rec holds a record. */
static bool info_copy(roost__task *t, roost_task_info_t *o, int flags, const tick_clock *clock, char *rec) {
    for (int tries = 0; tries < 64; tries++) {
        uint32_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
        racy_copy(rec, t, sizeof(roost__task));
        roost__task *r = (roost__task *)rec;
        int state = atomic_load_explicit(&r->state, memory_order_relaxed);
        if (r->id == 0 || state == ROOST_T_DEAD) {
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s1) return false;
            continue;
        }
        /* Odd: running (its fixed fields are stable, its stack is not) or
         * being set up (nothing is stable: try again). */
        bool running = s1 & 1;
        if (running && state != ROOST_T_RUNNING) continue;
        uintptr_t pcs[ROOST_MAX_FRAMES];
        int nframes = 0;
        if (!running && (flags & ROOST_SNAP_STACKS) && (char *)r->sp > r->stack->lo &&
            (char *)r->sp < (char *)t)
            nframes = walk((uintptr_t)r->sp, (uintptr_t)t, pcs, ROOST_MAX_FRAMES);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) != s1) continue;
        o->id = r->id, o->parent_id = r->parent_id;
        o->file = r->site ? r->site->file : "?";
        o->func = r->site ? r->site->func : "?";
        o->line = r->site ? r->site->line : 0;
        o->name = r->name;
        o->nlabels = r->nlabels > ROOST_MAX_LABELS ? ROOST_MAX_LABELS : r->nlabels;
        memcpy(o->labels, r->labels, sizeof o->labels);
        o->state = running ? ROOST_TASK_RUNNING : state;
        o->wait_reason = state == ROOST_T_PARKED ? r->wait_reason : ROOST_WAIT_NONE;
        o->wait_obj = state == ROOST_T_PARKED ? r->wait_obj : NULL;
        o->created = clock_conv(clock, r->created_tick);
        o->parked_at = state == ROOST_T_PARKED && roost__observe ? clock_conv(clock, r->park_tick) : 0;
        o->nframes = nframes;
        memcpy(o->pcs, pcs, sizeof pcs[0] * (size_t)nframes);
        return true;
    }
    /* It kept changing under us for 64 tries: a task this busy is not the
     * one anybody is looking for; leave it out rather than wait. */
    return false;
}

/* A consistent copy of t's record alone (no stack), and the sequence value
 * it was taken at: false if no live task is there. */
bool roost__task_peek(roost__task *t, roost__task *copy, uint32_t *seq) {
    for (int tries = 0; tries < 64; tries++) {
        uint32_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
        racy_copy(copy, t, sizeof *copy);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) != s1) continue;
        int state = atomic_load_explicit(&copy->state, memory_order_relaxed);
        if (copy->id == 0 || state == ROOST_T_DEAD) return false;
        if ((s1 & 1) && state != ROOST_T_RUNNING) continue;
        *seq = s1;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ slices */

void roost__slice_begin(roost__slice *s) {
    s->task = roost__self() != NULL;
    s->start = s->task ? roost_now() : 0;
}

void roost__slice_check(roost__slice *s) {
    if (!s->task || roost_now() - s->start < ROOST__SLICE_NS) return;
    roost_yield();
    s->start = roost_now();
}

/* Every live task, one at a time, into a record on the walker's own stack:
 * for consumers that fold tasks as they go (a grouped profile), which then
 * need no array of 100,000 records (40 MB of fresh pages to fault in).
 * Sliced (ROOST__SNAP_SLICED, from a task): the walk yields between chunks
 * of slots once its slice is spent; E lives on the heap, and the cursor in
 * the stack walk stays good across the yield (stack.c). */
typedef struct {
    void (*fn)(const roost_task_info_t *, void *);
    void *arg;
    int flags;
    tick_clock clock;
    roost__slice slice;
    roost_task_info_t info;
    char rec[sizeof(roost__task)] __attribute__((aligned(64)));
} each_state;

static void each_one(roost__task *t, void *arg) {
    each_state *E = arg;
    if (info_copy(t, &E->info, E->flags, &E->clock, E->rec)) E->fn(&E->info, E->arg);
}

static void each_pause(void *arg) { roost__slice_check(&((each_state *)arg)->slice); }

int roost__tasks_each(int flags, void (*fn)(const roost_task_info_t *, void *), void *arg) {
    if (!roost__nworkers()) return ROOST_OK;
    each_state *E = calloc(1, sizeof *E);
    if (!E) return ROOST_ENOMEM;
    E->fn = fn, E->arg = arg, E->flags = flags;
    clock_now(&E->clock);
    roost__slice_begin(&E->slice);
    if ((flags & ROOST__SNAP_SLICED) && E->slice.task)
        roost__for_each_stack_slot_sliced(each_one, each_pause, E);
    else
        roost__for_each_stack_slot(each_one, E);
    free(E);
    return ROOST_OK;
}

/* One task, for the leak detector: the caller knows t cannot resume
 * meanwhile (it holds the only way to wake it). */
bool roost__task_info(roost__task *t, roost_task_info_t *o, int flags) {
    char rec[sizeof(roost__task)] __attribute__((aligned(64)));
    tick_clock c;
    clock_now(&c);
    memset(o, 0, sizeof *o);
    return info_copy(t, o, flags, &c, rec);
}

/* The calling task's own record and stack (it is running, so it is walked
 * in place from the current frame). */
void roost__self_info(roost__task *t, roost_task_info_t *o) {
    memset(o, 0, sizeof *o);
    o->id = t->id, o->parent_id = t->parent_id;
    o->file = t->site ? t->site->file : "?";
    o->func = t->site ? t->site->func : "?";
    o->line = t->site ? t->site->line : 0;
    o->name = t->name;
    o->nlabels = t->nlabels;
    memcpy(o->labels, t->labels, sizeof o->labels);
    o->state = ROOST_TASK_RUNNING;
    o->wait_reason = t->wait_reason;
    o->wait_obj = t->wait_obj;
    o->created = roost__tick_to_ns(t->created_tick);
    o->parked_at = roost_now();
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0), lo = fp, hi = (uintptr_t)t;
    while (o->nframes < ROOST_MAX_FRAMES && fp >= lo && fp + 16 <= hi && (fp & 7) == 0) {
        uintptr_t next = ((uintptr_t *)fp)[0], pc = ((uintptr_t *)fp)[1];
        if (!pc) break;
        o->pcs[o->nframes++] = pc;
        if (next <= fp) break;
        fp = next;
    }
}

void roost__task_vec_init(roost__task_vec *s) {
    *s = (roost__task_vec){.cap = (size_t)roost_task_count() + 256};
    if (!(s->v = malloc(s->cap * sizeof *s->v))) s->cap = 0;
}

void roost__task_vec_push(roost__task_vec *s, const roost_task_info_t *t) {
    if (s->oom) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        roost_task_info_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v, s->cap = cap;
    }
    s->v[s->n++] = *t;
}

static void snap_append(const roost_task_info_t *t, void *arg) { roost__task_vec_push(arg, t); }

int roost_tasks_snapshot(int flags, roost_task_info_t **out, size_t *n) {
    if (!out || !n) return ROOST_EINVAL;
    *out = NULL;
    *n = 0;
    roost__task_vec S;
    roost__task_vec_init(&S);
    int rc = roost__tasks_each(flags, snap_append, &S);
    if (!rc && S.oom) rc = ROOST_ENOMEM;
    if (rc) {
        free(S.v);
        return rc;
    }
    *out = S.v, *n = S.n;
    return ROOST_OK;
}
