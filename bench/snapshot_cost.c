/* snapshot_cost: what the kernel charges to snapshot, or to watch, a process
 * laid out like the reachability proof's 100k case, with no roost in it.
 *
 *     build/bench/snapshot_cost [heap_MiB slots slot_KiB guard_KiB]
 *     (default: 280 100000 80 16, the layout of bench/reach's larger run:
 *     a heap of pages all touched, and task stack slots with their top page
 *     touched and a guard at the bottom, as src/stack.c lays them out)
 *
 * Prints, each the best of 3, in ms:
 *   fork_ms        fork() of the whole process (the proof's stop is this)
 *   move_ms        the slots' pages taken out of their range instead
 *                  (mremap with MREMAP_DONTUNMAP to a range of their own,
 *                  left out of the fork), the emptied range registered
 *                  with userfaultfd for its missing pages, then the fork
 *                  of the rest: a snapshot whose stacks the program would
 *                  get back page by page, as it faults; "-" where refused
 *   move_only_ms   of move_ms, the mremap alone
 *   wp_ms          UFFDIO_WRITEPROTECT of heap and slots (a userfaultfd
 *                  write-protected snapshot's stop), or "-" where the kernel
 *                  or its settings refuse it
 *   scan_ms        PAGEMAP_SCAN finding the pages written since a
 *                  write-protect (asynchronous mode), 2,000 of them: the
 *                  final stop of a concurrent mark that asks the page tables
 *   written        the written page runs that scan found (2,000 at most)
 *   pages          resident pages in the two regions
 * Not part of `make bench`'s table: it measures the kernel, not roost
 * (docs/leaks.md, "Why the stop is what it is"). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define FEATURE_WP_ASYNC (1u << 15) /* Linux 6.7 */
#define GUARD_INSTALL 102           /* MADV_GUARD_INSTALL, Linux 6.13 */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4 /* Linux 5.7 */
#endif

/* PAGEMAP_SCAN (Linux 6.7), declared here for older headers. */
struct scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct scan_region {
    uint64_t start, end, categories;
};
#define SCAN_IOCTL _IOWR('f', 16, struct scan_arg)
#define SCAN_WP_MATCHING 1
#define SCAN_CHECK_WPASYNC 2
#define PAGE_WRITTEN 2

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct {
    char *p;
    size_t len;
} region;

static int protect(int fd, region r, int on) {
    struct uffdio_writeprotect wp = {{(uintptr_t)r.p, r.len}, on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
}

static int fork_and_reap(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) return -1;
    waitpid(pid, NULL, 0);
    return 0;
}

/* The stop of a snapshot that moves the slots' page tables out of the way
 * rather than copying them: best of 3. The pages go back where they were
 * after each try (the whole range at once, which a real design could not
 * do once the program had faulted some back). */
