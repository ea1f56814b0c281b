/* stack.c - task stacks: carved from large lazily-committed chunks, guarded,
 * pooled per worker.
 *
 * The one idea: a million stacks must fit in Linux's 65,530 memory mappings,
 * so stacks are never mapped one by one. A chunk of 64 slots is one mmap
 * (MAP_NORESERVE: the kernel commits a page only when it is first touched,
 * so a parked task with a shallow stack costs one page). Each slot is
 *
 *     lo - GUARD            lo                               hi
 *     | guard (16 KiB)      | stack, grows down ... | task | roost__stack |
 *
 * The task record and this file's bookkeeping share the top page with the
 * first frames. Guard pages, in order of preference:
 *   1. MADV_GUARD_INSTALL (Linux 6.13+): guard markers in the page tables,
 *      no extra mapping at all, so every stack is guarded whatever the count.
 *   2. mprotect(PROT_NONE): each guard splits the chunk's mapping, two
 *      mappings per stack; used until half of vm.max_map_count is spent.
 *   3. Beyond that budget stacks have no guard page; the scheduler checks the
 *      saved stack pointer against the stack's bounds at every switch out
 *      (roost__stack_check), which catches an overflow that is still deep at
 *      a switch point but not one that returned before it. docs/guide.md
 *      states this trade-off.
 * A fault in a guard is reported, naming the task and its spawn site, from
 * fatal.c's SIGSEGV handler on an alternate signal stack; then the process
 * aborts.
 *
 * Chunks of default-size slots are carved, one after another, from one
 * range of address space reserved at start (REGION_SIZE, no memory until
 * a chunk is mapped in it): the reachability proof's snapshot handles the
 * stacks as one range (reach_snap.c), and finds chunk k at
 * region + k * chunk without reading any slot. Where the reservation is
 * refused or full, chunks are mapped anywhere and linked through slot 0's
 * record (stacks.chunks), as odd-size stacks are.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ROOST_HAVE_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define GUARD_SIZE ((size_t)16 << 10)
#define CHUNK_SLOTS 64
#define WORKER_CACHE_MAX 64
#define POOL_BATCH 32
#define REGION_SIZE ((size_t)256 << 30)

enum { GUARD_INSTALL = 1, GUARD_MPROTECT = 2 };

static struct {
    size_t size; /* default usable stack size (page multiple) */
    size_t page;
    int guard_mode;            /* GUARD_INSTALL or GUARD_MPROTECT */
    atomic_long mprotect_left; /* mprotect guards we may still add */
    pthread_mutex_t lock;      /* over the global pool below */
    roost__stack *pool;        /* free default-size stacks shared by workers */
    long pooled;
    char *region;           /* the reserved range; NULL: none */
    _Atomic size_t nregion; /* chunks carved from it, at region + k * chunk */
    size_t region_cap;      /* how many fit */
    roost__stack *chunks;   /* slot 0 of every chunk outside the region, linked by chunk_next */
    roost__stack *odd;      /* live odd-size stacks, linked by chunk_next (for observers) */
    /* Sliced walks (roost__for_each_stack_slot with a pause) in their odd
     * part, and the odd stacks released meanwhile: unlinked from odd but
     * kept mapped, linked by next, until the last such walk ends. */
    int odd_walkers;
    roost__stack *odd_deferred;
} stacks = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long max_map_count(void) {
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = 65530;
        fclose(f);
    }
    return v;
}

/* Guard [p, p + GUARD_SIZE). Returns true if a guard is in place. */
static bool guard(char *p) {
    if (stacks.guard_mode == GUARD_INSTALL) return madvise(p, GUARD_SIZE, MADV_GUARD_INSTALL) == 0;
    if (atomic_fetch_sub(&stacks.mprotect_left, 1) <= 0) return false;
    return mprotect(p, GUARD_SIZE, PROT_NONE) == 0;
}

/* Lay a slot of `slot` bytes at base out as a stack. */
static roost__stack *slot_init(char *base, size_t slot, bool pooled) {
    roost__stack *s = (roost__stack *)(base + slot - sizeof(roost__stack));
    s->lo = base + GUARD_SIZE;
    s->hi = base + slot;
    s->size = slot - GUARD_SIZE;
    s->next = NULL;
    s->chunk_next = NULL;
    s->pooled_size = pooled;
    s->guarded = guard(base);
#ifdef ROOST_HAVE_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#endif
    return s;
}

