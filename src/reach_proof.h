/* reach_proof.h - what the files of the reachability proof share: the
 * proof's state (rproof), the task slots as the proof copies them, and the
 * calls each file makes of the others. Not installed.
 *
 *   reach.c        the call (roost_leak_prove), the snapshot's process, the
 *                  report, waking, the periodic runner
 *   reach_stop.c   stopping every other thread, and what a stopped world
 *                  allows (memory mapped for the proof, reads through the
 *                  kernel, debug output)
 *   reach_walk.c   in the snapshot: the mappings classified, the heaps
 *                  walked and indexed, the roots (roost__reach_prove_stopped)
 *   reach_slots.c  the task slots listed and classified (root, parked on
 *                  what, free)
 *   reach_mark.c   the mark: roots, then the sweeps over the heaps
 *   reach_snap.c   the task stacks' part of the snapshot, left out of the
 *                  fork and read through the kernel, kept as they were at
 *                  the stop by a userfaultfd write-protect
 *   heapwalk.c     glibc's heaps, chunk by chunk, and their index (reach.h)
 */
#ifndef ROOST_REACH_PROOF_H
#define ROOST_REACH_PROOF_H

#include "internal.h"
#include "reach.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#pragma GCC visibility push(hidden)

#define MAX_THREADS 4096
#define MALLOC_UNKNOWN "malloc is not glibc's, or its heap could not be walked"
#define HEAP_ALIGN ((uintptr_t)64 << 20) /* glibc's HEAP_MAX_SIZE on 64-bit systems */
#define RED_ZONE \
    0 /* a parked task saved its stack pointer inside roost__switch: nothing of its lives below */
#define MAX_SCRATCH 32
/* log2 of the chunks in a block of the sweep (r_owner in reach_mark.c);
 * ROOST_REACH_SWEEP_BLOCK sets it. */
#define SWEEP_BLOCK_SHIFT 12

/* The stop (reach_stop.c): its generation, and what each stopped thread
 * said of itself. */
typedef struct {
    _Atomic uint32_t gen; /* odd while the world is stopped */
    _Atomic int nin;      /* handlers that checked in this stop */
    _Atomic int inside;   /* handlers not yet returned (of this stop or the last) */
    struct {
        _Atomic int tid;
        uintptr_t sp;
        bool runtime;             /* roost__tls_runtime */
        uintptr_t self;           /* pthread_self(): its thread control block */
        uintptr_t alt_lo, alt_hi; /* its alternate signal stack; 0, 0: none */
        uintptr_t fp_lo, fp_hi;   /* its vector registers' copy, left out (stop_handler); 0, 0: none */
    } who[MAX_THREADS];
    pthread_mutex_t one; /* one proof at a time */
    bool installed;
    _Atomic int64_t last_ns; /* the r_periodic runner's last proof, for tests */
} roost__reach_stw_t;

extern roost__reach_stw_t roost__reach_stw;

/* Options, read at each proof (reach.c) from the environment:
 * ROOST_REACH_DEBUG (-1: not read yet), ROOST_REACH_TRACE (kept as
 * ~address: not a pointer), ROOST_REACH_TIMES. */
extern int roost__reach_debug;
extern uintptr_t roost__reach_trace;
extern bool roost__reach_times_on;

/* A proof's phases: rproof.ph holds when each ended (ROOST_REACH_TIMES). */
enum { PH_START, PH_SLOTS, PH_HEAPS, PH_PIECES, PH_INDEX, PH_ROOTS, PH_SWEEP0, PH_SWEEP1, PH_LATE, PH_N };

static inline int64_t r_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * ROOST_S + ts.tv_nsec;
}

typedef struct rslot {
    roost__task *t;
    uintptr_t base;        /* the slot's mapping: [base, hi), its guard [base, lo) */
    uintptr_t lo, rec, hi; /* stack [lo, rec), the record and bookkeeping [rec, hi) */
    uintptr_t from;        /* where a scan of it starts */
    uintptr_t copy;        /* in the snapshot's stack range: where [from, hi) was read to; 0: read in place */
    bool remote;           /* in that range: read through roost__reach_snap_read */
    uint64_t id;
    uint32_t seq;
    uintptr_t why; /* (debug) the word that pointed into its stack */
    uint8_t role;  /* SLOT_* */
    int reason;
    const void *obj;
    /* The record's words classify_slots reads, copied as the slot is
     * listed: each record lies on a page of its own, read once. */
    int state, sel_n;
    bool cancellable;
    uintptr_t sp;
    const void *wait_obj;
    const roost_case_t *sel_cases;
    roost_ctx_t *wait_ctx;
} rslot;
enum { SLOT_DEAD = 0, SLOT_ROOT, SLOT_WAIT };