static void move_cost(region s, double *total, double *only) {
    char *snap = mmap(NULL, s.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api api = {.api = UFFD_API};
    if (snap == MAP_FAILED || fd < 0 || ioctl(fd, UFFDIO_API, &api) != 0) goto out;
    for (int k = 0; k < 3; k++) {
        double t0 = now_ms();
        if (mremap(s.p, s.len, s.len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, snap) == MAP_FAILED)
            break;
        double t1 = now_ms();
        struct uffdio_register reg = {{(uintptr_t)s.p, s.len}, UFFDIO_REGISTER_MODE_MISSING, 0};
        bool ok = madvise(snap, s.len, MADV_DONTFORK) == 0 && ioctl(fd, UFFDIO_REGISTER, &reg) == 0 &&
                  fork_and_reap() == 0;
        double t2 = now_ms();
        struct uffdio_range all = {(uintptr_t)s.p, s.len};
        ioctl(fd, UFFDIO_UNREGISTER, &all);
        madvise(snap, s.len, MADV_DOFORK);
        if (mremap(snap, s.len, s.len, MREMAP_MAYMOVE | MREMAP_FIXED, s.p) == MAP_FAILED) {
            perror("snapshot_cost: mremap back");
            exit(1);
        }
        snap = mmap(NULL, s.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (!ok || snap == MAP_FAILED) break;
        if (*total < 0 || t2 - t0 < *total) *total = t2 - t0, *only = t1 - t0;
    }
out:
    if (fd >= 0) close(fd);
    if (snap != MAP_FAILED) munmap(snap, s.len);
}

int main(int argc, char **argv) {
    size_t heap_mb = argc > 1 ? strtoul(argv[1], NULL, 0) : 280;
    size_t nslots = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
    size_t slot = (argc > 3 ? strtoul(argv[3], NULL, 0) : 80) << 10;
    size_t guard = (argc > 4 ? strtoul(argv[4], NULL, 0) : 16) << 10;
    region r[2] = {{NULL, heap_mb << 20}, {NULL, nslots * slot}};
    r[0].p = mmap(NULL, r[0].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r[1].p = mmap(NULL, r[1].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r[0].p == MAP_FAILED || r[1].p == MAP_FAILED) {
        perror("snapshot_cost: mmap");
        return 1;
    }
    memset(r[0].p, 1, r[0].len);
    for (size_t i = 0; i < nslots; i++) {
        if (guard) madvise(r[1].p + i * slot, guard, GUARD_INSTALL); /* no guard where unsupported */
        r[1].p[i * slot + slot - 64] = 1;
    }
    size_t pages = r[0].len / 4096 + nslots;

    double fork_ms = 1e18;
    for (int k = 0; k < 3; k++) {
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        double t1 = now_ms();
        if (pid < 0) {
            perror("snapshot_cost: fork");
            return 1;
        }
        waitpid(pid, NULL, 0);
        if (t1 - t0 < fork_ms) fork_ms = t1 - t0;
    }

    double move_ms = -1, move_only_ms = -1;
    move_cost(r[1], &move_ms, &move_only_ms);

    double wp_ms = -1, scan_ms = -1;
    size_t scan_found = 0;
    /* Asynchronous write-protect where the kernel has it (writes go
     * through, the pages are marked written); else the synchronous kind,
     * whose writes would wait for a handler: then only wp_ms. */
    bool async = true, ok = false;
    int fd = -1;
    for (int tries = 0; tries < 2 && !ok; tries++, async = false) {
        if (fd >= 0) close(fd);
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        struct uffdio_api api = {.api = UFFD_API, .features = async ? FEATURE_WP_ASYNC : 0};
        ok = fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0;
        if (ok) break;
    }
    for (int i = 0; i < 2 && ok; i++) {
        struct uffdio_register reg = {{(uintptr_t)r[i].p, r[i].len}, UFFDIO_REGISTER_MODE_WP, 0};
        ok = ioctl(fd, UFFDIO_REGISTER, &reg) == 0;
    }
    int pm = ok ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
    static struct scan_region vec[4096];
    for (int k = 0; k < 3 && ok; k++) {
        double t0 = now_ms();
        ok = protect(fd, r[0], 1) == 0 && protect(fd, r[1], 1) == 0;
        double t1 = now_ms();
        if (ok && (wp_ms < 0 || t1 - t0 < wp_ms)) wp_ms = t1 - t0;
        /* 2,000 pages written, half in the heap, half in the slots (an
         * asynchronous write-protect lets the writes through and marks the
         * pages written). */
        for (size_t i = 0; ok && async && i < 1000; i++) {
            r[0].p[(i * 7919 % (r[0].len / 4096)) * 4096] = 2;
            r[1].p[(i * 97 % nslots) * slot + slot - 64] = 2;
        }
        double t2 = now_ms();
        bool scanned = async && pm >= 0;
        size_t found = 0;
        for (int i = 0; i < 2 && scanned; i++) {
            /* The scan stops early when vec fills up: on from walk_end. */
            for (uintptr_t at = (uintptr_t)r[i].p, end = at + r[i].len; scanned && at < end;) {
                struct scan_arg a = {.size = sizeof a,
                                     .flags = SCAN_WP_MATCHING | SCAN_CHECK_WPASYNC,
                                     .start = at,
                                     .end = end,
                                     .vec = (uintptr_t)vec,
                                     .vec_len = sizeof vec / sizeof vec[0],
                                     .category_mask = PAGE_WRITTEN,
                                     .return_mask = PAGE_WRITTEN};
                long got = ioctl(pm, SCAN_IOCTL, &a);
                scanned = got >= 0 && a.walk_end > at;
                found += got > 0 ? (size_t)got : 0;
                at = a.walk_end;
            }
        }
        double t3 = now_ms();
        if (scanned && (scan_ms < 0 || t3 - t2 < scan_ms)) scan_ms = t3 - t2, scan_found = found;
        if (ok) ok = protect(fd, r[0], 0) == 0 && protect(fd, r[1], 0) == 0;
    }
    printf("fork_ms %.2f", fork_ms);
    if (move_ms >= 0)
        printf(" move_ms %.2f move_only_ms %.2f", move_ms, move_only_ms);
    else
        printf(" move_ms - move_only_ms -");
    if (wp_ms >= 0)
        printf(" wp_ms %.2f", wp_ms);
    else
        printf(" wp_ms -");
    if (scan_ms >= 0)
        printf(" scan_ms %.2f", scan_ms);
    else
        printf(" scan_ms -");
    printf(" written %zu pages %zu\n", scan_found, pages);
    return 0;
}
