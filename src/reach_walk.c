/* reach_walk.c - the reachability proof in the snapshot (or with the
 * world stopped): /proc/self/maps read, the malloc heaps walked
 * (heapwalk.c) and indexed, the task slots listed beside them
 * (reach_slots.c), everything else classified as roots or left out, then
 * the mark (reach_mark.c) and the parked tasks it never reached. */
#include "reach_proof.h"
#include "heaptrack.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read /proc/self/maps whole into scratch. */
static bool read_maps(rproof *P) {
    for (size_t cap = (size_t)1 << 20; cap <= (size_t)1 << 30; cap *= 4) {
        char *b = roost__reach_smap(P, cap);
        if (!b) return false;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        size_t len = 0;
        ssize_t n;
        while (len < cap - 1 && (n = read(fd, b + len, cap - 1 - len)) > 0) len += (size_t)n;
        close(fd);
        if (len < cap - 1) {
            b[len] = 0;
            P->maps = b, P->maps_len = len;
            return true;
        }
    }
    return false;
}

static bool r_piece(rproof *P, const rmapping *m, uintptr_t lo, uintptr_t hi, bool guarded) {
    if (P->npieces == P->pieces_cap) {
        P->why = "too many roots";
        return false;
    }
    P->pieces[P->npieces++] = (rpiece){*m, lo, hi, guarded};
    return true;
}

static const char *parse_line(const char *p, const char *end, rmapping *m) {
    char *q;
    m->lo = strtoull(p, &q, 16);
    m->hi = strtoull(q + 1, &q, 16);
    while (*q == ' ') q++;
    memcpy(m->perm, q, 4), m->perm[4] = 0;
    /* offset, dev, inode, then the path (if any) */
    for (int f = 0; f < 4 && q < end; f++) {
        while (q < end && *q != ' ' && *q != '\n') q++;
        while (q < end && *q == ' ') q++;
    }
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    if (!nl) nl = end;
    m->path = q, m->pathlen = (size_t)(nl - q);
    return nl < end ? nl + 1 : end;
}

static bool path_is(const rmapping *m, const char *s) {
    size_t n = strlen(s);
    return m->pathlen == n && !memcmp(m->path, s, n);
}

/* Part of the heap's index (roost__reach_prove_stopped), on a second thread. */
typedef struct {
    roost__heapmap *h;
    size_t from, to;
} rixpart;

static int index_part(void *arg) {
    rixpart *r = arg;
    roost__heap_index_segs(r->h, r->from, r->to);
    return 0;
}

/* A stack glibc keeps for reuse after its thread exited: nothing in it is
 * alive, but stale words, scanned, would keep much alive. Told by the
 * thread control block at its top (x86_64: tcb and self point at it) that
 * belongs to no live thread, and no live stack pointer in it. Elsewhere,
 * never (it is then scanned). */
__attribute__((no_sanitize("address", "thread"))) static bool dead_thread_stack(rproof *P, uintptr_t lo,
                                                                                uintptr_t hi, int nin) {
#if defined(__x86_64__)
    for (size_t k = 0; k < P->nsps; k++)
        if (P->sps[k] >= lo && P->sps[k] < hi) return false;
    uintptr_t me = (uintptr_t)pthread_self();
    if (me >= lo && me < hi) return false;
    for (int i = 0; i < nin && i < MAX_THREADS; i++)
        if (roost__reach_stw.who[i].self >= lo && roost__reach_stw.who[i].self < hi) return false;
    if (hi - lo < 65536) return false;
    for (uintptr_t a = (hi - 64) & ~(uintptr_t)63; a >= hi - 65536;
         a -= 64) { /* struct pthread is 64-byte aligned */
        uintptr_t w0, w2;
        if (!roost__reach_rd_safe(a, &w0) || w0 != a) continue;
        if (roost__reach_rd_safe(a + 16, &w2) && w2 == a) return true;
    }
    return false;
#else
    (void)P, (void)lo, (void)hi, (void)nin;
    return false;
#endif
}

static bool root_push(rproof *P, uintptr_t lo, uintptr_t hi) {
    if (lo >= hi) return true;
    if (P->nroots == P->roots_cap) return false;
    P->roots[P->nroots++] = (rrange){lo, hi, P->cur_sched};
    return true;
}

