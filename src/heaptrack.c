/* heaptrack.c - the live chunks of a sanitizer's malloc, for the
 * reachability proof (reach.c) where glibc's heap is not there to walk.
 *
 * The one idea: ASan and TSan replace malloc with allocators of their own,
 * whose chunks cannot be walked from outside, but both call hooks on every
 * malloc and free once __sanitizer_install_malloc_and_free_hooks has them.
 * So this file keeps the set of live chunks (start, size) itself, from a
 * constructor that runs before the program's own, and hands the proof a
 * sorted map of them (roost__heapmap, as heapwalk.c builds from glibc's
 * heap): the mark in reach_mark.c is the same for both sources.
 *
 * Invariants:
 *   - The table lives in memory mapped for it (the hooks run inside
 *     malloc), guarded by one spin lock. The proof, with every other
 *     thread stopped, only tries the lock: a stopped thread holding it
 *     means "try again", never a guess.
 *   - Every chunk the program may still use is in the table: a chunk is
 *     added before malloc returns it and removed once free has it, and
 *     chunks from before the hooks went in are found by asking the
 *     allocator about every address of its space (at install, once).
 *     TSan runs the free hook of a realloc before it allocates the new
 *     chunk, and the malloc hook after it freed the old one: under TSan a
 *     freed chunk leaves the table only at that thread's next hook, so the
 *     realloc's data is always in one chunk the table has (see
 *     roost__heaptrack_fill for a large one the free unmapped).
 *   - Keys are kept as ~address: the table is read as a root by the proof
 *     (it is an ordinary mapping), and must not point at every chunk.
 *   - A chunk in ASan's quarantine is free: its free hook has run.
 */
#include "internal.h"
#include "heaptrack.h"

#if defined(ROOST_ASAN) || defined(ROOST_TSAN)

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* sanitizer/allocator_interface.h (clang ships it, gcc 12 does not; both
 * runtimes have these). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
int __sanitizer_get_ownership(const volatile void *p);
size_t __sanitizer_get_allocated_size(const volatile void *p);
#ifdef ROOST_ASAN
void __asan_get_shadow_mapping(size_t *shadow_scale, size_t *shadow_offset);
#endif

/* The runtimes' layouts on x86-64 (compiler-rt's asan_allocator.h and
 * tsan_platform.h, the same in gcc 12's and clang 14's): the allocator's
 * space for small chunks (SizeClassAllocator64 at a fixed address; its
 * free lists there hold 32-bit offsets, not pointers), and TSan's shadow
 * and meta shadow. ASan's shadow is asked of the runtime. A probe chunk
 * checks the allocator's space at install. */
#if defined(__x86_64__)
#ifdef ROOST_ASAN
#define PRIMARY_LO ((uintptr_t)0x600000000000)
#define PRIMARY_HI ((uintptr_t)0x640000000000)
#else
#define PRIMARY_LO ((uintptr_t)0x7b0000000000)
#define PRIMARY_HI ((uintptr_t)0x7c0000000000)
#define TSAN_SHADOW_LO ((uintptr_t)0x010000000000)
#define TSAN_SHADOW_HI ((uintptr_t)0x200000000000)
#define TSAN_META_LO ((uintptr_t)0x300000000000)
#define TSAN_META_HI ((uintptr_t)0x340000000000)
#endif
#endif

/* The table's code runs inside malloc and free, on threads the runtime
 * may be tearing down (a thread's TLS is freed after TSan has finished
 * with it): none of it is instrumented, and it maps memory with raw
 * system calls, past the interceptors. */
#define HT_RAW __attribute__((no_sanitize("address", "thread")))

typedef struct {
    uintptr_t key;  /* ~address of the chunk; 0: empty */
    uintptr_t size; /* bytes the program asked for */
    uint64_t seq;   /* when it was added (a deferred removal checks it) */
    int freer;      /* TSan: the thread whose free of it awaits that thread's next hook; 0: none */
} ht_ent;

static struct {
    _Atomic int lock;
    ht_ent *v;
    size_t cap, n; /* cap: a power of two; n <= cap / 2 */
    uint64_t seq;
    const char *why; /* NULL: the table stands for the heap */
    bool installed;
    int runtime_tid; /* TSan's background thread; 0: none known */
    uintptr_t shadow_lo, shadow_hi;
} HT = {.why = "the malloc hooks are not installed"};

