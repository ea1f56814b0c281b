/* reach_mark.c - the reachability proof's mark. Roots mark chunks and
 * stacks; then one pass over the heaps' chunks, newest first (on two
 * threads where there are two CPUs), scans each marked chunk; a parked
 * task joins the roots once what it waits on is marked. The design and
 * its costs: docs/leaks.md ("How it works", "Cost"). */
#include "reach_proof.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* The wait references by object. There is one for each parked task at
 * least, in the order of the slots, not of the objects: a heap sort of
 * 100,000 took 6 ms, with a random access at every step. This is a radix
 * sort in place (no memory of its own to touch first, which costs in a
 * fresh snapshot): from the highest byte not the same in every key, each
 * pass counts its bytes, moves every entry to its byte's bucket by
 * swaps, then sorts each bucket on the next byte down; a bucket of a few
 * is insertion-sorted. A frame is 1 KiB, at most 8 deep. */
static void sort_refs_from(r_waitref *v, size_t n, int b) {
    for (; n > 16 && b >= 0; b--) {
        uint32_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++) cnt[(v[i].obj >> (8 * b)) & 255]++;
        if (cnt[(v[0].obj >> (8 * b)) & 255] == n) continue; /* the same byte in every key */
        uint32_t next[256], at = 0;
        for (unsigned d = 0; d < 256; d++) next[d] = at, at += cnt[d];
        for (unsigned d = 0, end = 0; d < 256; d++) {
            end += cnt[d];
            /* next[d] moves up to end as entries of byte d arrive. */
            while (next[d] < end) {
                r_waitref x = v[next[d]];
                unsigned k = (x.obj >> (8 * b)) & 255;
                while (k != d) { /* x goes to its bucket; what was there comes out */
                    r_waitref y = v[next[k]];
                    v[next[k]++] = x;
                    x = y, k = (x.obj >> (8 * b)) & 255;
                }
                v[next[d]++] = x;
            }
        }
        for (unsigned d = 0, from = 0; d < 256; from += cnt[d], d++)
            if (cnt[d] > 1) sort_refs_from(v + from, cnt[d], b - 1);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        r_waitref x = v[i];
        size_t j = i;
        for (; j && v[j - 1].obj > x.obj; j--) v[j] = v[j - 1];
        v[j] = x;
    }
}

static void sort_refs(r_waitref *v, size_t n) {
    size_t up = 1;
    uintptr_t diff = 0; /* the bits not the same in every key */
    for (size_t i = 1; i < n; i++) up += v[i - 1].obj <= v[i].obj, diff |= v[i].obj ^ v[0].obj;
    int b = 7;
    while (b > 0 && !(diff >> (8 * b))) b--;
    if (up < n) sort_refs_from(v, n, b);
}

/* ------------------------------------------------------------ marking */

static void r_push(rproof *P, uintptr_t lo, uintptr_t hi) {
    if (P->nwork < P->work_cap)
        P->work[P->nwork++] = (rrange){lo, hi, false};
    else
        P->why = "out of work space"; /* the proof is then dropped */
}

static void scan_slot(rproof *P, rslot *s);

/* A slot's live part: in place, or its copy (read_frames, reach_slots.c). */
static void r_push_slot(rproof *P, const rslot *s) {
    if (s->copy)
        r_push(P, s->copy, s->copy + (s->hi - s->from));
    else
        r_push(P, s->from, s->hi);
}

/* Sets flag bit of slot i; whether it was set already (by this sweeper or
 * the other). A set bit is seen without a locked instruction. */
static inline bool r_claim(const rproof *P, size_t i, uint8_t bit) {
    uint8_t *f = &P->sflag[i];
    if (__atomic_load_n(f, __ATOMIC_RELAXED) & bit) return true;
    if (P->par) return __atomic_fetch_or(f, bit, __ATOMIC_SEQ_CST) & bit;
    *f |= bit;
    return false;
}

/* Which sweep the chunk at position pos in the sweep order belongs to:
 * blocks of 4096 chunks, alternately, so that both sweepers walk down the
 * same stretch of the heaps.
 * ROOST_REACH_SWEEP_BLOCK=<log2> sets the block's size (tests make it tiny,
 * so that the two sweepers meet at every turn, even on a small heap). */
#define FINGER_GROUP 64
static inline unsigned r_owner(const rproof *P, size_t pos) {
    return P->par ? (unsigned)(pos >> P->bshift) & 1 : 0;
}

/* Everything waiting on an object in [lo, hi] may now be woken. Objects
 * are often reached in the order they were made (an array of channels,
 * scanned), so the search starts where the last one ended, galloping out
 * from there; a jump elsewhere costs twice a plain halving. */
