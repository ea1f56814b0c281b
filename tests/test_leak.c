/* test_leak.c - the leak detector (src/leak.c): provable channel leaks at
 * unref and at park time, the wake policy, orphaned channels, lock cycles,
 * locks held by exited tasks, re-locks, suspects, the global deadlock
 * report, and roost_check_leaks. */
#include "check.h"
#include "roost_obs.h"
#include <pthread.h>
#include <stdbool.h>
#include <malloc.h>
#include <sys/wait.h>

/* ------------------------------------------------------------ the hook */

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static int hook_calls, hook_kind, hook_ntasks, hook_verdict;
static char hook_text[4096];
static char hook_func[64];

static void hook(const roost_leak_t *l, void *arg) {
    (void)arg;
    pthread_mutex_lock(&hook_lock);
    hook_calls++;
    hook_kind = l->kind;
    hook_verdict = l->verdict;
    hook_ntasks = (int)l->ntasks;
    snprintf(hook_text, sizeof hook_text, "%s", l->text);
    snprintf(hook_func, sizeof hook_func, "%s", l->ntasks ? l->tasks[0].func : "");
    pthread_mutex_unlock(&hook_lock);
}

static void hook_reset(void) {
    pthread_mutex_lock(&hook_lock);
    hook_calls = hook_kind = hook_ntasks = hook_verdict = 0;
    hook_text[0] = hook_func[0] = 0;
    pthread_mutex_unlock(&hook_lock);
}

/* Wait for the reporter thread to deliver n reports. A report that is due
 * waits with a bound of seconds: the reporter symbolizes its stacks, which on
 * a loaded machine can take over a second the first time; the bound costs
 * nothing when the report comes. A report that must not come is watched
 * for a short while only. */
static int hook_wait(int n, int64_t timeout) {
    int64_t end = roost_now() + timeout * check_slack();
    for (;;) {
        pthread_mutex_lock(&hook_lock);
        int c = hook_calls;
        pthread_mutex_unlock(&hook_lock);
        if (c >= n || roost_now() > end) return c;
        roost_sleep(NULL, ROOST_MS);
    }
}

/* Wait until at least n tasks are parked for `reason` (slow machines and
 * emulators need more than a fixed sleep). */
static void wait_parked(int reason, int64_t n) {
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    roost_counts_t c;
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while (c.by_reason[reason] < n && roost_now() < end);
}

/* ------------------------------------------------------------ the story */

typedef struct {
    roost_chan_t *result;
    int64_t delay;
    atomic_int rc;
} request;

static void do_request(void *arg) {
    request *r = arg;
    CHECK_OK(roost_chan_adopt(r->result)); /* released when we exit */
    roost_sleep(NULL, r->delay);
    int v = 42;
    atomic_store(&r->rc, roost_chan_send(NULL, r->result, &v));
}

/* Make a result channel of capacity cap and spawn a request that adopts a
 * reference to it, without waiting; returns the caller's own reference. */
static roost_chan_t *start_request(request *r, size_t cap, int64_t delay) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), cap, &ch));
    r->result = roost_chan_ref(ch);
    r->delay = delay;
    atomic_store(&r->rc, 1);
    CHECK_OK(roost_go(do_request, r));
    return ch;
}

/* fetch() as in the story: spawn the request, wait with a timeout, walk
 * away on timeout. cap 0 is the leaky version, cap 1 the fixed one. */
static int fetch(request *r, size_t cap, int64_t delay, int64_t timeout) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), cap, &ch));
    r->result = roost_chan_ref(ch);
    r->delay = delay;
    atomic_store(&r->rc, 1);
    CHECK_OK(roost_go(do_request, r)); /* spawned here: reports name fetch */
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, timeout, &ctx));
    int v = 0, rc = roost_chan_recv(ctx, ch, &v);
    roost_ctx_unref(ctx);
    roost_chan_unref(ch); /* walk away */
    return rc;
}

static int64_t wait_rc(request *r) {
    int64_t end = roost_now() + 2 * ROOST_S * check_slack();
    while (atomic_load(&r->rc) == 1 && roost_now() < end) roost_sleep(NULL, ROOST_MS);
    return atomic_load(&r->rc);
}

/* The caller gives up first; the request parks later on a send nobody can
 * receive: proved at park time, woken with ROOST_ELEAKED. */
static void t_story_park_time(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    request r;
    int64_t found0 = roost_leaks_found();
    CHECK_ERR(fetch(&r, 0, 30 * ROOST_MS, 5 * ROOST_MS), ROOST_ETIMEDOUT);
    CHECK_EQ(wait_rc(&r), ROOST_ELEAKED);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CHAN);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_REFS);
    CHECK_EQ(hook_ntasks, 1);
    CHECK(strcmp(hook_func, "fetch") == 0);
    CHECK(strstr(hook_text,
                 "roost: leak: channel unreachable [exact references]: 1 task can never proceed") != NULL);
    CHECK(strstr(hook_text, "chan send") != NULL);
    CHECK(strstr(hook_text, "created by fetch at") != NULL);
    CHECK_EQ(roost_leaks_found(), found0 + 1);
}

/* The request parks first (nobody is receiving yet); the caller's unref
 * makes the leak provable. */
