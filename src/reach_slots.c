/* reach_slots.c - the task slots, as the reachability proof sees them:
 * listed from the stack pool (each task's record copied once: it lies on
 * a page of its own), sorted, and classified: a root (it runs, could run,
 * or is being set up), a parked task and what it waits on, or free. */
#include "reach_proof.h"
#include <string.h>

#define HEAPSORT(name, type, key)                              \
    static void name(type *v, size_t n) {                      \
        for (size_t k = n / 2; k-- > 0;) name##_down(v, k, n); \
        for (size_t e = n; e-- > 1;) {                         \
            type t = v[0];                                     \
            v[0] = v[e], v[e] = t;                             \
            name##_down(v, 0, e);                              \
        }                                                      \
    }
#define HEAPSORT_DOWN(name, type, key)                       \
    static void name##_down(type *v, size_t i, size_t n) {   \
        for (;;) {                                           \
            size_t c = 2 * i + 1;                            \
            if (c >= n) return;                              \
            if (c + 1 < n && key(v[c + 1]) > key(v[c])) c++; \
            if (key(v[c]) <= key(v[i])) return;              \
            type t = v[c];                                   \
            v[c] = v[i], v[i] = t;                           \
            i = c;                                           \
        }                                                    \
    }
#define SLOT_KEY(s) ((s).lo)
/* Sorted already (ascending, or descending: reversed) is the common case,
 * seen in one pass; anything else is heap-sorted. */
#define SORT(name, type, key)                            \
    static void name(type *v, size_t n) {                \
        size_t up = 1, down = 1;                         \
        for (size_t i = 1; i < n; i++) {                 \
            up += key(v[i - 1]) <= key(v[i]);            \
            down += key(v[i - 1]) >= key(v[i]);          \
        }                                                \
        if (up >= n) return;                             \
        if (down < n) {                                  \
            name##_heap(v, n);                           \
            return;                                      \
        }                                                \
        for (size_t i = 0, j = n - 1; i < j; i++, j--) { \
            type t = v[i];                               \
            v[i] = v[j], v[j] = t;                       \
        }                                                \
    }
HEAPSORT_DOWN(sort_slots_heap, rslot, SLOT_KEY)
HEAPSORT(sort_slots_heap, rslot, SLOT_KEY)
SORT(sort_slots, rslot, SLOT_KEY)
HEAPSORT_DOWN(sort_ranges_heap, rrange, SLOT_KEY)
HEAPSORT(sort_ranges_heap, rrange, SLOT_KEY)
SORT(sort_ranges, rrange, SLOT_KEY)

/* The slot table skey_find looks in, once the slots are sorted: about two
 * entries a slot, whatever the spread of their addresses. Without it (no
 * memory), skey_find searches them all. */
void roost__reach_slot_table(rproof *P) {
    if (!P->nslots || P->nslots >= UINT32_MAX) return;
    uintptr_t lo = P->slots[0].lo, span = P->slots[P->nslots - 1].hi - lo;
    unsigned sh = 12;
    while ((span >> sh) > 2 * P->nslots + 64) sh++;
    size_t n = (span >> sh) + 2;
    uint32_t *t = roost__reach_smap(P, n * sizeof *t);
    if (!t) return;
    size_t i = 0;
    for (size_t g = 0; g < n; g++) {
        while (i < P->nslots && P->slots[i].hi <= lo + ((uintptr_t)g << sh)) i++;
        t[g] = (uint32_t)i;
    }
    P->stab = t, P->nstab = n, P->stab_lo = lo, P->stab_shift = sh;
}

/* Whether v lies in a task slot's mapping, guard included. */
bool roost__reach_in_slots(const rproof *P, uintptr_t v) {
    size_t a = 0, b = P->nslots;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (P->slots[m].base <= v)
            a = m + 1;
        else
            b = m;
    }
    return a && v < P->slots[a - 1].hi;
}

/* Whether v lies in the stack pool's memory (P->pool). */
bool roost__reach_in_pool(const rproof *P, uintptr_t v) {
    size_t a = 0, b = P->npool;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (P->pool[m].lo <= v)
            a = m + 1;
        else
            b = m;
    }
    return a && v < P->pool[a - 1].hi;
}