#ifdef ROOST_TSAN
/* The chunk this thread freed last, removed at its next hook. */
static _Thread_local struct {
    uintptr_t addr;
    uint64_t seq;
    int tid; /* this thread's id, once known */
} ht_pending __attribute__((tls_model("initial-exec")));
#endif

HT_RAW static void ht_lock(void) {
    for (int spins = 0; atomic_exchange_explicit(&HT.lock, 1, memory_order_acquire);)
        if (++spins > 64) sched_yield(), spins = 0;
}

HT_RAW static void ht_unlock(void) { atomic_store_explicit(&HT.lock, 0, memory_order_release); }

HT_RAW static size_t ht_slot(uintptr_t a, size_t cap) {
    return (size_t)(((a >> 4) * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

HT_RAW static bool ht_grow(void) {
    size_t cap = HT.cap ? HT.cap * 2 : (size_t)1 << 14;
    ht_ent *v = (ht_ent *)syscall(SYS_mmap, NULL, cap * sizeof(ht_ent), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (v == MAP_FAILED) return false;
    for (size_t i = 0; i < HT.cap; i++) {
        if (!HT.v[i].key) continue;
        size_t j = ht_slot(~HT.v[i].key, cap);
        while (v[j].key) j = (j + 1) & (cap - 1);
        v[j] = HT.v[i];
    }
    if (HT.v) syscall(SYS_munmap, HT.v, HT.cap * sizeof *HT.v);
    HT.v = v, HT.cap = cap;
    return true;
}

/* Add (or update) the chunk at a. Lock held. */
HT_RAW static void ht_put(uintptr_t a, size_t size, bool only_new) {
    if ((HT.n + 1) * 2 > HT.cap && !ht_grow()) {
        HT.why = "the chunk table could not grow";
        return;
    }
    size_t j = ht_slot(a, HT.cap);
    while (HT.v[j].key && HT.v[j].key != ~a) j = (j + 1) & (HT.cap - 1);
    if (HT.v[j].key && only_new) return;
    if (!HT.v[j].key) HT.n++;
    HT.v[j] = (ht_ent){~a, size, ++HT.seq, 0};
}

/* Remove the chunk at a (if seq, only the one added then). Lock held. */
HT_RAW static void ht_del(uintptr_t a, uint64_t seq) {
    if (!HT.cap) return;
    size_t j = ht_slot(a, HT.cap);
    while (HT.v[j].key && HT.v[j].key != ~a) j = (j + 1) & (HT.cap - 1);
    if (!HT.v[j].key || (seq && HT.v[j].seq != seq)) return;
    /* Backward-shift deletion: no tombstones. */
    for (size_t i = j;;) {
        HT.v[i].key = 0;
        size_t k = i;
        for (;;) {
            k = (k + 1) & (HT.cap - 1);
            if (!HT.v[k].key) {
                HT.n--;
                return;
            }
            size_t h = ht_slot(~HT.v[k].key, HT.cap);
            /* Can the entry at k move to i: is i cyclically in [h, k)? */
            if ((k > i) ? (h <= i || h > k) : (h <= i && h > k)) break;
        }
        HT.v[i] = HT.v[k];
        i = k;
    }
}

HT_RAW static ht_ent *ht_find(uintptr_t a) {
    if (!HT.cap) return NULL;
    size_t j = ht_slot(a, HT.cap);
    while (HT.v[j].key && HT.v[j].key != ~a) j = (j + 1) & (HT.cap - 1);
    return HT.v[j].key ? &HT.v[j] : NULL;
}

#ifdef ROOST_TSAN
HT_RAW static void ht_flush_pending(void) {
    if (ht_pending.addr) ht_del(ht_pending.addr, ht_pending.seq);
    ht_pending.addr = 0;
}
#endif

HT_RAW static void on_malloc(const volatile void *p, size_t size) {
    if (!p) return;
    ht_lock();
    ht_put((uintptr_t)p, size, false);
#ifdef ROOST_TSAN
    ht_flush_pending();
#endif
    ht_unlock();
}

HT_RAW static void on_free(const volatile void *p) {
    if (!p) return;
    ht_lock();
#ifdef ROOST_TSAN
    ht_flush_pending();
    ht_ent *e = ht_find((uintptr_t)p);
    if (e) {
        if (!ht_pending.tid) ht_pending.tid = (int)syscall(SYS_gettid);
        ht_pending.addr = (uintptr_t)p, ht_pending.seq = e->seq;
        e->freer = ht_pending.tid;
    }
#else
    ht_del((uintptr_t)p, 0);
#endif
    ht_unlock();
}

HT_RAW void roost__heaptrack_quiesce(void) {
#ifdef ROOST_TSAN
    if (!ht_pending.addr) return;
    ht_lock();
    ht_flush_pending();
    ht_unlock();
#endif
}

/* ------------------------------------------------------------ install */

/* The readable and writable mappings inside [lo, hi), one at a time. */
static void each_rw_mapping(uintptr_t lo, uintptr_t hi, void (*fn)(uintptr_t a, uintptr_t b)) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            char *q;
            uintptr_t a = strtoull(line, &q, 16), b = strtoull(q + 1, &q, 16);
            if (q[1] == 'r' && q[2] == 'w' && a >= lo && b <= hi) fn(a, b);
            line = nl + 1;
        }
        len = strlen(line);
        memmove(buf, line, len);
    }
    close(fd);
}

/* Chunks allocated before the hooks went in: every address of the
 * allocator's space that it says begins a live chunk. */
HT_RAW static void adopt_range(uintptr_t a, uintptr_t b) {
    for (uintptr_t p = a; p < b; p += 8) {
        if (!__sanitizer_get_ownership((void *)p)) continue;
        size_t size = __sanitizer_get_allocated_size((void *)p);
        if (size) ht_put(p, size, true);
    }
}

#ifdef ROOST_TSAN
static int list_tasks(int *tids, int max) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') tids[n++] = atoi(e->d_name);
    closedir(d);
    return n;
}

