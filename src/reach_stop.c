/* reach_stop.c - the reachability proof's stop: every other thread of the
 * process parked in a signal handler for the moment the snapshot takes
 * (ROOST_STOP_SIGNAL), and what may be done while the world is stopped:
 * no lock, no malloc (a stopped thread may hold either), so the proof's
 * tables live in memory mapped for it (roost__reach_smap), and a word
 * not known to be readable is read through the kernel. */
#include "reach_proof.h"
#include "heaptrack.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/futex.h>

#define STOP_WAIT_NS (2 * ROOST_S)

roost__reach_stw_t roost__reach_stw = {.one = PTHREAD_MUTEX_INITIALIZER};

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
    atomic_fetch_add(&roost__reach_stw.inside, 1);
    uint32_t g = atomic_load_explicit(&roost__reach_stw.gen, memory_order_acquire);
    if (g & 1) {
        volatile uintptr_t here = 0;
        int i = atomic_fetch_add(&roost__reach_stw.nin, 1);
        if (i < MAX_THREADS) {
            roost__reach_stw.who[i].sp = (uintptr_t)&here;
            roost__reach_stw.who[i].runtime = roost__tls_runtime;
            roost__reach_stw.who[i].self = (uintptr_t)pthread_self();
            stack_t ss;
            bool alt = sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size;
            roost__reach_stw.who[i].alt_lo = alt ? (uintptr_t)ss.ss_sp : 0;
            roost__reach_stw.who[i].alt_hi = alt ? (uintptr_t)ss.ss_sp + ss.ss_size : 0;
            idle_fpstate(uc, &roost__reach_stw.who[i].fp_lo, &roost__reach_stw.who[i].fp_hi);
            atomic_store_explicit(&roost__reach_stw.who[i].tid, (int)syscall(SYS_gettid),
                                  memory_order_release);
        }
        while (atomic_load_explicit(&roost__reach_stw.gen, memory_order_acquire) == g)
            roost__futex_wait(&roost__reach_stw.gen, g, -1);
    }
    atomic_fetch_sub(&roost__reach_stw.inside, 1);
    errno = e;
}

bool roost__reach_install(void) {
    if (roost__reach_stw.installed) return true;
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
    roost__reach_stw.installed = true;
    return true;
}

/* ROOST_REACH_DEBUG=1: what the walk met, to stderr (write(2), no stdio). */
int roost__reach_debug = -1;
void roost__reach_dbg(const char *fmt, ...) {
    if (roost__reach_debug < 0) roost__reach_debug = getenv("ROOST_REACH_DEBUG") != NULL;
    if (!roost__reach_debug) return;
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0 && write(2, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1) < 0) {
    }
}

uintptr_t roost__reach_trace;

/* ROOST_REACH_TIMES=1: how long each phase of the mark took, one line to
 * stderr from the snapshot's process. Unlike ROOST_REACH_DEBUG it changes
 * nothing in how the proof runs (two sweepers, no per-chunk record), so
 * its figures are the proof's own. */
bool roost__reach_times_on;

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
    int n = atomic_load(&roost__reach_stw.nin);
    if (n > MAX_THREADS) n = MAX_THREADS;
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&roost__reach_stw.who[i].tid, memory_order_acquire) == tid) return true;
    return false;
}

void roost__reach_resume(void) {
    atomic_fetch_add_explicit(&roost__reach_stw.gen, 1, memory_order_release);
    syscall(SYS_futex, &roost__reach_stw.gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Stop every thread but the caller. NULL, or why not (then nothing is
 * stopped). *nthreads: how many were. */
const char *roost__reach_stop_world(int *sent, int *nthreads) {
    static int tids[MAX_THREADS];
    int self = (int)syscall(SYS_gettid), nsent = 0;
    pid_t pid = getpid();
    /* The threads the last stop released must have left the handler (its
     * mask blocks the signal) before this one starts. */
    for (int64_t end = r_mono_ns() + STOP_WAIT_NS; atomic_load(&roost__reach_stw.inside) > 0;) {
        if (r_mono_ns() > end) return "a thread did not leave the last stop";
        sched_yield();
    }
    atomic_store(&roost__reach_stw.nin, 0);
    for (int i = 0; i < MAX_THREADS; i++)
        atomic_store_explicit(&roost__reach_stw.who[i].tid, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&roost__reach_stw.gen, 1, memory_order_release); /* odd: stopping */
    for (int round = 0; round < 64; round++) {
        int n = list_tids(tids, MAX_THREADS);
        if (n < 0) {
            roost__reach_resume();
            return "too many threads";
        }
        bool fresh = false;
        for (int i = 0; i < n; i++) {
            int tid = tids[i];
            if (tid == self || roost__heaptrack_runtime_thread(tid)) continue;
            if (tid == roost__reach_snap_tid()) continue; /* it lets stopping threads' writes go */
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
                    roost__reach_dbg("reach: thread %d blocks the stop signal\n", tid);
                    roost__reach_resume();
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
                    roost__reach_resume();
                    return "a thread did not stop";
                }
                sched_yield();
            }
        }
    }
    roost__reach_resume();
    return "threads kept appearing";
}