static void r_reached(rproof *P, uintptr_t lo, uintptr_t hi) {
    size_t a = 0, b = P->nrefs, h = P->ref_hint;
    if (h < b) {
        /* [a, b) holds the first ref at or past lo. */
        size_t step = 1;
        if (P->refs[h].obj < lo) {
            a = h + 1;
            while (a + step < b && P->refs[a + step - 1].obj < lo) a += step, step *= 2;
            if (a + step < b) b = a + step;
        } else {
            b = h + 1;
            while (b > step && P->refs[b - step - 1].obj >= lo) b -= step, step *= 2;
            a = b > step ? b - step : 0;
        }
    }
    while (a < b) {
        size_t m = (a + b) / 2;
        if (P->refs[m].obj < lo)
            a = m + 1;
        else
            b = m;
    }
    P->ref_hint = a;
    for (; a < P->nrefs && P->refs[a].obj <= hi; a++) {
        size_t si = P->refs[a].rslot;
        if (!r_claim(P, si, SF_LIVE)) scan_slot(P, &P->slots[si]);
    }
}

static void r_drain(rproof *P);

/* With two sweepers, the stacks to scan go to a queue both take from once
 * their pass is done, instead of to the work stack of whichever found
 * them: one sweeper often finds most of them (the one that scans an array
 * holding every channel), and at reach100k's size each stack costs about
 * 0.2 us. A sweeper gathers its entries in blocks of SQ_BLOCK before it
 * puts them in (the counters are shared lines), and takes a block at a
 * time. Each slot enters at most once (its scanned flag). */
static void sq_flush(rproof *P) {
    if (!P->sq_ln) return;
    size_t k = __atomic_fetch_add(P->sq_nb, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < P->sq_ln; i++) P->sq[k].e[i] = P->sq_local[i];
    __atomic_store_n(&P->sq[k].n, P->sq_ln, __ATOMIC_RELEASE);
    P->sq_ln = 0;
}

static void sq_put(rproof *P, const rslot *s) {
    P->sq_local[P->sq_ln++] = (uint32_t)(s - P->slots);
    if (P->sq_ln == SQ_BLOCK) sq_flush(P);
}

/* Scans the stacks of every block put in so far. A block put after that
 * is taken by its sweeper's own call at the end of its pass (sq_finish),
 * or, once both are done, by r_sweeps': blocks are taken by compare and
 * swap, none twice, none skipped. */
