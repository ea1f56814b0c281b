/* internal.h - what roost's own files share. Not installed.
 *
 * Names here are roost__xxx (two underscores); everything else in src/ is
 * static. The one idea to hold: a blocked task is described by a *park
 * record* on its own stack, and by *waiter nodes* (also on its stack) linked
 * into the queues of the objects it waits on. Whoever wins the CAS on the
 * park record's `claimed` word owns the wake-up: it fills in the result and
 * makes the task runnable; every other node of that park is stale and is
 * skipped by wakers and unlinked by the task itself once it runs again.
 * The locks guarding those queues are released only after the parking task's
 * registers are saved (see roost__block), so no one can resume a task that
 * has not finished switching out.
 */
#ifndef ROOST_INTERNAL_H
#define ROOST_INTERNAL_H

#include "roost.h"
#include "roost_obs.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>

/* Everything declared below is the library's own: hidden, so that code in
 * libroost.so reaches these globals directly rather than through the GOT
 * (one instruction less per access, on paths like a park), and so that the
 * shared library exports only the public API. */
#pragma GCC visibility push(hidden)

#if defined(__SANITIZE_ADDRESS__)
#define ROOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROOST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ROOST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ROOST_TSAN 1
#endif
#endif

#define ROOST_LIKELY(x) __builtin_expect(!!(x), 1)
#define ROOST_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ invariant checks
 * The core files open with their invariants; a ROOST_DEBUG build (make
 * DEBUG=1, and the sanitizer builds) checks them where they can be checked
 * cheaply: task state moves, a lock held in a *_locked function, the
 * worker read after a switch point being the thread's own. Elsewhere a
 * check compiles to nothing (its condition is not evaluated), so the normal
 * build runs no instruction for it. A failed check is reported through
 * fatal.c (naming the calling task, with its stack) and aborts. */