/* What the mark needs of a slot most often, kept apart from rslot (a
 * hundred and more bytes, read at random: a cache miss each time): where
 * it starts, and which of its words are a parked task's live frames, as
 * offsets from lo (none for any other slot). A word that points into the
 * stack region is looked up here, and most go no further (they point into
 * a record, or into a stack already scanned). skey[i] and sflag[i] are
 * slots[i]'s. */
typedef struct {
    uintptr_t lo;
    uint32_t flo, fhi; /* [lo + flo, lo + fhi): from a red zone below its stack pointer to its record */
} rskey;
#define SF_SCANNED 1 /* its frames are scanned, or queued to be */
#define SF_LIVE 2    /* what it waits on is reached: it is not leaked */
#define SF_HOLDS 4   /* some task waits on an object in its stack */

typedef struct {
    uintptr_t obj;
    uint32_t rslot;
} r_waitref;

typedef struct {
    uintptr_t lo, hi;
    bool sched; /* a worker thread's own stack: the scheduler's frames */
} rrange;

#define SQ_BLOCK 64
typedef struct {
    uint32_t n; /* entries in e; 0 until they are written */
    uint32_t e[SQ_BLOCK];
} rsq_block;

#define PIPE 8
/* The sweepers' fingers lie a cache line pair apart in a page of their
 * own (each sweeper stores its own and reads the other's). */
#define FINGER_STRIDE 16
typedef struct {
    uintptr_t v;
    const roost__heapseg *s;
} rpipe_a;
typedef struct {
    uintptr_t v;
    ssize_t c;
    size_t pos; /* c's place in the sweep order */
    bool in;    /* v is known to lie in c (not past its end) */
} rpipe_b;

typedef struct rproof {
    struct {
        void *p;
        size_t len;
    } scratch[MAX_SCRATCH];
    int nscratch;
    roost__heapmap *heap;
    uint8_t *cmark;
    rslot *slots;
    rskey *skey;
    uint8_t *sflag; /* SF_* */
    size_t nslots, slots_cap;
    bool slots_full;       /* more slots than slots_cap: no proof */
    bool refs_full;        /* more wait objects than refs_cap: no proof */
    bool early_index;      /* the lister indexes each heap the walk finishes (roost__reach_list_slots) */
    bool walked;           /* the walk is over (early_index) */
    size_t nearly;         /* heaps the lister indexed during the walk */
    struct rpiece *pieces; /* memory to classify once the slots are known */
    size_t npieces, pieces_cap;
    r_waitref *refs;
    size_t nrefs, refs_cap;
    rrange *roots; /* mappings (or parts) read as roots */
    size_t nroots, roots_cap;
    rrange *work;
    size_t nwork, work_cap;
    uintptr_t *sps; /* stack pointers of threads, workers' scheduler loops */
    size_t nsps;
    rrange *pool; /* the stack pool's memory, sorted, adjacent ranges merged */
    size_t npool;
    rrange *alts; /* the threads' alternate signal stacks */
    size_t nalts;
    rrange *fps; /* idle threads' vector registers, in their stop's frame: not roots */
    size_t nfps;
    uintptr_t win_lo, win_hi; /* every chunk and slot lies in [win_lo, win_hi) */
    char *maps;
    size_t maps_len;
    uintptr_t *buf; /* for reads through the kernel */
    const char *why;
    uintptr_t *regs; /* the caller's callee-saved registers (16 words) */
    uintptr_t *whyc; /* ROOST_REACH_DEBUG: per chunk, the address of the word that marked it */
    uintptr_t at;    /* (debug) the address of the word being considered */
    uintptr_t trace; /* ROOST_REACH_TRACE: say where pointers to this address are */
    int64_t root_bytes, marked;
    size_t late;                 /* chunks the sweepers' race left to the end (r_sweeps) */
    unsigned sweepers;           /* how many swept (r_sweeps) */
    rsq_block *sq;               /* stacks to scan, shared by the sweepers (sq_put) */
    size_t *sq_nb, *sq_rb;       /* its blocks put in, and taken (in the fingers' page) */
    uint32_t sq_local[SQ_BLOCK]; /* this sweeper's entries, not yet put in */
    unsigned sq_ln;
    char *helper_stack;     /* the second thread's (roost__reach_spawn) */
    int64_t ph[PH_N];       /* ROOST_REACH_TIMES: when each phase ended (r_mono_ns) */
    size_t fastbin_skipped; /* chunks of the fast bins, left out */
    size_t *fingers;        /* per sweep (FINGER_STRIDE apart): its chunks below it are left to it */
    size_t myf;             /* this sweeper's own finger, exact (fingers[me] lags below it) */
    unsigned me;            /* which sweeper this is */
    bool par;               /* two sweepers: marks, fingers and slot claims are atomic */
    int ncpu;               /* CPUs this process may run on, learnt before the stop */
    int bshift;             /* log2 of the chunks in a sweep block (r_owner) */
    size_t ref_hint;        /* where r_reached found the last object's first ref */
    /* Where to look for a slot: stab[g] is the first slot that ends past
     * stab_lo + (g << stab_shift) (see roost__reach_slot_table). */
    uint32_t *stab;
    size_t nstab;
    uintptr_t stab_lo;
    unsigned stab_shift;
    uintptr_t slot_lo, slot_hi; /* every slot lies in [slot_lo, slot_hi) */
    rpipe_a pa[PIPE];           /* words on their way to a chunk (r_consider) */
    rpipe_b pb[PIPE];
    unsigned pa_h, pa_n, pb_h, pb_n;
    bool no_vm_readv;
    const char *slots_why;      /* the slot lister's P->why (it runs beside the walk) */
    bool snap;                  /* the stacks' range is not in this process (reach_snap.c) */
    uintptr_t snap_lo, snap_hi; /* that range */
    char *rbuf;                 /* the records read from it, RBATCH at a time */
    char *frames;               /* the copies of its slots' live parts (rslot.copy) */
    uintptr_t own_lo, own_hi;   /* the stack the snapshot runs on (reach.c): the proof's frames, not a root */
    size_t frames_cap;
    bool sched_root; /* scanning a worker thread's own stack (see r_consider) */
    bool cur_sched;  /* roots being added are of such a stack */
} rproof;

