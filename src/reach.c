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
 *   2. Stop (reach_stop.c): ROOST_STOP_SIGNAL to every other thread
 *      (/proc/self/task, again until no new thread appears); each handler
 *      records where its stack is (the kernel saved its registers just
 *      above) and waits on a futex. A thread that blocks the signal, or
 *      does not come, makes the proof unavailable. From here on nothing
 *      may take a lock or call malloc (a stopped thread may hold one): the
 *      tables live in memory mapped for the purpose, and everything is a
 *      system call.
 *   3. Fork (see "the snapshot" below) and resume at once: the child holds
 *      the process as it was, copy-on-write, and no thread can change it.
 *   4. In the child: read /proc/self/maps, walk the heaps (reach_walk.c),
 *      list the task slots (reach_slots.c), mark (reach_mark.c); send the
 *      parked tasks never reached up a pipe.
 *   5. Report and (policy wake) wake the tasks proved leaked.
 * Where the fork fails, 4 runs in the caller before the resume.
 *
 * What is left out of the graph, and why that is sound, is in
 * docs/leaks.md ("The reachability proof").
 */
#include "internal.h"
#include "reach_proof.h"
#include "buf.h"
#include "heaptrack.h"
#include <errno.h>
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
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define REACH_VALGRIND 1
#endif
#endif

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

/* What the snapshot's process needs, where it can read it whatever stack
 * it runs on. */
typedef struct {
    rproof *P;
    void *probe;
    uintptr_t tkey, caller_sp;
    int ncpu, rfd, wfd;
    long delay_ms; /* ROOST_REACH_SNAP_DELAY_MS, for tests: the snapshot waits before it reads */
} rkid;
static rkid r_kid;

static int r_child(void *arg);

/* The stack the snapshot's process runs on when the caller's own is a
 * task's, which the fork leaves out (reach_snap.c): mapped once. */
#define CHILD_STACK ((size_t)1 << 20)
static void *r_child_stack(void) {
    static char *stk;
    if (!stk) {
        void *p = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p == MAP_FAILED) return NULL;
        stk = p;
    }
    return stk + CHILD_STACK;
}

/* In the child: the verdict, to fd. */
static void r_answer(int fd, const char *why, const rleaked *v, size_t n, const roost_leak_proof_t *st) {
    ranswer a = {why,         st->parked,  st->chunks, st->marked, st->heap_bytes, st->root_bytes,
                 st->walk_ns, st->mark_ns, why ? 0 : n};
    if (roost__write_all(fd, &a, sizeof a) == 0 && !why && n) roost__write_all(fd, v, n * sizeof *v);
}

/* The snapshot: nothing here runs but this. */
static int r_child(void *arg) {
    rkid *k = arg;
    if (k->P->snap) roost__reach_snap_fill_hole();
    close(k->rfd);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* what the second sweeper inherits */
    rleaked *v = NULL;
    size_t n = 0;
    roost_leak_proof_t st;
    memset(&st, 0, sizeof st);
    k->P->ncpu = k->ncpu;
    if (k->delay_ms > 0) {
        struct timespec ts = {k->delay_ms / 1000, (k->delay_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    roost__reach_prove_stopped(k->P, k->probe, k->tkey, k->caller_sp, &v, &n, &st);
    r_answer(k->wfd, k->P->why, v, n, &st);
    _exit(0);
}

/* The last snapshot's process, still tearing its memory down when its
 * verdict came: reaped by the next proof (under roost__reach_stw.one), by then long
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
        roost__reach_dbg("reach: the snapshot's process used %ld ms of CPU\n",
                         (long)(ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
                                ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000));
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
    roost__reach_debug = -1;
    roost__reach_dbg("%s", "");
    roost__reach_times_on = getenv("ROOST_REACH_TIMES") != NULL;
    const char *trace = getenv("ROOST_REACH_TRACE");
    if (trace)
        roost__reach_trace = ~(uintptr_t)strtoull(trace, NULL, 16); /* kept as ~address: not a pointer */
    if (why) {
        st.reason = why;
        rc = ROOST_EAGAIN;
        goto done;
    }
    if (!roost__nworkers()) { /* no runtime, no task */
        st.available = 1;
        goto done;
    }
    pthread_mutex_lock(&roost__reach_stw.one);
    if (r_unreaped) {
        pid_t last = r_unreaped;
        r_unreaped = 0;
        r_reap(last, true);
    }
    roost__reach_keep_setup();
    if (!roost__reach_install()) {
        pthread_mutex_unlock(&roost__reach_stw.one);
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
        rproof *P = NULL;
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
        const char *ed = getenv("ROOST_REACH_SNAP_DELAY_MS");
        long delay_ms = ed ? atol(ed) : 0;
        /* The stacks left out of the fork (reach_snap.c): not with a debug
         * walk, which reads what it explains in place. */
        bool snap = forking && !roost__reach_trace && !getenv("ROOST_REACH_DEBUG") && r_child_stack() &&
                    roost__reach_snap_arm();
        roost__stack_hold(true);
        int64_t s0 = r_mono_ns();
        why = roost__reach_stop_world(sent, &nthreads);
        if (!why) {
            /* Static: the snapshot's process may run on a stack of its own,
             * and the caller's may not be in it (reach_snap.c). One proof
             * at a time (roost__reach_stw.one). */
            static rproof local;
            static uintptr_t regs_copy[16];
            memcpy(regs_copy, regs, sizeof regs_copy);
            memset(&local, 0, sizeof local);
            P = &local;
            P->regs = regs_copy;
            /* One sweeper in this process: a thread without a TLS of its
             * own could be handed the program's signals. */
            P->ncpu = 1, P->bshift = bshift;
            if (snap && !roost__reach_snap_take()) snap = false;
            if (snap) {
                roost__reach_snap_range(&P->snap_lo, &P->snap_hi);
                P->own_hi = (uintptr_t)r_child_stack(), P->own_lo = P->own_hi - CHILD_STACK;
            }
            P->snap = snap;
            pid_t pid = -1;
            if (forking) {
                r_kid = (rkid){P, probe, tkey, caller_sp, ncpu, pfd[0], pfd[1], delay_ms};
                pid = snap ? clone(r_child, r_child_stack(), 0, &r_kid) : r_fork();
            }
            if (pid == 0) r_child(&r_kid); /* the snapshot, on the caller's stack: does not return */
            roost__reach_snap_forked();
            if (pid > 0) {
                roost__reach_resume();
                st.stop_ns = r_mono_ns() - s0;
                roost__stack_hold(false);
                close(pfd[1]);
                pfd[1] = -1;
                why = r_await(pfd[0], pid, &vmine, &n, &st);
                v = vmine;
                P = NULL;
            } else {
                P->snap = false; /* the stacks are here: read in place */
                roost__reach_prove_stopped(P, probe, tkey, caller_sp, &v, &n, &st);
                why = P->why;
                roost__reach_resume();
                st.stop_ns = r_mono_ns() - s0;
                roost__stack_hold(false);
            }
            st.threads = nthreads;
        } else {
            roost__stack_hold(false);
        }
        roost__reach_snap_end();
        if (pfd[0] >= 0) close(pfd[0]);
        if (pfd[1] >= 0) close(pfd[1]);
        free(probe);
        if (!why) {
            st.available = 1;
            st.leaked = (int64_t)n;
            if (n) r_report(v, n, &st);
        }
        free(vmine);
        if (P) roost__reach_sfree(P);
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
    pthread_mutex_unlock(&roost__reach_stw.one);
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
        atomic_store(&roost__reach_stw.last_ns, roost_now());
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