void roost__assert_fail(const char *file, int line, const char *expr) __attribute__((noreturn, cold));
#ifdef ROOST_DEBUG
#define ROOST_ASSERT(cond)                                                          \
    do {                                                                            \
        if (ROOST_UNLIKELY(!(cond))) roost__assert_fail(__FILE__, __LINE__, #cond); \
    } while (0)
#else
#define ROOST_ASSERT(cond) ((void)sizeof(!(cond)))
#endif
/* A spin lock (below) is held: by someone; the lock word cannot say whom. */
#define ROOST_ASSERT_LOCKED(l) \
    ROOST_ASSERT(atomic_load_explicit((atomic_int *)(l), memory_order_relaxed) != 0)

/* For correctness, not speed: a function that reads the thread's worker
 * from TLS, or reads it inline before a switch point, must stay a call of
 * its own. Inlined into a caller that also reads TLS after a switch, the
 * compiler could keep the thread pointer from before the switch in a
 * register, and the task may have moved to another thread since (GCC
 * treats AArch64's thread pointer as a constant within a function). */
#define ROOST_TLS_REREAD __attribute__((noinline))

/* ------------------------------------------------------------ spinlock
 * Queue locks are held for a handful of instructions, so a test-and-test-
 * and-set lock beats a pthread mutex (no syscall, 4 bytes, embeddable in the
 * public sync structs). After a long spin it yields the OS thread, which
 * keeps a preempted holder from starving everyone. */
void roost__spin_slow(atomic_int *l);
/* True if taken (for a fast path that must make no call). */
static inline bool roost__trylock(int *l) {
    return !atomic_exchange_explicit((atomic_int *)l, 1, memory_order_acquire);
}
static inline void roost__lock(int *l) {
    if (ROOST_LIKELY(roost__trylock(l))) return;
    roost__spin_slow((atomic_int *)l);
}
static inline void roost__unlock(int *l) { atomic_store_explicit((atomic_int *)l, 0, memory_order_release); }

/* ------------------------------------------------------------ context switch
 * src/arch/switch_<arch>.S. roost__switch saves the callee-saved registers
 * (and the FPU control words) on the current stack, stores the stack pointer
 * in *from_sp, loads to_sp and returns into the other context.
 * roost__ctx_init prepares a fresh stack so that the first switch into it
 * calls entry(arg) and never returns. */
void roost__switch(void **from_sp, void *to_sp);
void *roost__ctx_init(void *stack_top, void (*entry)(void *), void *arg);
/* True when pc is inside the switch, between its first store and its last
 * load: the stack pointer may be the next context's while the other
 * registers are still the last one's, or half restored, so no unwinder can
 * read that frame (the stack request in fatal.c reports the pc alone). */
bool roost__switch_pc(uintptr_t pc);

/* ------------------------------------------------------------ wait reasons
 * enum roost_wait_reason is public (roost_obs.h). */
#define roost__reason_name roost_wait_reason_name

enum roost__state { ROOST_T_RUNNABLE = 0, ROOST_T_RUNNING, ROOST_T_PARKED, ROOST_T_DEAD };

/* ------------------------------------------------------------ tasks
 * The task record lives at the top of the task's own stack mapping, so a
 * parked task with a shallow stack costs one page of memory in all. */
typedef struct roost__worker roost__worker;
typedef struct roost__stack roost__stack;

typedef struct roost__task {
    /* Observers (registry.c) copy the record without locks, under `seq`:
     * odd while the record is being set up or the task runs (its stack is
     * changing), even while it is switched out. Bumped by the spawner, by
     * enter() and by run_after() once the registers are saved. First, so
     * that a spawn's memset of the rest leaves it alone. */
    _Atomic uint32_t seq;
    /* The first cache line (records are 64-byte aligned) holds what a park
     * and a switch touch, so that a park writes one line of the record. */
    _Atomic int state;     /* enum roost__state; read racily by observers */
    void *sp;              /* saved stack pointer while switched out */
    roost__worker *worker; /* worker running it; set before each switch in */
    roost__stack *stack;   /* the mapping this record and the stack live in */
    int wait_reason;       /* enum roost_wait_reason while parked */
    int site_id;           /* its spawn site's id (site->id), for the exit count */
    const void *wait_obj;  /* object waited on (channel, mutex, ...) */
    uint64_t park_tick;    /* roost__park_clock() when it parked (observe on) */
    int nowned;            /* channel references adopted (see owned below) */
    bool cancellable;      /* parked with a cancellable context */
    /* The wait reason this task is counted under in the workers' parked[]
     * counters (observe on; 0: none). It stays after the task resumes, until
     * it parks for another reason, yields or exits: a task that parks for
     * the same reason again and again (a receive loop) updates no counter
     * at all. roost_counts subtracts the running tasks (one per worker), so
     * the counts are exact whenever no task is between two states. */
    _Atomic uint8_t counted;
    bool unguarded; /* !stack->guarded, here on the line a park reads */
    /* Second line: set at spawn, read at start and by observers. */
    struct roost__task *next; /* global run queue link */
    roost_fn fn;              /* entry function and its argument */
    void *arg;
    uint64_t id, parent_id; /* ids start at 1; parent 0 = spawned from a thread */
    roost_site_t *site;     /* spawn site, captured by the roost_go macro */
    const char *name;       /* optional static name */
    int sel_n;              /* parked in a select: its cases (for leak.c's scan) */
    const roost_case_t *sel_cases;
    /* The cancellable context of the current park (set by roost__block when
     * there is one; read only while `cancellable` says so): the
     * reachability proof (reach.c) counts a cancel as a way to wake. */
    roost_ctx_t *wait_ctx;
    /* (id << 4) | kind of the finding that first named this task (leak.c):
     * a task is counted and reported once. A reused record has another id. */
    _Atomic uint64_t leak_mark;
    uint64_t created_tick; /* roost__park_clock() at spawn (converted when read) */
    int nlabels;
    const char *labels[ROOST_MAX_LABELS][2];
    /* Channel references the task adopted (roost_chan_adopt; nowned above):
     * released at exit; while parked on one of them it does not count as a
     * way to reach it (leak.c). More than fit here go to a malloc'ed array. */
    int owned_cap;
    roost_chan_t *owned_small[4];
    roost_chan_t **owned;
#ifdef ROOST_ASAN
    void *asan_fake; /* ASan fake-stack handle across switches */
#endif
#ifdef ROOST_TSAN
    void *tsan_fiber;
#endif
} roost__task;
_Static_assert(offsetof(roost__task, seq) == 0, "a spawn's memset skips seq at the start");
_Static_assert(offsetof(roost__task, unguarded) < 64, "what a park touches fits the first line");

/* ------------------------------------------------------------ stacks (stack.c) */
struct roost__stack {
    char *lo;                 /* lowest usable address (just above the guard) */
    char *hi;                 /* one past the highest address */
    size_t size;              /* usable bytes, hi - lo */
    roost__stack *next;       /* free-list link while pooled */
    roost__stack *chunk_next; /* slot 0 of a chunk: the next chunk (for unmapping) */
    int pooled_size;          /* 1 if of the default size and returned to the pool */
    bool guarded;             /* a guard page sits below lo; else roost__stack_check guards it */
    unsigned vg_id;           /* valgrind stack registration */
};
int roost__stack_init(size_t default_size);
roost__stack *roost__stack_get(roost__worker *w, size_t size);
void roost__stack_put(roost__worker *w, roost__stack *s);
void roost__stack_flush(roost__worker *w);
void roost__stack_fini(void);
/* Install the per-thread SIGSEGV alternate stack used to report overflow. */
void roost__stack_thread_init(void);
void roost__stack_thread_fini(void);
/* Software check used where no guard page could be installed. */
void roost__stack_check(roost__task *t, void *sp);
/* A SIGSEGV in t at addr with its stack pointer at sp: if a stack overflow,
 * reported (naming the task) and true; the caller aborts. */
bool roost__stack_overflow_fault(roost__task *t, const void *addr, const void *sp);
/* The task record at the top of a stack slot. */
static inline roost__task *roost__stack_task(roost__stack *s) {
    return (roost__task *)(((uintptr_t)s - sizeof(roost__task)) & ~(uintptr_t)63);
}

/* ------------------------------------------------------------ workers (sched.c) */
#define ROOST_RUNQ_SIZE 256
#define ROOST_SITE_BLOCK 256                   /* sites per counter block: [site][0]=spawned, [1]=exited */
#define ROOST_SITE_BLOCKS 64                   /* so at most 16,384 spawn sites are counted */
#define ROOST_MAX_LOCKS (ROOST_SELECT_MAX + 2) /* a select's channels + ctx + timer */

struct roost__worker {
    int id;
    roost__task *current;           /* task running now, NULL in the scheduler loop */
    void *sched_sp;                 /* the scheduler loop's saved context */
    _Atomic(roost__task *) runnext; /* next to run: the task just readied or spawned */
    _Atomic uint64_t head;          /* run ring: owner pushes and pops at tail, thieves take at
                                  * head; index | moves << 32 (sched.c, hidx) */
    _Atomic uint32_t tail;
    roost__task *ring[ROOST_RUNQ_SIZE];
    void (*after_fn)(roost__worker *, void *); /* runs in the next context after a switch */
    roost__task *switched_out;                 /* whose seq run_after bumps once its registers are saved */
    void *after_arg;
    uint64_t rng;              /* xorshift state for select and stealing */
    uint32_t fair_left;        /* picks left until the next fairness check (local_next) */
    bool ring_popped;          /* the ring was popped since the last fairness check */
    _Atomic uint32_t wake;     /* futex word: 1 = woken */
    _Atomic uint64_t switches; /* progress: switches, and yields with nothing else queued (sysmon reads it) */
    bool idle;                 /* on the idle list (under the idle lock) */
    _Atomic uint32_t quiet;    /* quiet spawns made here (roost__go_quiet; sysmon reads it) */
    uint32_t sysmon_quiet;     /* `quiet` at sysmon's last tick (sysmon.c only) */
    bool sysmon_queued;        /* ring queued at sysmon's last tick (sysmon.c only) */
    uint64_t sysmon_switches;  /* `switches` at sysmon's last tick (sysmon.c only) */
    int64_t sysmon_since;      /* roost_now() of the last switch sysmon saw (sysmon.c only) */
    bool sysmon_said;          /* this stall was reported (sysmon.c only) */
    bool spare;                /* started by sysmon while workers were blocked */
    _Atomic bool retired;      /* a spare asleep until workers block again (not on the idle list) */
    roost__worker *idle_next;
    int *lockbuf[ROOST_MAX_LOCKS]; /* a parked select's lock list, copied before release */
    roost__stack *stack_cache;     /* free stacks of default size, LIFO */
    int stack_cached;
    _Atomic int64_t spawned, exited; /* per-worker counters: no shared cache line */
    _Atomic int64_t steals;          /* tasks this worker took from others' queues */
    /* Observability counters, written only by this worker (a load and a store,
     * no locked instruction) and summed by readers: parked tasks by reason
     * (parks here minus resumes here: one worker's figure may be negative),
     * and per spawn site, spawns and exits (registry.c's two-level table). */
    _Atomic int64_t parked[ROOST_WAIT__COUNT];
    _Atomic(_Atomic int64_t *) site_ctr[ROOST_SITE_BLOCKS];
    /* Block 0 (the first 255 sites, all of most programs) lives here and
     * site_ctr[0] points at it: no pointer to chase on a spawn or an exit
     * (the chase was 3 ns of skynet's 140 per task). */
    _Atomic int64_t site_ctr0[2 * ROOST_SITE_BLOCK];
    pthread_t thread;
    /* The top of the scheduler's frames on this worker's own stack (set as
     * the worker starts): the reachability proof reads nothing below it as
     * a root (reach.c); the thread's TLS lies above. */
    void *frames_top;
#ifdef ROOST_TSAN
    void *tsan_fiber;
#endif
#ifdef ROOST_ASAN
    void *asan_fake;
    const void *asan_stack_bottom;
    size_t asan_stack_size;
#endif
} __attribute__((aligned(64))); /* workers sit in one array: no false sharing */

/* initial-exec: one instruction per read, also in libroost.so (which must
 * then be linked at start-up or dlopen'ed while static TLS space remains). */
extern _Thread_local roost__worker *roost__tls_worker __attribute__((tls_model("initial-exec")));

/* The running task, or NULL on a plain thread. Not inlined: the TLS address
 * must be re-read after every switch point, since the task may have moved. */
roost__task *roost__self(void);
/* The same, inline, for the hot paths (yield, a channel op about to park):
 * only in a function that reads no TLS after its first switch point, where
 * a thread pointer kept in a register would be another thread's. Saves
 * the call, about a tenth of a yield. */
static inline roost__worker *roost__worker_before_switch(void) { return roost__tls_worker; }
static inline roost__task *roost__self_before_switch(void) {
    roost__worker *w = roost__worker_before_switch();
    return w ? w->current : NULL;
}
roost__worker *roost__worker_self(void);
int roost__ensure_started(void);
uint64_t roost__rand(void);
/* The generator behind roost__rand, for a caller that draws several
 * numbers from one seed (select) without a TLS trip each. */
static inline uint64_t roost__xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

/* Make a parked task runnable. From a worker: into its runnext slot (the woken
 * task runs next, on this warm core); from any other thread: the global queue.
 * Returns ROOST_OK, so that a channel operation that ends by waking its peer
 * can end in a tail call and keep its fast path frameless. */
int roost__ready(roost__task *t);

bool roost__local_work(void);
/* roost_yield without its wake-up of an idle worker: for select, which
 * yields to let the senders it woke run (sched.c). */
int roost__yield_local(void);
/* A yield that wakes no idle worker at all, for a group's spawner that
 * runs the tasks it has just queued (group.c). */
int roost__yield_quiet(void);
/* roost_go_site without waking an idle worker for the new task, for a
 * group whose recent tasks finished within microseconds (group.c): the
 * spawner's worker gets through them sooner than a woken one could steal
 * them, and a worker that steals the spawner moves the whole fan-out
 * across cores. Queued work that stays queued is still handed to a
 * sleeper, by the monitor (sysmon.c). */
int roost__go_quiet(roost_fn fn, void *arg, roost_site_t *site);
/* roost_go_site (quiet: roost__go_quiet) whose task's argument is a copy of
 * ncopy bytes at copy, made at the top of the task's own stack, just below
 * its record (so at a 16-byte aligned address): it lives as long as the
 * task and costs no allocation. ncopy is a multiple of 16 (copy is read in
 * 16-byte units); ROOST_ERANGE if not, or past ROOST__GO_COPY_MAX. */
#define ROOST__GO_COPY_MAX 512
int roost__go_copy(roost_fn fn, const void *copy, size_t ncopy, roost_site_t *site, bool quiet);

/* Switch away from a parked task (park.c): after(w, arg) runs in whatever
 * context runs next, before anything else, and releases the parking task's
 * queue locks. Defined in sched.c as an always_inline external definition,
 * so that the link-time optimised build (Makefile, LTO) makes it part of
 * park.c's blocking paths. */
void roost__park_switch(roost__worker *w, roost__task *self, void (*after)(roost__worker *, void *),
                        void *arg);

/* The scheduler's watchdog (sysmon.c), run by the timer thread: true when
 * every worker is asleep; and, every tick while one is busy, wake a
 * sleeper if some worker sits on queued work, report blocked workers and
 * start spares (sysmon.c says when). */
bool roost__sched_all_idle(void);
uint64_t roost__sched_switches(void); /* sum over workers: moves whenever anything runs */
/* The scheduler's figures for the debug endpoint's /metrics (metrics.c):
 * sums over the workers, read without stopping anything. */
typedef struct roost__sched_figures {
    uint64_t switches; /* task switches */
    uint64_t steals;   /* tasks taken from another worker's queue */
    uint64_t stalls;   /* times sysmon saw a worker blocked (once per episode) */
    int workers;       /* ROOST_WORKERS */
    int started;       /* worker threads, spares included */
    int idle;          /* asleep: on the idle list, or spares retired */
    int blocked;       /* blocked at sysmon's last tick */
} roost__sched_figures_t;
void roost__sched_figures(roost__sched_figures_t *out);
/* The blocking pool's (offload.c), under its lock. */
typedef struct roost__offload_figures {
    int threads, idle, queued, max; /* threads alive, idle among them, jobs waiting, the limit */
    uint64_t calls;                 /* jobs submitted */
} roost__offload_figures_t;
void roost__offload_figures(roost__offload_figures_t *out);
/* The debug endpoint (debug_http.c): started at the runtime's first start
 * when ROOST_DEBUG_ADDR is set (acts once); stopped by roost_shutdown. */
void roost__debug_autostart(void);
/* Append the Prometheus text of roost_metrics_text (metrics.c) to b;
 * 0 or ROOST_ENOMEM. */
struct roost__buf;
int roost__metrics(struct roost__buf *b);
void roost__sysmon_tick(void);
/* Called once by the timer thread: the tasks it readies (a sleep, deadline,
 * roost_after or ticker fired) go to the global queue's timer list, which
 * workers serve first (runq.c). */
void roost__sched_on_timer_thread(void);

/* ------------------------------------------------------------ observability (registry.c) */
/* ROOST_OBSERVE: 0 off; 1 (default) counts, and park times from the coarse
 * clock below; 2 park times from the TSC at every park. */
extern int roost__observe;
/* A tick refreshed by the timer thread every couple of milliseconds while
 * any worker is busy, and by a worker leaving its idle sleep: reading it is
 * one load from a line that changes every 2 ms, against ~11 ns for a TSC
 * read (measured on the project's 2-core VM), which was a fifth of a
 * ping-pong round trip. Park times are then good to about 2 ms. */
extern _Atomic uint64_t roost__coarse_tick;
static inline void roost__coarse_refresh(void);

/* A cheap monotonic tick for park times: the TSC on x86_64, the virtual
 * counter on AArch64 (a few ns, against ~20 for clock_gettime); converted to
 * roost_now() nanoseconds only when someone reads it. */
static inline uint64_t roost__tick(void) {
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return (uint64_t)roost_now();
#endif
}
int64_t roost__tick_to_ns(uint64_t tick);
static inline void roost__coarse_refresh(void) {
    atomic_store_explicit(&roost__coarse_tick, roost__tick(), memory_order_relaxed);
}
static inline uint64_t roost__park_clock(void) {
    return ROOST_UNLIKELY(roost__observe > 1)
               ? roost__tick()
               : atomic_load_explicit(&roost__coarse_tick, memory_order_relaxed);
}

void roost__registry_init(void);
void roost__registry_worker_fini(roost__worker *w);
int roost__site_id(roost_site_t *site); /* register on first use */
/* Per-worker counter updates: single writer, so a relaxed load and store. */
static inline void roost__ctr_add(_Atomic int64_t *c, int64_t d) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}
/* The task stops being counted under its last wait reason (it yields or
 * exits; see roost__task.counted). No test of roost__observe needed:
 * with observe off nothing is ever counted. */