typedef struct {
    uintptr_t lo, hi;
    char perm[5];
    const char *path; /* "" for anonymous */
    size_t pathlen;
} rmapping;

/* A piece [lo, hi) of mapping m, left for classify_piece. */
typedef struct rpiece {
    rmapping m;
    uintptr_t lo, hi;
    bool guarded;
} rpiece;

typedef struct rleaked {
    roost__task *t;
    uint64_t id;
    uint32_t seq;
    int reason;
    const void *obj;
} rleaked;

/* A second thread of the snapshot's process: a clone of its one thread, on
 * a stack of its own. It shares that thread's TLS, so it calls nothing of
 * libc's that touches it (errno included): no syscall wrapper, no
 * allocator. */
typedef struct {
    int (*fn)(void *);
    void *arg;
    _Atomic uint32_t done;
    _Atomic int live; /* until the thread has left its stack: the kernel clears it (CLONE_CHILD_CLEARTID) */
    int tid;
} rthread;

/* The last slot starting at or before v (by its key), or SIZE_MAX. */
static inline size_t skey_find(const rproof *P, uintptr_t v) {
    size_t a = 0, b = P->nslots;
    if (P->stab) {
        if (v < P->stab_lo) return SIZE_MAX;
        uintptr_t g = (v - P->stab_lo) >> P->stab_shift;
        if (g + 1 >= P->nstab) return SIZE_MAX;
        a = P->stab[g], b = P->stab[g + 1] + 1;
        if (b > P->nslots) b = P->nslots;
    }
    while (a < b) {
        size_t m = (a + b) / 2;
        if (P->skey[m].lo <= v)
            a = m + 1;
        else
            b = m;
    }
    return a ? a - 1 : SIZE_MAX;
}

/* The slot whose stack or record holds v ([lo, hi)), or NULL. */
static inline rslot *rslot_find(const rproof *P, uintptr_t v) {
    size_t i = skey_find(P, v);
    return i != SIZE_MAX && v < P->slots[i].hi ? &P->slots[i] : NULL;
}

/* The proof's big tables, which ROOST_REACH_KEEP keeps from one proof to
 * the next (reach_stop.c). */
