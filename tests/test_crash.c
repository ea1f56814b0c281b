/* test_crash.c - a task that crashes is named before the process dies.
 *
 * SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT in a task: roost writes the
 * task (id, name, spawn site, stack), then the signal's default action
 * runs, so the process dies of that very signal (docs/guide.md, "When roost
 * aborts"). Each case runs in a forked child (death.h). Under ASan and TSan,
 * which own these signals and report them themselves, roost stays out: the
 * cases then only check that the child died.
 */
#include "death.h"

static volatile int zero;

static void __attribute__((noinline)) null_write(void) { *(volatile int *)(uintptr_t)zero = 1; }

static void crasher(void *unused) { null_write(); }
static void aborter(void *unused) { abort(); }
static void divider(void *unused) { zero = 7 / zero; }

static void spawn_and_wait(void (*fn)(void *), const char *name) {
    roost_task_opts_t o = {.name = name};
    CHECK_OK(roost_go_opts(fn, NULL, &o));
    roost_sleep(NULL, 10 * ROOST_S); /* the child dies first */
}

static void segv_main(void *unused) { spawn_and_wait(crasher, "crasher"); }
static void abort_main(void *unused) { spawn_and_wait(aborter, "aborter"); }
static void fpe_main(void *unused) { spawn_and_wait(divider, "divider"); }

#define SAYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void t_crash(const char *name, void (*body)(void *), const char *env, int sig,
                    const char *const *says) {
    death_t *d = malloc(sizeof *d);
    CHECK(d != NULL);
    death_run(body, env, d);
#ifdef DEATH_SAN
    (void)sig, (void)says;
    CHECK_MSG(WIFSIGNALED(d->status) || (WIFEXITED(d->status) && WEXITSTATUS(d->status)),
              "child status %#x, stderr:\n%s", d->status, d->out);
    printf("ok %s (the sanitizer's report)\n", name);
#else
    death_expect(d, sig, says);
    printf("ok %s\n", name);
#endif
    free(d);
}

/* The report names the task and where it was spawned. */
static void t_segv(void) {
    t_crash("t_segv", segv_main, NULL, SIGSEGV,
            SAYS("SIGSEGV: segmentation violation at address 0x0", "roost: fatal: signal 11 in task ",
                 "\"crasher\" spawned at tests/test_crash.c:", "in spawn_and_wait", "[running]:", "    #0 0x",
                 "    created by spawn_and_wait at tests/test_crash.c:"));
}

static void t_abort(void) {
    t_crash("t_abort", abort_main, NULL, SIGABRT,
            SAYS("SIGABRT: abort", "roost: fatal: signal 6 in task ", "\"aborter\"",
                 "spawned at tests/test_crash.c:", "    #1 0x"));
}

static void t_fpe(void) {
#if defined(__x86_64__) /* integer division by zero traps here; AArch64 gives 0 */
    t_crash("t_fpe", fpe_main, NULL, SIGFPE,
            SAYS("SIGFPE: floating-point exception", "\"divider\"", "spawned at tests/test_crash.c:"));
#endif
}

/* ROOST_CRASH=0: the process dies of the signal, and roost says nothing. */
static void t_off(void) {
    death_t *d = malloc(sizeof *d);
    CHECK(d != NULL);
    death_run(segv_main, "ROOST_CRASH=0", d);
#ifndef DEATH_SAN
    death_expect(d, SIGSEGV, SAYS(""));
    CHECK_MSG(!strstr(d->out, "roost: fatal"), "stderr:\n%s", d->out);
#endif
    printf("ok t_off\n");
    free(d);
}

/* A handler the program installed before the runtime started keeps its
 * signal: roost neither reports nor replaces it. */
static void on_abrt(int sig) {
    static const char m[] = "program's own handler\n";
    if (write(2, m, sizeof m - 1) < 0) {
    }
    _exit(42);
}

static void own_handler_main(void *unused) { spawn_and_wait(aborter, "aborter"); }

static void install_own_handler(void) { signal(SIGABRT, on_abrt); }

static void t_own_handler(void) {
    death_t *d = malloc(sizeof *d);
    CHECK(d != NULL);
    death_run_with(install_own_handler, own_handler_main, NULL, NULL, d);
    CHECK_MSG(WIFEXITED(d->status) && WEXITSTATUS(d->status) == 42, "child status %#x, stderr:\n%s",
              d->status, d->out);
    CHECK_MSG(strstr(d->out, "program's own handler") && !strstr(d->out, "roost: fatal"), "stderr:\n%s",
              d->out);
    printf("ok t_own_handler\n");
    free(d);
}

static void t_no_crash(void *unused) { /* and a process whose tasks do not crash says nothing */
}

int main(void) {
    /* Every fork happens before this process starts the runtime. */
    t_segv();
    t_abort();
    t_fpe();
    t_off();
    t_own_handler();
    RUN(t_no_crash);
    check_no_leaks();
    return 0;
}
