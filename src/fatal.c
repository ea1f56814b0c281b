/* fatal.c - the reports a program gets when it breaks one of roost's rules,
 * or when one of its tasks crashes; both end the process.
 *
 * The one idea: a fatal error is reported where it happens, naming the task
 * (id, name, spawn site, stack), and then the process dies the way it would
 * have without roost, as a Go panic or a fault in a goroutine does.
 *
 * Misuse (roost__misuse): a reference count taken below zero, a freed
 * channel or context used, a reference adopted twice, a context's done
 * channel unreferenced by its user. Each would corrupt memory or hang
 * silently (a freed channel's lock word holds malloc's free-list pointer:
 * the next send spins on it for ever). Detecting a freed object rests on a
 * magic word in its header (internal.h): set at creation, overwritten just
 * before free(), checked off the fast paths. That is best effort: a check
 * reads memory that has been freed, which is fine while the allocator keeps
 * it (glibc does, for these sizes; a buffered channel of over 128 KiB is
 * returned to the kernel, and then the check itself faults, which the crash
 * report below names); memory handed out again to a new object of the same
 * kind passes. ASan and valgrind see every such use exactly.
 *
 * Crashes (on_crash): SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT raised in a
 * task is reported with the task and its stack, then the signal's default
 * action runs (so the exit status and core dump are as without roost). A
 * SIGSEGV in a stack's guard page is a stack overflow: stack.c reports it.
 * The handler runs on the worker's alternate signal stack and uses only
 * write(2), backtrace() (primed at installation, so that it does not load
 * libgcc in the handler) and dladdr() (no allocation; it takes the loader's
 * lock, recursive). A signal the program handles itself is left to it: a
 * handler (or SIG_IGN) in place when the runtime starts means no report for
 * that signal; for SIGSEGV the overflow check still runs first, and every
 * other fault is passed to the program's handler. ROOST_CRASH=0 turns the
 * reports off (overflows are still reported). Not under ASan or TSan, which
 * own these signals and report them with stacks of their own (under TSan
 * the SIGSEGV handler stays, for overflows).
 */
#include "internal.h"
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <time.h>
#include <unistd.h>

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define NCRASH ((int)(sizeof crash_sigs / sizeof crash_sigs[0]))

static struct {
    pthread_mutex_t lock;         /* one misuse report at a time */
    atomic_int reported;          /* a fatal report is out: the abort after it stays quiet */
    bool installed;               /* roost__crash_install ran */
    bool report;                  /* ROOST_CRASH is not 0 */
    bool theirs[NCRASH];          /* the program handled this signal before we came */
    struct sigaction old[NCRASH]; /* ... and this is what it had */
} crash = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------ misuse */

/* The report, built whole and written with one write(2), so that a leak
 * report from another thread cannot land in the middle of it. */
static char misuse_buf[16384];
static size_t misuse_len;