void *roost__reach_smap(rproof *P, size_t len) {
    if (P->nscratch == MAX_SCRATCH || !len) return NULL;
    len = (len + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    /* The big tables are read at random: huge pages spare the TLB. */
    if (len >= (size_t)4 << 20) madvise(p, len, MADV_HUGEPAGE);
    P->scratch[P->nscratch].p = p, P->scratch[P->nscratch++].len = len;
    return p;
}

/* ------------------------------------------------------------ kept tables */

/* ROOST_REACH_KEEP=1: the proof's big tables (the chunk list, the marks,
 * the task slots, the index, the work stacks, the copies of the task
 * stacks read through the kernel) live in one shared mapping
 * that the process keeps from one proof to the next, instead of memory
 * the snapshot maps fresh each time. Why: where the machine's host takes
 * back the guest's free memory (free page reporting), the first write to
 * a page the host took back waits for the host, and a proof's fresh
 * tables (some 80 MiB at reach100k) then cost 130-180 ms more than when
 * the same pages were still backed. Kept, they stay backed. The price:
 * the pages the last proof touched stay resident between proofs (a
 * shared mapping, so the fork copies none of its page tables, and the
 * snapshot's writes to it are not copied on write), and every table in
 * it starts with what the last proof left there: each of its users
 * writes what it reads (roost__reach_table). ROOST_REACH_KEEP=poison
 * fills each table with junk first, so that tests can show it. */
roost__reach_keep_t roost__reach_keep;

#define KEEP_STRIDE ((size_t)16 << 30)
#define POISON_MAX ((size_t)16 << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it */
#endif

void roost__reach_keep_setup(void) {
    const char *e = getenv("ROOST_REACH_KEEP");
    int mode = !e || !*e || !strcmp(e, "0") ? 0 : !strcmp(e, "poison") ? 2 : 1;
    roost__reach_keep.mode = 0;
    if (!mode) return;
    if (!roost__reach_keep.base) {
        void *p = mmap(NULL, KT_N * KEEP_STRIDE, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return;                   /* fresh tables, as without it */
        madvise(p, KT_N * KEEP_STRIDE, MADV_DONTDUMP); /* the proof's, not the program's: no core holds it */
        roost__reach_keep.base = p;
    }
    roost__reach_keep.mode = mode;
}

bool roost__reach_kept(uintptr_t lo, uintptr_t hi, uintptr_t *klo, uintptr_t *khi) {
    uintptr_t a = (uintptr_t)roost__reach_keep.base, b = a + KT_N * KEEP_STRIDE;
    *klo = a, *khi = b;
    return a && a < hi && b > lo;
}

size_t roost__reach_table_max(void) { return roost__reach_keep.mode ? KEEP_STRIDE : SIZE_MAX; }

/* The last proof's use of each table, in the first page of KT_META. */
static size_t *keep_used(void) { return (size_t *)(roost__reach_keep.base + (size_t)KT_META * KEEP_STRIDE); }

void roost__reach_table_used(unsigned which, size_t bytes) {
    if (roost__reach_keep.mode && which < KT_META)
        keep_used()[which] = bytes < KEEP_STRIDE ? bytes : KEEP_STRIDE;
}

/* What the last proof used of the tables the walk fills, mapped in one
 * call a table (MADV_POPULATE_WRITE, Linux 5.14): a page fault each, as
 * the walk goes, cost it 12-16 ms at reach100k. The pages are the kept
 * mapping's own, already there: nothing is allocated or cleared. */
void roost__reach_keep_populate(void) {
    if (!roost__reach_keep.mode) return;
    static const unsigned which[] = {KT_LO, KT_HI, KT_FLAGS, KT_IX};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        size_t n = (keep_used()[which[i]] + 4095) & ~(size_t)4095;
        if (n && madvise(roost__reach_keep.base + (size_t)which[i] * KEEP_STRIDE, n, MADV_POPULATE_WRITE))
            return; /* an older kernel: the faults, as before */
    }
}

void *roost__reach_table(rproof *P, unsigned which, size_t len) {
    if (!roost__reach_keep.mode || which >= KT_META) return roost__reach_smap(P, len);
    if (!len || len > KEEP_STRIDE) return NULL;
    char *p = roost__reach_keep.base + (size_t)which * KEEP_STRIDE;
    if (roost__reach_keep.mode == 2) memset(p, 0xa5, len < POISON_MAX ? len : POISON_MAX);
    return p;
}

void roost__reach_sfree(rproof *P) {
    for (int i = 0; i < P->nscratch; i++) munmap(P->scratch[i].p, P->scratch[i].len);
    P->nscratch = 0;
}

/* A word of memory not known to be readable: through the kernel. */
bool roost__reach_rd_safe(uintptr_t a, uintptr_t *out) {
    struct iovec l = {out, sizeof *out}, r = {(void *)a, sizeof *out};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)sizeof *out;
}
