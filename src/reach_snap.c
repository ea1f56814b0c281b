/* reach_snap.c - the task stacks' part of the reachability proof's
 * snapshot, taken without copying their page tables.
 *
 * The fork that takes the snapshot copies the page tables of every
 * private mapping, and the task stacks make most of that copy: a parked
 * task touches one page of its slot, so 100,000 of them spread over some
 * 4,000 page tables, guard markers and all, and the stop lasts as long as
 * the copy. Here the stacks' range (the chunks stack.c carves from one
 * reserved range) is left out of the fork (MADV_DONTFORK), and the
 * snapshot's process reads the stacks from the program itself, through
 * the kernel (process_vm_readv). What keeps those reads at the instant
 * of the stop is a userfaultfd write-protect over the range:
 *
 *   1. Before the stop, with the program running: the range is
 *      write-protected (the page-table walk the fork would have made,
 *      without the world stopped). A page written from then on faults to
 *      this file's thread, which notes it (state 1) and lets the write go.
 *   2. In the stop: the pages noted are copied to the mirror (state 2),
 *      as they are at that instant; from here on the thread copies a page
 *      to the mirror before it lets the first write to it go. Then the
 *      fork, without the range.
 *   3. The snapshot's process reads a stack through the kernel and then,
 *      for each page whose state is 2, takes the mirror's copy instead.
 *      The thread sets state 2 before it lets the write go, so a page read
 *      whose state was not 2 after the read was read as it was at the stop.
 *   4. When the proof is over: the protection is lifted, the states
 *      cleared and the mirror's pages given back.
 *
 * Pages of the range that were never touched are protected too
 * (UFFD_FEATURE_WP_UNPOPULATED): a task that first writes a fresh page of
 * its stack after step 1 is noted like any other.
 *
 * The thread is never stopped (the stop leaves it out): a thread stopped
 * at a write fault waits for it. The cost while a proof runs: a fault
 * round trip (a few microseconds) at the first write to each stack page,
 * as a copy on write costs after a fork; none at all between proofs but
 * the registration, which the kernel keeps on the range's mappings.
 *
 * Where the kernel refuses a userfaultfd (an unprivileged process where
 * vm.unprivileged_userfaultfd is 0, a kernel older than 6.4, a seccomp
 * filter), or ROOST_REACH_SNAP=0, the fork copies the stacks as before. */
#include "reach_proof.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define PAGE 4096
enum { MODE_OFF, MODE_LOG, MODE_COW };
enum { ST_CLEAN, ST_WRITTEN, ST_COPIED };

static struct {
    bool tried, ok;
    int ufd;              /* the userfaultfd */
    int memfd;            /* /proc/self/mem: the snapshot's reads where process_vm_readv is refused */
    pid_t pid;            /* the program's, for the snapshot's reads */
    _Atomic int tid;      /* the fault thread's */
    _Atomic int mode;     /* MODE_* */
    _Atomic int inflight; /* faults the thread is handling */
    _Atomic long copies;  /* pages copied to the mirror this proof */
    uintptr_t base;       /* the stacks' reserved range, [base, base + size) */
    size_t size;
    uint8_t *state; /* ST_* per page of the range, then the mirror, in one shared mapping */
    char *mirror;
    size_t maplen;
    uintptr_t lo, hi; /* what this proof protects, [lo, hi) */
    bool armed, dontfork;
} S = {.ufd = -1, .memfd = -1};

static inline size_t page_ix(uintptr_t a) { return (a - S.base) / PAGE; }

/* A stack page to the mirror, word by word: a sanitizer's memcpy would
 * check the page against the frames it knows of (dead ones are poisoned). */
__attribute__((no_sanitize("address", "thread"))) static void copy_page(uintptr_t pg) {
    const volatile uint64_t *from = (const volatile uint64_t *)pg;
    uint64_t *to = (uint64_t *)(S.mirror + (pg - S.base));
    for (size_t i = 0; i < PAGE / 8; i++) to[i] = from[i];
}