static void mput(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mput(const char *fmt, ...) {
    if (misuse_len >= sizeof misuse_buf) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(misuse_buf + misuse_len, sizeof misuse_buf - misuse_len, fmt, ap);
    va_end(ap);
    if (n > 0) misuse_len += (size_t)n;
    if (misuse_len > sizeof misuse_buf) misuse_len = sizeof misuse_buf;
}

/* The caller's stack, Go-traceback style (as leak reports and the SIGQUIT
 * dump write a task). */
static void misuse_stack(roost__task *t) {
    char sym[512];
    if (t) {
        roost_task_info_t *o = malloc(sizeof *o);
        if (!o) return;
        roost__self_info(t, o);
        mput("task %llu", (unsigned long long)o->id);
        if (o->name) mput(" \"%s\"", o->name);
        mput(" [running]:\n");
        for (int i = 0; i < o->nframes; i++) {
            roost_symbolize(o->pcs[i], sym, sizeof sym);
            mput("    #%d %s\n", i, sym);
        }
        if (o->parent_id)
            mput("    created by %s at %s:%d (task %llu)\n", o->func, o->file, o->line,
                 (unsigned long long)o->parent_id);
        else
            mput("    created by %s at %s:%d (from a thread)\n", o->func, o->file, o->line);
        free(o);
        return;
    }
    void *pcs[ROOST_MAX_FRAMES];
    int n = backtrace(pcs, ROOST_MAX_FRAMES);
    mput("thread:\n");
    for (int i = 1; i < n; i++) { /* from our caller */
        roost_symbolize((uintptr_t)pcs[i], sym, sizeof sym);
        mput("    #%d %s\n", i - 1, sym);
    }
}

void roost__misuse(const void *obj, const char *fmt, ...) {
    pthread_mutex_lock(&crash.lock); /* never unlocked: we abort */
    atomic_store(&crash.reported, 1);
    roost__task *t = roost__self();
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t)
        mput("roost: fatal: misuse: %s; in task %llu%s%s%s spawned at %s:%d in %s\n", msg,
             (unsigned long long)t->id, t->name ? " \"" : "", t->name ? t->name : "", t->name ? "\"" : "",
             t->site ? t->site->file : "?", t->site ? t->site->line : 0, t->site ? t->site->func : "?");
    else
        mput("roost: fatal: misuse: %s; on a thread (not a task)\n", msg);
    misuse_stack(t);
    mput("roost: aborting (object %p)\n", obj);
    for (size_t off = 0; off < misuse_len;) {
        ssize_t r = write(2, misuse_buf + off, misuse_len - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    abort();
}

void roost__chan_bad(const roost_chan_t *ch, const char *op) {
    if (ch->magic == ROOST_DEAD_MAGIC)
        roost__misuse(ch, "%s on channel %p, which was freed (used after its last reference was dropped)", op,
                      (const void *)ch);
    roost__misuse(ch,
                  "%s on %p, which is not a live channel (freed and its memory reused, or never a "
                  "channel)",
                  op, (const void *)ch);
}

void roost__ctx_bad(const roost_ctx_t *ctx, const char *op) {
    if (ctx->magic == ROOST_DEAD_MAGIC)
        roost__misuse(ctx, "%s on context %p, which was freed (used after its last reference was dropped)",
                      op, (const void *)ctx);
    roost__misuse(ctx,
                  "%s on %p, which is not a live context (freed and its memory reused, or never a "
                  "context)",
                  op, (const void *)ctx);
}

int roost__ctx_err_checked(roost_ctx_t *ctx) {
    int err = atomic_load_explicit(&ctx->err, memory_order_acquire);
    if (ROOST_UNLIKELY(err != ROOST_ECANCELED && err != ROOST_ETIMEDOUT))
        roost__ctx_bad(ctx, "a call taking a context");
    return err;
}

/* ------------------------------------------------------------ crash reports */

#ifndef ROOST_ASAN /* ASan owns these signals: nothing below is used under it */

/* A line buffer written with write(2): the handler's only output. */
typedef struct {
    char b[1024];
    size_t n;
} wbuf;

static void w_flush(wbuf *w) {
    size_t off = 0;
    while (off < w->n) {
        ssize_t r = write(2, w->b + off, w->n - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    w->n = 0;
}

static void w_str(wbuf *w, const char *s) {
    if (!s) s = "?";
    for (; *s; s++) {
        if (w->n == sizeof w->b) w_flush(w);
        w->b[w->n++] = *s;
    }
}

static void w_uint(wbuf *w, unsigned long long v, int base) {
    char d[24];
    int k = 0;
    do d[k++] = "0123456789abcdef"[v % (unsigned)base];
    while ((v /= (unsigned)base) && k < 24);
    char s[28];
    int m = 0;
    if (base == 16) s[m++] = '0', s[m++] = 'x';
    while (k) s[m++] = d[--k];
    s[m] = 0;
    w_str(w, s);
}

static const char *crash_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV: segmentation violation";
    case SIGBUS: return "SIGBUS: bus error";
    case SIGILL: return "SIGILL: illegal instruction";
    case SIGFPE: return "SIGFPE: floating-point exception";
    case SIGABRT: return "SIGABRT: abort";
    }
    return "signal";
}

/* One frame: "#i 0xpc func+0xoff (module+0xoff)", as much as dladdr knows. */
static void w_frame(wbuf *w, int i, uintptr_t pc) {
    w_str(w, "    #");
    w_uint(w, (unsigned)i, 10);
    w_str(w, " ");
    w_uint(w, pc, 16);
    Dl_info di;
    if (dladdr((void *)pc, &di) && di.dli_fname) {
        if (di.dli_sname && di.dli_saddr) {
            w_str(w, " ");
            w_str(w, di.dli_sname);
            w_str(w, "+");
            w_uint(w, pc - (uintptr_t)di.dli_saddr, 16);
        }
        const char *base = strrchr(di.dli_fname, '/');
        w_str(w, " (");
        w_str(w, base ? base + 1 : di.dli_fname);
        w_str(w, "+");
        w_uint(w, pc - (uintptr_t)di.dli_fbase, 16);
        w_str(w, ")");
    }
    w_str(w, "\n");
}

static void uctx_regs(void *uctx, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp) {
    *pc = *sp = *fp = 0;
#if defined(__x86_64__)
    mcontext_t *m = &((ucontext_t *)uctx)->uc_mcontext;
    *pc = (uintptr_t)m->gregs[REG_RIP], *sp = (uintptr_t)m->gregs[REG_RSP];
    *fp = (uintptr_t)m->gregs[REG_RBP];
#elif defined(__aarch64__)
    mcontext_t *m = &((ucontext_t *)uctx)->uc_mcontext;
    *pc = (uintptr_t)m->pc, *sp = (uintptr_t)m->sp, *fp = (uintptr_t)m->regs[29];
#else
    (void)uctx;
#endif
}

/* The interrupted task's stack: unwound by backtrace() through the signal
 * frame (from the frame whose pc is the one interrupted), else by its frame
 * pointers, kept within the task's stack. */
static void w_stack(wbuf *w, roost__task *t, void *uctx) {
    uintptr_t pc, sp, fp;
    uctx_regs(uctx, &pc, &sp, &fp);
    if (roost__switch_pc(pc)) { /* between two stacks: no frame to unwind (on_stack_sig) */
        w_frame(w, 0, pc);
        return;
    }
    void *bt[ROOST_MAX_FRAMES + 8];
    int n = backtrace(bt, ROOST_MAX_FRAMES + 8), k = 0;
    while (k < n && (uintptr_t)bt[k] != pc) k++;
    int out = 0;
    if (pc && k < n) {
        for (; k < n && out < ROOST_MAX_FRAMES; k++) w_frame(w, out++, (uintptr_t)bt[k]);
        return;
    }
    if (pc) w_frame(w, out++, pc);
    uintptr_t top = (uintptr_t)t;
    while (out < ROOST_MAX_FRAMES && fp >= sp && fp + 16 <= top && (fp & 7) == 0) {
        uintptr_t next = ((uintptr_t *)fp)[0], ret = ((uintptr_t *)fp)[1];
        if (!ret) break;
        w_frame(w, out++, ret);
        if (next <= fp) break;
        fp = next;
    }
}

static void crash_report(int sig, siginfo_t *si, void *uctx, roost__task *t) {
    wbuf w;
    w.n = 0;
    w_str(&w, "\n");
    w_str(&w, crash_name(sig));
    if (sig != SIGABRT && si->si_code > 0) {
        w_str(&w, " at address ");
        w_uint(&w, (uintptr_t)si->si_addr, 16);
    }
    w_str(&w, "\nroost: fatal: signal ");
    w_uint(&w, (unsigned)sig, 10);
    w_str(&w, " in task ");
    w_uint(&w, t->id, 10);
    if (t->name) {
        w_str(&w, " \"");
        w_str(&w, t->name);
        w_str(&w, "\"");
    }
    w_str(&w, " spawned at ");
    w_str(&w, t->site ? t->site->file : "?");
    w_str(&w, ":");
    w_uint(&w, t->site ? (unsigned)t->site->line : 0, 10);
    w_str(&w, " in ");
    w_str(&w, t->site ? t->site->func : "?");
    w_str(&w, "\ntask ");
    w_uint(&w, t->id, 10);
    if (t->name) {
        w_str(&w, " \"");
        w_str(&w, t->name);
        w_str(&w, "\"");
    }
    w_str(&w, " [running]:\n");
    w_flush(&w); /* the header is out, whatever happens while unwinding */
    w_stack(&w, t, uctx);
    w_str(&w, "    created by ");
    w_str(&w, t->site ? t->site->func : "?");
    w_str(&w, " at ");
    w_str(&w, t->site ? t->site->file : "?");
    w_str(&w, ":");
    w_uint(&w, t->site ? (unsigned)t->site->line : 0, 10);
    if (t->parent_id) {
        w_str(&w, " (task ");
        w_uint(&w, t->parent_id, 10);
        w_str(&w, ")\n");
    } else {
        w_str(&w, " (from a thread)\n");
    }
    w_flush(&w);
}

static int crash_slot(int sig) {
    for (int i = 0; i < NCRASH; i++)
        if (crash_sigs[i] == sig) return i;
    return 0;
}

/* Die of sig as if no handler had been there: the default action back,
 * then a sent signal (kill, raise, abort) is raised again, to be delivered
 * once this handler returns; a fault re-executes its instruction. */
static void die_of(int sig, siginfo_t *si) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0) raise(sig);
}