static void t_story_unref_time(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    request r;
    roost_chan_t *ch = start_request(&r, 0, 0);
    roost_sleep(NULL, 10 * ROOST_MS);
    CHECK_EQ(atomic_load(&r.rc), 1); /* parked */
    CHECK_EQ(hook_calls, 0);         /* we still hold a reference */
    roost_chan_unref(ch);
    CHECK_EQ(wait_rc(&r), ROOST_ELEAKED);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CHAN);
}

/* Report only: the task stays parked (the program asked for that), the
 * report arrives; closing the channel later lets it go. */
static void t_report_only(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    request r;
    roost_chan_t *ch = start_request(&r, 0, 0);
    roost_sleep(NULL, 10 * ROOST_MS);
    /* Keep a borrowed pointer to end the test: close before the last unref
     * is fine only because we close while our reference is alive. */
    CHECK_OK(roost_chan_close(ch));
    roost_chan_unref(ch);
    CHECK_EQ(wait_rc(&r), ROOST_ECLOSED);
    CHECK_EQ(hook_calls, 0); /* closed before it was ever provable */

    ch = start_request(&r, 0, 0);
    roost_sleep(NULL, 10 * ROOST_MS);
    roost_chan_t *keep = ch; /* borrowed: the task's adopted ref keeps it alive */
    roost_chan_unref(ch);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(atomic_load(&r.rc), 1);  /* still parked */
    CHECK_OK(roost_chan_close(keep)); /* (a test's licence: release it) */
    CHECK_EQ(wait_rc(&r), ROOST_ECLOSED);
}

/* The fixed story raises nothing, whatever the timing. */
static void t_story_fixed(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    for (int i = 0; i < 20; i++) {
        request r;
        fetch(&r, 1, (i % 3) * ROOST_MS, 2 * ROOST_MS);
        CHECK_EQ(wait_rc(&r), 0);
    }
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(hook_wait(1, 50 * ROOST_MS), 0);
}

/* A receiver with a borrowed pointer, and the last reference dropped:
 * orphaned with a waiter. */
static void borrowed_recv(void *arg) {
    request *r = arg;
    int v;
    atomic_store(&r->rc, roost_chan_recv(NULL, r->result, &v));
}

static void t_orphaned(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    request r;
    CHECK_OK(roost_chan_make(sizeof(int), 4, &r.result));
    atomic_store(&r.rc, 1);
    CHECK_OK(roost_go(borrowed_recv, &r));
    roost_sleep(NULL, 10 * ROOST_MS);
    roost_chan_unref(r.result);
    CHECK_EQ(wait_rc(&r), ROOST_ELEAKED);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CHAN);
}

/* Receivers whose context can cancel them are not leaked: the ctx can. */
static void ctx_recv(void *arg) {
    request *r = arg;
    CHECK_OK(roost_chan_adopt(r->result));
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    atomic_store(&r->rc, roost_chan_recv(ctx, r->result, NULL));
    roost_ctx_unref(ctx);
}

static void t_cancellable_not_leaked(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    request r;
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    r.result = roost_chan_ref(ch);
    atomic_store(&r.rc, 1);
    CHECK_OK(roost_go(ctx_recv, &r));
    roost_sleep(NULL, 5 * ROOST_MS);
    roost_chan_unref(ch);
    CHECK_EQ(wait_rc(&r), ROOST_ETIMEDOUT);
    CHECK_EQ(hook_wait(1, 30 * ROOST_MS), 0);
}

/* ------------------------------------------------------------ locks */

static roost_mutex_t m1 = ROOST_MUTEX_INIT, m2 = ROOST_MUTEX_INIT;
static atomic_int lock_rc[2];

static void lock_pair(void *arg) {
    int i = (int)(intptr_t)arg;
    roost_mutex_t *a = i ? &m2 : &m1, *b = i ? &m1 : &m2;
    CHECK_OK(roost_mutex_lock(NULL, a));
    roost_sleep(NULL, 10 * ROOST_MS);
    int rc = roost_mutex_lock(NULL, b);
    atomic_store(&lock_rc[i], rc);
    if (rc == 0) CHECK_OK(roost_mutex_unlock(b));
    CHECK_OK(roost_mutex_unlock(a));
}

static void t_lock_cycle(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    atomic_store(&lock_rc[0], 1), atomic_store(&lock_rc[1], 1);
    CHECK_OK(roost_go(lock_pair, (void *)0));
    CHECK_OK(roost_go(lock_pair, (void *)1));
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S * check_slack()));
    /* One of them closed the cycle and got ROOST_ELEAKED; the other then
     * got its lock. */
    int a = atomic_load(&lock_rc[0]), b = atomic_load(&lock_rc[1]);
    CHECK((a == ROOST_ELEAKED && b == 0) || (b == ROOST_ELEAKED && a == 0) ||
          (a == ROOST_ELEAKED && b == ROOST_ELEAKED));
    CHECK_GE(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_LOCK_CYCLE);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_LOCKS);
    CHECK_EQ(hook_ntasks, 2);
    CHECK(strstr(hook_text, "mutex") != NULL);
    CHECK(strstr(hook_text, "[lock chain]") != NULL);
}

