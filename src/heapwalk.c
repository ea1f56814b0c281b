/* heapwalk.c - glibc's malloc heap, chunk by chunk, for the reachability
 * proof (reach.c), with every other thread stopped.
 *
 * The one idea: glibc lays every heap out as a chain of chunks, each headed
 * by its size, so a heap can be walked from its first chunk to its end, and
 * a chunk is in use when the next chunk's PREV_INUSE bit says so. There are
 * three kinds of place to walk (glibc's malloc/malloc.c and arena.c):
 *
 *   - the main arena: the [heap] mapping, from its start to the break
 *     (sbrk(0)), where its top chunk ends;
 *   - the other arenas: heaps of up to HEAP_MAX_SIZE (64 MiB on 64-bit
 *     systems), each aligned to that size and headed by a heap_info
 *     (ar_ptr, prev, size, ...); an arena's first heap holds the arena's
 *     malloc_state after it. A heap ends at heap_info.size, or at the
 *     fenceposts (a 16-byte chunk, then a 0-sized one) left when the arena
 *     moved on to a new heap;
 *   - chunks of their own mapping (mmapped: IS_MMAPPED in the size word),
 *     one mapping each, though the kernel may show neighbours as one line.
 *
 * Nothing here is trusted: the layout constants that differ between glibc
 * versions (sizeof heap_info, sizeof malloc_state) are found by requiring
 * that a walk lands exactly on the heap's end, and a walk that does not
 * (another allocator, a heap caught half-way through a split by a thread
 * stopped inside malloc) fails: the caller then proves nothing. A chunk
 * freed into a tcache bin is still "in use" to the PREV_INUSE bit; it is
 * told apart by the key glibc writes into its second word (learnt from a
 * chunk freed on purpose), and left out of the graph: its words are stale.
 * A chunk in a fast bin is "in use" too: it is found by following each
 * arena's fast-bin chains (roost__heap_fastbins), every link checked
 * against the walk, and left out likewise.
 *
 * The tables go into memory the caller maps (never malloc: a stopped
 * thread may hold an arena lock).
 */
#include "internal.h"
#include "reach.h"
#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_HDR 16
#define MIN_CHUNK 32
#define HEAP_MAX ((uintptr_t)64 << 20)
#define PREV_INUSE 1u
#define IS_MMAPPED 2u
#define SIZE_BITS 7u

/* Reads of the heap: every thread but the caller is stopped, and these
 * addresses lie in mappings /proc/self/maps listed as readable. */
#define PREFETCH_AHEAD 1024
__attribute__((no_sanitize("address", "thread"))) static inline uintptr_t rd(uintptr_t a) {
    return *(volatile const uintptr_t *)a;
}

/* Walk the chain [first, end) (end: where the last chunk must end; 0: the
 * heap ends at fenceposts or at limit). Adds the in-use chunks to h when
 * `add`, and gap entries for the rest (see roost__heapmap); returns false
 * if the chain is not a well-formed heap. Each chunk's size word is read
 * once (it is the next one's PREV_INUSE too), and the table's counts are
 * kept in locals: the stores into lo[] and hi[] could alias h's fields. */