static inline void roost__uncount(roost__worker *w, roost__task *t) {
    int was = atomic_load_explicit(&t->counted, memory_order_relaxed);
    if (ROOST_UNLIKELY(was)) {
        roost__ctr_add(&w->parked[was], -1);
        atomic_store_explicit(&t->counted, 0, memory_order_relaxed);
    }
}
/* Count a spawn (which 0) or an exit (1) at a site. The fast path, on a
 * worker whose counter block exists, is a load and a single-writer add. */
void roost__site_count_slow(roost__worker *w, int site, int which);
static inline void roost__site_count(roost__worker *w, int site, int which) {
    /* Sites 1-255 (all of most programs): the block inside the worker, one
     * compare for both bounds. */
    if (ROOST_LIKELY(w && (unsigned)(site - 1) < ROOST_SITE_BLOCK - 1)) {
        roost__ctr_add(&w->site_ctr0[site * 2 + which], 1);
        return;
    }
    if (w && site > 0) {
        _Atomic int64_t *b =
            site < ROOST_SITE_BLOCK
                ? w->site_ctr0
                : atomic_load_explicit(&w->site_ctr[site / ROOST_SITE_BLOCK], memory_order_relaxed);
        if (ROOST_LIKELY(b)) {
            roost__ctr_add(&b[(site % ROOST_SITE_BLOCK) * 2 + which], 1);
            return;
        }
    }
    roost__site_count_slow(w, site, which);
}
/* A task is exiting (on its own stack): release adopted references. */
void roost__task_release_owned(roost__task *t);
/* Workers, for readers: count and the array. */
int roost__nworkers(void);
int64_t roost__thread_spawned(void);
roost__worker *roost__worker_at(int i);
void roost__for_each_stack_slot(void (*fn)(roost__task *t, void *arg), void *arg);
/* The same in slices: pause(arg) runs every few dozen slots with no lock
 * held, and may yield or park (stack.c says why the walk stays sound). */