static void lock_and_exit(void *arg) { CHECK_OK(roost_mutex_lock(NULL, arg)); }

/* Reported, never woken, even under the wake policy: Go lets another task
 * unlock it, and here one does. */
static atomic_int reuse_rc;
static void lock_again(void *arg) {
    int rc = roost_mutex_lock(NULL, arg);
    if (rc == 0) CHECK_OK(roost_mutex_unlock(arg));
    atomic_store(&reuse_rc, rc);
}

static void orphan_once(void) {
    hook_reset();
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    atomic_store(&reuse_rc, 1);
    CHECK_OK(roost_go(lock_and_exit, &mu));
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    /* The next task may well reuse the exited holder's stack slot (task
     * records are pooled): still an orphaned lock, not a re-lock. */
    CHECK_OK(roost_go(lock_again, &mu));
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_LOCK_ORPHANED);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_LOCKS);
    CHECK_EQ(atomic_load(&reuse_rc), 1); /* still waiting */
    CHECK_OK(roost_mutex_unlock(&mu));   /* the other task's unlock, as Go allows */
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&reuse_rc), 0);
}

static void t_lock_orphaned(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    for (int i = 0; i < 8; i++) orphan_once();
}

static void t_relock(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    int64_t found0 = roost_leaks_found();
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    CHECK_OK(roost_mutex_lock(NULL, &mu));
    CHECK_ERR(roost_mutex_lock(NULL, &mu), ROOST_EDEADLK);
    CHECK_OK(roost_mutex_unlock(&mu));
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_LOCK_CYCLE);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_RELOCK);
    CHECK_EQ(hook_ntasks, 1);
    CHECK(strstr(hook_text, "refused with ROOST_EDEADLK") != NULL);
    CHECK(strstr(hook_text, "[refused re-lock]") != NULL);
    CHECK_EQ(roost_leaks_found(), found0); /* refused, not leaked */
}

/* A mutex held by a plain thread: nothing to report, and the task gets it. */
static roost_mutex_t thread_mu = ROOST_MUTEX_INIT;
static atomic_int thread_locked;
static void *thread_holds(void *arg) {
    (void)arg;
    CHECK_OK(roost_mutex_lock(NULL, &thread_mu));
    atomic_store(&thread_locked, 1);
    roost_sleep(NULL, 30 * ROOST_MS);
    CHECK_OK(roost_mutex_unlock(&thread_mu));
    return NULL;
}

static void t_thread_holder(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    atomic_store(&thread_locked, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_holds, NULL), 0);
    while (!atomic_load(&thread_locked)) roost_sleep(NULL, ROOST_MS);
    CHECK_OK(roost_mutex_lock(NULL, &thread_mu));
    CHECK_OK(roost_mutex_unlock(&thread_mu));
    pthread_join(th, NULL);
    CHECK_EQ(hook_wait(1, 20 * ROOST_MS), 0);
}

/* Locks held and released normally, under contention: nothing reported. */
static void contend(void *arg) {
    for (int i = 0; i < SCALE(2000, 100); i++) {
        CHECK_OK(roost_mutex_lock(NULL, &m1));
        CHECK_OK(roost_mutex_lock(NULL, &m2)); /* always in the same order */
        if (i % 7 == 0) roost_yield();
        CHECK_OK(roost_mutex_unlock(&m2));
        CHECK_OK(roost_mutex_unlock(&m1));
    }
}

static void t_locks_fine(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    hook_reset();
    for (int i = 0; i < 4; i++) CHECK_OK(roost_go(contend, NULL));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    CHECK_EQ(hook_wait(1, 20 * ROOST_MS), 0);
}

/* ------------------------------------------------------------ scans and the helper */

static void forever_recv(void *arg) { roost_chan_recv(NULL, arg, NULL); }

static void t_suspects_and_check(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    /* One at a time: a receiver that met another on the channel's lock
     * parks through its contended path, a stack of its own. */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(roost_go(forever_recv, ch));
        wait_parked(ROOST_WAIT_CHAN_RECV, i + 1);
    }
    roost_sleep(NULL, 25 * ROOST_MS);
    CHECK_EQ(roost_leak_scan(20 * ROOST_MS), 3);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_SUSPECT);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_SUSPECT);
    CHECK_EQ(hook_ntasks, 3);
    /* Tasks with the same stack are told once, the others listed by id. A
     * park has two switch sites (to the next task, or to the scheduler),
     * so three receivers show at most two stacks. */
    CHECK_MSG(strstr(hook_text, "more task") && strstr(hook_text, " like it: "), "report: %s", hook_text);
    CHECK_EQ(roost_leak_scan(10 * ROOST_S), 0); /* none that old */

    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(roost_check_leaks(0, 20 * ROOST_MS, fds[1]), 3);
    close(fds[1]);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    CHECK_GT(n, 0);
    buf[n] = 0;
    CHECK(strstr(buf, "3 task(s) left behind") != NULL);
    CHECK(strstr(buf, "[chan receive,") != NULL);
    CHECK(strstr(buf, "created by t_suspects_and_check at") != NULL);
    CHECK_OK(roost_chan_close(ch));
    roost_chan_unref(ch);
    CHECK_EQ(roost_check_leaks(0, 2 * ROOST_S, 2), 0);
}