static void *map(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Map a chunk of default-size slots and put them on the global pool.
 * Called with stacks.lock held. */
static bool grow_pool(void) {
    size_t slot = stacks.size + GUARD_SIZE;
    size_t len = slot * CHUNK_SLOTS;
    size_t k = atomic_load_explicit(&stacks.nregion, memory_order_relaxed);
    char *base = NULL;
    if (stacks.region && k < stacks.region_cap) {
        void *p = mmap(stacks.region + k * len, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        base = p == MAP_FAILED ? NULL : p;
    }
    bool in_region = base != NULL;
    if (!base) base = map(len);
    if (!base) return false;
    for (int i = CHUNK_SLOTS - 1; i >= 0; i--) {
        roost__stack *s = slot_init(base + (size_t)i * slot, slot, true);
        s->next = stacks.pool, stacks.pool = s;
        stacks.pooled++;
    }
    /* Published once its slots are laid out: walks read the count without
     * the lock. Outside the region, the chunk list lives in slot 0's
     * record, whose page is touched anyway: no heap memory per chunk. */
    if (in_region)
        atomic_store_explicit(&stacks.nregion, k + 1, memory_order_release);
    else
        stacks.pool->chunk_next = stacks.chunks, stacks.chunks = stacks.pool;
    return true;
}

/* Slot 0 of chunk k of the region. */
static char *region_chunk(size_t k) { return stacks.region + k * (stacks.size + GUARD_SIZE) * CHUNK_SLOTS; }

size_t roost__stack_region_size(uintptr_t *base) {
    *base = (uintptr_t)stacks.region;
    return stacks.region ? REGION_SIZE : 0;
}

void roost__stack_region(uintptr_t *lo, uintptr_t *hi) {
    size_t n = atomic_load_explicit(&stacks.nregion, memory_order_acquire);
    *lo = (uintptr_t)stacks.region;
    *hi = n ? (uintptr_t)region_chunk(n) : *lo;
}

roost__stack *roost__stack_get(roost__worker *w, size_t size) {
    if (size == 0 || size == stacks.size) {
        roost__stack *s;
        if (w && (s = w->stack_cache)) {
            w->stack_cache = s->next;
            w->stack_cached--;
            return s;
        }
        pthread_mutex_lock(&stacks.lock);
        if (!stacks.pool && !grow_pool()) {
            pthread_mutex_unlock(&stacks.lock);
            return NULL;
        }
        s = stacks.pool, stacks.pool = s->next, stacks.pooled--;
        /* Refill the worker's cache in one trip to the lock. */
        for (int i = 0; w && i < POOL_BATCH && stacks.pool; i++) {
            roost__stack *t = stacks.pool;
            stacks.pool = t->next, stacks.pooled--;
            t->next = w->stack_cache, w->stack_cache = t, w->stack_cached++;
        }
        pthread_mutex_unlock(&stacks.lock);
        return s;
    }
    /* Odd sizes get their own mapping, returned to the kernel on exit. */
    size = (size + stacks.page - 1) & ~(stacks.page - 1);
    if (size < 4 * stacks.page) size = 4 * stacks.page;
    if (size > ((size_t)1 << 34)) return NULL;
    char *base = map(size + GUARD_SIZE);
    if (!base) return NULL;
    roost__stack *s = slot_init(base, size + GUARD_SIZE, false);
    pthread_mutex_lock(&stacks.lock);
    s->chunk_next = stacks.odd, stacks.odd = s;
    pthread_mutex_unlock(&stacks.lock);
    return s;
}

static void odd_unmap(roost__stack *s) { munmap(s->lo - GUARD_SIZE, s->size + GUARD_SIZE); }

static void release_odd(roost__stack *s) {
    /* Unlinked under the lock observers hold while they read odd stacks, so
     * no one reads this mapping once it is gone; while a sliced walk is in
     * the odd list (and may stand on this stack, the lock dropped), the
     * unmap waits for the walk to end. */
    pthread_mutex_lock(&stacks.lock);
    roost__stack **pp = &stacks.odd;
    while (*pp && *pp != s) pp = &(*pp)->chunk_next;
    if (*pp) *pp = s->chunk_next;
    bool defer = stacks.odd_walkers > 0;
    if (defer) s->next = stacks.odd_deferred, stacks.odd_deferred = s;
    pthread_mutex_unlock(&stacks.lock);
#ifdef ROOST_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    if (s->guarded && stacks.guard_mode == GUARD_MPROTECT) atomic_fetch_add(&stacks.mprotect_left, 1);
    if (!defer) odd_unmap(s);
}

void roost__stack_put(roost__worker *w, roost__stack *s) {
    if (!s->pooled_size) {
        release_odd(s);
        return;
    }
    if (w && w->stack_cached < WORKER_CACHE_MAX) {
        s->next = w->stack_cache, w->stack_cache = s, w->stack_cached++;
        return;
    }
    pthread_mutex_lock(&stacks.lock);
    s->next = stacks.pool, stacks.pool = s, stacks.pooled++;
    pthread_mutex_unlock(&stacks.lock);
}

void roost__stack_flush(roost__worker *w) {
    pthread_mutex_lock(&stacks.lock);
    while (w->stack_cache) {
        roost__stack *s = w->stack_cache;
        w->stack_cache = s->next;
        s->next = stacks.pool, stacks.pool = s, stacks.pooled++;
    }
    w->stack_cached = 0;
    pthread_mutex_unlock(&stacks.lock);
}

/* Call fn on the task record of every stack slot there is, live or not
 * (fn checks). Chunks are only ever prepended, and unmapped only at
 * roost_shutdown, so they are walked without the lock, and a cursor into
 * them (chunk, slot) stays good across a pause. Odd-size stacks can be
 * unmapped at any exit, so they are visited under the lock.
 *
 * With pause, the walk is sliced: pause(arg) runs after every chunk and
 * every STACK_WALK_BATCH odd stacks, with no lock held, and may yield or
 * park. Across a pause in the odd list the cursor is an odd stack that
 * may exit meanwhile: odd_walkers keeps every released odd stack mapped
 * until the last sliced walk leaves the list (release_odd), and the walk
 * goes on from the cursor's chunk_next. That is safe and visits no stack
 * twice: odd stacks are only ever prepended, so a stack's chunk_next is
 * always an older stack; unlinking one changes only its predecessor's
 * link, so a cursor unlinked meanwhile still leads, through older stacks
 * only, back into the list or to its end. What a sliced walk sees is what
 * any walk sees, over a longer span: every slot is visited once, a task
 * alive for the whole walk is met exactly once (a task keeps its slot for
 * life), and one spawned or exited meanwhile may or may not be. */
#define STACK_WALK_BATCH 64
#define STACK_WALK_AHEAD 4  /* slots */
#define STACK_WALK_SAVED 48 /* above a saved stack pointer: the frame pointer and return address, or near */

/* The slots of the chunk whose slot 0 starts at base. */
static void walk_chunk(char *base, size_t slot, void (*fn)(roost__task *t, void *arg), void *arg) {
    for (int i = 0; i < CHUNK_SLOTS; i++) {
        roost__stack *s = (roost__stack *)(base + (size_t)(i + 1) * slot - sizeof(roost__stack));
        /* Each record is on a page of its own, cold in cache and TLB,
         * and so is the top of its stack, which fn reads next: ask for
         * the records a few slots on, and for the stack top of one
         * whose record was asked for already, while fn reads this one.
         * A prefetch never faults, so a saved stack pointer read as it
         * changes costs a wasted prefetch at most. */
        if (i + STACK_WALK_AHEAD < CHUNK_SLOTS)
            __builtin_prefetch(roost__stack_task((roost__stack *)((char *)s + STACK_WALK_AHEAD * slot)));
        if (i + STACK_WALK_AHEAD / 2 < CHUNK_SLOTS) {
            roost__task *t = roost__stack_task((roost__stack *)((char *)s + STACK_WALK_AHEAD / 2 * slot));
            __builtin_prefetch((char *)(uintptr_t)roost__racy_load64(&t->sp) + STACK_WALK_SAVED);
        }
        fn(roost__stack_task(s), arg);
    }
}

void roost__for_each_stack_slot_sliced(void (*fn)(roost__task *t, void *arg), void (*pause)(void *arg),
                                       void *arg) {
    pthread_mutex_lock(&stacks.lock);
    roost__stack *c = stacks.chunks;
    size_t slot = stacks.size + GUARD_SIZE;
    pthread_mutex_unlock(&stacks.lock);
    size_t nr = atomic_load_explicit(&stacks.nregion, memory_order_acquire);
    for (size_t k = 0; k < nr; k++) {
        walk_chunk(region_chunk(k), slot, fn, arg);
        if (pause) pause(arg);
    }
    for (; c; c = c->chunk_next) {
        walk_chunk(c->lo - GUARD_SIZE, slot, fn, arg);
        if (pause) pause(arg);
    }
    pthread_mutex_lock(&stacks.lock);
    if (pause) stacks.odd_walkers++;
    int k = 0;
    for (roost__stack *s = stacks.odd; s; s = s->chunk_next) {
        fn(roost__stack_task(s), arg);
        if (pause && ++k % STACK_WALK_BATCH == 0 && s->chunk_next) {
            pthread_mutex_unlock(&stacks.lock);
            pause(arg);
            pthread_mutex_lock(&stacks.lock);
        }
    }
    roost__stack *gone = NULL;
    if (pause && --stacks.odd_walkers == 0) gone = stacks.odd_deferred, stacks.odd_deferred = NULL;
    pthread_mutex_unlock(&stacks.lock);
    while (gone) {
        roost__stack *s = gone;
        gone = s->next;
        odd_unmap(s);
    }
}

void roost__for_each_stack_slot(void (*fn)(roost__task *t, void *arg), void *arg) {
    roost__for_each_stack_slot_sliced(fn, NULL, arg);
}

void roost__stack_hold(bool hold) {
    if (hold)
        pthread_mutex_lock(&stacks.lock);
    else
        pthread_mutex_unlock(&stacks.lock);
}

/* The slots of the chunk whose slot 0 starts at base, for each_held: fn
 * is given where each slot's bookkeeping is, and reads it or not. */
static void held_chunk(char *base, size_t slot, bool ahead,
                       void (*fn)(roost__stack *s, char *base, size_t len, void *arg), void *arg) {
    for (int i = 0; i < CHUNK_SLOTS; i++) {
        char *b = base + (size_t)i * slot;
        /* Each record lies on a page of its own, rarely cached: asked
         * for 8 slots ahead (a walk of 100,000 slots takes half the
         * time). */
        if (ahead && i + 8 < CHUNK_SLOTS) {
            roost__stack *a = (roost__stack *)(b + 9 * slot - sizeof(roost__stack));
            char *rec = (char *)roost__stack_task(a);
            __builtin_prefetch(a);
            __builtin_prefetch(rec), __builtin_prefetch(rec + 64), __builtin_prefetch(rec + 128);
        }
        fn((roost__stack *)(b + slot - sizeof(roost__stack)), b, slot, arg);
    }
}

void roost__stack_each_held(bool region_unread,
                            void (*fn)(roost__stack *s, char *base, size_t len, void *arg), void *arg) {
    size_t slot = stacks.size + GUARD_SIZE;
    size_t nr = atomic_load_explicit(&stacks.nregion, memory_order_acquire);
    for (size_t k = 0; k < nr; k++) held_chunk(region_chunk(k), slot, !region_unread, fn, arg);
    for (roost__stack *c = stacks.chunks; c; c = c->chunk_next)
        held_chunk(c->lo - GUARD_SIZE, slot, true, fn, arg);
    for (roost__stack *s = stacks.odd; s; s = s->chunk_next)
        fn(s, s->lo - GUARD_SIZE, (size_t)(s->hi - s->lo) + GUARD_SIZE, arg);
}

size_t roost__stack_regions(uintptr_t *lo, uintptr_t *hi, size_t max) {
    size_t slot = stacks.size + GUARD_SIZE, n = 0;
    if (atomic_load_explicit(&stacks.nregion, memory_order_acquire)) {
        if (n < max) roost__stack_region(&lo[n], &hi[n]);
        n++;
    }
    for (roost__stack *c = stacks.chunks; c; c = c->chunk_next, n++)
        if (n < max) lo[n] = (uintptr_t)c->lo - GUARD_SIZE, hi[n] = lo[n] + CHUNK_SLOTS * slot;
    for (roost__stack *s = stacks.odd; s; s = s->chunk_next, n++)
        if (n < max) lo[n] = (uintptr_t)s->lo - GUARD_SIZE, hi[n] = (uintptr_t)s->hi;
    return n;
}

/* ------------------------------------------------------------ overflow */

static void report_overflow(roost__task *t) {
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "roost: fatal: stack overflow in task %llu%s%s%s (spawned at %s:%d in %s), "
                     "stack %zu bytes; raise it with ROOST_STACK_SIZE or roost_task_opts_t.stack_size\n",
                     (unsigned long long)t->id, t->name ? " \"" : "", t->name ? t->name : "",
                     t->name ? "\"" : "", t->site ? t->site->file : "?", t->site ? t->site->line : 0,
                     t->site ? t->site->func : "?", t->stack ? t->stack->size : (size_t)0);
    if (n > 0) {
        ssize_t r = write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)r;
    }
}

