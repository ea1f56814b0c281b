/* death.h - death tests: run a body as a roost task in a forked child and
 * check how the child died and what it wrote to stderr.
 *
 * Fork before this process starts the runtime (or any thread): the child
 * starts its own. Under TSan a fork after threads exist is unsupported, and
 * under valgrind the child stays under valgrind (its errors go to the
 * parent's stderr, its death is its own). A child that hangs (the bug some
 * of these tests are about) is killed by SIGALRM after a generous bound.
 *
 *   death_run(body, env, &d)   d.status (waitpid's), d.out (its stderr)
 *   death_run_with(before, body, after, env, &d)   before() in the child
 *                              first, after() once roost_run returns
 *   DEATH_SIGNAL(d)            the signal it died of, or 0
 */
#ifndef ROOST_TEST_DEATH_H
#define ROOST_TEST_DEATH_H

#include "check.h"
#include <stdbool.h>
#include <sys/wait.h>

/* Under ASan or TSan: a use of freed memory, and a crash, are the
 * sanitizer's to report, and roost's own report may not come. */
#if defined(__SANITIZE_ADDRESS__) || defined(CHECK_TSAN)
#define DEATH_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEATH_SAN 1
#endif
#endif

typedef struct {
    int status;
    char out[16384];
} death_t;

#define DEATH_SIGNAL(d) (WIFSIGNALED((d).status) ? WTERMSIG((d).status) : 0)

/* Run body(NULL) as a task (roost_run) in a child, with env ("NAME=value",
 * or NULL) set first, then before() (may be NULL) and after roost_run
 * returns, after() (may be NULL). A child that gets to the end exits 0. */
static CHECK__UNUSED void death_run_with(void (*before)(void), void (*body)(void *), void (*after)(void),
                                         const char *env, death_t *d) {
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        if (env) putenv((char *)env);
        signal(SIGALRM, SIG_DFL);
        alarm((unsigned)(30 * check_slack()));
        if (before) before();
        roost_run(body, NULL);
        if (after) after();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    char scratch[4096];
    for (;;) { /* all of it, keeping what fits: the start matters most */
        bool room = n < sizeof d->out - 1;
        r = room ? read(p[0], d->out + n, sizeof d->out - 1 - n) : read(p[0], scratch, sizeof scratch);
        if (r <= 0) break;
        if (room) n += (size_t)r;
    }
    d->out[n] = 0;
    close(p[0]);
    CHECK(waitpid(pid, &d->status, 0) == pid);
}

static CHECK__UNUSED void death_run(void (*body)(void *), const char *env, death_t *d) {
    death_run_with(NULL, body, NULL, env, d);
}

/* The child must have died of sig, saying each of the strings given
 * (NULL-terminated list). */
static CHECK__UNUSED void death_expect(const death_t *d, int sig, const char *const *says) {
    CHECK_MSG(DEATH_SIGNAL(*d) == sig, "child status %#x (want death by signal %d), stderr:\n%s", d->status,
              sig, d->out);
    for (; *says; says++) CHECK_MSG(strstr(d->out, *says) != NULL, "stderr lacks \"%s\":\n%s", *says, d->out);
}

#endif