void roost__for_each_stack_slot_sliced(void (*fn)(roost__task *t, void *arg), void (*pause)(void *arg),
                                       void *arg);
/* For the reachability proof (reach.c): hold the stack pool's lock (no slot
 * is mapped, unmapped or handed out meanwhile), walk every slot while
 * holding it (fn gets the slot's mapping [base, base + len) and its stack),
 * release. The walk calls no allocator. */
void roost__stack_hold(bool hold);
void roost__stack_each_held(bool region_unread,
                            void (*fn)(roost__stack *s, char *base, size_t len, void *arg), void *arg);
/* The chunks carved from the stacks' reserved range: [*lo, *hi) (empty
 * when none). With region_unread, each_held reads nothing in it (the
 * snapshot's process has no such mapping: reach_snap.c). */
void roost__stack_region(uintptr_t *lo, uintptr_t *hi);
/* The reserved range itself: its size (0: none) and *base. */
size_t roost__stack_region_size(uintptr_t *base);
/* The stack pool's memory (chunks of slots, odd stacks; guards included):
 * up to max ranges [lo[i], hi[i]), in no order. Returns how many there are
 * (more than max: the rest were not written). While held, as above. */
size_t roost__stack_regions(uintptr_t *lo, uintptr_t *hi, size_t max);
/* The signal the reachability proof stops threads with (reach_stop.c); runtime
 * threads leave it open (thread.c). */
#define ROOST_STOP_SIGNAL (SIGRTMAX - 3)
/* profile.c: runtime start (installs the default SIGQUIT dump). */
void roost__profile_start(void);

/* ------------------------------------------------------------ parking (park.c) */
typedef struct roost__park {
    roost__task *task;            /* the parked task, or NULL for a plain thread */
    atomic_int claimed;           /* 0 until a waker wins it */
    _Atomic uint32_t thread_done; /* futex word for plain-thread waiters */
    int index;                    /* result: winning select case, or -1 */
    int err;                      /* result: 0 or a ROOST_E* code */
} roost__park;