__attribute__((no_sanitize("address", "thread"))) static bool
hw_walk(roost__heapmap *h, uintptr_t first, uintptr_t end, uintptr_t limit, bool add) {
    uintptr_t c = first, tail = 0; /* tail: where the last chunk ends, short of limit */
    uintptr_t *lo = h->lo, *hi = h->hi, key = h->tcache_key;
    uint8_t *flags = h->flags;
    size_t n0 = h->n, n = n0, cap = h->cap, gaps = 0, tc = 0, bytes = 0;
    /* Nothing lies before a heap's first chunk: its PREV_INUSE is set. */
    if (c + 16 > limit) return false;
    uintptr_t w = rd(c + 8); /* c's size word */
    if (!(w & PREV_INUSE)) return false;
    while (c < limit) {
        uintptr_t sz = w & ~(uintptr_t)SIZE_BITS;
        if (sz == 0) { /* fencepost end */
            if (c == first) goto bad;
            tail = c;
            break;
        }
        if (sz == CHUNK_HDR) { /* fencepost pair */
            if (c + CHUNK_HDR + 16 > limit || (rd(c + CHUNK_HDR + 8) & ~(uintptr_t)SIZE_BITS) != 0) goto bad;
            tail = c;
            c += CHUNK_HDR;
            w = 0;
            break;
        }
        if (sz < MIN_CHUNK || (sz & 15) || sz > limit - c) goto bad;
        uintptr_t next = c + sz;
        if (next == end || next == limit) { /* c is the top chunk */
            h->last_top = tail = c;
            break;
        }
        if (next + 16 > limit) goto bad;
        /* Each header's address comes from the one before: the walk is a
         * chain of loads, as slow as the memory unless the lines ahead
         * were asked for already. A heap is contiguous, so they can be. */
        if (next + PREFETCH_AHEAD < limit) __builtin_prefetch((const void *)(next + PREFETCH_AHEAD));
        uintptr_t nw = rd(next + 8);
        if (add) {
            if (n == cap) goto bad;
            lo[n] = c + CHUNK_HDR;
            /* In use: the next prev_size is ours. A tcache entry (its key
             * word, which allocation clears) is free. */
            if ((nw & PREV_INUSE) && !(key && rd(c + 24) == key)) {
                hi[n] = next + 8, flags[n] = 0; /* the table may hold an earlier proof's */
                bytes += sz;
            } else {
                hi[n] = 0, flags[n] = ROOST_HEAP_FREE, gaps++;
                tc += nw & PREV_INUSE;
            }
            n++;
        }
        c = next, w = nw;
    }
    if (end && c + (w & ~(uintptr_t)SIZE_BITS) != end && c != end) goto bad;
    /* Past the last chunk (the top chunk, the fenceposts): nothing. */
    if (add && tail && tail + CHUNK_HDR < limit) {
        if (n == cap) goto bad;
        lo[n] = tail + CHUNK_HDR, hi[n] = 0, flags[n] = ROOST_HEAP_FREE, gaps++, n++;
    }
    h->n = n, h->ngap += gaps, h->tcache_skipped += tc, h->bytes += bytes;
    return true;
bad:
    for (size_t i = n0; i < n; i++) flags[i] = 0;
    return false;
}

/* exact: a heap walked chunk by chunk, gaps and all, or a chunk of its own
 * mapping (see roost__heapseg). */
static bool roost__heap_seg_add(roost__heapmap *h, uintptr_t lo, uintptr_t hi, size_t first, bool exact,
                                uintptr_t prev) {
    if (h->nseg == ROOST_HEAP_SEGS) return false;
    h->seg[h->nseg] = (roost__heapseg){lo, hi, first, h->n - first, NULL, 0, exact, prev, 0, 0, 0, false};
    /* Published: another thread may index it while the walk goes on
     * (roost__heap_index_early). */
    __atomic_store_n(&h->nseg, h->nseg + 1, __ATOMIC_RELEASE);
    return true;
}

/* The main arena, [lo, brk). */
static bool walk_main(roost__heapmap *h, uintptr_t lo, uintptr_t hi) {
    uintptr_t brk = (uintptr_t)sbrk(0);
    if (brk <= lo || brk > hi) return false;
    size_t first = h->n;
    if (!hw_walk(h, lo, brk, brk, true)) return false;
    h->main_top = h->last_top;
    return roost__heap_seg_add(h, lo, brk, first, true, 0);
}

/* A non-main heap at base (64 MiB aligned), readable up to hi. */
__attribute__((no_sanitize("address", "thread"))) static int walk_arena_heap(roost__heapmap *h,
                                                                             uintptr_t base, uintptr_t hi) {
    uintptr_t ar = rd(base), prev = rd(base + 8), size = rd(base + 16);
    if (size < 4096 || size > HEAP_MAX || base + size > hi) return 0;
    uintptr_t end = base + size;
    size_t first = h->n;
    /* A later heap points at the heap before it and at its arena, which
     * lies in the arena's first heap, right after that heap's heap_info. */
    if (prev && ((prev & (HEAP_MAX - 1)) || (((ar - 32) & (HEAP_MAX - 1)) && ((ar - 48) & (HEAP_MAX - 1)))))
        return 0;
    if (!prev && !(ar > base && ar < base + 128)) return 0;
    /* It has the shape of a heap: from here on, a walk that fails means a
     * heap caught in the middle of a change (-1), not something else. */
    if (ar > base && ar < base + 128) {
        /* The arena's first heap: heap_info, then malloc_state, then chunks. */
        if (!h->hinfo) h->hinfo = ar - base;
        if (h->narena < sizeof h->arena / sizeof h->arena[0]) h->arena[h->narena++] = ar;
        if (h->mstate) {
            if (!hw_walk(h, (ar + h->mstate + 15) & ~(uintptr_t)15, 0, end, true)) return -1;
        } else {
            bool found = false;
            /* sizeof(struct malloc_state) on 64-bit glibc 2.26 and later
             * first, then anything near it. */
            uintptr_t c0 = (ar + 2200 + 15) & ~(uintptr_t)15;
            if (hw_walk(h, c0, 0, end, false) && hw_walk(h, c0, 0, end, true)) h->mstate = 2200, found = true;
            for (uintptr_t off = 1024; off <= 4096 && !found; off += 8) {
                uintptr_t c = (ar + off + 15) & ~(uintptr_t)15;
                if (hw_walk(h, c, 0, end, false) && hw_walk(h, c, 0, end, true))
                    h->mstate = off, found = true;
            }
            if (!found) return -1;
        }
    } else {
        if (!prev || !h->hinfo) {
            /* A later heap met before any first heap: try both layouts. */
            uintptr_t c32 = base + 32, c48 = base + 48;
            if (hw_walk(h, c48, 0, end, false))
                h->hinfo = 48;
            else if (hw_walk(h, c32, 0, end, false))
                h->hinfo = 32;
            else
                return -1;
        }
        if (!hw_walk(h, base + h->hinfo, 0, end, true)) return -1;
    }
    return roost__heap_seg_add(h, base, end, first, true, prev) ? 1 : -1;
}