static bool root_add(rproof *P, uintptr_t lo, uintptr_t hi) {
    if (lo >= hi) return true;
    /* Less the proof's own tables (they point at every chunk), wherever
     * the kernel merged them with a neighbour. */
    for (int i = 0; i < P->nscratch; i++) {
        uintptr_t a = (uintptr_t)P->scratch[i].p, b = a + P->scratch[i].len;
        if (a < hi && b > lo) return root_add(P, lo, a) && root_add(P, b, hi);
    }
    uintptr_t klo, khi; /* and the kept ones, stale words and all */
    if (roost__reach_kept(lo, hi, &klo, &khi)) return root_add(P, lo, klo) && root_add(P, khi, hi);
    /* and the stacks' snapshot's copies of stack pages, and the stack the
     * snapshot runs on (its stale words are the proof's own reads) */
    if (roost__reach_snap_memory(lo, hi, &klo, &khi)) return root_add(P, lo, klo) && root_add(P, khi, hi);
    if (P->own_lo < hi && P->own_hi > lo) return root_add(P, lo, P->own_lo) && root_add(P, P->own_hi, hi);
    for (size_t i = 0; i < P->nfps; i++) {
        uintptr_t a = P->fps[i].lo, b = P->fps[i].hi;
        if (a < hi && b > lo) return root_add(P, lo, a) && root_add(P, b, hi);
    }
    /* An alternate signal stack is a stack while a handler runs on it
     * (then a stopped thread's stack pointer lies in it: from there up);
     * otherwise all it holds are the frames of handlers that returned. */
    for (size_t i = 0; i < P->nalts; i++) {
        uintptr_t a = P->alts[i].lo, b = P->alts[i].hi;
        if (a >= hi || b <= lo) continue;
        uintptr_t from = UINTPTR_MAX;
        for (size_t k = 0; k < P->nsps; k++)
            if (P->sps[k] >= a && P->sps[k] < b && P->sps[k] < from) from = P->sps[k];
        bool ok = root_add(P, lo, a) && root_add(P, b, hi);
        if (from != UINTPTR_MAX)
            ok = ok && root_push(P, (from > lo ? from : lo) & ~(uintptr_t)7, b < hi ? b : hi);
        return ok;
    }
    return root_push(P, lo, hi);
}

/* [lo, hi) less the task slots in it, as roots. A thread's stack (stack:
 * a mapping with nothing mergeable below it) from its lowest known stack
 * pointer: below that lie dead frames. */
static bool roots_from(rproof *P, uintptr_t lo, uintptr_t hi, bool stack) {
    if (stack) {
        uintptr_t sp_min = UINTPTR_MAX;
        for (size_t k = 0; k < P->nsps; k++)
            if (P->sps[k] >= lo && P->sps[k] < hi && P->sps[k] < sp_min) sp_min = P->sps[k];
        if (sp_min != UINTPTR_MAX) lo = sp_min & ~(uintptr_t)7;
    }
    size_t a = 0, b = P->nslots;
    while (a < b) { /* the first slot ending after lo */
        size_t m = (a + b) / 2;
        if (P->slots[m].hi <= lo)
            a = m + 1;
        else
            b = m;
    }
    uintptr_t at = lo;
    for (; a < P->nslots && P->slots[a].base < hi; a++) {
        if (P->slots[a].base > at && !root_add(P, at, P->slots[a].base)) return false;
        if (P->slots[a].hi > at) at = P->slots[a].hi;
    }
    return at >= hi || root_add(P, at, hi);
}

__attribute__((no_sanitize("address", "thread"))) static bool heap_probe_found(rproof *P, void *probe) {
    ssize_t c = roost__heap_find(P->heap, (uintptr_t)probe);
    return c >= 0 && P->heap->lo[c] == (uintptr_t)probe;
}

/* A piece [lo, hi) of mapping m that is not a heap of an arena: chunks of
 * their own mapping at its start, then roots (or nothing, for a dead
 * thread's cached stack). guarded: a guard page lies right below it.
 * False (P->why set) on failure. */