typedef struct roost__waiter {
    struct roost__waiter *next, *prev;
    roost__park *park;
    void *elem;  /* channel ops: value source or destination */
    int index;   /* case index within its select */
    bool queued; /* linked into a queue (under that queue's lock) */
    bool is_send;
    bool plain;   /* a plain channel op, no cancellable ctx: only the channel can wake it */
    int stranded; /* adopted refs of its task to this channel, counted in ch->stranded */
    void *obj;    /* the queue's owner object */
} roost__waiter;

/* Wait queues: FIFO doubly-linked lists of nodes, under their owner's lock.
 * Inline: they are on every blocking path. head is read without the lock by
 * select's peek (relaxed atomics), so it stays a plain pointer word. */
typedef struct roost__waitq {
    void *head, *tail;
} roost__waitq_t;

static inline void roost__waitq_push(roost__waitq_t *q, roost__waiter *w) {
    w->next = NULL;
    w->prev = (roost__waiter *)q->tail;
    if (q->tail)
        ((roost__waiter *)q->tail)->next = w;
    else
        __atomic_store_n(&q->head, w, __ATOMIC_RELAXED); /* peeked by select */
    q->tail = w;
    w->queued = true;
}

static inline void roost__waitq_remove(roost__waitq_t *q, roost__waiter *w) {
    if (!w->queued) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        __atomic_store_n(&q->head, w->next, __ATOMIC_RELAXED);
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = false;
}

static inline bool roost__waitq_empty(const roost__waitq_t *q) { return q->head == NULL; }