static void sq_drain(rproof *P) {
    for (;;) {
        size_t r = __atomic_load_n(P->sq_rb, __ATOMIC_RELAXED);
        if (r >= __atomic_load_n(P->sq_nb, __ATOMIC_ACQUIRE)) return;
        if (!__atomic_compare_exchange_n(P->sq_rb, &r, r + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        uint32_t n;
        while (!(n = __atomic_load_n(&P->sq[r].n, __ATOMIC_ACQUIRE))) {
        } /* its sweeper is between taking the block and filling it */
        for (uint32_t i = 0; i < n; i++) {
            r_push_slot(P, &P->slots[P->sq[r].e[i]]);
        }
        r_drain(P);
    }
}

/* A sweeper's pass is done: its own entries in, and every block scanned,
 * until scanning them puts in no more. */
static void sq_finish(rproof *P) {
    do {
        sq_flush(P);
        sq_drain(P);
    } while (P->sq_ln);
}

/* A parked task's frames are reachable: scanned, once. With two sweepers
 * the slot itself (a cache miss) is first read when its block is taken. */
static void scan_slot(rproof *P, rslot *s) {
    size_t i = (size_t)(s - P->slots);
    if (r_claim(P, i, SF_SCANNED)) return;
    if (P->par && P->sq)
        sq_put(P, s);
    else
        r_push_slot(P, s);
    if (P->sflag[i] & SF_HOLDS) r_reached(P, s->lo, s->hi - 1);
}

/* A chunk's mark byte (cmark): */
#define CM_MARKED 1             /* reached */
#define CM_WAITED 2             /* something waits on an object in it */
#define CM_FREE ROOST_HEAP_FREE /* free, or a gap entry: its words are stale, never followed */
#define CM_SCANNED 8            /* scanned, or on a work stack to be */

/* Chunk c holds v (or v lies past its end, unless `in`): mark it if it is
 * neither marked nor free and v lies in it.
 *
 * With two sweepers, marks and fingers are plain (relaxed) loads and
 * stores, with no fence: a sweeper that marks a chunk of the other's
 * ahead of that finger, as the other passes it, may leave it unscanned.
 * r_sweeps catches those after both are done: every chunk marked and not
 * CM_SCANNED is scanned then. Nothing is lost to the race: once set,
 * CM_MARKED stays (every store of the byte during the mark includes it),
 * and a CM_SCANNED lost to a racing store only means a second scan. */
static inline void r_chunk(rproof *P, uintptr_t v, ssize_t c, size_t pos, bool in) {
    /* Marked or free: nothing to do, whether v lies in it or past it. */
    uint8_t cm = __atomic_load_n(&P->cmark[c], __ATOMIC_RELAXED);
    if (!(cm & (CM_MARKED | CM_FREE)) && (in || v <= P->heap->hi[c])) {
        unsigned o = r_owner(P, pos);
        size_t f = o == P->me ? P->myf : __atomic_load_n(&P->fingers[FINGER_STRIDE * o], __ATOMIC_RELAXED);
        P->marked++;
        if (P->whyc) P->whyc[c] = P->at;
        /* Behind its sweep's finger (which may have moved on since v
         * entered the pipeline): scanned now; ahead, the sweep will. */
        if (pos >= f) {
            __atomic_store_n(&P->cmark[c], (uint8_t)(cm | CM_MARKED | CM_SCANNED), __ATOMIC_RELAXED);
            r_push(P, P->heap->lo[c], P->heap->hi[c]);
        } else {
            __atomic_store_n(&P->cmark[c], (uint8_t)(cm | CM_MARKED), __ATOMIC_RELAXED);
        }
        if (cm & CM_WAITED) r_reached(P, P->heap->lo[c], P->heap->hi[c]);
    }
}

/* The pipeline a word of a segment with an index goes through: its index
 * word is prefetched as it enters pa, its chunk's mark as it moves on to
 * pb, and it is marked as it leaves pb. Each load then has PIPE words'
 * work to arrive in, instead of stalling the scan. */
static inline void r_stage_b(rproof *P) {
    rpipe_b *b = &P->pb[P->pb_h];
    P->pb_h = (P->pb_h + 1) % PIPE, P->pb_n--;
    r_chunk(P, b->v, b->c, b->pos, b->in);
}

static inline void r_stage_a(rproof *P) {
    rpipe_a *a = &P->pa[P->pa_h];
    P->pa_h = (P->pa_h + 1) % PIPE, P->pa_n--;
    const roost__heapseg *sg = a->s;
    uintptr_t g = (a->v - sg->lo) >> sg->gshift;
    const uint64_t *w = sg->ix + 2 * (g >> 6);
    uint64_t m = w[0] & (~(uint64_t)0 >> (63 - (g & 63)));
    if (!m && !w[1]) return; /* before the segment's first chunk */
    ssize_t c = (ssize_t)(sg->first + (size_t)w[1] + roost__popcount64(m) - 1);
    /* Where the segment is exact, v lies in c unless it is one of the 7
     * bytes between c's end and the next chunk's start: no look at c's
     * end for the others. */
    bool in = sg->exact && (a->v & 15) <= 8;
    __builtin_prefetch(&P->cmark[c]);
    if (!in) __builtin_prefetch(&P->heap->hi[c]);
    if (P->pb_n == PIPE) r_stage_b(P);
    P->pb[(P->pb_h + P->pb_n++) % PIPE] = (rpipe_b){a->v, c, (size_t)c - sg->first + sg->pos, in};
}

/* Whether a word in the pipeline lies in [lo, hi]. */
static inline bool r_pending(const rproof *P, uintptr_t lo, uintptr_t hi) {
    bool hit = false;
    for (unsigned i = 0; i < P->pa_n; i++) hit |= P->pa[(P->pa_h + i) % PIPE].v - lo <= hi - lo;
    for (unsigned i = 0; i < P->pb_n; i++) hit |= P->pb[(P->pb_h + i) % PIPE].v - lo <= hi - lo;
    return hit;
}

/* Everything in the pipeline, done. */
static void r_flush(rproof *P) {
    while (P->pa_n) r_stage_a(P);
    while (P->pb_n) r_stage_b(P);
}

/* The segment holding v, or NULL: from its 64 MiB slot's entry in segtab,
 * else (several segments share the entry) by a branch-free halving (v
 * falls in one of a few segments at random, which a branchy search would
 * mispredict). */
static inline const roost__heapseg *r_seg(const roost__heapmap *h, uintptr_t v) {
    unsigned e = h->segtab[(v >> 26) & 255];
    const roost__heapseg *b = h->seg;
    if (ROOST_LIKELY(e < ROOST_HEAP_SEGS)) {
        b += e;
    } else {
        size_t n = h->nseg;
        if (e == ROOST_SEGTAB_NONE || !n) return NULL;
        while (n > 1) {
            size_t half = n / 2;
            b = b[half].lo <= v ? b + half : b;
            n -= half;
        }
    }
    return v >= b->lo && v < b->hi ? b : NULL;
}

static inline void r_consider(rproof *P, uintptr_t v) {
    if (v - P->win_lo >= P->win_hi - P->win_lo) {
        /* A tag in the top byte (or top 16 bits): the address under it. */
        if (!(v >> 48)) return;
        v &= ((uintptr_t)1 << 48) - 1;
        if (v - P->win_lo >= P->win_hi - P->win_lo) return;
    }
    const roost__heapseg *sg = r_seg(P->heap, v);
    if (sg && sg->ix && !P->whyc) {
        uintptr_t g = (v - sg->lo) >> sg->gshift;
        __builtin_prefetch(sg->ix + 2 * (g >> 6));
        if (P->pa_n == PIPE) r_stage_a(P);
        P->pa[(P->pa_h + P->pa_n++) % PIPE] = (rpipe_a){v, sg};
        return;
    }
    ssize_t c = sg ? roost__heap_candidate(P->heap, v) : -1;
    if (c >= 0) {
        r_chunk(P, v, c, (size_t)c - sg->first + sg->pos, false);
        return;
    }
    /* Not from a worker thread's own stack: only the scheduler runs there
     * (a task's code runs on the task's stack), and it keeps no pointer
     * into a parked task's frames that it will use again; the stale ones
     * its frames are full of (the last task it switched, the waiter it
     * unlocked) would keep every recently parked task alive. */
    if (c == -2 || v < P->slot_lo || v >= P->slot_hi || P->sched_root) return;
    /* Into a parked task's live frames (not below its stack pointer,
     * where nothing lives until it runs again, less a red zone; not its
     * record, which is the runtime's bookkeeping): what lies there is
     * reachable. */
    size_t i = skey_find(P, v);
    if (i == SIZE_MAX) return;
    const rskey *k = &P->skey[i];
    if (v - k->lo - k->flo >= (uintptr_t)(k->fhi - k->flo)) return;
    if (P->whyc && !(P->sflag[i] & SF_SCANNED)) P->slots[i].why = P->at;
    scan_slot(P, &P->slots[i]);
}

/* Memory known to be readable: a chunk, a task's stack. */
__attribute__((no_sanitize("address", "thread"))) static void scan_direct(rproof *P, uintptr_t lo,
                                                                          uintptr_t hi) {
    if (!P->whyc && !P->trace) {
        /* The common case: most words (zeros, small numbers, code
         * addresses) fail the window test here, without a call. */
        uintptr_t wlo = P->win_lo, wn = P->win_hi - P->win_lo;
        for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
            uintptr_t v = *(volatile uintptr_t *)a;
            if (v - wlo < wn || (v >> 48)) r_consider(P, v);
        }
        return;
    }
    for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
        uintptr_t v = *(volatile uintptr_t *)a;
        if (P->whyc) P->at = a;
        if (ROOST_UNLIKELY(P->trace) && v - ~P->trace < 64) {
            roost__reach_dbg("reach: %lx at %lx (in %lx-%lx)\n", (unsigned long)v, (unsigned long)a,
                             (unsigned long)lo, (unsigned long)hi);
            for (uintptr_t q = a; q < a + 8 * 40 && q + 8 <= hi; q += 8)
                roost__reach_dbg("   +%lx %lx\n", (unsigned long)(q - a), *(unsigned long *)q);
        }
        r_consider(P, v);
    }
}