/* Chunks of their own mapping laid end to end in [lo, hi): how many bytes
 * from lo are such chunks (read through rd_safe: the region is not known
 * to be readable throughout). */
size_t roost__heap_mmapped(roost__heapmap *h, uintptr_t lo, uintptr_t hi,
                           bool (*rd_safe)(uintptr_t a, uintptr_t *out)) {
    uintptr_t c = lo;
    long page = sysconf(_SC_PAGESIZE);
    if (h->tracked) return 0;
    while (c + 16 <= hi) {
        uintptr_t w0, w1;
        if (!rd_safe(c, &w0) || !rd_safe(c + 8, &w1)) break;
        uintptr_t sz = w1 & ~(uintptr_t)SIZE_BITS;
        if (w0 != 0 || (w1 & SIZE_BITS) != IS_MMAPPED || sz == 0 || sz % (uintptr_t)page || sz > hi - c ||
            h->n == h->cap || h->nseg == ROOST_HEAP_SEGS)
            break;
        h->lo[h->n] = c + CHUNK_HDR;
        h->hi[h->n] = c + sz;
        h->flags[h->n] = 0;
        h->n++;
        h->bytes += sz;
        roost__heap_seg_add(h, c, c + sz, h->n - 1, true, 0);
        c += sz;
    }
    return c - lo;
}

int roost__heap_region(roost__heapmap *h, uintptr_t lo, uintptr_t hi, bool is_brk_heap) {
    if (is_brk_heap) return walk_main(h, lo, hi) ? 1 : -1;
    if (lo & (HEAP_MAX - 1)) return 0;
    return walk_arena_heap(h, lo, hi);
}

/* Learn the key glibc writes into a chunk freed to a tcache bin (random per
 * process): free two chunks of two sizes and read it back from both. Run
 * before the stop (it calls malloc). 0 if they disagree (a bin was full, or
 * this glibc has no such key): then no chunk is left out for it. Reading
 * freed memory is what this is for: kept from the sanitizers (which never
 * get here: their malloc is not glibc's). */
__attribute__((no_sanitize("address", "thread"))) uintptr_t roost__heap_tcache_key(void) {
    void *a = malloc(40), *b = malloc(72);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    free(a);
    free(b);
    __asm__ volatile("" ::: "memory");
    uintptr_t ka = rd(pa + 8), kb = rd(pb + 8);
    return ka == kb && ka ? ka : 0;
}

ssize_t roost__heap_find(const roost__heapmap *h, uintptr_t v) {
    ssize_t a = roost__heap_candidate(h, v);
    return a >= 0 && v <= h->hi[a] ? a : -1;
}

ssize_t roost__heap_candidate(const roost__heapmap *h, uintptr_t v) {
    size_t lo = 0, hi = h->nseg;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (h->seg[m].hi <= v)
            lo = m + 1;
        else
            hi = m;
    }
    if (lo == h->nseg || v < h->seg[lo].lo) return -1;
    const roost__heapseg *s = &h->seg[lo];
    size_t a;
    if (ROOST_LIKELY(s->ix != NULL)) {
        uintptr_t g = (v - s->lo) >> s->gshift;
        const uint64_t *w = s->ix + 2 * (g >> 6);
        size_t rank = (size_t)w[1] + roost__popcount64(w[0] & (~(uint64_t)0 >> (63 - (g & 63))));
        if (!rank) return -2;
        a = s->first + rank - 1;
    } else {
        size_t b = s->first + s->n; /* the last chunk with lo <= v */
        a = s->first;
        while (a < b) {
            size_t m = (a + b) / 2;
            if (h->lo[m] <= v)
                a = m + 1;
            else
                b = m;
        }
        if (a == s->first) return -2;
        a--;
    }
    return (ssize_t)a;
}

