/* test_sync.c - mutex, rwmutex, cond, waitgroup, once. */
#include "check.h"

static void wait_atleast(atomic_int *v, int want, const char *what) {
    int64_t t0 = roost_now();
    while (atomic_load(v) < want) {
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
        CHECK_MSG(check_since(t0) < 10 * ROOST_S * check_slack(), "timed out waiting for %s (%d/%d)", what,
                  atomic_load(v), want);
    }
}

/* ------------------------------------------------------------ mutex */

static roost_mutex_t g_mu = ROOST_MUTEX_INIT;
static long g_counter; /* deliberately not atomic: the mutex protects it */
static int g_iters;
static roost_waitgroup_t g_wg = ROOST_WAITGROUP_INIT;

static void mutex_worker(void *arg) {
    for (int i = 0; i < g_iters; i++) {
        CHECK_OK(roost_mutex_lock(NULL, &g_mu));
        long v = g_counter;
        if (i % 16 == 0) CHECK_OK(roost_yield()); /* let others pile up on the lock */
        g_counter = v + 1;
        CHECK_OK(roost_mutex_unlock(&g_mu));
    }
    CHECK_OK(roost_waitgroup_done(&g_wg));
}

static void t_mutex_exclusion(void *arg) {
    const int ntasks = 64;
    g_iters = SCALE(2000, 100);
    g_counter = 0;
    CHECK_OK(roost_waitgroup_add(&g_wg, ntasks));
    for (int i = 0; i < ntasks; i++) CHECK_OK(roost_go(mutex_worker, NULL));
    CHECK_OK(roost_waitgroup_wait(NULL, &g_wg));
    CHECK_OK(roost_mutex_lock(NULL, &g_mu));
    CHECK_EQ(g_counter, (long)ntasks * g_iters);
    CHECK_OK(roost_mutex_unlock(&g_mu));
}

typedef struct {
    roost_mutex_t *mu;
    int rc;
    atomic_int done;
    int64_t got_at;
} mu_arg;
static void try_other(void *arg) {
    mu_arg *a = arg;
    a->rc = roost_mutex_trylock(a->mu);
    atomic_store(&a->done, 1);
}
static void lock_other(void *arg) {
    mu_arg *a = arg;
    a->rc = roost_mutex_lock(NULL, a->mu);
    a->got_at = roost_now();
    atomic_store(&a->done, 1);
}
static void unlock_other(void *arg) {
    mu_arg *a = arg;
    a->rc = roost_mutex_unlock(a->mu);
    atomic_store(&a->done, 1);
}