/* ------------------------------------------------------------ the scan: sets */

typedef struct {
    roost_chan_t *out, *in; /* both adopted by the task */
    roost_mutex_t *mu;
    atomic_int rc;
} loop_arg;

/* Two loops each sending to the other, unbuffered: both park on a send. */
static void send_loop(void *arg) {
    loop_arg *a = arg;
    CHECK_OK(roost_chan_adopt(a->out));
    CHECK_OK(roost_chan_adopt(a->in));
    int v = 1, rc;
    while ((rc = roost_chan_send(NULL, a->out, &v)) == 0) CHECK_OK(roost_chan_recv(NULL, a->in, &v));
    atomic_store(&a->rc, rc);
}

/* Holds the lock across a send whose receiver needs the lock first. */
static void lock_then_send(void *arg) {
    loop_arg *a = arg;
    CHECK_OK(roost_chan_adopt(a->out));
    CHECK_OK(roost_mutex_lock(NULL, a->mu));
    int v = 1;
    atomic_store(&a->rc, roost_chan_send(NULL, a->out, &v));
    CHECK_OK(roost_mutex_unlock(a->mu));
}

static void lock_then_recv(void *arg) {
    loop_arg *a = arg;
    CHECK_OK(roost_chan_adopt(a->in));
    roost_sleep(NULL, 5 * ROOST_MS); /* let the sender take the lock */
    int rc = roost_mutex_lock(NULL, a->mu);
    if (rc == 0) {
        rc = roost_chan_recv(NULL, a->in, NULL);
        CHECK_OK(roost_mutex_unlock(a->mu));
    }
    atomic_store(&a->rc, rc);
}

static void t_scan_sets(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    roost_chan_t *c1, *c2;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &c1));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &c2));
    loop_arg a = {roost_chan_ref(c1), roost_chan_ref(c2), NULL, 1};
    loop_arg b = {roost_chan_ref(c2), roost_chan_ref(c1), NULL, 1};
    CHECK_OK(roost_go(send_loop, &a));
    CHECK_OK(roost_go(send_loop, &b));
    wait_parked(ROOST_WAIT_CHAN_SEND, 2);
    CHECK_EQ(roost_leak_scan(0), 0); /* we still hold both channels */
    CHECK_EQ(hook_wait(1, 20 * ROOST_MS), 0);
    roost_chan_t *k1 = c1, *k2 = c2; /* kept to end the test */
    roost_chan_unref(c1);
    roost_chan_unref(c2);
    roost_sleep(NULL, 5 * ROOST_MS);
    CHECK_EQ(hook_calls, 0); /* not provable one channel at a time */
    CHECK_EQ(roost_leak_scan(0), 2);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CYCLE);
    CHECK_EQ(hook_ntasks, 2);
    roost_chan_close(k1), roost_chan_close(k2);
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));

    /* A lock held across a send whose receiver needs the lock. */
    hook_reset();
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    loop_arg s = {.out = roost_chan_ref(ch), .mu = &mu, .rc = 1};
    loop_arg r = {.in = roost_chan_ref(ch), .mu = &mu, .rc = 1};
    CHECK_OK(roost_go(lock_then_send, &s));
    CHECK_OK(roost_go(lock_then_recv, &r));
    wait_parked(ROOST_WAIT_CHAN_SEND, 1);
    wait_parked(ROOST_WAIT_MUTEX, 1);
    roost_chan_t *keep = ch;
    roost_chan_unref(ch);
    CHECK_EQ(roost_leak_scan(0), 2);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CYCLE);
    roost_chan_close(keep);
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&s.rc), ROOST_ECLOSED);
}

/* A scan copies task records, then reads the channels they name: by then
 * a task may have been woken and its channel freed, and glibc unmaps a
 * freed block of 128 KiB or more. Once a crash; the scan now probes those
 * words (leak.c probe64). A plain thread scans non-stop while pairs of
 * tasks meet on channels with 512 KiB buffers, then drop them; nothing is
 * leaked, so every scan must also find nothing. */
static atomic_bool scan_stop;
static atomic_long scan_found, scans_done;

static void *scan_loop(void *unused) {
    while (!atomic_load(&scan_stop)) {
        atomic_fetch_add(&scan_found, roost_leak_scan(0));
        atomic_fetch_add(&scans_done, 1);
    }
    return NULL;
}

typedef struct {
    roost_chan_t *ch; /* a reference of its own */
    roost_waitgroup_t *wg;
    bool send;
} big_args;

static void big_side(void *arg) {
    big_args *a = arg;
    long v = 1;
    if (a->send) {
        roost_yield(); /* let the receiver park first */
        CHECK_OK(roost_chan_send(NULL, a->ch, &v));
    } else {
        CHECK_OK(roost_chan_recv(NULL, a->ch, &v));
    }
    roost_chan_unref(a->ch);
    CHECK_OK(roost_waitgroup_done(a->wg));
}