/* The granule a segment's index can use: 16 bytes, else 8, else none (0). */
static unsigned seg_gshift(const roost__heapmap *h, const roost__heapseg *s) {
    for (unsigned sh = 4; sh >= 3; sh--) {
        uintptr_t prev = 0;
        bool ok = true;
        for (size_t j = 0; j < s->n && ok; j++) {
            uintptr_t g = (h->lo[s->first + j] - s->lo) >> sh;
            ok = !(h->lo[s->first + j] & (((uintptr_t)1 << sh) - 1)) && (j == 0 || g != prev);
            prev = g;
        }
        if (ok) return sh;
    }
    return 0;
}

static size_t seg_words(const roost__heapseg *s, unsigned sh) {
    return 2 * ((((s->hi - s->lo) >> sh) >> 6) + 1);
}

size_t roost__heap_index_size(const roost__heapmap *h) {
    size_t n = 0;
    for (size_t i = 0; i < h->nseg; i++)
        if (!h->seg[i].indexed) n += seg_words(&h->seg[i], 3);
    return n;
}

/* How many heaps came before segment i in its arena (following prev from
 * one heap to the one before it, among the segments). */
static size_t seg_age(const roost__heapmap *h, size_t i) {
    size_t d = 0;
    for (uintptr_t p = h->seg[i].prev; p && d < h->nseg; d++) {
        size_t a = 0, b = h->nseg; /* the segment that starts at p */
        while (a < b) {
            size_t m = (a + b) / 2;
            if (h->seg[m].lo < p)
                a = m + 1;
            else
                b = m;
        }
        if (a == h->nseg || h->seg[a].lo != p) break;
        p = h->seg[a].prev;
    }
    return d;
}

/* The sweep order (see roost__heapmap.order): by age, then address. */
static void seg_order(roost__heapmap *h) {
    size_t maxage = 0;
    for (size_t i = 0; i < h->nseg; i++) {
        h->seg[i].age = seg_age(h, i);
        if (h->seg[i].age > maxage) maxage = h->seg[i].age;
    }
    size_t k = 0, pos = 0;
    for (size_t a = 0; a <= maxage; a++)
        for (size_t i = 0; i < h->nseg; i++)
            if (h->seg[i].age == a) h->order[k++] = (uint16_t)i, h->seg[i].pos = pos, pos += h->seg[i].n;
}

void roost__heap_index_prepare(roost__heapmap *h) {
    seg_order(h);
    for (size_t b = 0; b < 256; b++) h->segtab[b] = ROOST_SEGTAB_NONE;
    for (size_t i = 0; i < h->nseg; i++) {
        roost__heapseg *s = &h->seg[i];
        for (uintptr_t slot = s->lo >> 26, k = 0; slot <= (s->hi - 1) >> 26 && k < 256; slot++, k++) {
            uint16_t *e = &h->segtab[slot & 255];
            *e = *e == ROOST_SEGTAB_NONE || *e == i ? (uint16_t)i : ROOST_SEGTAB_MANY;
        }
        if (s->indexed) continue;
        s->ix = NULL, s->ixoff = h->ixused;
        h->ixused += seg_words(s, 3);
    }
}

bool roost__heap_index_early(roost__heapmap *h, size_t i) {
    roost__heapseg *s = &h->seg[i];
    size_t need = seg_words(s, 3);
    if (!h->ix || h->ixcap - h->ixused < need) return false;
    s->ixoff = h->ixused;
    h->ixused += need;
    roost__heap_index_segs(h, i, i + 1);
    return true;
}