static bool classify_piece(rproof *P, const rmapping *m, uintptr_t lo, uintptr_t hi, bool guarded, int nin) {
    bool anon = m->pathlen == 0 || (m->path[0] == '[' && !path_is(m, "[stack]") && !path_is(m, "[heap]"));
    if (anon && m->perm[3] == 'p' && !roost__reach_in_slots(P, lo))
        lo += roost__heap_mmapped(P->heap, lo, hi, roost__reach_rd_safe);
    if (lo >= hi) return true;
    if (anon && guarded && dead_thread_stack(P, lo, hi, nin)) {
        roost__reach_dbg("reach: %lx-%lx: a dead thread's cached stack\n", (unsigned long)lo,
                         (unsigned long)hi);
        return true;
    }
    P->cur_sched = false;
    if (anon && guarded) {
        for (int i = 0; i < nin && i < MAX_THREADS && !P->cur_sched; i++)
            P->cur_sched = roost__reach_stw.who[i].runtime && roost__reach_stw.who[i].sp >= lo &&
                           roost__reach_stw.who[i].sp < hi;
        /* A worker's own stack, where its scheduler loop waits while it
         * runs a task (the caller's among them). */
        for (int i = 0; i < roost__nworkers() && !P->cur_sched; i++) {
            uintptr_t ssp = (uintptr_t)roost__worker_at(i)->sched_sp;
            P->cur_sched = ssp >= lo && ssp < hi;
        }
    }
    /* A worker's own stack: the scheduler's frames (below frames_top) are
     * not roots. Only roost's scheduler runs there (a task runs on its own
     * stack, with its registers saved there), and nothing it holds makes a
     * parked task wakeable: it readies tasks by their records, unlocks the
     * locks of the task it just parked (which wakes nobody), frees exited
     * tasks' slots; the words left in its frames are stale. Its TLS, above,
     * is the program's too, and is read. */
    if (anon && guarded)
        for (int i = 0; i < roost__nworkers(); i++) {
            uintptr_t ft = (uintptr_t)roost__worker_at(i)->frames_top;
            if (ft > lo && ft < hi) {
                lo = ft & ~(uintptr_t)7;
                roost__reach_dbg("reach: worker %d's frames below %lx left out\n", i, (unsigned long)ft);
                break;
            }
        }
    bool ok = roots_from(P, lo, hi, (anon && guarded) || path_is(m, "[stack]"));
    P->cur_sched = false;
    if (!ok) P->why = "too many roots";
    return ok;
}

/* The heaps, mapping by mapping (in address order): walked into P->heap;
 * the rest of each mapping kept as pieces (r_piece). False (P->why set)
 * where a heap could not be walked or there is no room. */
