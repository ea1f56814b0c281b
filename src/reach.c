/* reach.c - the reachability proof: Go's goroutine leak profile,
 * conservatively, in C (roost_leak_prove).
 *
 * The one idea: a parked task can only be woken by someone who can reach
 * what it waits on. So, with every thread stopped for a moment, mark memory
 * from what can run (every thread's stack and registers, the running and
 * runnable tasks' stacks, every writable mapping that is neither the malloc
 * heap nor a task stack), trace the malloc heap chunk by chunk (heapwalk.c),
 * and let a parked task join the roots once what it waits on is marked.
 * What is never marked can never be reached again, by anyone: the parked
 * tasks waiting on it are leaked. Any word that could be a pointer is taken
 * as one (interior and low-bit tagged pointers count), and memory the
 * proof cannot classify is a root, so mistakes cost proofs, never truth:
 * a false proof is the one result that must not happen (ROOST_LEAK_WAKE
 * would wake a task that was still going to be woken).
 *
 * The protocol, in order:
 *   1. Off the stop: refuse where the heap cannot be walked (sanitizers,
 *      valgrind), learn glibc's tcache key, take the stack pool's lock (no
 *      slot changes hands; the walk itself then needs no lock).
 *   2. Stop: ROOST_STOP_SIGNAL to every other thread (/proc/self/task,
 *      again until no new thread appears); each handler records where its
 *      stack is (the kernel saved its registers just above) and waits on a
 *      futex. A thread that blocks the signal, or does not come, makes the
 *      proof unavailable. From here on nothing may take a lock or call
 *      malloc (a stopped thread may hold one): the tables live in memory
 *      mapped for the purpose, and everything is a system call.
 *   3. Fork (see "the snapshot" below) and resume at once: the child holds
 *      the process as it was, copy-on-write, and no thread can change it.
 *   4. In the child: read /proc/self/maps, walk the heaps, list the task
 *      slots, mark; send the parked tasks never reached up a pipe.
 *   5. Report and (policy wake) wake the tasks proved leaked.
 * Where the fork fails, 4 runs in the caller before the resume.
 *
 * What is left out of the graph, and why that is sound, is in
 * docs/leaks.md ("The reachability proof").
 */
#include "internal.h"
#include "buf.h"
#include "reach.h"
#include "heaptrack.h"
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define REACH_VALGRIND 1
#endif
#endif

#define MAX_THREADS 4096
#define MALLOC_UNKNOWN "malloc is not glibc's, or its heap could not be walked"
#define HEAP_ALIGN ((uintptr_t)64 << 20) /* glibc's HEAP_MAX_SIZE on 64-bit systems */
#define RED_ZONE \
    0 /* a parked task saved its stack pointer inside roost__switch: nothing of its lives below */
#define MAX_SCRATCH 32
#define STOP_WAIT_NS (2 * ROOST_S)

/* ------------------------------------------------------------ stopping */

static struct {
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
} STW = {.one = PTHREAD_MUTEX_INITIALIZER};

/* Where the kernel saved the vector registers of a runtime thread stopped
 * in a wait (ROOST_IDLE), in the signal's frame on its stack: [*lo, *hi),
 * or 0, 0. Only on x86_64, where every vector register is caller-saved: at
 * a wait, none holds anything its thread will use again. (On AArch64 the
 * low halves of v8 to v15 are callee-saved: they may hold a pointer across
 * the wait, and are read.) The size is the kernel's, from the software
 * bytes of the frame's FXSAVE area: 512 without them. */
static void idle_fpstate(void *uc, uintptr_t *lo, uintptr_t *hi) {
    *lo = *hi = 0;
#if defined(__x86_64__)
    const ucontext_t *u = uc;
    if (!roost__tls_idle || !u || !u->uc_mcontext.fpregs) return;
    uintptr_t fp = (uintptr_t)u->uc_mcontext.fpregs;
    uint32_t sw[2];
    memcpy(sw, (const char *)fp + 464, sizeof sw); /* struct _fpx_sw_bytes: magic1, extended_size */
    size_t n = sw[0] == 0x46505853u && sw[1] >= 512 && sw[1] <= (64u << 10) ? sw[1] : 512;
    *lo = fp, *hi = fp + n;
#else
    (void)uc;
#endif
}

static void stop_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    int e = errno;
    atomic_fetch_add(&STW.inside, 1);
    uint32_t g = atomic_load_explicit(&STW.gen, memory_order_acquire);
    if (g & 1) {
        volatile uintptr_t here = 0;
        int i = atomic_fetch_add(&STW.nin, 1);
        if (i < MAX_THREADS) {
            STW.who[i].sp = (uintptr_t)&here;
            STW.who[i].runtime = roost__tls_runtime;
            STW.who[i].self = (uintptr_t)pthread_self();
            stack_t ss;
            bool alt = sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size;
            STW.who[i].alt_lo = alt ? (uintptr_t)ss.ss_sp : 0;
            STW.who[i].alt_hi = alt ? (uintptr_t)ss.ss_sp + ss.ss_size : 0;
            idle_fpstate(uc, &STW.who[i].fp_lo, &STW.who[i].fp_hi);
            atomic_store_explicit(&STW.who[i].tid, (int)syscall(SYS_gettid), memory_order_release);
        }
        while (atomic_load_explicit(&STW.gen, memory_order_acquire) == g) roost__futex_wait(&STW.gen, g, -1);
    }
    atomic_fetch_sub(&STW.inside, 1);
    errno = e;
}

static bool r_install(void) {
    if (STW.installed) return true;
    struct sigaction old;
    if (sigaction(ROOST_STOP_SIGNAL, NULL, &old) != 0) return false;
    if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != stop_handler
                                    : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
        return false; /* the program's own */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = stop_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(ROOST_STOP_SIGNAL, &sa, NULL) != 0) return false;
    STW.installed = true;
    return true;
}

/* ROOST_REACH_DEBUG=1: what the walk met, to stderr (write(2), no stdio). */
static int reach_debug = -1;
static void dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbg(const char *fmt, ...) {
    if (reach_debug < 0) reach_debug = getenv("ROOST_REACH_DEBUG") != NULL;
    if (!reach_debug) return;
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0 && write(2, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1) < 0) {
    }
}

static uintptr_t reach_trace;

/* ROOST_REACH_TIMES=1: how long each phase of the mark took, one line to
 * stderr from the snapshot's process. Unlike ROOST_REACH_DEBUG it changes
 * nothing in how the proof runs (two sweepers, no per-chunk record), so
 * its figures are the proof's own. */
static bool reach_times;
enum { PH_START, PH_SLOTS, PH_HEAPS, PH_PIECES, PH_INDEX, PH_ROOTS, PH_SWEEP0, PH_SWEEP1, PH_LATE, PH_N };