void roost__heap_index_segs(roost__heapmap *h, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        roost__heapseg *s = &h->seg[i];
        if (s->indexed) continue;
        s->indexed = true;
        /* A walked heap's chunks start 16-byte aligned, 32 bytes apart
         * at least: no need to check. */
        unsigned sh = !s->n ? 0 : s->exact && !(s->lo & 15) ? 4 : seg_gshift(h, s);
        s->gshift = sh;
        s->exact = s->exact && sh == 4 && !(s->lo & 15);
        if (!sh) continue;
        uint64_t *ix = h->ix + s->ixoff;
        size_t nw = seg_words(s, sh);
        memset(ix, 0, nw * sizeof *ix); /* h->ix may be a kept table (reach_stop.c) */
        /* Chunks come in address order, a dozen or so to a word: the
         * word's bits gather in a register, stored once it is done. */
        const uintptr_t *lo = h->lo + s->first, base = s->lo;
        size_t cur = 0;
        uint64_t bits = 0;
        for (size_t j = 0, n = s->n; j < n; j++) {
            uintptr_t g = (lo[j] - base) >> sh;
            if (g >> 6 != cur) {
                ix[2 * cur] |= bits;
                cur = g >> 6, bits = 0;
            }
            bits |= (uint64_t)1 << (g & 63);
        }
        ix[2 * cur] |= bits;
        uint64_t cum = 0;
        for (size_t w = 0; w < nw; w += 2) {
            ix[w + 1] = cum;
            cum += roost__popcount64(ix[w]);
        }
        s->ix = ix;
    }
}

/* malloc_state on 64-bit glibc 2.26 and later: mutex, flags,
 * have_fastchunks, then fastbinsY[10], top, last_remainder, bins, binmap,
 * next. What is checked before any chunk is left out: the main arena's top
 * is the top chunk its heap's walk ended on, and every link of a chain is
 * the start of a chunk the walk found in use, of the bin's size. */
#define MS_FASTBINS 16
#define MS_NFAST 10
#define MS_TOP 96
#define MS_NEXT 2160

/* The chunk whose header is at c, if the walk found it in use, else -1. */
static ssize_t chunk_at(const roost__heapmap *h, uintptr_t c) {
    ssize_t k = roost__heap_find(h, c + CHUNK_HDR);
    return k >= 0 && h->lo[k] == c + CHUNK_HDR ? k : -1;
}

size_t roost__heap_fastbins(const roost__heapmap *h, uint8_t *flags,
                            bool (*rd_safe)(uintptr_t a, uintptr_t *out)) {
    uintptr_t ring[80];
    size_t nring = 0, n = 0;
    if (!h->narena) return 0;
    /* Safe-linking (glibc 2.32 and later) stores a link XOR-ed with its
     * own address >> 12; older ones store it plain. */
    const char *v = gnu_get_libc_version(); /* "2.36": parsed by hand (no locale, no lock) */
    unsigned maj = 0, min = 0;
    for (; *v >= '0' && *v <= '9'; v++) maj = maj * 10 + (unsigned)(*v - '0');
    if (*v++ != '.') return 0;
    for (; *v >= '0' && *v <= '9'; v++) min = min * 10 + (unsigned)(*v - '0');
    bool safe_linking = maj > 2 || (maj == 2 && min >= 32);
    /* The ring of arenas, from the first one met: the main arena is in it. */
    uintptr_t a = h->arena[0];
    for (size_t i = 0; i < sizeof ring / sizeof ring[0]; i++) {
        ring[nring++] = a;
        uintptr_t nx;
        if (!rd_safe(a + MS_NEXT, &nx) || !nx) return 0;
        if (nx == h->arena[0]) break;
        a = nx;
    }
    for (size_t r = 0; r < nring; r++) {
        uintptr_t ar = ring[r], top;
        bool known = false;
        for (size_t i = 0; i < h->narena && !known; i++) known = h->arena[i] == ar;
        if (!rd_safe(ar + MS_TOP, &top)) continue;
        if (!known && !(h->main_top && top == h->main_top)) continue; /* not laid out as assumed */
        for (int b = 0; b < MS_NFAST; b++) {
            uintptr_t c, sz = (uintptr_t)(b + 2) * 16;
            if (!rd_safe(ar + MS_FASTBINS + 8 * (uintptr_t)b, &c)) break;
            for (size_t steps = 0; c && steps < h->n; steps++) {
                /* A chunk the walk found: its words are readable directly. */
                ssize_t k = chunk_at(h, c);
                if (k < 0 || (rd(c + 8) & ~(uintptr_t)SIZE_BITS) != sz) break;
                uintptr_t fd = rd(c + CHUNK_HDR);
                if (!(flags[k] & ROOST_HEAP_FREE)) flags[k] |= ROOST_HEAP_FREE, n++;
                c = safe_linking ? fd ^ ((c + CHUNK_HDR) >> 12) : fd;
            }
        }
    }
    return n;
}