static void *noop(void *arg) { return arg; }

/* Whether thread tid blocks ROOST_STOP_SIGNAL. */
static bool ht_blocks_stop(int tid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    char *p = strstr(buf, "SigBlk:");
    return p && ((strtoull(p + 7, NULL, 16) >> (ROOST_STOP_SIGNAL - 1)) & 1);
}
#endif

__attribute__((constructor(101))) static void heaptrack_install(void) {
#if defined(PRIMARY_LO)
    if (HT.installed) return;
    HT.installed = true;
    ht_lock();
    bool ok = ht_grow();
    ht_unlock();
    if (!ok || !__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free)) return;
    /* A fork while another thread holds the table would leave the child's
     * copy locked for good. */
    pthread_atfork(ht_lock, ht_unlock, ht_unlock);
#ifdef ROOST_ASAN
    size_t scale = 0, off = 0;
    __asan_get_shadow_mapping(&scale, &off);
    HT.shadow_lo = off - 4096, HT.shadow_hi = off + ((uintptr_t)1 << 47 >> scale);
#endif
    ht_lock();
    each_rw_mapping(PRIMARY_LO, PRIMARY_HI, adopt_range);
    ht_unlock();
    void *probe = malloc(48);
    ht_lock();
    bool found =
        probe && (uintptr_t)probe >= PRIMARY_LO && (uintptr_t)probe < PRIMARY_HI && ht_find((uintptr_t)probe);
    ht_unlock();
    free(probe);
    if (!found) {
        HT.why = "the sanitizer's allocator is not laid out as expected";
        return;
    }
#ifdef ROOST_TSAN
    /* TSan starts a thread of its own at the first pthread_create, with
     * every signal blocked: it cannot be stopped, and needs not be (it
     * runs none of the program's code). Started here to be told apart. */
    int before[64], after[64];
    int nb = list_tasks(before, 64);
    pthread_t th;
    if (nb < 0 || pthread_create(&th, NULL, noop, NULL) != 0) return;
    pthread_join(th, NULL);
    int na = list_tasks(after, 64);
    int found_tid = 0, nnew = 0;
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int k = 0; k < nb && !old; k++) old = before[k] == after[i];
        if (!old && ht_blocks_stop(after[i])) found_tid = after[i], nnew++;
    }
    if (nnew == 1) HT.runtime_tid = found_tid;
#endif
    HT.why = NULL;
#endif
}

/* ------------------------------------------------------------ the proof's side */

HT_RAW const char *roost__heaptrack_unavailable(void) { return HT.why; }

HT_RAW size_t roost__heaptrack_count(void) { return HT.n; }

bool roost__heaptrack_runtime_memory(uintptr_t lo, uintptr_t hi) {
#if defined(PRIMARY_LO)
    if (lo >= PRIMARY_LO && hi <= PRIMARY_HI) return true;
#ifdef ROOST_ASAN
    return HT.shadow_hi && lo >= HT.shadow_lo && hi <= HT.shadow_hi;
#else
    return (lo >= TSAN_SHADOW_LO && hi <= TSAN_SHADOW_HI) || (lo >= TSAN_META_LO && hi <= TSAN_META_HI);
#endif
#else
    (void)lo, (void)hi;
    return false;
#endif
}