static int wp(uintptr_t lo, uintptr_t hi, bool on) {
    struct uffdio_writeprotect w = {{lo, hi - lo}, on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return ioctl(S.ufd, UFFDIO_WRITEPROTECT, &w);
}

/* A write to a protected page: note it, or copy it, then let it go. */
static void on_fault(uintptr_t a) {
    uintptr_t pg = a & ~(uintptr_t)(PAGE - 1);
    atomic_fetch_add(&S.inflight, 1);
    int mode = atomic_load(&S.mode); /* after the count: see roost__reach_snap_take */
    if (pg >= S.base && pg < S.base + S.size) {
        uint8_t *st = &S.state[page_ix(pg)];
        if (__atomic_load_n(st, __ATOMIC_ACQUIRE) == ST_CLEAN) {
            if (mode == MODE_LOG) {
                __atomic_store_n(st, ST_WRITTEN, __ATOMIC_SEQ_CST);
            } else if (mode == MODE_COW) {
                /* Still protected: as it was at the stop. */
                copy_page(pg);
                __atomic_store_n(st, ST_COPIED, __ATOMIC_RELEASE);
                atomic_fetch_add(&S.copies, 1);
            }
        }
    }
    if (wp(pg, pg + PAGE, false) != 0) {
        struct uffdio_range r = {pg, PAGE};
        ioctl(S.ufd, UFFDIO_WAKE, &r);
    }
    atomic_fetch_sub(&S.inflight, 1);
}

static void *fault_thread(void *arg) {
    (void)arg;
    atomic_store(&S.tid, (int)syscall(SYS_gettid));
    struct uffd_msg m[32];
    for (;;) {
        ssize_t k = read(S.ufd, m, sizeof m);
        if (k <= 0) {
            /* Never gone: a thread at a fault waits for this one. */
            if (k < 0 && errno != EINTR && errno != EAGAIN) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        for (size_t i = 0; i < (size_t)k / sizeof m[0]; i++)
            if (m[i].event == UFFD_EVENT_PAGEFAULT) on_fault((uintptr_t)m[i].arg.pagefault.address);
    }
    return NULL;
}

static bool setup(void) {
    /* A process the program forked has the userfaultfd of its parent's
     * memory, and no thread to answer it: none here. */
    if (S.tried) return S.ok && S.pid == getpid();
    S.tried = true;
    S.size = roost__stack_region_size(&S.base);
    if (!S.size) return false;
    S.ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (S.ufd < 0) { /* Linux 6.1+: the device, where its mode lets us */
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) S.ufd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC), close(dev);
    }
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_UNPOPULATED};
    if (S.ufd < 0 || ioctl(S.ufd, UFFDIO_API, &api) != 0) goto fail;
    S.memfd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    size_t slen = (S.size / PAGE + PAGE - 1) & ~(size_t)(PAGE - 1);
    S.maplen = slen + S.size;
    void *p = mmap(NULL, S.maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) goto fail;
    madvise(p, S.maplen, MADV_DONTDUMP);
    S.state = p, S.mirror = (char *)p + slen;
    pthread_t th;
    if (roost__thread_start(&th, fault_thread, NULL, "roost-snap", true) != 0) {
        munmap(p, S.maplen);
        goto fail;
    }
    while (!atomic_load(&S.tid)) sched_yield();
    S.pid = getpid();
    S.ok = true;
    return true;
fail:
    if (S.ufd >= 0) close(S.ufd);
    if (S.memfd >= 0) close(S.memfd);
    S.ufd = S.memfd = -1;
    return false;
}

int roost__reach_snap_tid(void) { return atomic_load(&S.tid); }

bool roost__reach_snap_memory(uintptr_t lo, uintptr_t hi, uintptr_t *mlo, uintptr_t *mhi) {
    uintptr_t a = (uintptr_t)S.state, b = a + S.maplen;
    *mlo = a, *mhi = b;
    return a && a < hi && b > lo;
}

/* Register and protect [lo, hi) (the kernel keeps the registration). */
static bool protect(uintptr_t lo, uintptr_t hi) {
    struct uffdio_register r = {{lo, hi - lo}, UFFDIO_REGISTER_MODE_WP, 0};
    return ioctl(S.ufd, UFFDIO_REGISTER, &r) == 0 && wp(lo, hi, true) == 0;
}

bool roost__reach_snap_arm(void) {
    S.armed = S.dontfork = false;
    const char *e = getenv("ROOST_REACH_SNAP");
    if ((e && !strcmp(e, "0")) || !setup()) return false;
    /* The range the mirror and the states were sized for: a later
     * roost_init may have had to reserve another. */
    uintptr_t base;
    if (roost__stack_region_size(&base) != S.size || base != S.base) return false;
    roost__stack_region(&S.lo, &S.hi);
    if (S.lo == S.hi) return false;
    atomic_store(&S.copies, 0);
    atomic_store(&S.mode, MODE_LOG);
    /* A fault the last proof left in hand may have read MODE_OFF: it
     * would lift the protection about to be put back, and the page would
     * go unnoted. It counted itself in before it read the mode. */
    while (atomic_load(&S.inflight)) sched_yield();
    if (!protect(S.lo, S.hi)) {
        atomic_store(&S.mode, MODE_OFF);
        wp(S.lo, S.hi, false);
        return false;
    }
    S.armed = true;
    return true;
}