static int64_t r_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * ROOST_S + ts.tv_nsec;
}

/* Whether thread tid blocks the stop signal (/proc/self/task/<tid>/status);
 * a thread on its way out (state Z or X, or gone) does not count. */
static bool blocks_signal(int tid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false; /* gone */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    char *st = strstr(buf, "State:");
    if (st) {
        st += 6;
        while (*st == ' ' || *st == '\t') st++;
        if (*st == 'Z' || *st == 'X') return false;
    }
    char *p = strstr(buf, "SigBlk:");
    if (!p) return false;
    unsigned long long m = strtoull(p + 7, NULL, 16);
    return (m >> (ROOST_STOP_SIGNAL - 1)) & 1;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* The thread ids of the process, into tids (at most max). */
static int list_tids(int *tids, int max) {
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[4096];
    int n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
            if (n == max) {
                close(fd);
                return -1;
            }
            tids[n++] = atoi(d->d_name);
        }
    }
    close(fd);
    return n;
}

static bool checked_in(int tid) {
    int n = atomic_load(&STW.nin);
    if (n > MAX_THREADS) n = MAX_THREADS;
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&STW.who[i].tid, memory_order_acquire) == tid) return true;
    return false;
}

static void r_resume(void) {
    atomic_fetch_add_explicit(&STW.gen, 1, memory_order_release);
    syscall(SYS_futex, &STW.gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Stop every thread but the caller. NULL, or why not (then nothing is
 * stopped). *nthreads: how many were. */
static const char *stop_world(int *sent, int *nthreads) {
    static int tids[MAX_THREADS];
    int self = (int)syscall(SYS_gettid), nsent = 0;
    pid_t pid = getpid();
    /* The threads the last stop released must have left the handler (its
     * mask blocks the signal) before this one starts. */
    for (int64_t end = r_mono_ns() + STOP_WAIT_NS; atomic_load(&STW.inside) > 0;) {
        if (r_mono_ns() > end) return "a thread did not leave the last stop";
        sched_yield();
    }
    atomic_store(&STW.nin, 0);
    for (int i = 0; i < MAX_THREADS; i++) atomic_store_explicit(&STW.who[i].tid, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&STW.gen, 1, memory_order_release); /* odd: stopping */
    for (int round = 0; round < 64; round++) {
        int n = list_tids(tids, MAX_THREADS);
        if (n < 0) {
            r_resume();
            return "too many threads";
        }
        bool fresh = false;
        for (int i = 0; i < n; i++) {
            int tid = tids[i];
            if (tid == self || roost__heaptrack_runtime_thread(tid)) continue;
            bool known = false;
            for (int j = 0; j < nsent && !known; j++) known = sent[j] == tid;
            if (known) continue;
            if (blocks_signal(tid)) {
                /* Perhaps one just joined, whose entry lingers: look again. */
                bool still = true;
                for (int k = 0; k < 20 && still; k++) {
                    struct timespec ts = {0, 2000000};
                    nanosleep(&ts, NULL);
                    still = blocks_signal(tid);
                }
                if (still) {
                    dbg("reach: thread %d blocks the stop signal\n", tid);
                    r_resume();
                    return "a thread blocks ROOST_STOP_SIGNAL";
                }
            }
            if (syscall(SYS_tgkill, pid, tid, ROOST_STOP_SIGNAL) != 0) continue; /* exited */
            sent[nsent++] = tid;
            fresh = true;
        }
        if (!fresh) {
            *nthreads = nsent;
            return NULL;
        }
        int64_t end = r_mono_ns() + STOP_WAIT_NS;
        for (int j = 0; j < nsent; j++) {
            while (!checked_in(sent[j])) {
                char p[64];
                snprintf(p, sizeof p, "/proc/self/task/%d", sent[j]);
                if (access(p, F_OK) != 0) break; /* it exited before the signal landed */
                if (r_mono_ns() > end) {
                    r_resume();
                    return "a thread did not stop";
                }
                sched_yield();
            }
        }
    }
    r_resume();
    return "threads kept appearing";
}

/* ------------------------------------------------------------ scratch memory */

typedef struct rslot {
    roost__task *t;
    uintptr_t base;        /* the slot's mapping: [base, hi), its guard [base, lo) */
    uintptr_t lo, rec, hi; /* stack [lo, rec), the record and bookkeeping [rec, hi) */
    uintptr_t from;        /* where a scan of it starts */
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
    bool early_index;      /* the lister indexes each heap the walk finishes (list_slots) */
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
    char *helper_stack;     /* the second thread's (r_spawn) */
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
     * stab_lo + (g << stab_shift) (see slot_table). */
    uint32_t *stab;
    size_t nstab;
    uintptr_t stab_lo;
    unsigned stab_shift;
    uintptr_t slot_lo, slot_hi; /* every slot lies in [slot_lo, slot_hi) */
    rpipe_a pa[PIPE];           /* words on their way to a chunk (r_consider) */
    rpipe_b pb[PIPE];
    unsigned pa_h, pa_n, pb_h, pb_n;
    bool no_vm_readv;
    bool sched_root; /* scanning a worker thread's own stack (see r_consider) */
    bool cur_sched;  /* roots being added are of such a stack */
} rproof;

static void *r_smap(rproof *P, size_t len) {
    if (P->nscratch == MAX_SCRATCH || !len) return NULL;
    len = (len + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    /* The big tables are read at random: huge pages spare the TLB. */
    if (len >= (size_t)4 << 20) madvise(p, len, MADV_HUGEPAGE);
    P->scratch[P->nscratch].p = p, P->scratch[P->nscratch++].len = len;
    return p;
}

static void sfree_all(rproof *P) {
    for (int i = 0; i < P->nscratch; i++) munmap(P->scratch[i].p, P->scratch[i].len);
    P->nscratch = 0;
}

/* ------------------------------------------------------------ sorting (no malloc) */

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

/* ------------------------------------------------------------ reading */

/* A word of memory not known to be readable: through the kernel. */
static bool rd_safe(uintptr_t a, uintptr_t *out) {
    struct iovec l = {out, sizeof *out}, r = {(void *)a, sizeof *out};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)sizeof *out;
}

/* ------------------------------------------------------------ the maps */

/* Read /proc/self/maps whole into scratch. */
static bool read_maps(rproof *P) {
    for (size_t cap = (size_t)1 << 20; cap <= (size_t)1 << 30; cap *= 4) {
        char *b = r_smap(P, cap);
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

/* ------------------------------------------------------------ slots */

/* The last slot starting at or before v (by its key), or SIZE_MAX. */
static size_t skey_find(const rproof *P, uintptr_t v) {
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
static rslot *rslot_find(const rproof *P, uintptr_t v) {
    size_t i = skey_find(P, v);
    return i != SIZE_MAX && v < P->slots[i].hi ? &P->slots[i] : NULL;
}

/* The slot table skey_find looks in, once the slots are sorted: about two
 * entries a slot, whatever the spread of their addresses. Without it (no
 * memory), skey_find searches them all. */
static void slot_table(rproof *P) {
    if (!P->nslots || P->nslots >= UINT32_MAX) return;
    uintptr_t lo = P->slots[0].lo, span = P->slots[P->nslots - 1].hi - lo;
    unsigned sh = 12;
    while ((span >> sh) > 2 * P->nslots + 64) sh++;
    size_t n = (span >> sh) + 2;
    uint32_t *t = r_smap(P, n * sizeof *t);
    if (!t) return;
    size_t i = 0;
    for (size_t g = 0; g < n; g++) {
        while (i < P->nslots && P->slots[i].hi <= lo + ((uintptr_t)g << sh)) i++;
        t[g] = (uint32_t)i;
    }
    P->stab = t, P->nstab = n, P->stab_lo = lo, P->stab_shift = sh;
}

/* Whether v lies in a task slot's mapping, guard included. */
static bool in_slots(const rproof *P, uintptr_t v) {
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
static bool in_pool(const rproof *P, uintptr_t v) {
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
static bool pool_ranges(rproof *P) {
    size_t n = roost__stack_regions(NULL, NULL, 0);
    P->pool = r_smap(P, (n + 1) * (sizeof *P->pool + 2 * sizeof(uintptr_t)));
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
    s->base = (uintptr_t)base;
    s->lo = (uintptr_t)st->lo;
    s->rec = (uintptr_t)t;
    s->hi = (uintptr_t)st->hi;
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
    (void)len;
}

/* Part of the heap's index (prove_stopped), on a second thread. */
typedef struct {
    roost__heapmap *h;
    size_t from, to;
} rixpart;

static int index_part(void *arg) {
    rixpart *r = arg;
    roost__heap_index_segs(r->h, r->from, r->to);
    return 0;
}

static bool classify_slots(rproof *P);

/* Every task slot into P->slots, in address order, and what each is
 * (classify_slots). It may run on a second thread (r_spawn), beside the
 * heap walk, which takes longer: it calls nothing of libc's but memset,
 * and needs nothing of the heap's. */
static int list_slots(void *arg) {
    rproof *P = arg;
    rslot_walk sw = {P, false};
    roost__stack_each_held(add_slot, &sw);
    P->slots_full = sw.full;
    if (!sw.full) {
        sort_slots(P->slots, P->nslots);
        for (size_t i = 0; i < P->nslots; i++) P->skey[i].lo = P->slots[i].lo; /* the rest: classify_slots */
        P->refs_full = !classify_slots(P);
    }
    P->ph[PH_SLOTS] = r_mono_ns();
    /* Then, on its own thread, the index of each heap the walk has
     * finished, for as long as the walk goes on (it is often the longer
     * of the two). What is left when it ends (and what does not fit
     * h->ix) prove_stopped indexes, on both threads. */
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

static uintptr_t r_clamp(uintptr_t v, uintptr_t lo, uintptr_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* What each slot is: a root (it runs, could run, or is being set up), a
 * parked task and what it waits on, or nothing (free). */
__attribute__((no_sanitize("address", "thread"))) static bool classify_slots(rproof *P) {
    for (size_t i = 0; i < P->nslots; i++) {
        rslot *s = &P->slots[i];
        uintptr_t sp_min = UINTPTR_MAX;
        for (size_t k = 0; k < P->nsps; k++)
            if (P->sps[k] >= s->lo && P->sps[k] < s->hi && P->sps[k] < sp_min) sp_min = P->sps[k];
        int state = s->state, reason = s->reason;
        uintptr_t sp = s->sp;
        if (sp_min != UINTPTR_MAX) {
            s->role = SLOT_ROOT, s->from = sp_min; /* a thread runs on it */
        } else if (s->seq & 1) {
            s->role = SLOT_ROOT, s->from = s->lo; /* being set up, or switching */
        } else if (state == ROOST_T_DEAD || !s->id) {
            s->role = SLOT_DEAD;
        } else if (state == ROOST_T_RUNNABLE) {
            s->role = SLOT_ROOT, s->from = r_clamp(sp, s->lo, s->rec);
        } else if (state != ROOST_T_PARKED || !waits_on_objects(reason) || (s->cancellable && !s->wait_ctx)) {
            s->role = SLOT_ROOT, s->from = state == ROOST_T_PARKED ? r_clamp(sp, s->lo, s->rec) : s->lo;
        } else {
            s->role = SLOT_WAIT, s->from = r_clamp(sp, s->lo, s->rec);
            s->obj = s->wait_obj;
            bool ok = true;
            if (s->cancellable) ok = add_ref(P, (uintptr_t)s->wait_ctx, i);
            if (reason == ROOST_WAIT_SELECT) {
                const roost_case_t *c = s->sel_cases;
                int n = s->sel_n;
                /* The cases are the program's, alive while the select is parked. */
                if (n < 0 || n > ROOST_SELECT_MAX || (n && (!c || rslot_find(P, (uintptr_t)c) != s)))
                    s->role = SLOT_ROOT;
                for (int k = 0; ok && s->role == SLOT_WAIT && k < n; k++)
                    if (c[k].chan) ok = add_ref(P, (uintptr_t)c[k].chan, i);
                if (!s->obj && n && c) s->obj = c[0].chan;
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

/* ------------------------------------------------------------ marking */

static void r_push(rproof *P, uintptr_t lo, uintptr_t hi) {
    if (P->nwork < P->work_cap)
        P->work[P->nwork++] = (rrange){lo, hi, false};
    else
        P->why = "out of work space"; /* the proof is then dropped */
}

static void scan_slot(rproof *P, rslot *s);

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
#define SWEEP_BLOCK_SHIFT 12
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
            const rslot *s = &P->slots[P->sq[r].e[i]];
            r_push(P, s->from, s->hi);
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
        r_push(P, s->from, s->hi);
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
            dbg("reach: %lx at %lx (in %lx-%lx)\n", (unsigned long)v, (unsigned long)a, (unsigned long)lo,
                (unsigned long)hi);
            for (uintptr_t q = a; q < a + 8 * 40 && q + 8 <= hi; q += 8)
                dbg("   +%lx %lx\n", (unsigned long)(q - a), *(unsigned long *)q);
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
                dbg("reach: %lx at root %lx (in %lx-%lx)\n", (unsigned long)P->buf[k],
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
static bool r_spawn(rproof *P, rthread *t, int (*fn)(void *), void *arg) {
    /* One stack serves every helper: each is joined before the next. */
    char *stk = P->helper_stack;
    if (!stk) {
        stk = r_smap(P, HELPER_STACK);
        if (!stk) return false;
        /* A stack: no huge page for its top (r_smap asks for them), a
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
static void r_join(rthread *t) {
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
        Q = r_smap(P, sizeof *Q + sizeof *t);
        work = r_smap(P, P->work_cap * sizeof(rrange));
    }
    bool two = false;
    if (Q && work) {
        t = (rthread *)(Q + 1);
        P->sq = r_smap(P, (P->nslots + 2) * sizeof *P->sq);
        P->sq_nb = &P->fingers[4 * FINGER_STRIDE], P->sq_rb = &P->fingers[6 * FINGER_STRIDE];
        *P->sq_nb = *P->sq_rb = 0, P->sq_ln = 0;
        P->par = true;
        *Q = *P;
        Q->work = work, Q->nwork = 0, Q->marked = 0, Q->me = 1;
        two = r_spawn(P, t, r_sweeper, Q);
        P->par = two;
    }
    P->sweepers = two ? 2 : 1;
    r_sweep(P, 0);
    P->ph[PH_SWEEP0] = P->ph[PH_SWEEP1] = r_mono_ns();
    if (two && Q && t) {
        r_join(t);
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
        if (STW.who[i].self >= lo && STW.who[i].self < hi) return false;
    if (hi - lo < 65536) return false;
    for (uintptr_t a = (hi - 64) & ~(uintptr_t)63; a >= hi - 65536;
         a -= 64) { /* struct pthread is 64-byte aligned */
        uintptr_t w0, w2;
        if (!rd_safe(a, &w0) || w0 != a) continue;
        if (rd_safe(a + 16, &w2) && w2 == a) return true;
    }
    return false;
#else
    (void)P, (void)lo, (void)hi, (void)nin;
    return false;
#endif
}

/* ROOST_REACH_TIMES: the phases, in ms. */
static void r_times(const rproof *P) {
    if (!reach_times) return;
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
static void explain(rproof *P) {
    for (size_t i = 0; i < P->nslots; i++) {
        rslot *s = &P->slots[i];
        if (s->role != SLOT_WAIT || !(P->sflag[i] & SF_LIVE)) continue;
        for (size_t r = 0; r < P->nrefs; r++) {
            if (P->refs[r].rslot != i) continue;
            uintptr_t at = P->refs[r].obj;
            dbg("reach: task %llu live: waits on %lx\n", (unsigned long long)s->id, (unsigned long)at);
            for (int depth = 0; depth < 12; depth++) {
                ssize_t c = roost__heap_find(P->heap, at);
                if (c >= 0 && (P->cmark[c] & CM_MARKED)) {
                    at = P->whyc[c];
                    dbg("   in chunk %lx-%lx, marked by the word at %lx\n", (unsigned long)P->heap->lo[c],
                        (unsigned long)P->heap->hi[c], (unsigned long)at);
                    continue;
                }
                rslot *o = rslot_find(P, at);
                if (o) {
                    dbg("   in the stack of task %llu (role %d, live %d, %lx-%lx sp %lx, by %lx = %lx)\n",
                        (unsigned long long)o->id, o->role, (P->sflag[o - P->slots] & SF_LIVE) != 0,
                        (unsigned long)o->lo, (unsigned long)o->hi, (unsigned long)o->t->sp,
                        (unsigned long)o->why, o->why ? *(unsigned long *)o->why : 0ul);
                    for (size_t q = 0; q < P->nroots; q++)
                        if (o->why >= P->roots[q].lo && o->why < P->roots[q].hi)
                            dbg("      the word is in root %lx-%lx sched %d\n", (unsigned long)P->roots[q].lo,
                                (unsigned long)P->roots[q].hi, P->roots[q].sched);
                    for (int ti = 0; ti < atomic_load(&STW.nin); ti++) {
                        char pth[64], nm[32] = "";
                        snprintf(pth, sizeof pth, "/proc/self/task/%d/comm", STW.who[ti].tid);
                        int fd = open(pth, O_RDONLY);
                        if (fd >= 0) {
                            ssize_t k = read(fd, nm, sizeof nm - 1);
                            nm[k > 0 ? k - 1 : 0] = 0;
                            close(fd);
                        }
                        dbg("      thread %d %s sp %lx runtime %d\n", STW.who[ti].tid, nm,
                            (unsigned long)STW.who[ti].sp, STW.who[ti].runtime);
                    }
                    if (o->why) {
                        uintptr_t *w = (uintptr_t *)(o->why & ~(uintptr_t)7);
                        for (int k = -6; k < 10; k++) dbg("      [%d] %lx\n", k, (unsigned long)w[k]);
                    }
                    if (o->role == SLOT_WAIT && !(P->sflag[o - P->slots] & SF_LIVE) && o->why) {
                        at = o->why;
                        continue;
                    }
                } else {
                    dbg("   in a root (or unclassified) at %lx\n", (unsigned long)at);
                    for (size_t q = 0; q < P->nroots; q++)
                        if (at >= P->roots[q].lo && at < P->roots[q].hi)
                            dbg("      root %lx-%lx sched %d\n", (unsigned long)P->roots[q].lo,
                                (unsigned long)P->roots[q].hi, P->roots[q].sched);
                    for (int ti = 0; ti < atomic_load(&STW.nin); ti++)
                        dbg("      thread %d sp %lx runtime %d\n", STW.who[ti].tid,
                            (unsigned long)STW.who[ti].sp, STW.who[ti].runtime);
                    for (int wi = 0; wi < roost__nworkers(); wi++)
                        dbg("      worker %d sched_sp %p\n", wi, roost__worker_at(wi)->sched_sp);
                }
                break;
            }
        }
    }
}

/* ------------------------------------------------------------ the proof, stopped */

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
    if (anon && m->perm[3] == 'p' && !in_slots(P, lo)) lo += roost__heap_mmapped(P->heap, lo, hi, rd_safe);
    if (lo >= hi) return true;
    if (anon && guarded && dead_thread_stack(P, lo, hi, nin)) {
        dbg("reach: %lx-%lx: a dead thread's cached stack\n", (unsigned long)lo, (unsigned long)hi);
        return true;
    }
    P->cur_sched = false;
    if (anon && guarded) {
        for (int i = 0; i < nin && i < MAX_THREADS && !P->cur_sched; i++)
            P->cur_sched = STW.who[i].runtime && STW.who[i].sp >= lo && STW.who[i].sp < hi;
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
                dbg("reach: worker %d's frames below %lx left out\n", i, (unsigned long)ft);
                break;
            }
        }
    bool ok = roots_from(P, lo, hi, (anon && guarded) || path_is(m, "[stack]"));
    P->cur_sched = false;
    if (!ok) P->why = "too many roots";
    return ok;
}

typedef struct rleaked {
    roost__task *t;
    uint64_t id;
    uint32_t seq;
    int reason;
    const void *obj;
} rleaked;

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
            dbg("reach: [heap] %lx-%lx\n", (unsigned long)m.lo, (unsigned long)m.hi);
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
                int k = in_pool(P, b) ? 0 : roost__heap_region(P->heap, b, seg_end, false);
                if (k < 0) {
                    dbg("reach: %lx-%lx: a heap caught changing\n", (unsigned long)b, (unsigned long)seg_end);
                    P->why = "a heap could not be walked";
                    return false;
                }
                if (k == 0) continue;
                dbg("reach: arena heap %lx-%lx chunks %zu\n", (unsigned long)b, (unsigned long)seg_end,
                    P->heap->n);
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
static void prove_stopped(rproof *P, void *probe, uintptr_t tkey, uintptr_t self_sp, rleaked **out,
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
        if (m.perm[0] == 'r' && m.perm[1] == 'w' && !roost__heaptrack_runtime_memory(m.lo, m.hi))
            heapish += m.hi - m.lo;
    }
    /* The heap's source: glibc's heap, walked below; or, under a sanitizer
     * (whose malloc is its own), the table its hooks keep (heaptrack.c). */
    bool tracked = !roost__heaptrack_unavailable();
    int nin = atomic_load(&STW.nin);
    P->heap = r_smap(P, sizeof *P->heap);
    size_t nslots_max = heapish / (16 << 10) + 64; /* a slot is a guard and 4 pages at least */
    P->slots_cap = nslots_max;
    /* With their keys and flags after them, in the same mapping. */
    P->slots = r_smap(P, nslots_max * (sizeof(rslot) + sizeof(rskey) + 1));
    if (P->slots) P->skey = (rskey *)(P->slots + nslots_max), P->sflag = (uint8_t *)(P->skey + nslots_max);
    P->refs_cap = nslots_max * 2 + 64;
    P->refs = r_smap(P, P->refs_cap * sizeof(r_waitref));
    P->roots_cap = nmaps * 2 + nslots_max + 64;
    P->roots = r_smap(P, P->roots_cap * sizeof(rrange));
    P->heap->cap = tracked ? roost__heaptrack_count() + 64 : heapish / 32 + 64;
    P->heap->lo = r_smap(P, P->heap->cap * sizeof(uintptr_t));
    P->heap->hi = r_smap(P, P->heap->cap * sizeof(uintptr_t));
    P->cmark = P->heap->flags = r_smap(P, P->heap->cap + 1);
    P->buf = r_smap(P, 64 << 10);
    P->sps = r_smap(P, (MAX_THREADS + (size_t)roost__nworkers() + 2) * sizeof(uintptr_t));
    if (!P->heap || !P->slots || !P->refs || !P->roots || !P->heap->lo || !P->heap->hi || !P->cmark ||
        !P->buf || !P->sps) {
        P->why = "out of memory";
        return;
    }
    P->heap->tcache_key = tkey;
    P->trace = reach_trace;
    /* Stack pointers: the stopped threads', each worker's scheduler loop
     * (its thread may be running a task), ours. */
    for (int i = 0; i < nin && i < MAX_THREADS; i++) P->sps[P->nsps++] = STW.who[i].sp;
    for (int i = 0; i < roost__nworkers(); i++) {
        roost__worker *w = roost__worker_at(i);
        if (w->sched_sp) P->sps[P->nsps++] = (uintptr_t)w->sched_sp;
    }
    P->sps[P->nsps++] = self_sp;
    P->alts = r_smap(P, ((size_t)nin + 1) * sizeof(rrange));
    if (!P->alts) {
        P->why = "out of memory";
        return;
    }
    for (int i = 0; i < nin && i < MAX_THREADS; i++)
        if (STW.who[i].alt_hi) P->alts[P->nalts++] = (rrange){STW.who[i].alt_lo, STW.who[i].alt_hi, false};
    P->fps = r_smap(P, ((size_t)nin + 1) * sizeof(rrange));
    if (!P->fps) {
        P->why = "out of memory";
        return;
    }
    for (int i = 0; i < nin && i < MAX_THREADS; i++)
        if (STW.who[i].fp_hi) P->fps[P->nfps++] = (rrange){STW.who[i].fp_lo, STW.who[i].fp_hi, false};
    stack_t ss; /* ours */
    if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size)
        P->alts[P->nalts++] = (rrange){(uintptr_t)ss.ss_sp, (uintptr_t)ss.ss_sp + ss.ss_size, false};
    /* The pieces of memory left to classify once the slots are known. */
    P->pieces_cap = nmaps * 2 + heapish / HEAP_ALIGN + 64;
    P->pieces = r_smap(P, P->pieces_cap * sizeof(rpiece));
    if (!P->pieces) {
        P->why = "out of memory";
        return;
    }
    dbg("reach: setup after %lld us\n", (long long)(r_mono_ns() - tm0) / 1000);
    /* The task slots, listed on a second thread where there is a second
     * CPU, while this one walks the heaps. Each slot's record lies on a
     * page of its own, and the first read of a page in the snapshot costs
     * as much as the heap walk's: both are mostly that. Nothing below
     * needs the slots until both are done but the classification of what
     * is neither heap nor slot. */
    if (tracked && (P->why = roost__heaptrack_fill(P->heap))) return;
    if (!pool_ranges(P)) return;
    rthread lister;
    bool two = P->ncpu >= 2 && !tracked;
    if (two) {
        /* Room for every heap's index: its worst case (8-byte granules)
         * is 1/32 of the memory it spans, and only rw memory outside the
         * stack pool can be a heap. */
        size_t pool = 0;
        for (size_t i = 0; i < P->npool; i++) pool += P->pool[i].hi - P->pool[i].lo;
        P->heap->ixcap = (heapish > pool ? heapish - pool : 0) / 256 + 2 * ROOST_HEAP_SEGS + 8;
        P->heap->ix = r_smap(P, P->heap->ixcap * sizeof(uint64_t));
        P->early_index = P->heap->ix != NULL;
        two = r_spawn(P, &lister, list_slots, P);
        if (!two) P->early_index = false;
    }
    if (!two) list_slots(P);
    bool walked = walk_heaps(P, end, tracked);
    P->ph[PH_HEAPS] = r_mono_ns();
    __atomic_store_n(&P->walked, true, __ATOMIC_RELEASE);
    if (two) r_join(&lister); /* before any return: it writes P->slots */
    if (!walked) return;
    if (P->slots_full || P->refs_full) {
        P->why = P->slots_full ? "too many task slots" : "too many wait objects";
        return;
    }
    slot_table(P);
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
    if (reach_debug > 0 && (P->trace || !heap_probe_found(P, probe))) {
        int fd = open("/proc/self/maps", O_RDONLY);
        char b[4096];
        ssize_t n;
        while ((n = read(fd, b, sizeof b)) > 0)
            if (write(2, b, (size_t)n) < 0) {
            }
        close(fd);
    }
    dbg("reach: walked after %lld us\n", (long long)(r_mono_ns() - tm0) / 1000);
    dbg("reach: chunks %zu segs %zu probe %p slots %zu roots %zu\n", P->heap->n, P->heap->nseg, probe,
        P->nslots, P->nroots);
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
        hm->ix = r_smap(P, need * sizeof(uint64_t) + 8), hm->ixcap = need, hm->ixused = 0;
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
    bool split = P->ncpu >= 2 && cut < nseg && half < left && r_spawn(P, &indexer, index_part, &ri);
    roost__heap_index_segs(hm, 0, split ? cut : nseg);
    if (split) r_join(&indexer);
    P->fingers = r_smap(P, 4096);
    if (P->fingers) P->fingers[0] = P->fingers[FINGER_STRIDE] = P->myf = P->heap->n;
    P->fastbin_skipped = roost__heap_fastbins(P->heap, P->cmark, rd_safe);
    dbg("reach: free chunks left out: %zu in tcache, %zu in fast bins (%zu arenas)\n",
        P->heap->tcache_skipped, P->fastbin_skipped, P->heap->narena);
    if (reach_debug > 0) P->whyc = r_smap(P, (P->heap->n + 1) * sizeof(uintptr_t));
    P->work_cap = P->heap->n + P->nslots + 64;
    P->work = r_smap(P, P->work_cap * sizeof(rrange));
    if (!P->work || !P->fingers) {
        P->why = "out of memory";
        return;
    }
    P->ph[PH_INDEX] = r_mono_ns();
    int64_t tm1 = r_mono_ns();
    st->walk_ns = tm1 - tm0;
    dbg("reach: indexed after %lld us\n", (long long)(tm1 - tm0) / 1000);
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
    void **saved = r_smap(P, (size_t)nw * (1 + ROOST_MAX_LOCKS) * sizeof(void *));
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
    if (P->why) return;
    size_t n = 0, parked = 0;
    for (size_t i = 0; i < P->nslots; i++) {
        parked += P->slots[i].role == SLOT_WAIT;
        n += P->slots[i].role == SLOT_WAIT && !(P->sflag[i] & SF_LIVE);
    }
    dbg("reach: marked after %lld us (%zu chunks scanned after the sweep)\n",
        (long long)(r_mono_ns() - tm0) / 1000, P->late);
    st->mark_ns = r_mono_ns() - tm1;
    r_times(P);
    if (P->whyc) explain(P);
    st->parked = (int64_t)parked;
    st->chunks = (int64_t)(P->heap->n - P->heap->ngap);
    st->marked = P->marked;
    st->heap_bytes = (int64_t)P->heap->bytes;
    st->root_bytes = P->root_bytes;
    if (!n) return;
    rleaked *v = r_smap(P, n * sizeof *v);
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

/* ------------------------------------------------------------ waking */

static bool wake_on(roost_chan_t *ch, roost__task *t) {
    roost__lock(&ch->lock);
    roost__waitq_t *qs[2] = {&ch->sendq, &ch->recvq};
    for (int q = 0; q < 2; q++)
        for (roost__waiter *x = qs[q]->head; x; x = x->next) {
            if (x->park->task != t) continue;
            if (!roost__claim(x->park)) {
                roost__unlock(&ch->lock);
                return false;
            }
            bool dead = false;
            if (x->plain) {
                /* Only this channel's lock holder could have claimed it:
                 * unlink it as a waker does (chan.c, leak.c). */
                if (!x->is_send && x->elem) memset(x->elem, 0, ch->elem_size);
                dead = roost__chan_drop_waiter_locked(ch, x);
            }
            roost__park *p = x->park;
            roost__unlock(&ch->lock);
            if (dead) roost__chan_free(ch);
            roost__wake(p, -1, ROOST_ELEAKED);
            return true;
        }
    roost__unlock(&ch->lock);
    return false;
}

/* Wake t, proved leaked while parked on a channel or in a select. */
__attribute__((no_sanitize("thread"))) static bool wake_leaked(const rleaked *l) {
    roost__task *t = l->t;
    if (atomic_load_explicit(&t->seq, memory_order_acquire) != l->seq) return false;
    if (l->reason == ROOST_WAIT_CHAN_SEND || l->reason == ROOST_WAIT_CHAN_RECV)
        return l->obj && wake_on((roost_chan_t *)l->obj, t);
    if (l->reason != ROOST_WAIT_SELECT) return false;
    const roost_case_t *c = t->sel_cases;
    for (int k = 0; k < t->sel_n && k < ROOST_SELECT_MAX; k++)
        if (c[k].chan && wake_on(c[k].chan, t)) return true;
    return false;
}

static bool wakes_reason(int r) {
    return r == ROOST_WAIT_CHAN_SEND || r == ROOST_WAIT_CHAN_RECV || r == ROOST_WAIT_SELECT;
}

bool roost__reach_wakes(int kind, const roost_task_info_t *v, size_t n) {
    return kind == ROOST_LEAK_UNREACHABLE && n && wakes_reason(v[0].wait_reason);
}

/* ------------------------------------------------------------ the call */

static int cmp_leaked(const void *a, const void *b) {
    const rleaked *x = a, *y = b;
    if (x->obj != y->obj) return (uintptr_t)x->obj < (uintptr_t)y->obj ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const char *unavailable_here(void) {
#ifdef REACH_VALGRIND
    /* Memcheck's malloc is its own, and no client request lists its
     * blocks (docs/leaks.md). */
    if (RUNNING_ON_VALGRIND) return "valgrind's malloc: the heap cannot be walked";
#endif
    if (getenv("ROOST_REACH_OFF")) return "turned off (ROOST_REACH_OFF)";
#ifndef __x86_64__
    /* The register capture and the heap walk are only tested on x86-64. */
    return "not yet supported on this architecture";
#endif
#if defined(ROOST_ASAN) || defined(ROOST_TSAN)
    /* The sanitizer's malloc: its chunks come from heaptrack.c's table. */
    return roost__heaptrack_unavailable();
#endif
    return NULL;
}

/* ------------------------------------------------------------ the snapshot
 *
 * The mark runs in a child process forked while the world is stopped: its
 * memory is the parent's at that instant, copy-on-write, and nothing the
 * parent's threads do afterwards can change it. The parent resumes right
 * after the fork; the stop lasts a signal round trip and the copy of the
 * page tables. The child has one thread (the caller's, copied; the sweep
 * may clone a second, see r_sweeps) and must behave as a signal handler
 * would: system calls and raw memory reads, no lock, no malloc (a stopped
 * thread may have held one at the fork). It is
 * a clone that sends no SIGCHLD (the program's own waitpid(-1) never sees
 * it) and dies with the thread that made it. */

/* What the child sends back, before the leaked tasks themselves. */
typedef struct {
    const char *why; /* a literal of this program: the same address in both */
    int64_t parked, chunks, marked, heap_bytes, root_bytes, walk_ns, mark_ns;
    uint64_t n;
} ranswer;

/* ROOST_REACH_FORK=0: mark with the world stopped, in this process (also
 * what happens where the fork fails: no memory for the page tables, a
 * seccomp filter). */
static bool use_fork(void) {
#if defined(ROOST_TSAN)
    /* TSan's runtime prepares for a fork in its fork() interceptor, which
     * the raw clone bypasses: its child could wait on a lock a stopped
     * thread held. */
    return false;
#endif
    const char *e = getenv("ROOST_REACH_FORK");
    return !e || strcmp(e, "0") != 0;
}

static pid_t r_fork(void) {
    /* Not fork(): glibc's takes malloc's locks, which a stopped thread may
     * hold, and runs the program's atfork handlers. Exit signal 0: the
     * parent waits with __WCLONE. */
    return (pid_t)syscall(SYS_clone, 0UL, NULL, NULL, NULL, NULL);
}

static bool read_all(int fd, void *p, size_t len) {
    char *c = p;
    while (len) {
        ssize_t k = read(fd, c, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        c += k, len -= (size_t)k;
    }
    return true;
}

/* In the child: the verdict, to fd. */
static void r_answer(int fd, const char *why, const rleaked *v, size_t n, const roost_leak_proof_t *st) {
    ranswer a = {why,         st->parked,  st->chunks, st->marked, st->heap_bytes, st->root_bytes,
                 st->walk_ns, st->mark_ns, why ? 0 : n};
    if (roost__write_all(fd, &a, sizeof a) == 0 && !why && n) roost__write_all(fd, v, n * sizeof *v);
}

/* The last snapshot's process, still tearing its memory down when its
 * verdict came: reaped by the next proof (under STW.one), by then long
 * gone. The teardown (the child's copy of the page tables, its own
 * tables) takes tens of milliseconds at reach100k's size, and nothing in
 * the verdict waits on it. */
static pid_t r_unreaped;

static void r_reap(pid_t pid, bool wait) {
    int status;
    struct rusage ru;
    pid_t got;
    while ((got = wait4(pid, &status, __WCLONE | (wait ? 0 : WNOHANG), &ru)) < 0 && errno == EINTR) {
    }
    if (got == 0) { /* still exiting */
        r_unreaped = pid;
        return;
    }
    if (got == pid)
        dbg("reach: the snapshot's process used %ld ms of CPU\n",
            (long)(ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000 +
                   ru.ru_stime.tv_usec / 1000));
    /* got < 0: the program reaped it (waitpid with __WALL) */
}

/* In the parent: the child's verdict (the leaked tasks into *out,
 * malloc'd). NULL, or why there is none. The child is reaped here when it
 * has exited, else by the next proof (r_unreaped). */
static const char *r_await(int fd, pid_t pid, rleaked **out, size_t *nout, roost_leak_proof_t *st) {
    ranswer a;
    const char *why = NULL;
    *out = NULL, *nout = 0;
    if (!read_all(fd, &a, sizeof a)) {
        why = "the proof's process died";
    } else if (a.why) {
        why = a.why;
    } else {
        st->parked = a.parked, st->chunks = a.chunks, st->marked = a.marked;
        st->heap_bytes = a.heap_bytes, st->root_bytes = a.root_bytes;
        st->walk_ns = a.walk_ns, st->mark_ns = a.mark_ns;
        if (a.n) {
            *out = malloc(a.n * sizeof **out);
            if (!*out)
                why = "out of memory";
            else if (!read_all(fd, *out, a.n * sizeof **out))
                why = "the proof's process died";
            else
                *nout = a.n;
        }
    }
    /* A child that answered has only its exit left; one that did not is
     * waited for (its pipe end closed: it is dead or dying). */
    r_reap(pid, why != NULL);
    if (why) free(*out), *out = NULL, *nout = 0;
    return why;
}

/* Report the leaked tasks (one finding per object they wait on) and wake
 * those the policy says. */
static void r_report(rleaked *v, size_t n, roost_leak_proof_t *st) {
    qsort(v, n, sizeof *v, cmp_leaked);
    int pol = roost__leak_policy_now();
    if (!pol) return;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && v[j].obj == v[i].obj; j++) {
        }
        roost_task_info_t *info = malloc((j - i) * sizeof *info);
        if (!info) break;
        size_t m = 0;
        for (size_t k = i; k < j; k++)
            /* Still in the park the proof saw (seq moves at every switch):
             * a task unreachable then can only still be there. */
            if (atomic_load_explicit(&v[k].t->seq, memory_order_acquire) == v[k].seq &&
                roost__task_info(v[k].t, &info[m], ROOST_SNAP_STACKS) && info[m].id == v[k].id) {
                info[m].wait_reason = v[k].reason;
                info[m].wait_obj = v[k].obj;
                m++;
            }
        st->reported += (int64_t)roost__leak_post_tasks(ROOST_LEAK_UNREACHABLE, v[i].obj, info, m);
        free(info);
        if (pol & ROOST_LEAK_WAKE)
            for (size_t k = i; k < j; k++) st->woken += wake_leaked(&v[k]);
    }
}

/* The caller's callee-saved registers (they may hold its live pointers;
 * what this file's frames push of them is not scanned: see below). */
#if defined(__x86_64__)
#define CAPTURE_REGS(r)                                                              \
    __asm__ volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t" \
                     "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"   \
                     :                                                               \
                     : "r"(r)                                                        \
                     : "memory")
#elif defined(__aarch64__)
#define CAPTURE_REGS(r)                                                                             \
    __asm__ volatile("stp x19, x20, [%0]\n\tstp x21, x22, [%0, #16]\n\tstp x23, x24, [%0, #32]\n\t" \
                     "stp x25, x26, [%0, #48]\n\tstp x27, x28, [%0, #64]\n\tstr x29, [%0, #80]"     \
                     :                                                                              \
                     : "r"(r)                                                                       \
                     : "memory")
#else
#define CAPTURE_REGS(r) __builtin_unwind_init()
#endif

static int prove(roost_leak_proof_t *out, uintptr_t *regs, uintptr_t caller_sp);

/* The caller's frames are scanned from just above this one: the proof's
 * own frames (their uninitialised slots full of whatever the caller's
 * dead frames left there) are not, and the caller's registers are taken
 * here, before anything can spill them below that line. */
__attribute__((noinline)) int roost_leak_prove(roost_leak_proof_t *out) {
    /* The caller's result struct often sits uninitialised in its frame,
     * full of what dead frames left there: cleared before the scan. */
    if (out) memset(out, 0, sizeof *out);
    uintptr_t regs[16] = {0};
    CAPTURE_REGS(regs);
    uintptr_t caller_sp = (uintptr_t)__builtin_frame_address(0) + 2 * sizeof(void *);
    return prove(out, regs, caller_sp);
}

static int prove(roost_leak_proof_t *out, uintptr_t *regs, uintptr_t caller_sp) {
    roost_leak_proof_t st;
    memset(&st, 0, sizeof st);
    int64_t t0 = r_mono_ns();
    int rc = ROOST_OK;
    const char *why = unavailable_here();
    reach_debug = -1;
    dbg("%s", "");
    reach_times = getenv("ROOST_REACH_TIMES") != NULL;
    const char *trace = getenv("ROOST_REACH_TRACE");
    if (trace) reach_trace = ~(uintptr_t)strtoull(trace, NULL, 16); /* kept as ~address: not a pointer */
    if (why) {
        st.reason = why;
        rc = ROOST_EAGAIN;
        goto done;
    }
    if (!roost__nworkers()) { /* no runtime, no task */
        st.available = 1;
        goto done;
    }
    pthread_mutex_lock(&STW.one);
    if (r_unreaped) {
        pid_t last = r_unreaped;
        r_unreaped = 0;
        r_reap(last, true);
    }
    if (!r_install()) {
        pthread_mutex_unlock(&STW.one);
        st.reason = "ROOST_STOP_SIGNAL has a handler of the program's";
        rc = ROOST_EAGAIN;
        goto done;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        uintptr_t tkey = roost__heap_tcache_key();
        /* Zeroed: the chunk may be one the program just freed, its words
         * stale, and the probe is live (this frame holds it). */
        void *probe = calloc(1, 48);
        if (!probe) {
            rc = ROOST_ENOMEM;
            break;
        }
        static int sent[MAX_THREADS];
        rproof local, *P = NULL; /* local: sfree_all(P) below reads it */
        rleaked *v = NULL, *vmine = NULL;
        size_t n = 0;
        int nthreads = 0;
        int pfd[2] = {-1, -1};
        bool forking = use_fork() && pipe2(pfd, O_CLOEXEC) == 0;
        cpu_set_t cpus;
        int ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
#if defined(ROOST_ASAN) || defined(ROOST_TSAN)
        ncpu = 1; /* a thread the sanitizer's runtime never saw start */
#endif
        const char *eb = getenv("ROOST_REACH_SWEEP_BLOCK");
        int bshift = eb && atoi(eb) >= 0 && atoi(eb) <= 30 ? atoi(eb) : SWEEP_BLOCK_SHIFT;
        roost__stack_hold(true);
        int64_t s0 = r_mono_ns();
        why = stop_world(sent, &nthreads);
        if (!why) {
            memset(&local, 0, sizeof local);
            P = &local;
            P->regs = regs;
            /* One sweeper in this process: a thread without a TLS of its
             * own could be handed the program's signals. */
            P->ncpu = 1, P->bshift = bshift;
            pid_t pid = forking ? r_fork() : -1;
            if (pid == 0) {
                /* The snapshot: nothing here runs but this. */
                close(pfd[0]);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigset_t all;
                sigfillset(&all);
                pthread_sigmask(SIG_BLOCK, &all, NULL); /* what the second sweeper inherits */
                P->ncpu = ncpu;
                prove_stopped(P, probe, tkey, caller_sp, &v, &n, &st);
                r_answer(pfd[1], P->why, v, n, &st);
                _exit(0);
            }
            if (pid > 0) {
                r_resume();
                st.stop_ns = r_mono_ns() - s0;
                roost__stack_hold(false);
                close(pfd[1]);
                pfd[1] = -1;
                why = r_await(pfd[0], pid, &vmine, &n, &st);
                v = vmine;
                P = NULL;
            } else {
                prove_stopped(P, probe, tkey, caller_sp, &v, &n, &st);
                why = P->why;
                r_resume();
                st.stop_ns = r_mono_ns() - s0;
                roost__stack_hold(false);
            }
            st.threads = nthreads;
        } else {
            roost__stack_hold(false);
        }
        if (pfd[0] >= 0) close(pfd[0]);
        if (pfd[1] >= 0) close(pfd[1]);
        free(probe);
        if (!why) {
            st.available = 1;
            st.leaked = (int64_t)n;
            if (n) r_report(v, n, &st);
        }
        free(vmine);
        if (P) sfree_all(P);
        if (!why) break;
        st.reason = why;
        rc = ROOST_EAGAIN;
        if (strcmp(why, "the main heap could not be walked") && strcmp(why, "a heap could not be walked") &&
            strcmp(why, "a thread did not stop") && strcmp(why, MALLOC_UNKNOWN))
            break;
        struct timespec ts = {0, 1000000}; /* let the thread caught in malloc finish */
        nanosleep(&ts, NULL);
    }
    if (st.available) st.reason = NULL, rc = ROOST_OK;
    pthread_mutex_unlock(&STW.one);
done:
    st.total_ns = r_mono_ns() - t0;
    if (out) *out = st;
    return rc;
}

/* ------------------------------------------------------------ the r_periodic runner */

static void *r_periodic(void *arg) {
    int64_t ns = (int64_t)(intptr_t)arg;
    for (;;) {
        struct timespec ts = {(time_t)(ns / ROOST_S), (long)(ns % ROOST_S)};
        nanosleep(&ts, NULL);
        roost_leak_prove(NULL);
        atomic_store(&STW.last_ns, roost_now());
    }
    return NULL;
}

/* At runtime start: ROOST_LEAK_PROVE=<seconds> runs the proof on that
 * period, on a thread of its own, for the life of the process. */
void roost__reach_start(void) {
    static atomic_bool started;
    const char *e = getenv("ROOST_LEAK_PROVE");
    if (!e || !*e || atomic_exchange(&started, true)) return;
    double s = strtod(e, NULL);
    if (!(s > 0)) return;
    if (s < 0.01) s = 0.01;
    int64_t ns = (int64_t)(s * 1e9);
    pthread_t th;
    roost__thread_start(&th, r_periodic, (void *)(intptr_t)ns, "roost-prove", true);
}