static void t_mutex_api(void *arg) {
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    CHECK_ERR(roost_mutex_lock(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_mutex_trylock(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_mutex_unlock(NULL), ROOST_EINVAL);

    CHECK_ERR(roost_mutex_unlock(&mu), ROOST_ESTATE); /* not locked */
    CHECK_OK(roost_mutex_trylock(&mu));
    /* Held: another task's trylock fails, the holder's relock is refused. */
    mu_arg a = {&mu, 99, 0, 0};
    CHECK_OK(roost_go(try_other, &a));
    wait_atleast(&a.done, 1, "trylock");
    CHECK_ERR(a.rc, ROOST_EAGAIN);
    int64_t t0 = roost_now();
    CHECK_ERR(roost_mutex_lock(NULL, &mu), ROOST_EDEADLK);
    CHECK_LT(check_since(t0), 1 * ROOST_S * check_slack()); /* refused, not blocked */
    CHECK_OK(roost_mutex_unlock(&mu));
    CHECK_ERR(roost_mutex_unlock(&mu), ROOST_ESTATE);

    /* lock -> blocked waiter -> unlock hands it over. */
    CHECK_OK(roost_mutex_lock(NULL, &mu));
    mu_arg b = {&mu, 99, 0, 0};
    CHECK_OK(roost_go(lock_other, &b));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_EQ(atomic_load(&b.done), 0);
    int64_t unlocked_at = roost_now();
    CHECK_OK(roost_mutex_unlock(&mu));
    wait_atleast(&b.done, 1, "waiter");
    CHECK_OK(b.rc);
    CHECK_GE(b.got_at, unlocked_at);
    /* Now held by the other (finished) task: we cannot take it ... */
    CHECK_ERR(roost_mutex_trylock(&mu), ROOST_EAGAIN);
    /* ... but anyone may unlock it (locks are not tied to tasks, as in Go). */
    mu_arg c = {&mu, 99, 0, 0};
    CHECK_OK(roost_go(unlock_other, &c));
    wait_atleast(&c.done, 1, "unlock");
    CHECK_OK(c.rc);
    CHECK_OK(roost_mutex_trylock(&mu));
    /* Lock taken by us, unlocked by another task. */
    mu_arg d = {&mu, 99, 0, 0};
    CHECK_OK(roost_go(unlock_other, &d));
    wait_atleast(&d.done, 1, "unlock");
    CHECK_OK(d.rc);
    CHECK_OK(roost_mutex_lock(NULL, &mu)); /* free again: no EDEADLK */
    CHECK_OK(roost_mutex_unlock(&mu));
}

/* ------------------------------------------------------------ rwmutex */

static roost_rwmutex_t g_rw = ROOST_RWMUTEX_INIT;
static atomic_int g_readers_in, g_max_readers, g_writers_in, g_violations;
static atomic_int g_rdone;

static void concurrent_reader(void *arg) {
    int want = (int)(intptr_t)arg;
    CHECK_OK(roost_rwmutex_rlock(NULL, &g_rw));
    int now = atomic_fetch_add(&g_readers_in, 1) + 1;
    int m = atomic_load(&g_max_readers);
    while (now > m && !atomic_compare_exchange_weak(&g_max_readers, &m, now)) {
    }
    /* Hold the read lock until every reader is inside at once. */
    int64_t t0 = roost_now();
    while (atomic_load(&g_readers_in) < want && check_since(t0) < 5 * ROOST_S * check_slack())
        CHECK_OK(roost_sleep(NULL, 1 * ROOST_MS));
    CHECK_OK(roost_sleep(NULL, 5 * ROOST_MS));
    atomic_fetch_sub(&g_readers_in, 1);
    CHECK_OK(roost_rwmutex_runlock(&g_rw));
    atomic_fetch_add(&g_rdone, 1);
}

static void rw_mixed(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
    int iters = SCALE(500, 50);
    for (int i = 0; i < iters; i++) {
        if (check_rand(&rng) % 8 == 0) {
            CHECK_OK(roost_rwmutex_lock(NULL, &g_rw));
            if (atomic_fetch_add(&g_writers_in, 1) != 0) atomic_fetch_add(&g_violations, 1);
            if (atomic_load(&g_readers_in) != 0) atomic_fetch_add(&g_violations, 1);
            if (i % 4 == 0) CHECK_OK(roost_yield());
            atomic_fetch_sub(&g_writers_in, 1);
            CHECK_OK(roost_rwmutex_unlock(&g_rw));
        } else {
            CHECK_OK(roost_rwmutex_rlock(NULL, &g_rw));
            atomic_fetch_add(&g_readers_in, 1);
            if (atomic_load(&g_writers_in) != 0) atomic_fetch_add(&g_violations, 1);
            if (i % 4 == 0) CHECK_OK(roost_yield());
            atomic_fetch_sub(&g_readers_in, 1);
            CHECK_OK(roost_rwmutex_runlock(&g_rw));
        }
    }
    atomic_fetch_add(&g_rdone, 1);
}

typedef struct {
    roost_rwmutex_t *rw;
    int write;
    int64_t got_at;
    atomic_int started, done;
    int rc;
    roost_chan_t *release; /* hold until this is closed (NULL: release at once) */
} rw_arg;

static void rw_taker(void *arg) {
    rw_arg *a = arg;
    atomic_store(&a->started, 1);
    a->rc = a->write ? roost_rwmutex_lock(NULL, a->rw) : roost_rwmutex_rlock(NULL, a->rw);
    a->got_at = roost_now();
    if (a->release) CHECK_ERR(roost_chan_recv(NULL, a->release, NULL), ROOST_ECLOSED);
    if (a->rc == 0) CHECK_OK(a->write ? roost_rwmutex_unlock(a->rw) : roost_rwmutex_runlock(a->rw));
    atomic_store(&a->done, 1);
}

static void t_rwmutex(void *arg) {
    roost_rwmutex_t rw = ROOST_RWMUTEX_INIT;
    CHECK_ERR(roost_rwmutex_rlock(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_rwmutex_lock(NULL, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_rwmutex_runlock(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_rwmutex_unlock(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_rwmutex_unlock(&rw), ROOST_ESTATE);
    CHECK_ERR(roost_rwmutex_runlock(&rw), ROOST_ESTATE);

    /* Several read locks by one task. */
    CHECK_OK(roost_rwmutex_rlock(NULL, &rw));
    CHECK_OK(roost_rwmutex_rlock(NULL, &rw));
    CHECK_OK(roost_rwmutex_runlock(&rw));
    CHECK_OK(roost_rwmutex_runlock(&rw));
    CHECK_ERR(roost_rwmutex_runlock(&rw), ROOST_ESTATE);
    /* Write lock, then the holder's relock is refused. */
    CHECK_OK(roost_rwmutex_lock(NULL, &rw));
    CHECK_ERR(roost_rwmutex_lock(NULL, &rw), ROOST_EDEADLK);
    CHECK_ERR(roost_rwmutex_runlock(&rw), ROOST_ESTATE); /* no reader holds it */
    CHECK_OK(roost_rwmutex_unlock(&rw));
    CHECK_ERR(roost_rwmutex_unlock(&rw), ROOST_ESTATE);

    /* Readers run concurrently: all 8 inside at the same time. */
    const int nr = 8;
    atomic_store(&g_readers_in, 0);
    atomic_store(&g_max_readers, 0);
    atomic_store(&g_rdone, 0);
    for (int i = 0; i < nr; i++) CHECK_OK(roost_go(concurrent_reader, (void *)(intptr_t)nr));
    wait_atleast(&g_rdone, nr, "readers");
    CHECK_EQ(atomic_load(&g_max_readers), nr);

    /* Writers exclude readers and each other. */
    atomic_store(&g_rdone, 0);
    atomic_store(&g_readers_in, 0);
    atomic_store(&g_writers_in, 0);
    atomic_store(&g_violations, 0);
    const int nm = 16;
    for (int i = 0; i < nm; i++) CHECK_OK(roost_go(rw_mixed, (void *)(intptr_t)(i + 1)));
    wait_atleast(&g_rdone, nm, "mixed readers/writers");
    CHECK_EQ(atomic_load(&g_violations), 0);

    /* A writer blocks while a reader holds; readers block while a writer holds. */
    roost_chan_t *rel;
    CHECK_OK(roost_chan_make(1, 0, &rel));
    CHECK_OK(roost_rwmutex_rlock(NULL, &rw));
    rw_arg w = {&rw, 1, 0, 0, 0, 0, NULL};
    CHECK_OK(roost_go(rw_taker, &w));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_EQ(atomic_load(&w.done), 0);
    /* A waiting writer holds back new readers (Go's rule). */
    rw_arg r2 = {&rw, 0, 0, 0, 0, 0, NULL};
    CHECK_OK(roost_go(rw_taker, &r2));
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    CHECK_MSG(atomic_load(&r2.done) == 0, "a new reader got past a waiting writer");
    int64_t released = roost_now();
    CHECK_OK(roost_rwmutex_runlock(&rw));
    wait_atleast(&w.done, 1, "writer");
    wait_atleast(&r2.done, 1, "reader after writer");
    CHECK_OK(w.rc);
    CHECK_OK(r2.rc);
    CHECK_GE(w.got_at, released);
    CHECK_GE(r2.got_at, w.got_at); /* the writer went first */

    /* Writer holds: readers wait, then all get in together. */
    CHECK_OK(roost_rwmutex_lock(NULL, &rw));
    rw_arg rs[4];
    for (int i = 0; i < 4; i++) {
        rs[i] = (rw_arg){&rw, 0, 0, 0, 0, 0, rel};
        CHECK_OK(roost_go(rw_taker, &rs[i]));
    }
    CHECK_OK(roost_sleep(NULL, 30 * ROOST_MS));
    for (int i = 0; i < 4; i++) CHECK_EQ(atomic_load(&rs[i].done), 0);
    CHECK_OK(roost_rwmutex_unlock(&rw));
    /* They all hold the read lock at once (each waits on rel before
     * unlocking): a writer cannot get in now. */
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    roost_ctx_t *t;
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &t));
    CHECK_ERR(roost_rwmutex_lock(t, &rw), ROOST_ETIMEDOUT);
    roost_ctx_unref(t);
    CHECK_OK(roost_chan_close(rel));
    for (int i = 0; i < 4; i++) {
        wait_atleast(&rs[i].done, 1, "readers");
        CHECK_OK(rs[i].rc);
    }
    CHECK_OK(roost_rwmutex_lock(NULL, &rw));
    CHECK_OK(roost_rwmutex_unlock(&rw));
    roost_chan_unref(rel);
}

/* ------------------------------------------------------------ cond */

typedef struct {
    roost_mutex_t mu;
    roost_cond_t cv;
    int tokens; /* under mu */
    int woken;  /* under mu */
    atomic_int waiting, done;
} cv_state;

static void cv_waiter(void *arg) {
    cv_state *s = arg;
    CHECK_OK(roost_mutex_lock(NULL, &s->mu));
    atomic_fetch_add(&s->waiting, 1);
    while (s->tokens == 0) CHECK_OK(roost_cond_wait(NULL, &s->cv, &s->mu));
    s->tokens--;
    s->woken++;
    CHECK_OK(roost_mutex_unlock(&s->mu));
    atomic_fetch_add(&s->done, 1);
}

static int cv_woken(cv_state *s) {
    CHECK_OK(roost_mutex_lock(NULL, &s->mu));
    int w = s->woken;
    CHECK_OK(roost_mutex_unlock(&s->mu));
    return w;
}

/* Producer / consumer queue built on a mutex and two conds. */
typedef struct {
    roost_mutex_t mu;
    roost_cond_t not_empty, not_full;
    int buf[4], head, len;
    long sum;
    int n;
} pcq;

static void pc_producer(void *arg) {
    pcq *q = arg;
    for (int i = 1; i <= q->n; i++) {
        CHECK_OK(roost_mutex_lock(NULL, &q->mu));
        while (q->len == 4) CHECK_OK(roost_cond_wait(NULL, &q->not_full, &q->mu));
        q->buf[(q->head + q->len++) % 4] = i;
        CHECK_OK(roost_cond_signal(&q->not_empty));
        CHECK_OK(roost_mutex_unlock(&q->mu));
    }
}

static void t_cond(void *arg) {
    CHECK_ERR(roost_cond_signal(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_cond_broadcast(NULL), ROOST_EINVAL);
    static cv_state s;
    roost_mutex_t mu0 = ROOST_MUTEX_INIT;
    roost_cond_t cv0 = ROOST_COND_INIT;
    memset(&s, 0, sizeof s);
    s.mu = mu0;
    s.cv = cv0;
    CHECK_ERR(roost_cond_wait(NULL, NULL, &s.mu), ROOST_EINVAL);
    CHECK_ERR(roost_cond_wait(NULL, &s.cv, NULL), ROOST_EINVAL);

    /* A signal with nobody waiting is not remembered. */
    CHECK_OK(roost_cond_signal(&s.cv));
    CHECK_OK(roost_cond_broadcast(&s.cv));
    roost_ctx_t *t;
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &t));
    CHECK_OK(roost_mutex_lock(NULL, &s.mu));
    CHECK_ERR(roost_cond_wait(t, &s.cv, &s.mu), ROOST_ETIMEDOUT);
    CHECK_OK(roost_mutex_unlock(&s.mu)); /* locked again on return */
    roost_ctx_unref(t);

    /* signal wakes exactly one, broadcast wakes all. */
    const int n = 5;
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(cv_waiter, &s));
    wait_atleast(&s.waiting, n, "cond waiters");
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    CHECK_EQ(cv_woken(&s), 0);

    /* tokens without a signal: nobody wakes (no spurious progress) */
    CHECK_OK(roost_mutex_lock(NULL, &s.mu));
    s.tokens = 1;
    CHECK_OK(roost_mutex_unlock(&s.mu));
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    CHECK_EQ(cv_woken(&s), 0);
    CHECK_OK(roost_cond_signal(&s.cv));
    wait_atleast(&s.done, 1, "one signalled waiter");
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    CHECK_EQ(cv_woken(&s), 1);
    CHECK_EQ(atomic_load(&s.done), 1);

    /* Two tokens, two signals: two more. */
    CHECK_OK(roost_mutex_lock(NULL, &s.mu));
    s.tokens = 2;
    CHECK_OK(roost_cond_signal(&s.cv));
    CHECK_OK(roost_cond_signal(&s.cv));
    CHECK_OK(roost_mutex_unlock(&s.mu));
    wait_atleast(&s.done, 3, "two signalled waiters");
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
    CHECK_EQ(cv_woken(&s), 3);

    /* Broadcast releases the rest. */
    CHECK_OK(roost_mutex_lock(NULL, &s.mu));
    s.tokens = 100;
    CHECK_OK(roost_cond_broadcast(&s.cv));
    CHECK_OK(roost_mutex_unlock(&s.mu));
    wait_atleast(&s.done, n, "broadcast");
    CHECK_EQ(cv_woken(&s), n);

    /* Producer / consumer. */
    static pcq q;
    roost_cond_t c0 = ROOST_COND_INIT;
    memset(&q, 0, sizeof q);
    q.mu = mu0;
    q.not_empty = c0;
    q.not_full = c0;
    q.n = SCALE(20000, 1000);
    CHECK_OK(roost_go(pc_producer, &q));
    for (int i = 1; i <= q.n; i++) {
        CHECK_OK(roost_mutex_lock(NULL, &q.mu));
        while (q.len == 0) CHECK_OK(roost_cond_wait(NULL, &q.not_empty, &q.mu));
        int v = q.buf[q.head];
        q.head = (q.head + 1) % 4;
        q.len--;
        CHECK_OK(roost_cond_signal(&q.not_full));
        CHECK_OK(roost_mutex_unlock(&q.mu));
        CHECK_EQ(v, i);
    }
}

/* ------------------------------------------------------------ waitgroup */

typedef struct {
    roost_waitgroup_t *wg;
    int64_t delay;
    atomic_int *count;
} wg_arg;
static void wg_worker(void *arg) {
    wg_arg *a = arg;
    CHECK_OK(roost_sleep(NULL, a->delay));
    atomic_fetch_add(a->count, 1);
    CHECK_OK(roost_waitgroup_done(a->wg));
}

typedef struct {
    roost_waitgroup_t *wg;
    atomic_int *released;
} wgw_arg;
static void wg_waiter(void *arg) {
    wgw_arg *a = arg;
    CHECK_OK(roost_waitgroup_wait(NULL, a->wg));
    atomic_fetch_add(a->released, 1);
}

static void t_waitgroup(void *arg) {
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    CHECK_ERR(roost_waitgroup_add(NULL, 1), ROOST_EINVAL);
    CHECK_ERR(roost_waitgroup_done(NULL), ROOST_EINVAL);
    CHECK_ERR(roost_waitgroup_wait(NULL, NULL), ROOST_EINVAL);

    /* Zero: wait returns at once. */
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    /* Negative counter refused, and nothing changes. */
    CHECK_ERR(roost_waitgroup_done(&wg), ROOST_ESTATE);
    CHECK_ERR(roost_waitgroup_add(&wg, -1), ROOST_ESTATE);
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    CHECK_OK(roost_waitgroup_add(&wg, 2));
    CHECK_ERR(roost_waitgroup_add(&wg, -3), ROOST_ESTATE);
    /* still 2: one done leaves the waiter blocked */
    CHECK_OK(roost_waitgroup_done(&wg));
    roost_ctx_t *t;
    CHECK_OK(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &t));
    CHECK_ERR(roost_waitgroup_wait(t, &wg), ROOST_ETIMEDOUT);
    roost_ctx_unref(t);
    CHECK_OK(roost_waitgroup_add(&wg, -1)); /* add(-1) is done() */
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    CHECK_ERR(roost_waitgroup_done(&wg), ROOST_ESTATE);

    /* wait returns only after every done. */
    const int n = 20;
    atomic_int count = 0;
    wg_arg args[20];
    CHECK_OK(roost_waitgroup_add(&wg, n));
    for (int i = 0; i < n; i++) {
        args[i] = (wg_arg){&wg, (i % 5) * 5 * ROOST_MS, &count};
        CHECK_OK(roost_go(wg_worker, &args[i]));
    }
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
    CHECK_EQ(atomic_load(&count), n);

    /* Several waiters are all released; the group is reusable. */
    for (int round = 0; round < 3; round++) {
        atomic_int released = 0;
        CHECK_OK(roost_waitgroup_add(&wg, 1));
        wgw_arg wa = {&wg, &released};
        for (int i = 0; i < 10; i++) CHECK_OK(roost_go(wg_waiter, &wa));
        CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS));
        CHECK_EQ(atomic_load(&released), 0);
        CHECK_OK(roost_waitgroup_done(&wg));
        wait_atleast(&released, 10, "waitgroup waiters");
    }

    /* Big deltas. */
    CHECK_OK(roost_waitgroup_add(&wg, (int64_t)1 << 40));
    CHECK_OK(roost_waitgroup_add(&wg, -((int64_t)1 << 40)));
    CHECK_OK(roost_waitgroup_wait(NULL, &wg));
}