static bool walk_heaps(rproof *P, const char *end, bool tracked) {
    rmapping prev = {0};
    for (const char *p = P->maps; p < end;) {
        rmapping m;
        p = parse_line(p, end, &m);
        /* A thread's stack from its stack pointer up only where nothing can
         * have merged with it below: [stack], or a guard right under it. */
        bool guarded = prev.hi == m.lo && prev.perm[0] == '-' && prev.perm[1] == '-';
        prev = m;
        if (m.perm[0] != 'r') continue;
        if (path_is(&m, "[vvar]") || path_is(&m, "[vvar_vclock]") || path_is(&m, "[vsyscall]") ||
            path_is(&m, "[vdso]"))
            continue;
        /* The proof's own tables are left out piece by piece (root_add): the
         * kernel may have merged them into a heap's mapping. */
        bool anon = m.pathlen == 0 || (m.path[0] == '[' && !path_is(&m, "[stack]") && !path_is(&m, "[heap]"));
        if (tracked) {
            /* The sanitizer's shadow and its space for small chunks hold no
             * pointer of the program's but the chunks' own; elsewhere, the
             * tracked chunks (large ones, each of its own mapping) are cut
             * out of the roots. */
            if (roost__heaptrack_runtime_memory(m.lo, m.hi) || (m.perm[1] != 'w' && !anon)) continue;
            size_t a = 0, b = P->heap->n;
            while (a < b) { /* the first chunk ending past m.lo */
                size_t mid = (a + b) / 2;
                if (P->heap->hi[mid] <= m.lo)
                    a = mid + 1;
                else
                    b = mid;
            }
            uintptr_t cur = m.lo;
            bool g = guarded;
            for (; a < P->heap->n && P->heap->lo[a] < m.hi; a++) {
                if (P->heap->lo[a] > cur && !r_piece(P, &m, cur, P->heap->lo[a], g)) return false;
                if (P->heap->hi[a] > cur) cur = P->heap->hi[a], g = false;
            }
            if (cur < m.hi && !r_piece(P, &m, cur, m.hi, g)) return false;
            continue;
        }
        if (path_is(&m, "[heap]")) {
            roost__reach_dbg("reach: [heap] %lx-%lx\n", (unsigned long)m.lo, (unsigned long)m.hi);
            if (roost__heap_region(P->heap, m.lo, m.hi, true) != 1) {
                P->why = "the main heap could not be walked";
                return false;
            }
            continue;
        }
        if (m.perm[1] != 'w' && !anon) continue; /* code, read-only data */
        if (anon && m.perm[1] == 'w' && m.perm[3] == 'p') {
            /* Other arenas' heaps: 64 MiB aligned, at the start of the
             * mapping or further in (the kernel merges a heap's mapping
             * with what lies below it, and full heaps with each other).
             * Each owns its 64 MiB; what lies between them is classified
             * as any other memory. */
            uintptr_t cur = m.lo;
            bool below_guarded = guarded;
            for (uintptr_t b = (m.lo + HEAP_ALIGN - 1) & ~(HEAP_ALIGN - 1); b < m.hi; b += HEAP_ALIGN) {
                uintptr_t seg_end = m.hi - b > HEAP_ALIGN ? b + HEAP_ALIGN : m.hi;
                int k = roost__reach_in_pool(P, b) ? 0 : roost__heap_region(P->heap, b, seg_end, false);
                if (k < 0) {
                    roost__reach_dbg("reach: %lx-%lx: a heap caught changing\n", (unsigned long)b,
                                     (unsigned long)seg_end);
                    P->why = "a heap could not be walked";
                    return false;
                }
                if (k == 0) continue;
                roost__reach_dbg("reach: arena heap %lx-%lx chunks %zu\n", (unsigned long)b,
                                 (unsigned long)seg_end, P->heap->n);
                if (cur < b && !r_piece(P, &m, cur, b, below_guarded)) return false;
                cur = seg_end, below_guarded = false;
            }
            if (cur < m.hi && !r_piece(P, &m, cur, m.hi, below_guarded)) return false;
            continue;
        }
        if (!r_piece(P, &m, m.lo, m.hi, guarded)) return false;
    }
    return true;
}