void roost__stack_check(roost__task *t, void *sp) {
    if ((char *)sp < t->stack->lo + 256) {
        report_overflow(t);
        abort();
    }
}

/* A SIGSEGV in task t, at addr, with the task's stack pointer at sp (from
 * fatal.c's handler, on the alternate signal stack): ours if the fault is in
 * the guard, or if the stack pointer is already below the stack (a stack
 * without a guard page that ran into something unmapped further down). */
static _Thread_local void *altstack;
#define ALTSTACK_SIZE (64 << 10)

bool roost__stack_overflow_fault(roost__task *t, const void *addr, const void *sp) {
    const char *a = addr;
    if (!t->stack) return false;
    /* A fault taken on this thread's signal stack (in another handler) is
     * not the task's: its sp says nothing about the task's stack. */
    if (altstack && (const char *)sp >= (char *)altstack &&
        (const char *)sp < (char *)altstack + ALTSTACK_SIZE)
        sp = NULL;
    if ((a < t->stack->lo && a >= t->stack->lo - GUARD_SIZE) || (sp && (const char *)sp < t->stack->lo)) {
        report_overflow(t);
        return true;
    }
    return false;
}

void roost__stack_thread_init(void) {
#ifndef ROOST_ASAN
    if (altstack) return;
    altstack = map(ALTSTACK_SIZE);
    if (!altstack) return;
    stack_t ss = {.ss_sp = altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    sigaltstack(&ss, NULL);
#endif
}

void roost__stack_thread_fini(void) {
    if (!altstack) return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(altstack, ALTSTACK_SIZE);
    altstack = NULL;
}

int roost__stack_init(size_t default_size) {
    stacks.page = (size_t)sysconf(_SC_PAGESIZE);
    if (default_size < 4 * stacks.page) default_size = 4 * stacks.page;
    stacks.size = (default_size + stacks.page - 1) & ~(stacks.page - 1);
    /* Probe for page-table guards once, on a scratch mapping. */
    char *probe = map(2 * GUARD_SIZE);
    if (!probe) return ROOST_ENOMEM;
    stacks.guard_mode = madvise(probe, GUARD_SIZE, MADV_GUARD_INSTALL) == 0 ? GUARD_INSTALL : GUARD_MPROTECT;
    munmap(probe, 2 * GUARD_SIZE);
    atomic_store(&stacks.mprotect_left, max_map_count() / 2 - 2048);
    if (!stacks.region) {
        void *r = mmap(NULL, REGION_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        /* Left out of core dumps until carved (a chunk mapped over it is
         * dumped): gdb's gcore would write all of it, as zeros. */
        if (r != MAP_FAILED) stacks.region = r, madvise(r, REGION_SIZE, MADV_DONTDUMP);
    }
    stacks.region_cap = stacks.region ? REGION_SIZE / ((stacks.size + GUARD_SIZE) * CHUNK_SLOTS) : 0;
    roost__crash_install(); /* its SIGSEGV handler asks roost__stack_overflow_fault first */
    return ROOST_OK;
}

/* Chunk base's slots told to valgrind they are stacks no more. */
static void chunk_deregister(char *base, size_t slot) {
#ifdef ROOST_HAVE_VALGRIND
    for (int i = 0; i < CHUNK_SLOTS; i++) {
        roost__stack *s = (roost__stack *)(base + (size_t)(i + 1) * slot - sizeof(roost__stack));
        VALGRIND_STACK_DEREGISTER(s->vg_id);
    }
#else
    (void)base, (void)slot;
#endif
}

void roost__stack_fini(void) {
    pthread_mutex_lock(&stacks.lock);
    size_t slot = stacks.size + GUARD_SIZE;
    while (stacks.chunks) {
        roost__stack *c = stacks.chunks;
        char *base = c->lo - GUARD_SIZE;
        stacks.chunks = c->chunk_next;
        chunk_deregister(base, slot);
        munmap(base, slot * CHUNK_SLOTS);
    }
    size_t nr = atomic_exchange(&stacks.nregion, 0), len = nr * slot * CHUNK_SLOTS;
    for (size_t k = 0; k < nr; k++) chunk_deregister(region_chunk(k), slot);
    /* The region stays reserved (a later roost_init carves it again); its
     * chunks go back to the kernel. */
    if (nr && mmap(stacks.region, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                   0) == MAP_FAILED)
        stacks.region = NULL;
    if (nr && stacks.region) madvise(stacks.region, len, MADV_DONTDUMP);
    stacks.pool = NULL, stacks.pooled = 0;
    pthread_mutex_unlock(&stacks.lock);
}