static void t_scan_races_frees(void *unused) {
    mallopt(M_MMAP_THRESHOLD, 128 << 10); /* fixed: freed big blocks are unmapped */
    atomic_store(&scan_stop, false);
    atomic_store(&scan_found, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, scan_loop, NULL) == 0);
    enum { PAIRS = 8 };
    for (int round = 0; round < SCALE(300, 20); round++) {
        roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
        big_args args[2 * PAIRS];
        CHECK_OK(roost_waitgroup_add(&wg, 2 * PAIRS));
        for (int i = 0; i < PAIRS; i++) {
            roost_chan_t *ch;
            CHECK_OK(roost_chan_make(sizeof(long), 64 << 10, &ch)); /* 512 KiB */
            args[2 * i] = (big_args){roost_chan_ref(ch), &wg, false};
            args[2 * i + 1] = (big_args){ch, &wg, true}; /* ours, handed over */
            CHECK_OK(roost_go(big_side, &args[2 * i]));
            CHECK_OK(roost_go(big_side, &args[2 * i + 1]));
        }
        CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    }
    /* On a loaded machine the scan thread may not have run yet. */
    int64_t t0 = roost_now();
    while (atomic_load(&scans_done) == 0 && roost_now() - t0 < 10 * ROOST_S * check_slack())
        CHECK_OK(roost_sleep(NULL, ROOST_MS));
    atomic_store(&scan_stop, true);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_GT(atomic_load(&scans_done), 0);
    CHECK_EQ(atomic_load(&scan_found), 0);
}

/* The same shapes done right raise nothing. */
static void t_scan_quiet(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &ch)); /* buffered: the send does not wait */
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    loop_arg s = {.out = roost_chan_ref(ch), .mu = &mu, .rc = 1};
    loop_arg r = {.in = roost_chan_ref(ch), .mu = &mu, .rc = 1};
    CHECK_OK(roost_go(lock_then_send, &s));
    CHECK_OK(roost_go(lock_then_recv, &r));
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(roost_leak_scan(0), 0);
        roost_sleep(NULL, ROOST_MS);
    }
    roost_chan_unref(ch);
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&s.rc), 0);
    CHECK_EQ(atomic_load(&r.rc), 0);
    CHECK_EQ(hook_wait(1, 20 * ROOST_MS), 0);
}

/* ------------------------------------------------------------ the check's cost */

typedef struct {
    roost_mutex_t *mu;
    roost_rwmutex_t *rw;
    int n;
} hammer_arg;

/* Lock, yield with the lock held (so the others find it taken), unlock:
 * nearly every lock parks, and every unlock hands the lock to a waiter
 * that has not run yet. */
static void hammer(void *arg) {
    hammer_arg *h = arg;
    for (int i = 0; i < h->n; i++) {
        if (h->mu) {
            CHECK_OK(roost_mutex_lock(NULL, h->mu));
            CHECK_OK(roost_yield());
            CHECK_OK(roost_mutex_unlock(h->mu));
        } else {
            CHECK_OK(roost_rwmutex_lock(NULL, h->rw));
            CHECK_OK(roost_yield());
            CHECK_OK(roost_rwmutex_unlock(h->rw));
        }
    }
}

/* Eight tasks taking turns through a condition variable: each broadcast
 * wakes seven waiters that all re-lock the mutex at once. */
static roost_mutex_t turn_mu = ROOST_MUTEX_INIT;
static roost_cond_t turn_cond = ROOST_COND_INIT;
static int turn;

static void take_turns(void *arg) {
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < SCALE(300, 30); i++) {
        CHECK_OK(roost_mutex_lock(NULL, &turn_mu));
        while (turn % 8 != me) CHECK_OK(roost_cond_wait(NULL, &turn_cond, &turn_mu));
        turn++;
        CHECK_OK(roost_cond_broadcast(&turn_cond));
        CHECK_OK(roost_mutex_unlock(&turn_mu));
    }
}

/* A contended lock handed from task to task, under the default policy:
 * the lock-chain check must see that the holder was handed the lock (or
 * runs) and stop, without walking on or reading through the kernel. The
 * same for a write-locked rwmutex, and for a mutex re-taken after a
 * condition variable's broadcast. */
static void t_contended_cost(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    roost_rwmutex_t rw = ROOST_RWMUTEX_INIT;
    for (int pass = 0; pass < 3; pass++) {
        hammer_arg h = {pass == 0 ? &mu : NULL, pass == 1 ? &rw : NULL, SCALE(2000, 200)};
        roost_leak_stats_t a, b;
        roost_leak_stats(&a);
        for (int i = 0; i < 8; i++)
            CHECK_OK(pass < 2 ? roost_go(hammer, &h) : roost_go(take_turns, (void *)(intptr_t)i));
        CHECK_OK(roost_wait_tasks(0, 60 * ROOST_S * check_slack()));
        roost_leak_stats(&b);
        CHECK_EQ(b.probes - a.probes, 0);
        CHECK_EQ(b.lock_steps - a.lock_steps, 0);
        CHECK_EQ(b.proved, a.proved);
    }
    CHECK_EQ(hook_calls, 0);
}

/* ------------------------------------------------------------ counted once, listed */

/* A request that parks on its send for good once the caller unrefs; the
 * caller keeps a borrowed pointer to close it at the end (a test's
 * licence: the task's adopted reference keeps the channel alive). */
static roost_chan_t *strand_one(request *r) {
    roost_chan_t *ch = start_request(r, 0, 0);
    roost_chan_unref(ch);
    return ch;
}