/* The sweep's scan of a chunk it reached: as scan_direct, except that a
 * word pointing into the chunk the sweep visits next, [nlo, nhi], only
 * says so (the result), and the sweep marks that chunk as it gets there,
 * with no trip through the pipeline. Heaps are full of such words: objects
 * allocated one after another point at each other (a list built by
 * pushing at its head, a tree built depth first). */
__attribute__((no_sanitize("address", "thread"))) static bool
scan_sweep(rproof *P, uintptr_t lo, uintptr_t hi, uintptr_t nlo, uintptr_t nhi) {
    bool next = false;
    uintptr_t wlo = P->win_lo, wn = P->win_hi - P->win_lo, nn = nhi - nlo;
    for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
        uintptr_t v = *(volatile uintptr_t *)a;
        if (v - wlo < wn || (v >> 48)) {
            if (v - nlo <= nn)
                next = true;
            else
                r_consider(P, v);
        }
    }
    return next;
}

/* A root mapping: read through the kernel, a block at a time, so that a
 * page that cannot be read (a guard) is skipped rather than faulted on. */
__attribute__((no_sanitize("address", "thread"))) static void scan_root(rproof *P, uintptr_t lo,
                                                                        uintptr_t hi) {
    const size_t blk = 64 << 10;
    lo = (lo + 7) & ~(uintptr_t)7;
    P->root_bytes += (int64_t)(hi - lo);
    if (P->no_vm_readv) {
        scan_direct(P, lo, hi);
        return;
    }
    for (uintptr_t a = lo; a < hi;) {
        size_t n = hi - a < blk ? hi - a : blk;
        struct iovec l = {P->buf, n}, r = {(void *)a, n};
        ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
        if (got <= 0) {
            if (got < 0 && errno != EFAULT) {
                P->no_vm_readv = true;
                scan_direct(P, a, hi);
                return;
            }
            a = (a + 4096) & ~(uintptr_t)4095; /* an unreadable page */
            continue;
        }
        for (size_t k = 0; k < (size_t)got / 8; k++) {
            if (P->whyc) P->at = a + 8 * k;
            if (ROOST_UNLIKELY(P->trace) && P->buf[k] - ~P->trace < 64)
                roost__reach_dbg("reach: %lx at root %lx (in %lx-%lx)\n", (unsigned long)P->buf[k],
                                 (unsigned long)(a + 8 * k), (unsigned long)lo, (unsigned long)hi);
            r_consider(P, P->buf[k]);
        }
        a += (uintptr_t)got;
    }
}

/* Scan what the work stack holds until it is empty. A chunk's words are
 * rarely in the cache, so ranges pass through a small ring first: each is
 * prefetched when it enters and scanned when it leaves, RING entries
 * later. */