bool roost__heaptrack_runtime_thread(int tid) { return HT.runtime_tid && tid == HT.runtime_tid; }

/* Whether the byte at a can be read (through the kernel: no fault). */
static bool readable(uintptr_t a) {
    char c;
    struct iovec l = {&c, 1}, r = {(void *)a, 1};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1;
}

static void sort_down(uintptr_t *lo, uintptr_t *hi, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && lo[c + 1] > lo[c]) c++;
        if (lo[c] <= lo[i]) return;
        uintptr_t t = lo[c];
        lo[c] = lo[i], lo[i] = t;
        t = hi[c], hi[c] = hi[i], hi[i] = t;
        i = c;
    }
}

/* Chunks closer than this share a segment (and its page index). */
#define SEG_GAP ((uintptr_t)1 << 20)

HT_RAW const char *roost__heaptrack_fill(roost__heapmap *h) {
    if (HT.why) return HT.why;
    int unlocked = 0;
    if (!atomic_compare_exchange_strong_explicit(&HT.lock, &unlocked, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return "a heap could not be walked"; /* a stopped thread is in malloc or free */
    const char *why = NULL;
    h->tracked = true;
    h->n = 0, h->nseg = 0, h->bytes = 0;
    for (size_t i = 0; i < HT.cap; i++) {
        if (!HT.v[i].key) continue;
        uintptr_t a = ~HT.v[i].key;
        /* A large chunk of its own mapping that cannot be read: freed and
         * unmapped (TSan), by a thread that has not come back to a hook
         * since. If that thread still lives it may be inside a realloc,
         * whose new chunk holds the data and is not in yet: try again (a
         * thread going idle comes back through roost__heaptrack_quiesce).
         * Otherwise it is free. Not freed: the program made a chunk of
         * its own unreadable, and it cannot be scanned. */
        if ((a < PRIMARY_LO || a >= PRIMARY_HI) && HT.v[i].size && !readable(a)) {
            char task[48];
            snprintf(task, sizeof task, "/proc/self/task/%d", HT.v[i].freer);
            if (HT.v[i].freer && access(task, F_OK) != 0) continue;
            why = HT.v[i].freer ? "a heap could not be walked" : "a chunk cannot be read";
            break;
        }
        if (h->n == h->cap) {
            why = "too many chunks";
            break;
        }
        h->lo[h->n] = a, h->hi[h->n] = a + HT.v[i].size, h->flags[h->n] = 0;
        h->bytes += HT.v[i].size;
        h->n++;
    }
    ht_unlock();
    if (why) return why;
    for (size_t k = h->n / 2; k-- > 0;) sort_down(h->lo, h->hi, k, h->n);
    for (size_t e = h->n; e-- > 1;) {
        uintptr_t t = h->lo[0];
        h->lo[0] = h->lo[e], h->lo[e] = t;
        t = h->hi[0], h->hi[0] = h->hi[e], h->hi[e] = t;
        sort_down(h->lo, h->hi, 0, e);
    }
    /* Segments: runs of chunks with gaps under SEG_GAP; the last takes the
     * rest if there are too many. Each ends one past its last chunk's end
     * (a pointer just past a chunk counts as into it). */
    for (size_t i = 0; i < h->n; i++) {
        roost__heapseg *s = h->nseg ? &h->seg[h->nseg - 1] : NULL;
        if (s && (h->lo[i] < s->hi + SEG_GAP || h->nseg == ROOST_HEAP_SEGS)) {
            s->hi = h->hi[i] + 1, s->n++;
            continue;
        }
        h->seg[h->nseg++] = (roost__heapseg){.lo = h->lo[i], .hi = h->hi[i] + 1, .first = i, .n = 1};
    }
    return NULL;
}

#else /* glibc's malloc: heapwalk.c walks it */

const char *roost__heaptrack_unavailable(void) { return "not a sanitizer build"; }
size_t roost__heaptrack_count(void) { return 0; }
void roost__heaptrack_quiesce(void) {}
const char *roost__heaptrack_fill(roost__heapmap *h) {
    (void)h;
    return "not a sanitizer build";
}
bool roost__heaptrack_runtime_memory(uintptr_t lo, uintptr_t hi) {
    (void)lo, (void)hi;
    return false;
}
bool roost__heaptrack_runtime_thread(int tid) {
    (void)tid;
    return false;
}

#endif