/* Everything between stop and resume. Returns the leaked tasks in *out. */
void roost__reach_prove_stopped(rproof *P, void *probe, uintptr_t tkey, uintptr_t self_sp, rleaked **out,
                                size_t *nout, roost_leak_proof_t *st) {
    *out = NULL, *nout = 0;
    int64_t tm0 = r_mono_ns();
    P->ph[PH_START] = tm0;
    if (!read_maps(P)) {
        P->why = "cannot read /proc/self/maps";
        return;
    }
    /* Sizes: the mappings bound everything. */
    size_t nmaps = 0, heapish = 0;
    for (size_t i = 0; i < P->maps_len; i++) nmaps += P->maps[i] == '\n';
    const char *end = P->maps + P->maps_len;
    for (const char *p = P->maps; p < end;) {
        rmapping m;
        p = parse_line(p, end, &m);
        uintptr_t klo, khi;
        if (m.perm[0] == 'r' && m.perm[1] == 'w' && !roost__heaptrack_runtime_memory(m.lo, m.hi) &&
            !roost__reach_kept(m.lo, m.hi, &klo, &khi) && !roost__reach_snap_memory(m.lo, m.hi, &klo, &khi))
            heapish += m.hi - m.lo;
    }
    /* The stacks' range, not mapped here (reach_snap.c). */
    size_t snapped = P->snap ? P->snap_hi - P->snap_lo : 0;
    /* The heap's source: glibc's heap, walked below; or, under a sanitizer
     * (whose malloc is its own), the table its hooks keep (heaptrack.c). */
    bool tracked = !roost__heaptrack_unavailable();
    int nin = atomic_load(&roost__reach_stw.nin);
    P->heap = roost__reach_smap(P, sizeof *P->heap);
    size_t nslots_max = (heapish + snapped) / (16 << 10) + 64; /* a slot is a guard and 4 pages at least */
    /* Each table's room, within what a kept table may have (where it
     * falls short, the proof is refused for want of room, never wrong). */
    size_t tmax = roost__reach_table_max(), slot_sz = sizeof(rslot) + sizeof(rskey) + 1;
    if (nslots_max > tmax / slot_sz) nslots_max = tmax / slot_sz;
    P->slots_cap = nslots_max;
    /* With their keys and flags after them, in the same mapping. */
    P->slots = roost__reach_table(P, KT_SLOTS, nslots_max * slot_sz);
    if (P->slots) P->skey = (rskey *)(P->slots + nslots_max), P->sflag = (uint8_t *)(P->skey + nslots_max);
    P->refs_cap = nslots_max * 2 + 64;
    if (P->refs_cap > tmax / sizeof(r_waitref)) P->refs_cap = tmax / sizeof(r_waitref);
    P->refs = roost__reach_table(P, KT_REFS, P->refs_cap * sizeof(r_waitref));
    P->roots_cap = nmaps * 2 + nslots_max + 64;
    P->roots = roost__reach_smap(P, P->roots_cap * sizeof(rrange));
    P->heap->cap = tracked ? roost__heaptrack_count() + 64 : heapish / 32 + 64;
    if (P->heap->cap > tmax / sizeof(uintptr_t) - 1) P->heap->cap = tmax / sizeof(uintptr_t) - 1;
    /* Every entry of the three is written as the walk adds it. */
    P->heap->lo = roost__reach_table(P, KT_LO, P->heap->cap * sizeof(uintptr_t));
    P->heap->hi = roost__reach_table(P, KT_HI, P->heap->cap * sizeof(uintptr_t));
    P->cmark = P->heap->flags = roost__reach_table(P, KT_FLAGS, P->heap->cap + 1);
    P->buf = roost__reach_smap(P, 64 << 10);
    P->sps = roost__reach_smap(P, (MAX_THREADS + (size_t)roost__nworkers() + 2) * sizeof(uintptr_t));
    if (P->snap) {
        P->rbuf = roost__reach_smap(P, RBATCH * RWINDOW);
        P->frames_cap = snapped < tmax ? snapped : tmax;
        P->frames = roost__reach_table(P, KT_FRAMES, P->frames_cap);
    }
    if (!P->heap || !P->slots || !P->refs || !P->roots || !P->heap->lo || !P->heap->hi || !P->cmark ||
        !P->buf || !P->sps || (P->snap && (!P->rbuf || !P->frames))) {
        P->why = "out of memory";
        return;
    }
    P->heap->tcache_key = tkey;
    P->trace = roost__reach_trace;
    /* Stack pointers: the stopped threads', each worker's scheduler loop
     * (its thread may be running a task), ours. */
    for (int i = 0; i < nin && i < MAX_THREADS; i++) P->sps[P->nsps++] = roost__reach_stw.who[i].sp;
    for (int i = 0; i < roost__nworkers(); i++) {
        roost__worker *w = roost__worker_at(i);
        if (w->sched_sp) P->sps[P->nsps++] = (uintptr_t)w->sched_sp;
    }
    P->sps[P->nsps++] = self_sp;
    P->alts = roost__reach_smap(P, ((size_t)nin + 1) * sizeof(rrange));
    if (!P->alts) {
        P->why = "out of memory";
        return;
    }
    for (int i = 0; i < nin && i < MAX_THREADS; i++)
        if (roost__reach_stw.who[i].alt_hi)
            P->alts[P->nalts++] =
                (rrange){roost__reach_stw.who[i].alt_lo, roost__reach_stw.who[i].alt_hi, false};
    P->fps = roost__reach_smap(P, ((size_t)nin + 1) * sizeof(rrange));
    if (!P->fps) {
        P->why = "out of memory";
        return;
    }
    for (int i = 0; i < nin && i < MAX_THREADS; i++)
        if (roost__reach_stw.who[i].fp_hi)
            P->fps[P->nfps++] = (rrange){roost__reach_stw.who[i].fp_lo, roost__reach_stw.who[i].fp_hi, false};
    stack_t ss; /* ours */
    if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size)
        P->alts[P->nalts++] = (rrange){(uintptr_t)ss.ss_sp, (uintptr_t)ss.ss_sp + ss.ss_size, false};
    /* The pieces of memory left to classify once the slots are known. */
    P->pieces_cap = nmaps * 2 + heapish / HEAP_ALIGN + 64;
    P->pieces = roost__reach_smap(P, P->pieces_cap * sizeof(rpiece));
    if (!P->pieces) {
        P->why = "out of memory";
        return;
    }
    roost__reach_dbg("reach: setup after %lld us\n", (long long)(r_mono_ns() - tm0) / 1000);
    /* The task slots, listed on a second thread where there is a second
     * CPU, while this one walks the heaps. Each slot's record lies on a
     * page of its own, and the first read of a page in the snapshot costs
     * as much as the heap walk's: both are mostly that. Nothing below
     * needs the slots until both are done but the classification of what
     * is neither heap nor slot. */
    if (tracked && (P->why = roost__heaptrack_fill(P->heap))) return;
    if (!roost__reach_pool_ranges(P)) return;
    rthread lister;
    bool two = P->ncpu >= 2 && !tracked;
    if (two) {
        /* Room for every heap's index: its worst case (8-byte granules)
         * is 1/32 of the memory it spans, and only rw memory outside the
         * stack pool can be a heap. */
        size_t pool = 0;
        for (size_t i = 0; i < P->npool; i++) pool += P->pool[i].hi - P->pool[i].lo;
        P->heap->ixcap = (heapish > pool ? heapish - pool : 0) / 256 + 2 * ROOST_HEAP_SEGS + 8;
        if (P->heap->ixcap > tmax / sizeof(uint64_t)) P->heap->ixcap = tmax / sizeof(uint64_t);
        P->heap->ix = roost__reach_table(P, KT_IX, P->heap->ixcap * sizeof(uint64_t));
        P->early_index = P->heap->ix != NULL;
        two = roost__reach_spawn(P, &lister, roost__reach_list_slots, P);
        if (!two) P->early_index = false;
    }
    if (!two) roost__reach_list_slots(P);
    roost__reach_keep_populate();
    bool walked = walk_heaps(P, end, tracked);
    P->ph[PH_HEAPS] = r_mono_ns();
    __atomic_store_n(&P->walked, true, __ATOMIC_RELEASE);
    if (two) roost__reach_join(&lister); /* before any return: it writes P->slots */
    if (!walked) return;
    P->cmark[P->heap->n] = 0; /* the byte past the last chunk's, as a kept table left it */
    if (P->slots_why) {
        P->why = P->slots_why;
        return;
    }
    if (P->slots_full || P->refs_full) {
        P->why = P->slots_full ? "too many task slots" : "too many wait objects";
        return;
    }
    roost__reach_slot_table(P);
    for (size_t i = 0; i < P->npieces; i++) {
        rpiece *q = &P->pieces[i];
        if (!classify_piece(P, &q->m, q->lo, q->hi, q->guarded, nin)) return;
    }
    P->ph[PH_PIECES] = r_mono_ns();
    /* Segments in address order (a heap found inside a mapping came before
     * the chunks of their own mapping below it). */
    for (size_t i = 1; i < P->heap->nseg; i++) {
        roost__heapseg x = P->heap->seg[i];
        size_t j = i;
        for (; j && P->heap->seg[j - 1].lo > x.lo; j--) P->heap->seg[j] = P->heap->seg[j - 1];
        P->heap->seg[j] = x;
    }
    if (roost__reach_debug > 0 && (P->trace || !heap_probe_found(P, probe))) {
        int fd = open("/proc/self/maps", O_RDONLY);
        char b[4096];
        ssize_t n;
        while ((n = read(fd, b, sizeof b)) > 0)
            if (write(2, b, (size_t)n) < 0) {
            }
        close(fd);
    }
    roost__reach_dbg("reach: walked after %lld us\n", (long long)(r_mono_ns() - tm0) / 1000);
    roost__reach_dbg("reach: chunks %zu segs %zu probe %p slots %zu roots %zu\n", P->heap->n, P->heap->nseg,
                     probe, P->nslots, P->nroots);
    if (!heap_probe_found(P, probe)) {
        P->why = MALLOC_UNKNOWN;
        return;
    }
    /* The index of the segments the lister did not do (all of them, where
     * it did none), segment by segment: on two threads where there are
     * two CPUs, the segments split by their chunks' count. */
    roost__heapmap *hm = P->heap;
    size_t need = roost__heap_index_size(hm);
    if (!hm->ix || hm->ixcap - hm->ixused < need) {
        hm->ix = roost__reach_table(P, KT_IXREST, need * sizeof(uint64_t) + 8), hm->ixcap = need,
        hm->ixused = 0;
        if (!hm->ix) {
            P->why = "out of memory";
            return;
        }
    }
    roost__heap_index_prepare(hm);
    size_t nseg = hm->nseg, cut = nseg, left = 0, half = 0;
    for (size_t i = 0; i < nseg; i++) left += hm->seg[i].indexed ? 0 : hm->seg[i].n;
    for (size_t i = 0; i < nseg && half * 2 < left; i++)
        half += hm->seg[i].indexed ? 0 : hm->seg[i].n, cut = i + 1;
    rixpart ri = {hm, cut, nseg};
    rthread indexer;
    bool split =
        P->ncpu >= 2 && cut < nseg && half < left && roost__reach_spawn(P, &indexer, index_part, &ri);
    roost__heap_index_segs(hm, 0, split ? cut : nseg);
    if (split) roost__reach_join(&indexer);
    P->fingers = roost__reach_smap(P, 4096);
    if (P->fingers) P->fingers[0] = P->fingers[FINGER_STRIDE] = P->myf = P->heap->n;
    P->fastbin_skipped = roost__heap_fastbins(P->heap, P->cmark, roost__reach_rd_safe);
    roost__reach_dbg("reach: free chunks left out: %zu in tcache, %zu in fast bins (%zu arenas)\n",
                     P->heap->tcache_skipped, P->fastbin_skipped, P->heap->narena);
    if (roost__reach_debug > 0) P->whyc = roost__reach_smap(P, (P->heap->n + 1) * sizeof(uintptr_t));
    P->work_cap = P->heap->n + P->nslots + 64;
    if (P->work_cap > tmax / sizeof(rrange)) P->work_cap = tmax / sizeof(rrange);
    P->work = roost__reach_table(P, KT_WORK, P->work_cap * sizeof(rrange));
    if (!P->work || !P->fingers) {
        P->why = "out of memory";
        return;
    }
    P->ph[PH_INDEX] = r_mono_ns();
    int64_t tm1 = r_mono_ns();
    st->walk_ns = tm1 - tm0;
    roost__reach_dbg("reach: indexed after %lld us\n", (long long)(tm1 - tm0) / 1000);
    roost__reach_mark(P);
    if (P->why) return;
    size_t n = 0, parked = 0;
    for (size_t i = 0; i < P->nslots; i++) {
        parked += P->slots[i].role == SLOT_WAIT;
        n += P->slots[i].role == SLOT_WAIT && !(P->sflag[i] & SF_LIVE);
    }
    roost__reach_dbg("reach: marked after %lld us (%zu chunks scanned after the sweep)\n",
                     (long long)(r_mono_ns() - tm0) / 1000, P->late);
    st->mark_ns = r_mono_ns() - tm1;
    roost__reach_table_used(KT_LO, P->heap->n * sizeof(uintptr_t));
    roost__reach_table_used(KT_HI, P->heap->n * sizeof(uintptr_t));
    roost__reach_table_used(KT_FLAGS, P->heap->n + 1);
    roost__reach_table_used(KT_IX, P->heap->ixused * sizeof(uint64_t));
    roost__reach_times(P);
    if (P->whyc) roost__reach_explain(P);
    st->parked = (int64_t)parked;
    st->chunks = (int64_t)(P->heap->n - P->heap->ngap);
    st->marked = P->marked;
    st->heap_bytes = (int64_t)P->heap->bytes;
    st->root_bytes = P->root_bytes;
    if (!n) return;
    rleaked *v = roost__reach_smap(P, n * sizeof *v);
    if (!v) {
        P->why = "out of memory";
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < P->nslots; i++) {
        rslot *s = &P->slots[i];
        if (s->role == SLOT_WAIT && !(P->sflag[i] & SF_LIVE))
            v[k++] = (rleaked){s->t, s->id, s->seq, s->reason, s->obj};
    }
    *out = v, *nout = n;
}