#define RING 16
static void r_drain(rproof *P) {
    rrange ring[RING];
    unsigned head = 0, n = 0;
    for (;;) {
        if (!P->nwork && !n) r_flush(P);
        if ((!P->nwork && !n) || P->why) break;
        while (n < RING && P->nwork) {
            rrange r = P->work[--P->nwork];
            __builtin_prefetch((const void *)r.lo);
            if (r.hi - r.lo > 64) __builtin_prefetch((const void *)(r.lo + 64));
            ring[(head + n++) % RING] = r;
        }
        rrange r = ring[head];
        head = (head + 1) % RING, n--;
        scan_direct(P, r.lo, r.hi);
    }
}

/* The sweep: every chunk marked so far was left where it is, and the
 * chunks are now visited in one pass from the last to the first, each
 * marked one scanned. A chunk marked ahead of its sweep's finger (below
 * it) is scanned when the pass gets there; one behind it is pushed and
 * scanned at once. Most pointers lead to older chunks, lower in a heap,
 * so most chunks are read in one stream of falling addresses instead of
 * at random, which the cache and the TLB prefer. With two sweepers, sweep
 * k visits the blocks r_owner gives it; a chunk either marks is scanned
 * by the one that marks it (behind) or by its owner's pass (ahead), or,
 * where their race lost it, at the end (r_chunk, r_sweeps). */
static void r_sweep(rproof *P, unsigned k) {
    const roost__heapmap *h = P->heap;
    const uintptr_t *clo = h->lo, *chi = h->hi;
    const size_t block = (size_t)1 << P->bshift;
    size_t *finger = &P->fingers[FINGER_STRIDE * k], pub = SIZE_MAX;
    /* Plain scans only: a debug walk records, word by word, why each chunk
     * was marked. */
    const bool shortcut = !P->whyc && !P->trace;
    for (size_t si = h->nseg; si-- > 0 && !P->why;) {
        const roost__heapseg *s = &h->seg[h->order[si]];
        bool hit = false; /* the chunk scanned last pointed into this one (scan_sweep) */
        for (size_t j = s->n; j-- > 0 && !P->why;) {
            size_t f = s->pos + j, c = s->first + j; /* its place in the order, and the chunk */
            if (r_owner(P, f) != k) {
                size_t skip = f & (block - 1); /* on to the end of the block below */
                j = j > skip ? j - skip : 0;
                hit = false;
                continue;
            }
            /* The finger moves a group of FINGER_GROUP chunks at a time, to
             * the group's first chunk: the other sweeper reads it, and a
             * store at every chunk would keep moving its cache line between
             * the two. A chunk of the group marked meanwhile is pushed by
             * its marker and skipped here (CM_SCANNED). */
            if (f < pub) {
                pub = f & ~(size_t)(FINGER_GROUP - 1);
                __atomic_store_n(finger, pub, __ATOMIC_RELAXED);
            }
            P->myf = f;
            uint8_t cm = __atomic_load_n(&P->cmark[c], __ATOMIC_RELAXED);
            /* The chunk 8 ahead, both lines of it: an 80-byte chunk spans
             * two, and asking for its first line only left one line in
             * five to a miss (the sweep 10-15% slower at reach100k). */
            if (j >= 8) {
                __builtin_prefetch((const void *)clo[c - 8]);
                __builtin_prefetch((const void *)(clo[c - 8] + 64));
            }
            /* Not marked yet, but a word still in the pipeline leads to it
             * (most often, the chunk just scanned pointing to the one
             * before it): marked now, as r_chunk would when the word comes
             * out, so that it is scanned in the pass, not pushed later. */
            if (!(cm & (CM_MARKED | CM_FREE)) && (hit || r_pending(P, clo[c], chi[c]))) {
                P->marked++;
                cm |= CM_MARKED;
                if (cm & CM_WAITED) r_reached(P, clo[c], chi[c]);
            }
            hit = false;
            if ((cm & (CM_MARKED | CM_SCANNED)) == CM_MARKED) {
                __atomic_store_n(&P->cmark[c], (uint8_t)(cm | CM_SCANNED), __ATOMIC_RELAXED);
                /* The shortcut to the chunk below needs it to be this
                 * sweep's next, and in use: its end is then past its
                 * start (a free chunk's or a gap's is 0). */
                if (shortcut && j && r_owner(P, f - 1) == k && chi[c - 1] > clo[c - 1])
                    hit = scan_sweep(P, clo[c], chi[c], clo[c - 1], chi[c - 1]);
                else
                    scan_direct(P, clo[c], chi[c]);
            }
            if (P->nwork) r_drain(P);
        }
    }
    /* The words still in the pipeline: whatever they mark is behind. */
    P->myf = 0;
    __atomic_store_n(finger, 0, __ATOMIC_RELAXED);
    r_drain(P);
    if (P->par && P->sq) sq_finish(P);
}

static int r_thread_main(void *arg) {
    rthread *t = arg;
    t->fn(t->arg);
    atomic_store(&t->done, 1);
    roost__futex_wake(&t->done, 1);
    return 0;
}