/* ------------------------------------------------------------ once */

static roost_once_t g_once = ROOST_ONCE_INIT;
static atomic_int g_once_runs, g_once_finished, g_once_callers_ok, g_once_callers;

static void once_body(void *arg) {
    atomic_fetch_add(&g_once_runs, 1);
    CHECK_EQ((intptr_t)arg, 7);
    CHECK_OK(roost_sleep(NULL, 20 * ROOST_MS)); /* the others must wait */
    atomic_store(&g_once_finished, 1);
}

static void once_caller(void *arg) {
    if (roost_task_id() % 3 == 0) CHECK_OK(roost_yield());
    CHECK_OK(roost_once_do(NULL, &g_once, once_body, (void *)(intptr_t)7));
    /* Returns only after fn has returned. */
    if (atomic_load(&g_once_finished)) atomic_fetch_add(&g_once_callers_ok, 1);
    atomic_fetch_add(&g_once_callers, 1);
}

static atomic_int g_once2;
static void once_inc(void *arg) { atomic_fetch_add(&g_once2, 1); }

/* fn calling back into its own once: refused, where Go's would deadlock;
 * a caller from another task still waits for fn to return. */
static roost_once_t g_once_re = ROOST_ONCE_INIT;
static atomic_int g_once_re_rc = 1, g_once_re_other = 1, g_once_re_done;