bool roost__reach_snap_take(void) {
    if (!S.armed) return false;
    /* Chunks carved since the protection went on: protected now, as they
     * are at the stop. */
    uintptr_t lo, hi;
    roost__stack_region(&lo, &hi);
    if (hi > S.hi) {
        bool ok = protect(S.hi, hi);
        S.hi = hi;
        if (!ok) return false;
    }
    /* Once the mode is set and no fault is in hand, every page the thread
     * let go in MODE_LOG is noted: a handler that read MODE_LOG counted
     * itself in before, and this waits for it. */
    atomic_store(&S.mode, MODE_COW);
    while (atomic_load(&S.inflight)) sched_yield();
    const uint64_t *w = (const uint64_t *)(S.state + page_ix(S.lo));
    size_t n = (S.hi - S.lo) / PAGE;
    for (size_t i = 0; i < n; i += 8) {
        if (i + 8 <= n && !w[i / 8]) continue;
        for (size_t j = i; j < i + 8 && j < n; j++) {
            uint8_t *st = S.state + page_ix(S.lo) + j;
            if (__atomic_load_n(st, __ATOMIC_ACQUIRE) != ST_WRITTEN) continue;
            uintptr_t pg = S.lo + j * PAGE;
            copy_page(pg);
            __atomic_store_n(st, ST_COPIED, __ATOMIC_RELEASE);
            atomic_fetch_add(&S.copies, 1);
        }
    }
    S.dontfork = true;
    if (madvise((void *)S.lo, S.hi - S.lo, MADV_DONTFORK) == 0) return true;
    roost__reach_snap_forked(); /* what it did before it failed: the fork copies the stacks */
    return false;
}

void roost__reach_snap_forked(void) {
    if (S.dontfork) madvise((void *)S.lo, S.hi - S.lo, MADV_DOFORK);
    S.dontfork = false;
}

void roost__reach_snap_end(void) {
    if (!S.armed) return;
    roost__reach_snap_forked();
    atomic_store(&S.mode, MODE_OFF);
    while (atomic_load(&S.inflight)) sched_yield();
    wp(S.lo, S.hi, false); /* wakes any thread still at a fault */
    /* No state changes in MODE_OFF: cleared for the next proof, and the
     * memory of the states and the copies given back. */
    size_t n = ((S.hi - S.base) / PAGE + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (madvise(S.state, n, MADV_REMOVE) != 0) memset(S.state, 0, n);
    if (atomic_load(&S.copies)) madvise(S.mirror, S.hi - S.base, MADV_REMOVE);
    S.armed = false;
}

void roost__reach_snap_range(uintptr_t *lo, uintptr_t *hi) { *lo = S.lo, *hi = S.hi; }

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17 */
#endif

void roost__reach_snap_fill_hole(void) {
    /* The range the fork left out: reserved again, so that nothing the
     * snapshot maps for itself lands where the program's stacks are (a
     * sanitizer's shadow there still describes their frames). */
    mmap((void *)S.lo, S.hi - S.lo, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
}

/* ------------------------------------------------------------ in the snapshot */

/* A system call that leaves errno alone: the snapshot's second thread
 * shares the first one's TLS. */
static long raw6(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
    long r;
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
#else
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
#endif
}

bool roost__reach_snap_read(const struct iovec *loc, const struct iovec *rem, size_t n) {
    size_t want = 0;
    for (size_t i = 0; i < n; i++) want += rem[i].iov_len;
    long got = raw6(SYS_process_vm_readv, S.pid, (long)loc, (long)n, (long)rem, (long)n, 0);
    if (got == -EPERM || got == -ENOSYS) { /* not ours to trace: through the file the program opened */
        got = 0;
        for (size_t i = 0; i < n; i++) {
            long k = raw6(SYS_pread64, S.memfd, (long)loc[i].iov_base, (long)rem[i].iov_len,
                          (long)rem[i].iov_base, 0, 0);
            if (k != (long)rem[i].iov_len) return false;
            got += k;
        }
    }
    if (got != (long)want) return false;
    /* The read is done (a system call): a page not copied by now was read
     * as it was at the stop. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (size_t i = 0; i < n; i++) {
        uintptr_t a = (uintptr_t)rem[i].iov_base, b = a + rem[i].iov_len;
        for (uintptr_t pg = a & ~(uintptr_t)(PAGE - 1); pg < b; pg += PAGE) {
            if (pg < S.base || pg >= S.base + S.size ||
                __atomic_load_n(&S.state[page_ix(pg)], __ATOMIC_ACQUIRE) != ST_COPIED)
                continue;
            uintptr_t x = pg > a ? pg : a, y = pg + PAGE < b ? pg + PAGE : b;
            memcpy((char *)loc[i].iov_base + (x - a), S.mirror + (x - S.base), y - x);
        }
    }
    return true;
}