#define HELPER_STACK ((size_t)8 << 20)

/* Runs fn(arg) on a second thread. False (nothing started) where there is
 * no memory or the clone fails: the caller then runs fn itself. */
bool roost__reach_spawn(rproof *P, rthread *t, int (*fn)(void *), void *arg) {
    /* One stack serves every helper: each is joined before the next. */
    char *stk = P->helper_stack;
    if (!stk) {
        stk = roost__reach_smap(P, HELPER_STACK);
        if (!stk) return false;
        /* A stack: no huge page for its top (roost__reach_smap asks for them), a
         * guard at its bottom. */
        madvise(stk, HELPER_STACK, MADV_NOHUGEPAGE);
        if (mprotect(stk, 4096, PROT_NONE) != 0) return false;
        P->helper_stack = stk;
    }
    t->fn = fn, t->arg = arg;
    atomic_store(&t->done, 0);
    atomic_store(&t->live, 1);
    t->tid = clone(r_thread_main, stk + HELPER_STACK,
                   CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                       CLONE_CHILD_CLEARTID,
                   t, NULL, NULL, &t->live);
    return t->tid >= 0;
}

/* Waits for fn to return, then for the thread to be gone from the stack
 * (the next helper runs on it): a few instructions of clone's exit path. */
void roost__reach_join(rthread *t) {
    while (!atomic_load(&t->done)) roost__futex_wait(&t->done, 0, -1);
    while (atomic_load(&t->live)) sched_yield();
}

/* The second sweeper, with a copy of the proof that shares every table but
 * the work stack. */
static int r_sweeper(void *arg) {
    rproof *Q = arg;
    r_sweep(Q, 1);
    Q->ph[PH_SWEEP1] = r_mono_ns(); /* a vDSO call: nothing of libc's state */
    return 0;
}

static void r_sweeps(rproof *P) {
    rproof *Q = NULL;
    rthread *t = NULL;
    rrange *work = NULL;
    /* Two sweepers where two CPUs can run them and the heap is worth it;
     * one where a debug walk records why each chunk was marked. */
    if (P->ncpu >= 2 && !P->whyc && !P->trace && P->heap->n >= (size_t)4 << P->bshift) {
        Q = roost__reach_smap(P, sizeof *Q + sizeof *t);
        work = roost__reach_table(P, KT_QWORK, P->work_cap * sizeof(rrange));
    }
    bool two = false;
    if (Q && work) {
        t = (rthread *)(Q + 1);
        P->sq = roost__reach_smap(P, (P->nslots + 2) * sizeof *P->sq);
        P->sq_nb = &P->fingers[4 * FINGER_STRIDE], P->sq_rb = &P->fingers[6 * FINGER_STRIDE];
        *P->sq_nb = *P->sq_rb = 0, P->sq_ln = 0;
        P->par = true;
        *Q = *P;
        Q->work = work, Q->nwork = 0, Q->marked = 0, Q->me = 1;
        two = roost__reach_spawn(P, t, r_sweeper, Q);
        P->par = two;
    }
    P->sweepers = two ? 2 : 1;
    r_sweep(P, 0);
    P->ph[PH_SWEEP0] = P->ph[PH_SWEEP1] = r_mono_ns();
    if (two && Q && t) {
        roost__reach_join(t);
        P->ph[PH_SWEEP1] = Q->ph[PH_SWEEP1];
        P->marked += Q->marked;
        if (!P->why) P->why = Q->why;
        P->par = false;
    }
    if (P->sq) {
        sq_drain(P); /* the blocks put in after both sweepers' last look */
        P->sq = NULL;
    }
    /* What a race between the sweepers left marked and unscanned (see
     * r_chunk), now with one sweeper whose finger is at 0: whatever this
     * marks is pushed and scanned at once. */
    P->fingers[0] = P->myf = 0;
    const uint64_t ones = 0x0101010101010101ull;
    for (size_t c = 0; c < P->heap->n && !P->why; c++) {
        /* Eight marks at a time (the map is page aligned): a race is rare,
         * and a byte at a time this pass took 2 ms at reach100k. */
        if (!(c & 7) && c + 8 <= P->heap->n) {
            uint64_t x = *(const uint64_t *)(P->cmark + c);
            _Static_assert(CM_MARKED == 1 && CM_SCANNED == 8, "the bits the word test reads");
            if (!(x & ~(x >> 3) & ones)) {
                c += 7;
                continue;
            }
        }
        if ((P->cmark[c] & (CM_MARKED | CM_SCANNED)) != CM_MARKED) continue;
        P->cmark[c] |= CM_SCANNED;
        P->late++;
        r_push(P, P->heap->lo[c], P->heap->hi[c]);
        r_drain(P);
    }
    P->ph[PH_LATE] = r_mono_ns();
}