static void once_reenter(void *arg) {
    atomic_store(&g_once_re_rc, roost_once_do(NULL, &g_once_re, once_reenter, NULL));
    CHECK_OK(roost_sleep(NULL, 10 * ROOST_MS)); /* the other caller waits meanwhile */
    atomic_store(&g_once_re_done, 1);
}

static void once_other(void *arg) {
    int rc = roost_once_do(NULL, &g_once_re, once_reenter, NULL);
    CHECK(atomic_load(&g_once_re_done)); /* returned after fn, not at once */
    atomic_store(&g_once_re_other, rc);
}

static void t_once_reentered(void *arg) {
    CHECK_OK(roost_go(once_other, NULL));
    CHECK_OK(roost_once_do(NULL, &g_once_re, once_reenter, NULL));
    CHECK_ERR(atomic_load(&g_once_re_rc), ROOST_EDEADLK);
    while (atomic_load(&g_once_re_other) == 1) CHECK_OK(roost_sleep(NULL, ROOST_MS));
    CHECK_OK(atomic_load(&g_once_re_other));
    /* Done: a later call from anywhere returns at once. */
    CHECK_OK(roost_once_do(NULL, &g_once_re, once_reenter, NULL));
}

static void t_once(void *arg) {
    roost_once_t o = ROOST_ONCE_INIT;
    CHECK_ERR(roost_once_do(NULL, NULL, once_inc, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_once_do(NULL, &o, NULL, NULL), ROOST_EINVAL);
    CHECK_OK(roost_once_do(NULL, &o, once_inc, NULL));
    CHECK_OK(roost_once_do(NULL, &o, once_inc, NULL));
    CHECK_EQ(atomic_load(&g_once2), 1);

    const int n = SCALE(200, 50);
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(once_caller, NULL));
    wait_atleast(&g_once_callers, n, "once callers");
    CHECK_EQ(atomic_load(&g_once_runs), 1);
    CHECK_EQ(atomic_load(&g_once_callers_ok), n);
    CHECK_OK(roost_once_do(NULL, &g_once, once_body, (void *)(intptr_t)7));
    CHECK_EQ(atomic_load(&g_once_runs), 1);
}