static int64_t scan_parts(int64_t suspect_ns, int64_t *proved, int64_t *suspects) {
    roost_leak_scan_result_t res;
    int64_t n = roost_leak_scan_detail(suspect_ns, &res);
    *proved = res.proved, *suspects = res.suspects;
    CHECK_EQ(n, res.proved + res.suspects);
    return n;
}

/* Each task is counted and reported once, whoever finds it again; a
 * suspect is reported once more when proved; the list names them all. */
static void t_counted_once(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    roost_leak_stats_t a, b;
    roost_leak_stats(&a);
    int64_t found0 = roost_leaks_found();
    request r[2];
    roost_chan_t *keep[2];
    for (int i = 0; i < 2; i++) keep[i] = strand_one(&r[i]);
    CHECK_EQ(hook_wait(2, 10 * ROOST_S), 2);
    wait_parked(ROOST_WAIT_CHAN_SEND, 2);
    roost_sleep(NULL, 5 * ROOST_MS);
    /* Scans meet them again: as a set only each other could wake, and as
     * tasks parked longer than 1 ms. Neither names them a second time. */
    int64_t proved, suspects;
    CHECK_EQ(scan_parts(ROOST_MS, &proved, &suspects), 0);
    CHECK_EQ(roost_leak_scan(ROOST_MS), 0);
    CHECK_EQ(roost_leaks_found(), found0 + 2);
    roost_leak_flush(ROOST_S);
    CHECK_EQ(hook_calls, 2);
    roost_leak_stats(&b);
    CHECK_EQ(b.proved - a.proved, 2);
    CHECK_EQ(b.suspects - a.suspects, 0);

    /* A suspect first (we hold a reference), proved when we let go. */
    request s;
    roost_chan_t *ch = start_request(&s, 0, 0);
    wait_parked(ROOST_WAIT_CHAN_SEND, 3);
    roost_sleep(NULL, 5 * ROOST_MS);
    CHECK_EQ(scan_parts(ROOST_MS, &proved, &suspects), 1);
    CHECK_EQ(proved, 0);
    CHECK_EQ(suspects, 1);
    CHECK_EQ(hook_wait(3, 10 * ROOST_S), 3);
    CHECK_EQ(hook_kind, ROOST_LEAK_SUSPECT);
    CHECK_EQ(roost_leak_scan(ROOST_MS), 0); /* suspected already */
    roost_chan_unref(ch);
    CHECK_EQ(hook_wait(4, 10 * ROOST_S), 4);
    CHECK_EQ(hook_kind, ROOST_LEAK_CHAN);
    CHECK_EQ(roost_leaks_found(), found0 + 3);
    roost_leak_stats(&b);
    CHECK_EQ(b.suspects - a.suspects, 1);

    /* The whole list, whatever was reported how. */
    roost_leaked_task_t *v;
    size_t n;
    CHECK_OK(roost_leaked_tasks(ROOST_SNAP_STACKS, &v, &n));
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(v[i].kind, ROOST_LEAK_CHAN);
        CHECK_EQ(v[i].verdict, ROOST_VERDICT_REFS);
        CHECK_EQ(v[i].task.wait_reason, ROOST_WAIT_CHAN_SEND);
        CHECK_GT(v[i].task.nframes, 0);
        CHECK(strcmp(v[i].task.func, "start_request") == 0);
    }
    free(v);
    for (int i = 0; i < 2; i++) CHECK_OK(roost_chan_close(keep[i]));
    CHECK_OK(roost_chan_close(ch));
    CHECK_EQ(wait_rc(&r[0]), ROOST_ECLOSED);
    CHECK_EQ(wait_rc(&r[1]), ROOST_ECLOSED);
    CHECK_EQ(wait_rc(&s), ROOST_ECLOSED);
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S * check_slack()));
    CHECK_OK(roost_leaked_tasks(0, &v, &n));
    CHECK_EQ(n, 0); /* gone with them */
    free(v);
    CHECK(strcmp(roost_leak_verdict_name(ROOST_VERDICT_DEADLOCK), "global deadlock") == 0);
    CHECK(strcmp(roost_leak_verdict_name(0), "?") == 0);
}

/* ------------------------------------------------------------ stderr, grouped */

/* stderr goes to a file for a while; checks run once it is back (a failed
 * check writes to stderr). */
static int stderr_saved = -1, stderr_file = -1;

static void stderr_to_file(void) {
    char path[] = "/tmp/roost_test_leak_XXXXXX";
    stderr_file = mkstemp(path);
    CHECK_GE(stderr_file, 0);
    unlink(path);
    fflush(stderr);
    stderr_saved = dup(2);
    CHECK_GE(stderr_saved, 0);
    CHECK_EQ(dup2(stderr_file, 2), 2);
}

static void stderr_back(void) {
    fflush(stderr);
    CHECK_EQ(dup2(stderr_saved, 2), 2);
    close(stderr_saved);
    close(stderr_file);
}

static char grouped_out[65536];
static const char *file_text(void) {
    ssize_t n = pread(stderr_file, grouped_out, sizeof grouped_out - 1, 0);
    grouped_out[n > 0 ? n : 0] = 0;
    return grouped_out;
}