/* The stack pool's memory into P->pool. False (P->why set) without memory. */
bool roost__reach_pool_ranges(rproof *P) {
    size_t n = roost__stack_regions(NULL, NULL, 0);
    P->pool = roost__reach_smap(P, (n + 1) * (sizeof *P->pool + 2 * sizeof(uintptr_t)));
    if (!P->pool) {
        P->why = "out of memory";
        return false;
    }
    uintptr_t *lo = (uintptr_t *)(P->pool + n + 1), *hi = lo + n + 1;
    n = roost__stack_regions(lo, hi, n);
    for (size_t i = 0; i < n; i++) P->pool[i] = (rrange){lo[i], hi[i], false};
    sort_ranges(P->pool, n);
    for (size_t i = 0; i < n; i++)
        if (P->npool && P->pool[P->npool - 1].hi >= P->pool[i].lo) {
            if (P->pool[i].hi > P->pool[P->npool - 1].hi) P->pool[P->npool - 1].hi = P->pool[i].hi;
        } else {
            P->pool[P->npool++] = P->pool[i];
        }
    return true;
}

typedef struct {
    rproof *P;
    bool full;
} rslot_walk;

/* The words of a task record classify_slots reads, into its slot. */
__attribute__((no_sanitize("address", "thread"))) static void copy_record(rslot *s, const roost__task *t) {
    s->id = t->id;
    s->seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
    s->state = atomic_load_explicit(&t->state, memory_order_relaxed);
    s->sp = (uintptr_t)t->sp;
    s->reason = t->wait_reason;
    s->wait_obj = t->wait_obj;
    s->cancellable = t->cancellable;
    s->wait_ctx = t->wait_ctx;
    s->sel_n = t->sel_n;
    s->sel_cases = t->sel_cases;
}

__attribute__((no_sanitize("address", "thread"))) static void add_slot(roost__stack *st, char *base,
                                                                       size_t len, void *arg) {
    rslot_walk *w = arg;
    rproof *P = w->P;
    if (P->nslots == P->slots_cap) {
        w->full = true;
        return;
    }
    roost__task *t = roost__stack_task(st);
    rslot *s = &P->slots[P->nslots++];
    memset(s, 0, sizeof *s);
    s->t = t;
    if (P->snap && (uintptr_t)base >= P->snap_lo && (uintptr_t)base < P->snap_hi) {
        /* Not in this process: read with the others (read_slots). */
        s->remote = true;
        s->base = (uintptr_t)base, s->rec = (uintptr_t)t, s->hi = (uintptr_t)base + len;
        return;
    }
    s->base = (uintptr_t)base;
    s->lo = (uintptr_t)st->lo;
    s->rec = (uintptr_t)t;
    s->hi = (uintptr_t)st->hi;
    copy_record(s, t);
    (void)len;
}

static bool classify_slots(rproof *P);