/* ROOST_REACH_TIMES: the phases, in ms. */
void roost__reach_times(const rproof *P) {
    if (!roost__reach_times_on) return;
    static const char *const name[PH_N] = {"",      "slots",  "heaps",  "pieces", "index",
                                           "roots", "sweep0", "sweep1", "late"};
    char b[512];
    int n = snprintf(b, sizeof b, "reach: times (ms):");
    int64_t swept = P->ph[PH_SWEEP1] > P->ph[PH_SWEEP0] ? P->ph[PH_SWEEP1] : P->ph[PH_SWEEP0];
    for (int i = 1; i < PH_N && n > 0 && (size_t)n < sizeof b; i++) {
        /* Each phase from the end of the one before, but: the slots (listed
         * and classified) and the heaps are walked side by side from the
         * start (the pieces
         * once both are done), both sweeps start at the roots' end, and
         * the last pass once both are done. */
        int64_t from = P->ph[i - 1];
        if (i == PH_HEAPS) from = P->ph[PH_START];
        if (i == PH_PIECES) from = P->ph[PH_SLOTS] > P->ph[PH_HEAPS] ? P->ph[PH_SLOTS] : P->ph[PH_HEAPS];
        if (i == PH_SWEEP0 || i == PH_SWEEP1) from = P->ph[PH_ROOTS];
        if (i == PH_LATE) from = swept;
        n += snprintf(b + n, sizeof b - (size_t)n, " %s %.1f", name[i], (double)(P->ph[i] - from) / 1e6);
    }
    if (n > 0 && (size_t)n < sizeof b)
        n += snprintf(
            b + n, sizeof b - (size_t)n,
            " (%zu of %zu heaps indexed during the walk, %u sweeper%s, %zu chunks left to the end)\n",
            P->nearly, P->heap->nseg, P->sweepers, P->sweepers == 1 ? "" : "s", P->late);
    if (n > 0 && write(2, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1) < 0) {
    }
}

/* ROOST_REACH_DEBUG: for each parked task found live, the chain of words
 * that reached what it waits on, back to a root. */
void roost__reach_explain(rproof *P) {
    for (size_t i = 0; i < P->nslots; i++) {
        rslot *s = &P->slots[i];
        if (s->role != SLOT_WAIT || !(P->sflag[i] & SF_LIVE)) continue;
        for (size_t r = 0; r < P->nrefs; r++) {
            if (P->refs[r].rslot != i) continue;
            uintptr_t at = P->refs[r].obj;
            roost__reach_dbg("reach: task %llu live: waits on %lx\n", (unsigned long long)s->id,
                             (unsigned long)at);
            for (int depth = 0; depth < 12; depth++) {
                ssize_t c = roost__heap_find(P->heap, at);
                if (c >= 0 && (P->cmark[c] & CM_MARKED)) {
                    at = P->whyc[c];
                    roost__reach_dbg("   in chunk %lx-%lx, marked by the word at %lx\n",
                                     (unsigned long)P->heap->lo[c], (unsigned long)P->heap->hi[c],
                                     (unsigned long)at);
                    continue;
                }
                rslot *o = rslot_find(P, at);
                if (o) {
                    roost__reach_dbg(
                        "   in the stack of task %llu (role %d, live %d, %lx-%lx sp %lx, by %lx = %lx)\n",
                        (unsigned long long)o->id, o->role, (P->sflag[o - P->slots] & SF_LIVE) != 0,
                        (unsigned long)o->lo, (unsigned long)o->hi, (unsigned long)o->t->sp,
                        (unsigned long)o->why, o->why ? *(unsigned long *)o->why : 0ul);
                    for (size_t q = 0; q < P->nroots; q++)
                        if (o->why >= P->roots[q].lo && o->why < P->roots[q].hi)
                            roost__reach_dbg("      the word is in root %lx-%lx sched %d\n",
                                             (unsigned long)P->roots[q].lo, (unsigned long)P->roots[q].hi,
                                             P->roots[q].sched);
                    for (int ti = 0; ti < atomic_load(&roost__reach_stw.nin); ti++) {
                        char pth[64], nm[32] = "";
                        snprintf(pth, sizeof pth, "/proc/self/task/%d/comm", roost__reach_stw.who[ti].tid);
                        int fd = open(pth, O_RDONLY);
                        if (fd >= 0) {
                            ssize_t k = read(fd, nm, sizeof nm - 1);
                            nm[k > 0 ? k - 1 : 0] = 0;
                            close(fd);
                        }
                        roost__reach_dbg(
                            "      thread %d %s sp %lx runtime %d\n", roost__reach_stw.who[ti].tid, nm,
                            (unsigned long)roost__reach_stw.who[ti].sp, roost__reach_stw.who[ti].runtime);
                    }
                    if (o->why) {
                        uintptr_t *w = (uintptr_t *)(o->why & ~(uintptr_t)7);
                        for (int k = -6; k < 10; k++)
                            roost__reach_dbg("      [%d] %lx\n", k, (unsigned long)w[k]);
                    }
                    if (o->role == SLOT_WAIT && !(P->sflag[o - P->slots] & SF_LIVE) && o->why) {
                        at = o->why;
                        continue;
                    }
                } else {
                    roost__reach_dbg("   in a root (or unclassified) at %lx\n", (unsigned long)at);
                    for (size_t q = 0; q < P->nroots; q++)
                        if (at >= P->roots[q].lo && at < P->roots[q].hi)
                            roost__reach_dbg("      root %lx-%lx sched %d\n", (unsigned long)P->roots[q].lo,
                                             (unsigned long)P->roots[q].hi, P->roots[q].sched);
                    for (int ti = 0; ti < atomic_load(&roost__reach_stw.nin); ti++)
                        roost__reach_dbg("      thread %d sp %lx runtime %d\n", roost__reach_stw.who[ti].tid,
                                         (unsigned long)roost__reach_stw.who[ti].sp,
                                         roost__reach_stw.who[ti].runtime);
                    for (int wi = 0; wi < roost__nworkers(); wi++)
                        roost__reach_dbg("      worker %d sched_sp %p\n", wi, roost__worker_at(wi)->sched_sp);
                }
                break;
            }
        }
    }
}