static int count_of(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

static roost_chan_t *strand_grouped(request *r) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    r->result = roost_chan_ref(ch);
    r->delay = 0;
    atomic_store(&r->rc, 1);
    CHECK_OK(roost_go(do_request, r)); /* one spawn site: one group */
    roost_chan_unref(ch);
    return ch;
}

/* Without a hook: the first finding of a group in full, the rest as a
 * count line, on roost_leak_flush and then a period later, unasked. */
static void t_stderr_grouped(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT);
    roost_leak_hook(NULL, NULL);
    enum { N = 20, M = 5 };
    static request r[N + M];
    static char first[sizeof grouped_out];
    roost_chan_t *keep[N + M];
    roost_leak_stats_t a, b;
    roost_leak_stats(&a);
    stderr_to_file();
    for (int i = 0; i < N; i++) keep[i] = strand_grouped(&r[i]);
    wait_parked(ROOST_WAIT_CHAN_SEND, N);
    int flushed = roost_leak_flush(5 * ROOST_S * check_slack());
    roost_leak_stats(&b);
    snprintf(first, sizeof first, "%s", file_text());
    for (int i = N; i < N + M; i++) keep[i] = strand_grouped(&r[i]);
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    while (!strstr(file_text(), "roost: leak: 5 more tasks leaked at") && roost_now() < end)
        roost_sleep(NULL, 10 * ROOST_MS);
    const char *t = file_text();
    stderr_back();
    roost_leak_hook(hook, NULL);

    CHECK_OK(flushed);
    CHECK_MSG(
        count_of(first, "roost: leak: channel unreachable [exact references]: 1 task can never proceed") == 1,
        "stderr: %s", first);
    CHECK_EQ(count_of(first, "created by strand_grouped at"), 1);
    CHECK_MSG(strstr(first, "roost: leak: 19 more tasks leaked at tests/test_leak.c:") != NULL, "stderr: %s",
              first);
    CHECK(strstr(first, " in chan send in the last ") != NULL);
    CHECK(strstr(first, "s (channel unreachable)\n") != NULL);
    CHECK_EQ(b.reports - a.reports, 1);
    CHECK_EQ(b.folded - a.folded, N - 1);
    CHECK_EQ(b.proved - a.proved, N);
    CHECK_MSG(strstr(t, "roost: leak: 5 more tasks leaked at") != NULL, "stderr: %s", t);
    CHECK_EQ(count_of(t, "created by strand_grouped at"), 1);

    for (int i = 0; i < N + M; i++) CHECK_OK(roost_chan_close(keep[i]));
    for (int i = 0; i < N + M; i++) CHECK_EQ(wait_rc(&r[i]), ROOST_ECLOSED);
}

/* ------------------------------------------------------------ select */

typedef struct {
    roost_chan_t *a, *b; /* adopted by the selector; NULL: nil channels */
    int64_t delay;
    atomic_int rc;
} sel_arg;

static void selector(void *arg) {
    sel_arg *s = arg;
    if (s->a) CHECK_OK(roost_chan_adopt(s->a));
    if (s->b) CHECK_OK(roost_chan_adopt(s->b));
    roost_sleep(NULL, s->delay);
    roost_case_t cases[] = {{.chan = s->a, .op = ROOST_RECV}, {.chan = s->b, .op = ROOST_RECV}};
    atomic_store(&s->rc, roost_select(NULL, cases, 2, 0));
}

static void t_select_leaks(void *unused) {
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    /* Nothing but nil channels: can never proceed. */
    hook_reset();
    sel_arg s = {NULL, NULL, 0, 1};
    CHECK_OK(roost_go(selector, &s));
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&s.rc), ROOST_ELEAKED);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_SELECT);

    /* Every channel held only by the selector when it parks. */
    hook_reset();
    roost_chan_t *a, *b;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &a));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &b));
    s = (sel_arg){roost_chan_ref(a), roost_chan_ref(b), 10 * ROOST_MS, 1};
    CHECK_OK(roost_go(selector, &s));
    roost_chan_unref(a), roost_chan_unref(b);
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&s.rc), ROOST_ELEAKED);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_SELECT);

    /* Parked first, references dropped after: the scan finds it. */
    roost_leak_policy(ROOST_LEAK_REPORT);
    hook_reset();
    CHECK_OK(roost_chan_make(sizeof(int), 0, &a));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &b));
    s = (sel_arg){roost_chan_ref(a), roost_chan_ref(b), 0, 1};
    CHECK_OK(roost_go(selector, &s));
    wait_parked(ROOST_WAIT_SELECT, 1);
    CHECK_EQ(roost_leak_scan(0), 0); /* we still hold both */
    roost_chan_t *keep = b;
    roost_chan_unref(a);
    CHECK_EQ(roost_leak_scan(0), 0); /* b is still ours */
    roost_chan_unref(b);
    CHECK_EQ(roost_leak_scan(0), 1);
    CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
    CHECK_EQ(hook_kind, ROOST_LEAK_CYCLE);
    CHECK_EQ(hook_verdict, ROOST_VERDICT_REFS);
    CHECK_OK(roost_chan_close(keep)); /* (a test's licence) */
    CHECK_OK(roost_wait_tasks(0, 2 * ROOST_S));
    CHECK_EQ(atomic_load(&s.rc), 1);
}

