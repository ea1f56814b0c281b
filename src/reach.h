/* reach.h - what the reachability proof (reach*.c) and the heap walker
 * (heapwalk.c) share. Not installed. */
#ifndef ROOST_REACH_H
#define ROOST_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#pragma GCC visibility push(hidden)

#define ROOST_HEAP_SEGS 4096
#define ROOST_SEGTAB_NONE 0xffff
#define ROOST_SEGTAB_MANY 0xfffe

/* A stretch of address space the walk classified: chunks [first, first + n)
 * of the map lie in [lo, hi). Sorted by address. */
typedef struct roost__heapseg {
    uintptr_t lo, hi;
    size_t first, n;
    /* The index (roost__heap_index_segs): per 64 granules of 1 << gshift bytes
     * from lo, the word of bits saying which granules hold a chunk's start
     * (its lo), then the count of starts before them. The chunk holding v
     * is then the rank of the last start at or before v's granule: one
     * load and a popcount, no search. NULL: the segment's starts do not
     * fit it (not granule aligned, two in one granule); searched instead. */
    uint64_t *ix;
    unsigned gshift;
    /* Every byte from the first chunk's start to hi lies in a chunk of the
     * map (a gap entry for a free one, see roost__heapmap), and each chunk
     * ends 8 bytes short of the next one's start (glibc's heap layout), on
     * 16-byte granules: v, with (v & 15) <= 8, lies in the chunk the index
     * gives it, with no look at its end. */
    bool exact;
    uintptr_t prev; /* an arena's later heap: heap_info.prev, the heap before it */
    size_t pos;     /* where its chunks come in the sweep order (roost__heap_index_prepare) */
    size_t age;     /* heaps of its arena before it */
    size_t ixoff;   /* where its index starts in the words of roost__heapmap.ix */
    bool indexed;   /* its index is built (or it has none: ix NULL) */
} roost__heapseg;

/* The flag of a chunk whose words are stale (free) or of a gap entry:
 * never marked, never followed. The proof's chunk marks share the byte. */
#define ROOST_HEAP_FREE 4

/* Bits set in x, with no branch (no popcnt instruction assumed: the build
 * targets plain x86-64). */
static inline unsigned roost__popcount64(uint64_t x) {
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* The chunks in use, sorted by address: user part [lo[i], hi[i]]. Among
 * them, in the heaps the walk went through, gap entries: a free chunk
 * (free to the PREV_INUSE bit, or in a tcache bin) and what lies past a
 * heap's last chunk, each from its user part on, with hi 0 (nothing lies
 * in it) and flags[i] |= ROOST_HEAP_FREE. They make the segment exact (see
 * roost__heapseg). */
typedef struct roost__heapmap {
    uintptr_t *lo, *hi;
    size_t n, cap;
    size_t ngap; /* gap entries among the n */
    /* cap bytes, each set as its entry is added: ROOST_HEAP_FREE marks a
     * gap entry (the proof's chunk marks share the byte) */
    uint8_t *flags;
    roost__heapseg seg[ROOST_HEAP_SEGS];
    size_t nseg;
    /* The segment for an address, by its 64 MiB slot ((v >> 26) & 255):
     * SEGTAB_NONE: no segment meets a slot of that bucket; SEGTAB_MANY:
     * several do, searched. Built by roost__heap_index_prepare. */
    uint16_t segtab[256];
    /* The segments from the oldest to the newest (an arena's heaps in the
     * order it took them, each after its prev; the others by address):
     * the order the sweep takes them in, backwards, chunk positions
     * counting up along it (seg[].pos). Built by roost__heap_index_prepare. */
    uint16_t order[ROOST_HEAP_SEGS];
    uintptr_t tcache_key;    /* see roost__heap_tcache_key; 0: none */
    uintptr_t hinfo, mstate; /* sizeof heap_info; offset of the first chunk after malloc_state */
    size_t bytes;            /* bytes of chunks in use */
    size_t tcache_skipped;
    uintptr_t arena[64]; /* malloc_states met at the head of an arena's first heap */
    size_t narena;
    uintptr_t main_top; /* the main arena's top chunk */
    uintptr_t last_top; /* the top chunk the last walk ended on (here, in the
                           proof's own memory, not a global: it would be a root) */
    bool tracked;       /* filled from heaptrack.c's table: no glibc chunk to look for */
    /* Memory for the segments' indexes, mapped by the caller: ixcap words,
     * ixused of them handed out. */
    uint64_t *ix;
    size_t ixcap, ixused;
} roost__heapmap;

/* Walk a heap mapping [lo, hi): the main arena's (is_brk_heap), or one of
 * another arena (64 MiB aligned). 1: walked; 0: not a heap; -1: a heap
 * that is not well formed (caught half-way through a change). */
int roost__heap_region(roost__heapmap *h, uintptr_t lo, uintptr_t hi, bool is_brk_heap);
/* Mmapped chunks laid end to end from lo: the bytes they cover. */
size_t roost__heap_mmapped(roost__heapmap *h, uintptr_t lo, uintptr_t hi,
                           bool (*rd_safe)(uintptr_t a, uintptr_t *out));
uintptr_t roost__heap_tcache_key(void);
/* The chunks sitting in the arenas' fast bins (in use to the PREV_INUSE
 * bit, free to the program): free[k] |= 4 for each. Every arena is found
 * from those met in the walk (their ring of next pointers leads to the
 * main arena too); a bin whose chain does not check out is left as it is.
 * Returns how many chunks were flagged. Once the index is built. */
size_t roost__heap_fastbins(const roost__heapmap *h, uint8_t *flags,
                            bool (*rd_safe)(uintptr_t a, uintptr_t *out));
/* The chunk holding address v (its user part, one past its end included),
 * or -1. */
ssize_t roost__heap_find(const roost__heapmap *h, uintptr_t v);
/* The last chunk starting at or before v in v's segment (v may lie past
 * its end); -2: v is in a segment, before its first chunk; -1: in none. */
ssize_t roost__heap_candidate(const roost__heapmap *h, uintptr_t v);
/* The words of h->ix the segments not indexed yet need (each segment's
 * are cleared as it is indexed). */
size_t roost__heap_index_size(const roost__heapmap *h);
/* Segment i's index, built as soon as the walk has added it (the walk may
 * still be adding others: nothing but seg[i] and its chunks is read), if
 * h->ix has room: whether it had. */
bool roost__heap_index_early(roost__heapmap *h, size_t i);
/* The rest is built once every segment is in and sorted, in two parts, the
 * second of which two threads may share: the sweep order, the table of
 * segments and where each index goes in h->ix (prepare), then each
 * segment's index, independent of the others' (segs, for seg[from] to
 * seg[to - 1]; those indexed already are left as they are). */
void roost__heap_index_prepare(roost__heapmap *h);
void roost__heap_index_segs(roost__heapmap *h, size_t from, size_t to);

#pragma GCC visibility pop

#endif