/* The roots first (the running tasks' stacks, the caller's registers,
 * every root mapping), then the sweeps (r_sweeps). */
void roost__reach_mark(rproof *P) {
    sort_refs(P->refs, P->nrefs);
    /* The window every node lies in. */
    P->win_lo = UINTPTR_MAX, P->win_hi = 0;
    if (P->heap->nseg) P->win_lo = P->heap->seg[0].lo, P->win_hi = P->heap->seg[P->heap->nseg - 1].hi;
    if (P->nslots) {
        if (P->slots[0].lo < P->win_lo) P->win_lo = P->slots[0].lo;
        if (P->slots[P->nslots - 1].hi > P->win_hi) P->win_hi = P->slots[P->nslots - 1].hi;
    }
    if (P->win_hi <= P->win_lo) P->win_lo = 1, P->win_hi = 1;
    if (P->nslots) P->slot_lo = P->slots[0].lo, P->slot_hi = P->slots[P->nslots - 1].hi;
    /* Which stacks hold an object some task waits on: only their scans
     * (scan_slot) look for waiters, and any may be scanned from here on. */
    for (size_t i = 0; i < P->nrefs; i++) {
        rslot *s = rslot_find(P, P->refs[i].obj);
        if (s) P->sflag[s - P->slots] |= SF_HOLDS;
    }
    /* Wait objects outside every node (globals, a running task's stack,
     * memory the walk could not classify): reached from the start. */
    for (size_t i = 0; i < P->nrefs; i++) {
        uintptr_t o = P->refs[i].obj;
        ssize_t oc = roost__heap_find(P->heap, o);
        if (oc >= 0) {
            /* A task waits on it: in use, whatever its bin said. */
            P->cmark[oc] = (uint8_t)((P->cmark[oc] & ~CM_FREE) | CM_WAITED);
            continue;
        }
        rslot *s = rslot_find(P, o);
        if (s && s->role == SLOT_WAIT && o >= s->lo && o < s->rec) continue;
        rslot *w = &P->slots[P->refs[i].rslot];
        if (!r_claim(P, P->refs[i].rslot, SF_LIVE)) scan_slot(P, w);
    }
    /* Mark, with the workers' leftovers from their last switch put aside:
     * after_arg and lockbuf keep the locks of the last task a worker
     * parked (a channel's lock is its first word), long after it parked.
     * Whoever still needs them (a worker stopped half-way through a switch)
     * is a root that holds them itself. Restored before anything runs. */
    int nw = roost__nworkers();
    void **saved = roost__reach_smap(P, (size_t)nw * (1 + ROOST_MAX_LOCKS) * sizeof(void *));
    if (!saved) {
        P->why = "out of memory";
        return;
    }
    for (int i = 0; i < nw; i++) {
        roost__worker *w = roost__worker_at(i);
        void **sv = saved + (size_t)i * (1 + ROOST_MAX_LOCKS);
        sv[0] = w->after_arg, w->after_arg = NULL;
        for (int k = 0; k < ROOST_MAX_LOCKS; k++) sv[1 + k] = w->lockbuf[k], w->lockbuf[k] = NULL;
    }
    for (size_t i = 0; i < P->nslots; i++)
        if (P->slots[i].role == SLOT_ROOT) scan_slot(P, &P->slots[i]);
    if (P->regs) scan_direct(P, (uintptr_t)P->regs, (uintptr_t)(P->regs + 16));
    r_drain(P);
    for (size_t i = 0; i < P->nroots && !P->why; i++) {
        P->sched_root = P->roots[i].sched;
        scan_root(P, P->roots[i].lo, P->roots[i].hi);
        P->sched_root = false;
        r_drain(P);
    }
    P->ph[PH_ROOTS] = r_mono_ns();
    if (!P->why) r_sweeps(P);
    for (int i = 0; i < nw; i++) {
        roost__worker *w = roost__worker_at(i);
        void **sv = saved + (size_t)i * (1 + ROOST_MAX_LOCKS);
        w->after_arg = sv[0];
        for (int k = 0; k < ROOST_MAX_LOCKS; k++) w->lockbuf[k] = sv[1 + k];
    }
}