static inline bool roost__claim(roost__park *p) {
    int z = 0;
    return atomic_compare_exchange_strong_explicit(&p->claimed, &z, 1, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* Pop the first waiter whose park this call manages to claim; stale nodes
 * met on the way are unlinked. NULL if none. A plain channel waiter (one
 * node, no context, no timer) can only be claimed by a holder of this
 * queue's lock, so it needs no CAS: two locked instructions fewer on a
 * ping-pong round trip. */
static inline roost__waiter *roost__waitq_claim(roost__waitq_t *q) {
    roost__waiter *w;
    while ((w = (roost__waiter *)q->head)) {
        /* Unlink the head: the general remove's branches, minus those a
         * head cannot take. A claimed node's links are left as they were;
         * `queued` false keeps any later remove off them. */
        roost__waiter *n = w->next;
        __atomic_store_n(&q->head, n, __ATOMIC_RELAXED);
        if (n)
            n->prev = NULL;
        else
            q->tail = NULL;
        w->queued = false;
        if (w->plain) {
            atomic_store_explicit(&w->park->claimed, 1, memory_order_relaxed);
            return w;
        }
        if (roost__claim(w->park)) return w;
    }
    return NULL;
}
/* Complete a claimed park: record the result and make the waiter runnable.
 * Returns ROOST_OK (for tail calls, as roost__ready). */
int roost__wake(roost__park *p, int index, int err);

/* Block the caller until its park is claimed. Entered with `nlocks` spinlocks
 * held (the queues its nodes are on); they are released after the switch.
 * Registers with ctx (cancellation) and with a timer when deadline <
 * INT64_MAX. Returns with no lock held; the caller unlinks its own nodes
 * (those whose `queued` is still set) under their locks. */
int roost__block(roost__park *p, roost_ctx_t *ctx, int64_t deadline, int **locks, int nlocks, int reason,
                 const void *obj); /* locks[] has room for nlocks + 2 */
/* The same for one queue lock, no context and no deadline (the hot case).
 * self is p->task and w its worker (NULL both on a plain thread), passed as
 * values the caller holds in registers, read before any switch point. */
int roost__block_plain(roost__park *p, roost__worker *w, roost__task *self, int *lock, int reason,
                       const void *obj);
static inline void roost__park_init(roost__park *p, roost__task *self) {
    p->task = self;
    atomic_init(&p->claimed, 0);
    atomic_init(&p->thread_done, 0);
    p->index = -1;
    p->err = 0;
}
/* The same for a wait only a waker can end (a plain channel wait: no
 * context, no timer), which always writes index and err: two stores fewer
 * on the hottest park. */
static inline void roost__park_init_plain(roost__park *p, roost__task *self) {
    p->task = self;
    atomic_init(&p->claimed, 0);
    if (!self) atomic_init(&p->thread_done, 0);
}

/* ------------------------------------------------------------ descriptors (poll.c) */
typedef struct roost__pd roost__pd;
/* A descriptor roost just opened: registered afresh with the poller. */
int roost__fd_new(int fd);
/* fd, just registered, is a TCP socket: reads learn when they empty it. */
void roost__fd_tcp(int fd);
/* Bracket a call on fd (ROOST_EFDCLOSED once roost_fd_close ran); while
 * acquired, close(2) is deferred and the descriptor cannot be reused. */
int roost__fd_acquire(int fd, roost__pd **out);
void roost__fd_release(int fd, roost__pd *d);
/* An idle worker polls without blocking: true if it readied something
 * (into its own runnext). Free unless a task waits on a descriptor. */
bool roost__netpoll_try(void);
/* Whether some task or thread waits on a descriptor (a relaxed look). */
bool roost__netpoll_waiting(void);
/* An idle worker about to sleep (on the idle list, its wake word read 0):
 * the last one idle, while a task waits on a descriptor, blocks in
 * epoll_wait until woken or a descriptor is ready (true); else false, and
 * it sleeps on its futex. */
bool roost__netpoll_block(roost__worker *w);
/* w's wake word is set: if w blocks in epoll_wait, interrupt it (true). */
bool roost__netpoll_break(roost__worker *w);
/* Whether w is the worker blocked in epoll_wait (wake it last). */
bool roost__netpoll_owns(roost__worker *w);
/* The monitor's tick: poll if no worker waits in the poller nor polled. */
void roost__netpoll_tick(void);
/* sched.c, for the poller: take w off the idle list (it has I/O to run);
 * wake an idle worker if every worker sleeps. */
void roost__sched_unidle(roost__worker *w);
void roost__sched_kick_poller(void);
/* fatal.c: the stack of the task running on worker v, which keeps it
 * (a blocked worker), unwound in a SIGURG handler on v's thread: frames
 * into pcs (at most max), 0 when it cannot be had (sanitizer builds, a
 * program's own SIGURG handler, no answer within 20 ms). Monitor only. */
int roost__worker_stack(roost__worker *v, uintptr_t *pcs, int max);
/* After a failed system call on an acquired descriptor (errno e): 0 to
 * retry (EINTR, or EAGAIN and the descriptor is now ready), else the error. */
int roost__fd_retry(roost_ctx_t *ctx, roost__pd *d, int events, int e);
/* Park until d is ready for events (ROOST_IO_*), after an EAGAIN. */
int roost__fd_wait_acquired(roost_ctx_t *ctx, roost__pd *d, int events);

/* ------------------------------------------------------------ timers (timer.c) */
typedef struct roost__timer {
    int64_t when;
    int64_t period; /* > 0 for tickers */
    int heap_index; /* -1 when not in the heap */
    int kind;       /* ROOST_TIMER_* */
    void *arg;
} roost__timer;
enum { ROOST_TIMER_WAKE = 1, ROOST_TIMER_CTX, ROOST_TIMER_CHAN, ROOST_TIMER_TICKER };
int roost__timer_start(void);
void roost__timer_stop(void);
/* Add a timer. For WAKE timers the caller may hold the returned lock across a
 * switch: lock_and_add leaves the timer lock held and returns it. */
int *roost__timer_lock_and_add(roost__timer *t);
void roost__timer_add(roost__timer *t);
/* Remove if still pending; true if it was removed (so it will never fire). */
bool roost__timer_del(roost__timer *t);
/* A worker left the idle list: the monitor must tick again. */
void roost__timer_poke(void);
bool roost__timer_pending(void); /* any timer in the heap */
void roost__ctx_deadline_fire(roost_ctx_t *ctx);

/* ------------------------------------------------------------ fatal reports (fatal.c)
 * Misuse that would corrupt memory or hang (a reference count below zero,
 * a freed channel or context, a second adopt) is reported at the call,
 * naming the calling task, and aborts, as a Go panic does. Channels and
 * contexts carry a magic word: set at creation, overwritten with
 * ROOST_DEAD_MAGIC just before free(). It is checked on entry points off
 * the fast paths (ref, unref, close, adopt, a contended channel lock, a
 * cancellable park); a freed channel's lock word is also left taken, so a
 * send or receive on it goes to the contended path and meets the check.
 * Best effort: memory the allocator has handed out again, to another
 * object of the same kind, passes. */
#define ROOST_CHAN_MAGIC 0x6e616863u /* "chan" */
#define ROOST_CTX_MAGIC 0x78746378u  /* "xctx" */
#define ROOST_DEAD_MAGIC 0xdeadf4eeu
enum { ROOST_CHAN_OWNER_NONE = 0, ROOST_CHAN_OWNER_CTX = 1 };
/* Report misuse at obj by the calling task (or thread), then abort. */
void roost__misuse(const void *obj, const char *fmt, ...)
    __attribute__((noreturn, cold, format(printf, 2, 3)));
void roost__chan_bad(const roost_chan_t *ch, const char *op) __attribute__((noreturn, cold));
void roost__ctx_bad(const roost_ctx_t *ctx, const char *op) __attribute__((noreturn, cold));
/* ctx's err, known to be non-zero: returned if it is one a live context
 * can have, else the report. Out of line, from roost__ctx_err, which is
 * inlined into every blocking call: a tail call with its one argument
 * already in place, so that the fast path moves no register. */
int roost__ctx_err_checked(roost_ctx_t *ctx);
/* Install the handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT
 * (once per process): a guard-page fault is a stack overflow (stack.c),
 * any other in a task is reported with the task's stack before the usual
 * death. ROOST_CRASH=0 keeps only the overflow report. */
void roost__crash_install(void);

/* ------------------------------------------------------------ contexts (ctx.c) */
/* The context record, here so the checks below inline into every call. */
struct roost_ctx {
    int lock;        /* spinlock: everything below but refs and err */
    atomic_int refs; /* owners; 0 frees (the background ctx is never freed) */
    atomic_int err;  /* 0 while live, then ROOST_ECANCELED or ROOST_ETIMEDOUT */
    int cause;       /* given at cancellation (Go's context.Cause) */
    bool background;
    bool timer_armed;      /* the deadline timer holds a reference */
    uint32_t magic;        /* ROOST_CTX_MAGIC while live, ROOST_DEAD_MAGIC once freed (fatal.c) */
    int64_t deadline;      /* absolute, INT64_MAX if none */
    roost_ctx_t *parent;   /* referenced; NULL for roots */
    roost_ctx_t *children; /* cancellable children, linked by sib_* */
    roost_ctx_t *sib_next, *sib_prev;
    roost__waitq_t waiters; /* blocked calls under this context */
    roost_chan_t *done;     /* made on first roost_ctx_done */
    roost__timer timer;     /* deadline */
    roost_ctx_t *todo_next; /* cancellation's work list */
};

/* 0 if live, else the ctx's error; one atomic load. A freed context reads
 * as something else (its err is poisoned at free, and malloc's free-list
 * words land on it): checked only once err is known to be non-zero, so a
 * live context pays nothing. */
static inline int roost__ctx_err(roost_ctx_t *ctx) {
    int err = ctx ? atomic_load_explicit(&ctx->err, memory_order_acquire) : 0;
    if (err) return roost__ctx_err_checked(ctx);
    return err;
}
/* The same, unchecked, for the channel fast path (chan_op): any code on its
 * error branch costs every send and receive a register move or two. A
 * freed context there is caught if the operation parks. */
static inline int roost__ctx_err_raw(roost_ctx_t *ctx) {
    return ctx ? atomic_load_explicit(&ctx->err, memory_order_acquire) : 0;
}
static inline bool roost__ctx_cancellable(roost_ctx_t *ctx) { return ctx && !ctx->background; }
/* Register / unregister a blocked waiter with ctx. register returns the ctx
 * error instead when it is already cancelled. Called with ctx->lock free. */
int roost__ctx_lock_register(roost_ctx_t *ctx, roost__waiter *w, int **lockp);
void roost__ctx_unregister(roost_ctx_t *ctx, roost__waiter *w);

/* ------------------------------------------------------------ channels (chan.c) */
struct roost_chan {
    int lock; /* spinlock over everything below but refs */
    /* One word, so that a reference count and the leak detector's count
     * change and are read together (a separate load after a decrement
     * could read a channel another thread has just freed): the low 32
     * bits are the program's references, the high 32 bits the references
     * adopted by tasks parked here that only this channel can wake (leak.c). */
    _Atomic uint64_t refs;
    int nwaiters; /* waiter nodes not yet dropped (see chan.c) */
    bool closed;
    bool orphaned; /* refs reached 0: freed once nwaiters is 0 too */
    uint8_t owner; /* ROOST_CHAN_OWNER_*: the reference only its owner may drop */
    uint32_t elem_size;
    uint32_t magic;         /* ROOST_CHAN_MAGIC while live, ROOST_DEAD_MAGIC once freed */
    size_t cap, len, recvx; /* ring buffer: len elements from index recvx */
    roost__waitq_t recvq, sendq;
    char *buf; /* cap * elem_size bytes, right after the struct */
};
/* Without the lock: could a send (or receive) on ch proceed now? A hint,
 * stale as soon as it is read (a queued node may be a select's, already
 * claimed); select uses it to skip channels that are plainly not ready.
 * The fields it reads are written under the lock with relaxed atomic
 * stores (plain moves). */
static inline bool roost__chan_maybe_ready(roost_chan_t *ch, bool is_send) {
    /* A waiting peer first: on an unbuffered channel under load, that is
     * what makes a case ready, and then it is one load. */
    if (!is_send) {
        if (__atomic_load_n(&ch->sendq.head, __ATOMIC_RELAXED)) return true;
        return __atomic_load_n(&ch->len, __ATOMIC_RELAXED) > 0 ||
               __atomic_load_n(&ch->closed, __ATOMIC_RELAXED);
    }
    if (__atomic_load_n(&ch->recvq.head, __ATOMIC_RELAXED)) return true;
    return __atomic_load_n(&ch->len, __ATOMIC_RELAXED) < ch->cap ||
           __atomic_load_n(&ch->closed, __ATOMIC_RELAXED);
}
/* With ch locked: complete a send or receive now if it can be. Returns true
 * if done (result in *err: 0 or ROOST_ECLOSED); *peer is then a claimed
 * waiter to wake, after unlocking, with roost__wake(peer->park, peer->index, 0). */
bool roost__chan_try_locked(roost_chan_t *ch, bool is_send, void *elem, int *err, roost__waiter **peer);
/* With ch locked: a waiter node of this channel is being cleaned up by its
 * owner. True if the channel must be freed (roost__chan_free) after unlocking. */
bool roost__chan_drop_waiter_locked(roost_chan_t *ch, roost__waiter *w);
void roost__chan_free(roost_chan_t *ch);
/* Abort with a report unless ch is a live channel (see fatal.c). */
static inline void roost__chan_check(const roost_chan_t *ch, const char *op) {
    if (ROOST_UNLIKELY(ch->magic != ROOST_CHAN_MAGIC)) roost__chan_bad(ch, op);
}
/* Lock a channel: a trylock inline; a lock already taken is checked for a
 * freed channel (whose lock word is left taken) before spinning. */
void roost__chan_lock_slow(roost_chan_t *ch);
static inline void roost__chan_lock(roost_chan_t *ch) {
    if (ROOST_LIKELY(roost__trylock(&ch->lock))) return;
    roost__chan_lock_slow(ch);
}

/* ------------------------------------------------------------ leaks (leak.c) */
bool roost__task_info(roost__task *t, roost_task_info_t *o, int flags); /* registry.c */
bool roost__task_peek(roost__task *t, roost__task *copy, uint32_t *seq);
int roost__tasks_each(int flags, void (*fn)(const roost_task_info_t *, void *), void *arg);
/* A flag for roost__tasks_each: called from a task, the walk yields every
 * ROOST__SLICE_NS (roost__slice), so that the tasks queued behind the
 * caller wait a slice, not the whole walk. fn may run on another worker
 * after each yield, and must not hold a lock across calls. */
enum { ROOST__SNAP_SLICED = 1 << 16 };
/* A growing array of task records, filled from roost__tasks_each (the
 * snapshot and the profile's full forms). vec_init sizes it for the tasks
 * alive now, plus some that may start meanwhile: growing a 100,000-task
 * array by doubling would copy 40 MB several times. A failed allocation
 * sets oom and drops the rest. */
typedef struct {
    roost_task_info_t *v;
    size_t n, cap;
    bool oom;
} roost__task_vec;
void roost__task_vec_init(roost__task_vec *s);
void roost__task_vec_push(roost__task_vec *s, const roost_task_info_t *t);

/* Long work on a task, in slices (registry.c): roost__slice_check yields
 * once ROOST__SLICE_NS have passed since the slice began, and begins the
 * next. On a plain thread it does nothing. For the observers' walks and
 * formats over every task, whose whole would hold a worker for tens of ms
 * with 100,000 tasks: a slice bounds what any task queued behind them
 * waits. Each yield costs about a microsecond, 1% at this slice length. */
#define ROOST__SLICE_NS (100 * 1000)
typedef struct {
    int64_t start; /* roost_now() when the slice began */
    bool task;     /* on a task: yields; else checks nothing */
} roost__slice;
void roost__slice_begin(roost__slice *s);
void roost__slice_check(roost__slice *s);
/* A word another thread may be writing, or freeing: the caller validates
 * it afterwards (a task's sequence counter), so it is kept from the
 * sanitizers, which would report the race the validation is there for. */
__attribute__((no_sanitize("address", "thread"))) static inline uint64_t roost__racy_load64(const void *p) {
    return *(volatile const uint64_t *)p;
}
/* A word that may be unmapped by now (a record on the stack of a task
 * that may have exited since it was seen): copied by the kernel, false
 * instead of a fault where it cannot be read (leak.c). */
bool roost__peek64(const void *p, uint64_t *out);
void roost__self_info(roost__task *t, roost_task_info_t *o);
int roost__owned_count(roost__task *t, const roost_chan_t *ch);
typedef struct roost__leak_ev roost__leak_ev;
/* With ch locked and every reference to it held by tasks parked on it
 * (refs == stranded), or none left at all: the plain waiters are leaked.
 * Builds the report (posted later with roost__leak_post, after unlocking)
 * and, under the wake policy, claims and unlinks them, chaining them on
 * *wake (to wake with ROOST_ELEAKED after unlocking). self: the caller's
 * own node if it is the one about to park (it is unlinked, not claimed, and
 * the caller returns ROOST_ELEAKED). Returns the event, or NULL. */
roost__leak_ev *roost__leak_chan_locked(roost_chan_t *ch, roost__waiter *self, roost__waiter **wake,
                                        bool *self_woken);
void roost__leak_post(roost__leak_ev *ev);
/* Report the tasks in v (records from a snapshot, with stacks) as a finding
 * of `kind` on obj: those no finding has named yet are claimed, counted and
 * reported (v is compacted to them; returns how many). */
size_t roost__leak_post_tasks(int kind, const void *obj, roost_task_info_t *v, size_t n);
/* A select about to park with no case any other task could complete (every
 * channel's references are the caller's own adopted ones, or no channel at
 * all) and no cancellable context: reported; returns true when the policy
 * wakes, i.e. the select must return ROOST_ELEAKED instead of parking. */
bool roost__leak_select(roost__task *self, roost_chan_t **order, int n);
/* A send or receive on a nil channel about to park with no cancellable
 * context (reason ROOST_WAIT_CHAN_SEND_NIL or _RECV_NIL): nothing can ever
 * wake it. Reported; true when the policy wakes (return ROOST_ELEAKED). */
bool roost__leak_nil(roost__task *self, int reason);
/* A report built elsewhere (group.c), delivered as the detector's own: to
 * the hook or stderr, counted, abort under ROOST_LEAK_ABORT; nothing when
 * the policy is off. Synchronous, on the caller's thread. */
void roost__leak_deliver(int kind, const void *obj, const roost_task_info_t *v, size_t n, const char *text);
/* The policy now (ROOST_LEAK_*), read from ROOST_LEAK on the first look. */
int roost__leak_policy_now(void);
/* reach.c: whether a finding of `kind` on these tasks is woken under the
 * wake policy (the reachability proof wakes channel and select waits); the
 * periodic proof's thread (ROOST_LEAK_PROVE), started with the runtime. */
bool roost__reach_wakes(int kind, const roost_task_info_t *v, size_t n);
void roost__reach_start(void);
/* Timer thread: all workers idle for a while with this switch total. */
void roost__leak_idle_check(uint64_t switches);
/* Lock-cycle / orphaned-holder check before a task parks on mutex-like obj
 * (sync.c), with obj's lock held: ROOST_ELEAKED when a cycle is proved and
 * the policy wakes. A lock held by a plain thread, or by readers, is not
 * checked. */
int roost__leak_lock_check(roost__task *self, const void *obj, int reason, roost_ctx_t *ctx);
/* A task re-locked a lock it holds, or re-entered a once from the function
 * it runs (refused with ROOST_EDEADLK): reported. */
void roost__leak_relock(roost__task *self, const void *obj, int reason);
/* Plain threads that touch channels, selects, contexts or locks may wake
 * tasks at any time, which roost cannot see: the global deadlock watch
 * stands down once one has (one TLS load per call). */
extern bool roost__threads_active;
static inline void roost__note_thread(void) {
    if (ROOST_UNLIKELY(!roost__tls_worker) && !__atomic_load_n(&roost__threads_active, __ATOMIC_RELAXED))
        __atomic_store_n(&roost__threads_active, true, __ATOMIC_RELAXED);
}
#define ROOST_CHAN_REFS(word) ((uint32_t)(word))
#define ROOST_CHAN_STRANDED(word) ((uint32_t)((word) >> 32))
static inline void roost__chan_unstrand(roost_chan_t *ch, roost__waiter *w) {
    if (ROOST_UNLIKELY(w->stranded)) {
        atomic_fetch_sub(&ch->refs, (uint64_t)w->stranded << 32);
        w->stranded = 0;
    }
}

/* ------------------------------------------------------------ durations
 * Every duration the API takes becomes a deadline here, saturating: a sum
 * past the clock's range is INT64_MAX, which every deadline in roost reads
 * as "never" (no timer is armed, no wait ends). A duration <= 0 is due now.
 * roost_now() is never negative (a monotonic clock counts from boot), so
 * only the upper end can overflow. */
static inline int64_t roost__add_sat(int64_t t, int64_t ns) {
    if (ns <= 0) return t;
    return ns > INT64_MAX - t ? INT64_MAX : t + ns;
}
static inline int64_t roost__deadline_after(int64_t ns) { return roost__add_sat(roost_now(), ns); }

/* ------------------------------------------------------------ misc */
void roost__fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Start a runtime thread (thread.c): named, asynchronous signals blocked.
 * Returns 0, ROOST_ENOMEM or ROOST_EINVAL. */
int roost__thread_start(pthread_t *out, void *(*fn)(void *), void *arg, const char *name, bool detached);
/* True on the threads roost__thread_start started that run roost's code
 * only (all but the blocking pool's), and on the leak reporter: the
 * reachability proof counts no pointer from their stacks into a parked
 * task's frames (reach.c). */
extern _Thread_local bool roost__tls_runtime __attribute__((tls_model("initial-exec")));
/* Set by a runtime thread for the time of a wait it blocks in (ROOST_IDLE):
 * its vector registers then hold nothing it will use again (all of them are
 * caller-saved on x86_64), and the reachability proof leaves out their copy
 * in the stop signal's frame. What they held last (a pointer that passed
 * through a memcpy while a report was written, say) would otherwise keep
 * its object alive for as long as the thread sleeps. */
extern _Thread_local volatile bool roost__tls_idle __attribute__((tls_model("initial-exec")));
/* Zero 64 KiB of the stack below the caller's frame: a runtime thread that
 * handled leaked tasks' objects (the reporter, the monitor) calls it before
 * it sleeps, so that the stale words deeper calls left there do not end up,
 * unused, in the frames of the wait, where the reachability proof would
 * count them as live. */
void roost__scrub_stack(void);
#define ROOST_IDLE(call)                           \
    do {                                           \
        roost__tls_idle = true;                    \
        atomic_signal_fence(memory_order_seq_cst); \
        call;                                      \
        atomic_signal_fence(memory_order_seq_cst); \
        roost__tls_idle = false;                   \
    } while (0)
void roost__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void roost__futex_wake(_Atomic uint32_t *addr, int n);

/* A pause inside a spin loop. */
static inline void roost__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#pragma GCC visibility pop

#endif