enum {
    KT_LO,
    KT_HI,
    KT_FLAGS,
    KT_SLOTS,
    KT_REFS,
    KT_IX,
    KT_IXREST,
    KT_WORK,
    KT_QWORK,
    KT_FRAMES,
    KT_META,
    KT_N
};
/* The snapshot reads the task slots RBATCH at a time, the top RWINDOW
 * bytes of each (a record and its slot's bookkeeping are some 400). */
#define RBATCH 1024
#define RWINDOW 1024
typedef struct {
    char *base; /* KT_N tables, a stride apart, mapped once; NULL: none yet */
    int mode;   /* this proof's: 0 fresh tables, 1 kept, 2 kept and poisoned */
} roost__reach_keep_t;
extern roost__reach_keep_t roost__reach_keep;

/* reach_stop.c */
bool roost__reach_install(void);
/* Stop every thread but the caller. NULL, or why not (then nothing is
 * stopped). *nthreads: how many were. */
const char *roost__reach_stop_world(int *sent, int *nthreads);
void roost__reach_resume(void);
void roost__reach_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *roost__reach_smap(rproof *P, size_t len);
void roost__reach_sfree(rproof *P);
/* A word of memory not known to be readable: through the kernel. */
bool roost__reach_rd_safe(uintptr_t a, uintptr_t *out);
/* In the caller, before the stop: ROOST_REACH_KEEP read, the kept tables'
 * mapping made the first time. */
void roost__reach_keep_setup(void);
/* Table `which` (KT_*), len bytes: kept, holding what the last proof left
 * there (or junk), or fresh and zeroed; either way its user writes each
 * byte before reading it. At most roost__reach_table_max() bytes. */
void *roost__reach_table(rproof *P, unsigned which, size_t len);
size_t roost__reach_table_max(void);
/* Kept tables: how many bytes of table `which` this proof used (noted for
 * the next), and the next proof's map of what the last one used of the
 * chunk list, marks and index, made at once (the walk then takes no page
 * fault on them). Nothing without ROOST_REACH_KEEP. */
void roost__reach_table_used(unsigned which, size_t bytes);
void roost__reach_keep_populate(void);
/* Whether [lo, hi) meets the kept tables' mapping, [*klo, *khi). */
bool roost__reach_kept(uintptr_t lo, uintptr_t hi, uintptr_t *klo, uintptr_t *khi);

/* reach_snap.c. In the program: arm before the stop (false: the fork
 * copies the stacks, as without it), take in the stop (false: the same;
 * end undoes what arm did), forked once the fork is made or failed, end
 * once the snapshot's process is done. */
bool roost__reach_snap_arm(void);
bool roost__reach_snap_take(void);
void roost__reach_snap_forked(void);
void roost__reach_snap_end(void);
int roost__reach_snap_tid(void);
/* Whether [lo, hi) meets the snapshot's own shared memory, [*mlo, *mhi). */
bool roost__reach_snap_memory(uintptr_t lo, uintptr_t hi, uintptr_t *mlo, uintptr_t *mhi);
/* In the snapshot: the stacks' range it lacks, and a read of it (n at most
 * IOV_MAX ranges) as it was at the stop. */
void roost__reach_snap_range(uintptr_t *lo, uintptr_t *hi);
void roost__reach_snap_fill_hole(void);
bool roost__reach_snap_read(const struct iovec *loc, const struct iovec *rem, size_t n);

/* reach_slots.c */
void roost__reach_slot_table(rproof *P);
bool roost__reach_in_slots(const rproof *P, uintptr_t v);
bool roost__reach_in_pool(const rproof *P, uintptr_t v);
bool roost__reach_pool_ranges(rproof *P);
int roost__reach_list_slots(void *arg);

/* reach_mark.c */
bool roost__reach_spawn(rproof *P, rthread *t, int (*fn)(void *), void *arg);
void roost__reach_join(rthread *t);
/* The mark, once the heaps are walked and indexed and the slots
 * classified: every slot, chunk and task reached. P->why set: no proof. */
void roost__reach_mark(rproof *P);
void roost__reach_times(const rproof *P);
void roost__reach_explain(rproof *P);

/* reach_walk.c: everything between stop and resume (in the snapshot's
 * process, or with the world stopped). The leaked tasks in *out. */
void roost__reach_prove_stopped(rproof *P, void *probe, uintptr_t tkey, uintptr_t self_sp, rleaked **out,
                                size_t *nout, roost_leak_proof_t *st);

#pragma GCC visibility pop

#endif