static void on_crash(int sig, siginfo_t *si, void *uctx) {
    int e = errno;
    roost__worker *w = roost__tls_worker;
    roost__task *t = w ? w->current : NULL;
    if (sig == SIGSEGV && t) {
        uintptr_t pc, sp, fp;
        uctx_regs(uctx, &pc, &sp, &fp);
        if (roost__stack_overflow_fault(t, si->si_addr, (void *)sp)) {
            atomic_store(&crash.reported, 1);
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    int i = crash_slot(sig);
    if (crash.theirs[i]) { /* the program's own handler: pass it on */
        if (crash.old[i].sa_flags & SA_SIGINFO) {
            crash.old[i].sa_sigaction(sig, si, uctx);
        } else if (crash.old[i].sa_handler != SIG_IGN && crash.old[i].sa_handler != SIG_DFL) {
            crash.old[i].sa_handler(sig);
        } else {
            die_of(sig, si);
        }
        errno = e;
        return;
    }
    if (t && crash.report && !atomic_exchange(&crash.reported, 1)) crash_report(sig, si, uctx, t);
    die_of(sig, si);
    errno = e;
}

/* ------------------------------------------------------------ a blocked worker's stack */

/* The monitor asks for the stack of a task that keeps its worker (sched.c's
 * blocked workers): it sends SIGURG to that worker's thread (Go's
 * preemption signal: ignored by default, and rarely a program's own), and
 * the handler unwinds the interrupted task as a crash report does (w_stack)
 * into stack_req.pcs. One request at a time, from the monitor's thread; whoever
 * clears `want` (the handler starting, or the monitor giving up) owns it. */
static struct {
    _Atomic(roost__worker *) want; /* the worker asked, until the handler takes it */
    _Atomic int n;                 /* frames in pcs; -1 until the handler is done */
    uintptr_t pcs[ROOST_MAX_FRAMES];
    int state; /* 0 not set up, 1 handler installed, -1 unavailable */
} stack_req;

static void on_stack_sig(int sig, siginfo_t *si, void *uctx) {
    (void)sig, (void)si;
    int e = errno;
    roost__worker *w = roost__tls_worker, *x = w;
    roost__task *t = w ? w->current : NULL;
    if (!t || !atomic_compare_exchange_strong(&stack_req.want, &x, NULL)) {
        errno = e; /* not ours to answer (a stray SIGURG is ignored, as by default) */
        return;
    }
    uintptr_t pc, sp, fp;
    uctx_regs(uctx, &pc, &sp, &fp);
    /* Unwind only what interrupted the task on its own stack: a worker
     * caught between stacks (a context switch, the scheduler's loop) gives
     * the unwinder a frame it may fault on, and a fault here would read as
     * the task's crash. Then the pc alone is the report. The stack pointer
     * alone does not tell: `current` is the next task from just before the
     * switch, and inside roost__switch the stack pointer is already the
     * next task's while the registers are being loaded from it, so the
     * unwinder took a saved register (the MXCSR word) for a return address
     * and faulted reading code there. A worker that sysmon takes for
     * blocked because the OS descheduled it switches busily once back, so
     * its signal lands anywhere, this window included. */
    if (!t->stack || sp < (uintptr_t)t->stack->lo || sp >= (uintptr_t)t->stack->hi || roost__switch_pc(pc)) {
        stack_req.pcs[0] = pc;
        atomic_store_explicit(&stack_req.n, pc ? 1 : 0, memory_order_release);
        errno = e;
        return;
    }
    void *bt[ROOST_MAX_FRAMES + 8];
    int n = backtrace(bt, ROOST_MAX_FRAMES + 8), k = 0, out = 0;
    while (k < n && (uintptr_t)bt[k] != pc) k++;
    if (pc && k < n) {
        for (; k < n && out < ROOST_MAX_FRAMES; k++) stack_req.pcs[out++] = (uintptr_t)bt[k];
    } else {
        if (pc) stack_req.pcs[out++] = pc;
        uintptr_t top = (uintptr_t)t;
        while (out < ROOST_MAX_FRAMES && fp >= sp && fp + 16 <= top && (fp & 7) == 0) {
            uintptr_t next = ((uintptr_t *)fp)[0], ret = ((uintptr_t *)fp)[1];
            if (!ret) break;
            stack_req.pcs[out++] = ret;
            if (next <= fp) break;
            fp = next;
        }
    }
    atomic_store_explicit(&stack_req.n, out, memory_order_release);
    errno = e;
}
#endif

int roost__worker_stack(roost__worker *v, uintptr_t *pcs, int max) {
#if defined(ROOST_ASAN) || defined(ROOST_TSAN)
    (void)v, (void)pcs, (void)max;
    return 0; /* the sanitizers own signal delivery: no unwinding in handlers there */
#else
    if (stack_req.state == 0) {
        struct sigaction old, sa;
        stack_req.state = -1;
        if (sigaction(SIGURG, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
            void *prime[1];
            backtrace(prime, 1);       /* loads libgcc's unwinder now, not in the handler */
            (void)roost__switch_pc(0); /* and finds the switch's code (the ucontext build) */
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_stack_sig;
            sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
            sigemptyset(&sa.sa_mask);
            if (sigaction(SIGURG, &sa, NULL) == 0) stack_req.state = 1;
        }
    }
    if (stack_req.state != 1) return 0;
    atomic_store(&stack_req.n, -1);
    atomic_store(&stack_req.want, v);
    if (pthread_kill(v->thread, SIGURG) != 0) {
        atomic_store(&stack_req.want, NULL);
        return 0;
    }
    /* A thread in a system call takes the signal at once; give it 20 ms. */
    for (int i = 0; i < 20 && atomic_load_explicit(&stack_req.n, memory_order_acquire) < 0; i++) {
        struct timespec ts = {0, ROOST_MS};
        nanosleep(&ts, NULL);
    }
    roost__worker *x = v;
    if (atomic_compare_exchange_strong(&stack_req.want, &x, NULL)) return 0; /* never came */
    int n;
    while ((n = atomic_load_explicit(&stack_req.n, memory_order_acquire)) < 0) sched_yield();
    if (n > max) n = max;
    memcpy(pcs, stack_req.pcs, (size_t)n * sizeof *pcs);
    return n;
#endif
}

void roost__crash_install(void) {
#ifndef ROOST_ASAN
    pthread_mutex_lock(&crash.lock);
    if (crash.installed) {
        pthread_mutex_unlock(&crash.lock);
        return;
    }
    crash.installed = true;
    const char *e = getenv("ROOST_CRASH");
    crash.report = !(e && strcmp(e, "0") == 0);
#ifdef ROOST_TSAN
    crash.report = false; /* TSan reports these signals itself (with our handler in place, a
                       * second time, as a "nested bug"): only the overflow check stays */
#endif
    if (crash.report) {
        void *prime[1];
        backtrace(prime, 1);       /* loads libgcc's unwinder now, not in a handler */
        (void)roost__switch_pc(0); /* and finds the switch's code (the ucontext build) */
    }
    for (int i = 0; i < NCRASH; i++) {
        int sig = crash_sigs[i];
        if (sigaction(sig, NULL, &crash.old[i]) != 0) continue;
        crash.theirs[i] = (crash.old[i].sa_flags & SA_SIGINFO) || crash.old[i].sa_handler != SIG_DFL;
        /* SIGSEGV always: a guard-page fault must be told from any other. */
        if (sig != SIGSEGV && (crash.theirs[i] || !crash.report)) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_crash;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
    }
    pthread_mutex_unlock(&crash.lock);
#endif
}