/* The public types are opaque storage of a fixed size (the ABI programs
 * compile in), and all-zero is the initial state: ROOST_*_INIT, `= {0}` and
 * a calloc'ed or memset object are the same unlocked, empty object. */
_Static_assert(sizeof(roost_mutex_t) == 48 && _Alignof(roost_mutex_t) == 8, "roost_mutex_t's ABI");
_Static_assert(sizeof(roost_rwmutex_t) == 80 && _Alignof(roost_rwmutex_t) == 8, "roost_rwmutex_t's ABI");
_Static_assert(sizeof(roost_cond_t) == 32 && _Alignof(roost_cond_t) == 8, "roost_cond_t's ABI");
_Static_assert(sizeof(roost_waitgroup_t) == 40 && _Alignof(roost_waitgroup_t) == 8,
               "roost_waitgroup_t's ABI");
_Static_assert(sizeof(roost_once_t) == 32 && _Alignof(roost_once_t) == 8, "roost_once_t's ABI");

static roost_mutex_t g_zero_mu; /* zeroed static storage, no initialiser */
static int g_zero_once_runs;
static void zero_once(void *arg) { g_zero_once_runs++; }

static void t_zero_init(void *arg) {
    static const roost_mutex_t init_mu = ROOST_MUTEX_INIT;
    static const roost_rwmutex_t init_rw = ROOST_RWMUTEX_INIT;
    static const roost_cond_t init_c = ROOST_COND_INIT;
    static const roost_waitgroup_t init_wg = ROOST_WAITGROUP_INIT;
    static const roost_once_t init_o = ROOST_ONCE_INIT;
    static const unsigned char zero[sizeof(roost_rwmutex_t)];
    CHECK(!memcmp(&init_mu, zero, sizeof init_mu));
    CHECK(!memcmp(&init_rw, zero, sizeof init_rw));
    CHECK(!memcmp(&init_c, zero, sizeof init_c));
    CHECK(!memcmp(&init_wg, zero, sizeof init_wg));
    CHECK(!memcmp(&init_o, zero, sizeof init_o));

    CHECK_OK(roost_mutex_lock(NULL, &g_zero_mu));
    CHECK_ERR(roost_mutex_trylock(&g_zero_mu), ROOST_EAGAIN);
    CHECK_OK(roost_mutex_unlock(&g_zero_mu));
    struct {
        roost_mutex_t mu;
        roost_rwmutex_t rw;
        roost_cond_t c;
        roost_waitgroup_t wg;
        roost_once_t o;
    } *z = calloc(1, sizeof *z);
    CHECK(z != NULL);
    CHECK_OK(roost_rwmutex_rlock(NULL, &z->rw));
    CHECK_OK(roost_rwmutex_runlock(&z->rw));
    CHECK_OK(roost_rwmutex_lock(NULL, &z->rw));
    CHECK_OK(roost_rwmutex_unlock(&z->rw));
    CHECK_OK(roost_cond_signal(&z->c));
    CHECK_OK(roost_waitgroup_wait(NULL, &z->wg)); /* a zero counter: at once */
    CHECK_OK(roost_once_do(NULL, &z->o, zero_once, NULL));
    CHECK_OK(roost_once_do(NULL, &z->o, zero_once, NULL));
    CHECK_EQ(g_zero_once_runs, 1);
    CHECK_OK(roost_mutex_lock(NULL, &z->mu));
    CHECK_OK(roost_mutex_unlock(&z->mu));
    free(z);
}

int main(void) {
    check_init_workers(4);
    RUN(t_zero_init);
    RUN(t_mutex_api);
    RUN(t_mutex_exclusion);
    RUN(t_rwmutex);
    RUN(t_cond);
    RUN(t_waitgroup);
    RUN(t_once);
    RUN(t_once_reentered);
    check_no_leaks();
    return 0;
}