static uintptr_t r_clamp(uintptr_t v, uintptr_t lo, uintptr_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Where a scan of slot s starts, from the words of its record: the lowest
 * stack pointer of a thread running on it, its whole stack while it is set
 * up or switching (or in a state without a saved stack pointer), else its
 * saved stack pointer, kept within the stack. 0: free, nothing to scan.
 * *running: a thread runs on it, or it is set up or switching. */
static uintptr_t slot_from(const rproof *P, const rslot *s, bool *running) {
    uintptr_t sp_min = UINTPTR_MAX;
    for (size_t k = 0; k < P->nsps; k++)
        if (P->sps[k] >= s->lo && P->sps[k] < s->hi && P->sps[k] < sp_min) sp_min = P->sps[k];
    *running = sp_min != UINTPTR_MAX || (s->seq & 1);
    if (sp_min != UINTPTR_MAX) return sp_min;
    if (s->seq & 1) return s->lo;
    if (s->state == ROOST_T_DEAD || !s->id) return 0;
    if (s->state == ROOST_T_RUNNABLE || s->state == ROOST_T_PARKED) return r_clamp(s->sp, s->lo, s->rec);
    return s->lo;
}

/* A slot's copy goes at the end of P->frames: where, or NULL (no room). */
static char *frames_take(rproof *P, size_t len, size_t *used) {
    if (len > P->frames_cap - *used) return NULL;
    char *p = P->frames + *used;
    *used += (len + 7) & ~(size_t)7;
    return p;
}

/* What the mark and the classification need of each slot in the snapshot's
 * stack range, read through the kernel RBATCH slots at a time: the top
 * RWINDOW bytes of the slot, which hold its record and bookkeeping
 * [rec, hi) and, most often, the live frames of a parked task too. The
 * words add_slot copies are taken from the record; the live part,
 * [slot_from, hi), is copied to P->frames (rslot.copy), and where it is
 * longer than the window, read again whole. A read is one page lookup in
 * the program's page tables, the most of its cost: one a slot. */
static bool read_slots(rproof *P) {
    struct iovec loc[RBATCH], rem[RBATCH];
    size_t idx[RBATCH], used = 0, nlong = 0;
    for (size_t i = 0; i < P->nslots;) {
        size_t n = 0;
        for (; i < P->nslots && n < RBATCH; i++) {
            rslot *s = &P->slots[i];
            if (!s->remote) continue;
            if (s->hi - s->rec > RWINDOW || s->hi - s->rec < sizeof(roost__stack) ||
                s->hi - s->base < 2 * RWINDOW)
                return false;
            loc[n] = (struct iovec){P->rbuf + n * RWINDOW, RWINDOW};
            rem[n] = (struct iovec){(void *)(s->hi - RWINDOW), RWINDOW};
            idx[n++] = i;
        }
        if (n && !roost__reach_snap_read(loc, rem, n)) return false;
        for (size_t k = 0; k < n; k++) {
            rslot *s = &P->slots[idx[k]];
            const char *w = P->rbuf + k * RWINDOW; /* the window: s->hi - RWINDOW here */
            const roost__task *t = (const roost__task *)(w + RWINDOW - (s->hi - s->rec));
            const roost__stack *st = (const roost__stack *)(w + RWINDOW - sizeof(roost__stack));
            s->lo = (uintptr_t)st->lo;
            if (s->lo <= s->base || s->lo >= s->rec) return false;
            copy_record(s, t);
            bool running;
            uintptr_t f = slot_from(P, s, &running);
            if (!f) continue;
            s->from = f;
            char *c = frames_take(P, s->hi - f, &used);
            if (!c) return false;
            s->copy = (uintptr_t)c;
            if (f >= s->hi - RWINDOW)
                memcpy(c, w + (f - (s->hi - RWINDOW)), s->hi - f);
            else
                nlong++;
        }
    }
    /* The slots whose live part the window did not hold, read whole. */
    for (size_t i = 0; nlong && i < P->nslots;) {
        size_t n = 0;
        for (; i < P->nslots && n < RBATCH; i++) {
            rslot *s = &P->slots[i];
            if (!s->copy || s->from >= s->hi - RWINDOW) continue;
            loc[n] = (struct iovec){(void *)s->copy, s->hi - s->from};
            rem[n++] = (struct iovec){(void *)s->from, s->hi - s->from};
        }
        if (n && !roost__reach_snap_read(loc, rem, n)) return false;
    }
    roost__reach_table_used(KT_FRAMES, used);
    return true;
}

/* Case k of a select parked in slot s, at c: its channel. */
static bool case_chan(const rslot *s, const roost_case_t *c, int k, roost_chan_t **out) {
    if (!s->remote) {
        *out = c[k].chan;
        return true;
    }
    struct iovec loc = {out, sizeof *out}, rem = {(void *)&c[k].chan, sizeof *out};
    return roost__reach_snap_read(&loc, &rem, 1);
}

/* Every task slot into P->slots, in address order, and what each is
 * (classify_slots). It may run on a second thread (roost__reach_spawn), beside the
 * heap walk, which takes longer: it calls nothing of libc's but memset,
 * and needs nothing of the heap's. */
int roost__reach_list_slots(void *arg) {
    rproof *P = arg;
    rslot_walk sw = {P, false};
    roost__stack_each_held(P->snap, add_slot, &sw);
    P->slots_full = sw.full;
    if (!sw.full && P->snap && !read_slots(P)) P->slots_why = "a task's stack could not be read";
    if (!sw.full && !P->slots_why) {
        sort_slots(P->slots, P->nslots);
        memset(P->sflag, 0, P->nslots); /* a kept table holds the last proof's */
        for (size_t i = 0; i < P->nslots; i++) P->skey[i].lo = P->slots[i].lo; /* the rest: classify_slots */
        P->refs_full = !classify_slots(P);
    }
    P->ph[PH_SLOTS] = r_mono_ns();
    /* Then, on its own thread, the index of each heap the walk has
     * finished, for as long as the walk goes on (it is often the longer
     * of the two). What is left when it ends (and what does not fit
     * h->ix) roost__reach_prove_stopped indexes, on both threads. */
    for (size_t done = 0; P->early_index && !__atomic_load_n(&P->walked, __ATOMIC_ACQUIRE);) {
        if (done < __atomic_load_n(&P->heap->nseg, __ATOMIC_ACQUIRE))
            P->nearly += roost__heap_index_early(P->heap, done++);
        else
            roost__cpu_relax();
    }
    return 0;
}

static bool add_ref(rproof *P, uintptr_t obj, size_t si) {
    if (P->nrefs == P->refs_cap) return false;
    P->refs[P->nrefs++] = (r_waitref){obj, (uint32_t)si};
    return true;
}

static bool waits_on_objects(int reason) {
    switch (reason) {
    case ROOST_WAIT_CHAN_SEND:
    case ROOST_WAIT_CHAN_RECV:
    case ROOST_WAIT_SELECT:
    case ROOST_WAIT_MUTEX:
    case ROOST_WAIT_RWMUTEX_R:
    case ROOST_WAIT_RWMUTEX_W:
    case ROOST_WAIT_COND:
    case ROOST_WAIT_WAITGROUP:
    case ROOST_WAIT_ONCE:
    case ROOST_WAIT_CTX: return true;
    default: return false; /* sleep, I/O: a timer or the kernel ends them */
    }
}

/* What each slot is: a root (it runs, could run, or is being set up), a
 * parked task and what it waits on, or nothing (free). */
__attribute__((no_sanitize("address", "thread"))) static bool classify_slots(rproof *P) {
    for (size_t i = 0; i < P->nslots; i++) {
        rslot *s = &P->slots[i];
        int state = s->state, reason = s->reason;
        /* Where its scan starts (a copy, where it has one, starts there). */
        bool running;
        uintptr_t from = slot_from(P, s, &running);
        if (s->copy && from != s->from) { /* never: the same words */
            P->slots_why = "a task's stack could not be read";
            return false;
        }
        s->from = from;
        if (running) {
            s->role = SLOT_ROOT; /* a thread runs on it; being set up, or switching */
        } else if (state == ROOST_T_DEAD || !s->id) {
            s->role = SLOT_DEAD;
        } else if (state != ROOST_T_PARKED || !waits_on_objects(reason) || (s->cancellable && !s->wait_ctx)) {
            s->role = SLOT_ROOT; /* runnable, or a wait nothing here ends */
        } else {
            s->role = SLOT_WAIT;
            s->obj = s->wait_obj;
            bool ok = true;
            if (s->cancellable) ok = add_ref(P, (uintptr_t)s->wait_ctx, i);
            if (reason == ROOST_WAIT_SELECT) {
                const roost_case_t *c = s->sel_cases;
                int n = s->sel_n;
                /* The cases are the program's, alive while the select is parked. */
                if (n < 0 || n > ROOST_SELECT_MAX || (n && (!c || rslot_find(P, (uintptr_t)c) != s)))
                    s->role = SLOT_ROOT;
                for (int k = 0; ok && s->role == SLOT_WAIT && k < n; k++) {
                    roost_chan_t *ch;
                    if (!case_chan(s, c, k, &ch)) {
                        P->slots_why = "a task's stack could not be read";
                        return false;
                    }
                    if (ch) ok = add_ref(P, (uintptr_t)ch, i);
                    if (!k && !s->obj) s->obj = ch;
                }
            } else if (!s->wait_obj) {
                s->role = SLOT_ROOT;
            } else {
                ok = ok && add_ref(P, (uintptr_t)s->wait_obj, i);
            }
            if (!ok) return false;
        }
        rskey *k = &P->skey[i];
        k->flo = k->fhi = 0;
        if (s->role == SLOT_WAIT && s->rec - s->lo > UINT32_MAX)
            s->role = SLOT_ROOT; /* never: slots are small */
        if (s->role == SLOT_WAIT) {
            uintptr_t f = s->from - s->lo > RED_ZONE ? s->from - RED_ZONE : s->lo;
            k->flo = (uint32_t)(f - s->lo), k->fhi = (uint32_t)(s->rec - s->lo);
        }
    }
    return true;
}