/* ------------------------------------------------------------ child processes */

/* Run this program again with argument `what` and ROOST_LEAK=abort, in a
 * child process (the runtime must not be running when we fork); its output
 * into out. Returns its wait status. */
static int run_child(const char *what, char *out, size_t size) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK_GT(n, 0);
    self[n] = 0;
    char cmd[8192];
    /* The same wrapper as ours: valgrind, or qemu for a cross-built suite. */
    const char *runner = getenv("RUNNER");
    snprintf(cmd, sizeof cmd, "ROOST_LEAK=abort timeout 30 %s %s%s %s 2>&1", runner ? runner : "",
             getenv("VALGRIND") ? "valgrind -q " : "", self, what);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t len = fread(out, 1, size - 1, p);
    out[len] = 0;
    return pclose(p);
}

static void nil_main(void *arg) {
    (void)arg;
    int rc = roost_chan_recv(NULL, NULL, NULL);   /* Go: <-ch with ch nil */
    printf("nil_main: %s\n", roost_strerror(rc)); /* never: and no tail call, so the frame shows */
}

/* ------------------------------------------------------------ nil channels */

static void nil_sender(void *arg) {
    int v = 1;
    atomic_store((atomic_int *)arg, roost_chan_send(NULL, NULL, &v));
}

static void nil_receiver(void *arg) { atomic_store((atomic_int *)arg, roost_chan_recv(NULL, NULL, NULL)); }

/* A send or receive on a nil channel with no context can never proceed:
 * proved as it parks, named as a nil channel, woken under the wake policy. */
static void t_nil_chan(void *unused) {
    int old = roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    for (int send = 0; send < 2; send++) {
        hook_reset();
        atomic_int rc = 1;
        CHECK_OK(roost_go(send ? nil_sender : nil_receiver, &rc));
        CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
        CHECK_EQ(atomic_load(&rc), ROOST_ELEAKED);
        CHECK_EQ(hook_wait(1, 10 * ROOST_S), 1);
        CHECK_EQ(hook_kind, ROOST_LEAK_CHAN);
        CHECK_EQ(hook_verdict, ROOST_VERDICT_REFS);
        CHECK_EQ(hook_ntasks, 1);
        CHECK_MSG(strstr(hook_text, "a nil channel") != NULL, "report: %s", hook_text);
        CHECK_MSG(strstr(hook_text, send ? "chan send (nil chan)" : "chan receive (nil chan)") != NULL,
                  "report: %s", hook_text);
        CHECK(strcmp(hook_func, "t_nil_chan") == 0); /* the spawn site */
    }
    /* Under the default policy it would stay parked for good (Go: "all
     * goroutines are asleep" when it is the last): in a child process with
     * ROOST_LEAK=abort, the report names it and the process aborts. */
    char out[16384];
    int st = run_child("nil", out, sizeof out);
    CHECK_MSG(strstr(out, "channel unreachable [exact references]") != NULL, "child said: %s", out);
    CHECK_MSG(strstr(out, "a nil channel") != NULL, "child said: %s", out);
    CHECK_MSG(strstr(out, "chan receive (nil chan)") != NULL, "child said: %s", out);
    CHECK(strstr(out, "nil_main") != NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124);
    roost_leak_policy(old);
}

/* ------------------------------------------------------------ global deadlock */

static void deadlock_main(void *arg) {
    (void)arg;
    roost_chan_t *ch;
    roost_chan_make(sizeof(int), 0, &ch);
    roost_go(forever_recv, ch);
    roost_chan_recv(NULL, ch, NULL); /* everybody receives, nobody sends */
}

/* In a child process (the runtime must not be running when we fork): all
 * tasks asleep, ROOST_LEAK=abort: the report names the deadlock and the
 * process aborts within a couple of seconds. */
static void t_global_deadlock(void *unused) {
    char out[16384];
    int st = run_child("deadlock", out, sizeof out);
    CHECK_MSG(strstr(out, "all tasks are asleep - deadlock [global deadlock]") != NULL, "child said: %s",
              out);
    CHECK(strstr(out, "deadlock_main") != NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "deadlock") == 0) {
        roost_run(deadlock_main, NULL);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "nil") == 0) {
        roost_run(nil_main, NULL);
        return 0;
    }
    roost_leak_hook(hook, NULL);
    check_init_workers(2);
    RUN(t_story_park_time);
    RUN(t_story_unref_time);
    RUN(t_report_only);
    RUN(t_story_fixed);
    RUN(t_orphaned);
    RUN(t_cancellable_not_leaked);
    RUN(t_lock_cycle);
    RUN(t_lock_orphaned);
    RUN(t_relock);
    RUN(t_thread_holder);
    RUN(t_locks_fine);
    RUN(t_contended_cost);
    RUN(t_suspects_and_check);
    RUN(t_scan_sets);
    RUN(t_scan_quiet);
    RUN(t_scan_races_frees);
    RUN(t_select_leaks);
    RUN(t_nil_chan);
    RUN(t_counted_once);
    RUN(t_stderr_grouped);
    RUN(t_global_deadlock);
    check_no_leaks();
    return 0;
}
