/* test_reach.c - the reachability proof (roost_leak_prove): leaks proved
 * with no annotation, nothing proved while anything live (a malloc'd
 * struct, a global, another thread's stack, a context someone holds) can
 * reach what a task waits on, the documented limit (an XOR-ed pointer is
 * not seen), and the paths where the proof says "unavailable" instead. */
#include "check.h"
#include <malloc.h>
#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

/* Under valgrind the heap cannot be walked: the proof must say so. Under
 * ASan and TSan it proves from the table their malloc hooks keep. Under
 * qemu-user (ROOST_TEST_QUICK without VALGRIND) it may. */
static int proof_expected(void) {
#if !defined(__x86_64__)
    return 0;
#else
    const char *v = getenv("VALGRIND");
    if (v && *v && strcmp(v, "0")) return 0;
    return check_quick() ? -1 : 1;
#endif
}

/* Findings seen by the hook, by verdict. */
static _Atomic int64_t by_reach, by_other;
static void on_leak(const roost_leak_t *l, void *arg) {
    (void)arg;
    if (l->verdict == ROOST_VERDICT_REACH) {
        CHECK_EQ(l->kind, ROOST_LEAK_UNREACHABLE);
        atomic_fetch_add(&by_reach, (int64_t)l->ntasks);
    } else if (l->verdict != ROOST_VERDICT_SUSPECT) {
        atomic_fetch_add(&by_other, (int64_t)l->ntasks);
    }
}

/* Prove; returns leaked tasks, or -1 when the proof is unavailable (only
 * allowed where proof_expected() says so). */
static int64_t prove(void) {
    roost_leak_proof_t st;
    int rc = roost_leak_prove(&st);
    int want = proof_expected();
    if (rc == ROOST_EAGAIN && want == 1 && !getenv("ROOST_REACH_DEBUG")) {
        setenv("ROOST_REACH_DEBUG", "1", 1); /* say why, then fail */
        roost_leak_prove(&st);
    }
    if (rc == ROOST_EAGAIN) {
        CHECK_MSG(want != 1, "proof unavailable: %s", st.reason ? st.reason : "?");
        CHECK(st.reason != NULL);
        CHECK_EQ(st.available, 0);
        CHECK_EQ(st.leaked, 0);
        return -1;
    }
    if (rc == ROOST_EAGAIN && want == 1 && !getenv("ROOST_REACH_DEBUG")) {
        setenv("ROOST_REACH_DEBUG", "1", 1); /* say why, then fail */
        roost_leak_prove(&st);
    }
    CHECK_OK(rc);
    CHECK_MSG(want != 0, "a proof ran where the heap cannot be walked");
    CHECK_EQ(st.available, 1);
    CHECK(st.reason == NULL);
    roost_leak_flush(2 * ROOST_S);
    return st.leaked;
}

/* A proof expected to find `want` tasks: conservative scanning may miss
 * one when a stale word happens to point at what it waits on (a register
 * or frame the runtime left behind), so look up to three times, letting
 * the workers run in between. Never more than want. */
static int64_t prove_expect(int64_t want) {
    int64_t got = 0, all = 0;
    for (int i = 0; i < 3; i++) {
        got = prove();
        if (got < 0) return got;
        all += got;
        if (all >= want) break;
        roost_sleep(NULL, 5 * ROOST_MS);
    }
    if (all < want && !getenv("ROOST_REACH_DEBUG")) {
        setenv("ROOST_REACH_DEBUG", "1", 1); /* say what kept them, then fail */
        all += prove();
    }
    return all;
}

/* Wait until n tasks are parked (for reason r). */
static void wait_parked(int r, int64_t n) {
    int64_t end = roost_now() + 5 * ROOST_S * check_slack();
    for (;;) {
        roost_counts_t c;
        roost_counts(&c);
        if (c.by_reason[r] >= n) return;
        CHECK_MSG(roost_now() < end, "tasks did not park");
        roost_sleep(NULL, ROOST_MS);
    }
}

/* ------------------------------------------------------------ the story's fetch, written naturally */

static void request(void *arg) {
    roost_chan_t *ch = arg; /* a reference given by fetch, not adopted */
    /* do(): slower than the caller's deadline, as in the story. A send
     * that came before fetch's select would find it ready, and the select
     * may take it (it picks among ready cases at random). */
    roost_sleep(NULL, 20 * ROOST_MS);
    int v = 42;
    roost_chan_send(NULL, ch, &v); /* nobody receives: parked for good */
    roost_chan_unref(ch);
}

/* Go's `go func() { ch <- do() }(); select { case r := <-ch: ...; case <-ctx.Done(): return }`
 * with the deadline already past. */
static void fetch(void *arg) {
    (void)arg;
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    CHECK_OK(roost_go(request, roost_chan_ref(ch)));
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_timeout(NULL, 0, &ctx));
    int r;
    roost_case_t cs[2] = {{.chan = ch, .op = ROOST_RECV, .elem = &r},
                          {.chan = roost_ctx_done(ctx), .op = ROOST_RECV}};
    int i = roost_select(NULL, cs, 2, 0);
    (void)i;
    roost_ctx_unref(ctx);
    roost_chan_unref(ch);
}

static void t_story(void *arg) {
    (void)arg;
    atomic_store(&by_reach, 0);
    int n = 20;
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(fetch, NULL));
    wait_parked(ROOST_WAIT_CHAN_SEND, n);
    CHECK_OK(roost_wait_tasks(n + 1, 5 * ROOST_S * check_slack()));
    int64_t got = prove_expect(n);
    if (got >= 0) {
        CHECK_EQ(got, n);
        CHECK_EQ(atomic_load(&by_reach), n);
    }
}

/* ------------------------------------------------------------ the Go blog's pipeline */

typedef struct {
    roost_chan_t *in, *out;
    int n;
} stage;

static void gen(void *arg) {
    stage *s = arg;
    for (int i = 1; i <= s->n; i++)
        if (roost_chan_send(NULL, s->out, &i)) break;
    roost_chan_close(s->out);
    roost_chan_unref(s->out);
    free(s);
}

static void sq(void *arg) {
    stage *s = arg;
    int v;
    while (roost_chan_recv(NULL, s->in, &v) == 0) {
        v *= v;
        if (roost_chan_send(NULL, s->out, &v)) break;
    }
    roost_chan_close(s->out);
    roost_chan_unref(s->in);
    roost_chan_unref(s->out);
    free(s);
}

static int drain_all;

/* out := sq(gen(1, 2, 3)); fmt.Println(<-out) and return: gen and sq
 * are left blocked, as the blog says. */
static void consumer(void *arg) {
    (void)arg;
    roost_chan_t *c1, *c2;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &c1));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &c2));
    stage *g = calloc(1, sizeof *g), *q = calloc(1, sizeof *q);
    g->out = roost_chan_ref(c1), g->n = 3;
    q->in = roost_chan_ref(c1), q->out = roost_chan_ref(c2);
    CHECK_OK(roost_go(gen, g));
    CHECK_OK(roost_go(sq, q));
    int v;
    CHECK_OK(roost_chan_recv(NULL, c2, &v));
    CHECK_EQ(v, 1);
    if (drain_all)
        while (roost_chan_recv(NULL, c2, &v) == 0) {
        }
    roost_chan_unref(c1);
    roost_chan_unref(c2);
}

static void t_pipeline(void *arg) {
    (void)arg;
    atomic_store(&by_reach, 0);
    drain_all = 0;
    CHECK_OK(roost_go(consumer, NULL));
    wait_parked(ROOST_WAIT_CHAN_SEND, 2);
    CHECK_OK(roost_wait_tasks(3, 5 * ROOST_S * check_slack()));
    int64_t got = prove_expect(2);
    if (got >= 0) CHECK_EQ(got, 2);
}

/* The fixed twins: the pipeline drained, and the fetch with a buffer. */
static void t_fixed(void *arg) {
    (void)arg;
    drain_all = 1;
    CHECK_OK(roost_go(consumer, NULL));
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    CHECK(prove() <= 0);
}

/* ------------------------------------------------------------ live references keep a task unproved */

static void waiter(void *arg) {
    roost_chan_t *ch = arg;
    int v;
    roost_chan_recv(NULL, ch, &v);
}

typedef struct holder {
    long pad[3];
    roost_chan_t *ch;
} holder;

static holder *g_holder;     /* a global pointing at a malloc'd struct */
static roost_chan_t *g_chan; /* a global pointing at the channel */
static uintptr_t g_hidden;   /* the channel, XOR-ed: invisible */
#define HIDE_KEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static roost_chan_t *spawn_waiter(void) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    CHECK_OK(roost_go(waiter, ch));
    return ch;
}

static void release(roost_chan_t *ch) {
    int v = 1;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    roost_chan_unref(ch);
}

static _Atomic int thread_go, thread_ready;
static roost_chan_t *_Atomic thread_slot;

/* A plain thread holding the channel in a local only. */
static void *holder_thread(void *arg) {
    (void)arg;
    roost_chan_t *volatile mine = atomic_exchange(&thread_slot, NULL);
    atomic_store(&thread_ready, 1);
    while (!atomic_load(&thread_go)) usleep(1000);
    release(mine);
    return NULL;
}

static void t_live_refs(void *arg) {
    (void)arg;
    /* A malloc'd struct, reachable from a global. */
    g_holder = calloc(1, sizeof *g_holder);
    g_holder->ch = spawn_waiter();
    /* A global. */
    g_chan = spawn_waiter();
    /* Another thread's stack. */
    atomic_store(&thread_slot, spawn_waiter());
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, holder_thread, NULL), 0);
    while (!atomic_load(&thread_ready)) roost_sleep(NULL, ROOST_MS);
    wait_parked(ROOST_WAIT_CHAN_RECV, 3);
    CHECK(prove() <= 0);
    release(g_holder->ch);
    free(g_holder);
    g_holder = NULL;
    release(g_chan);
    g_chan = NULL;
    atomic_store(&thread_go, 1);
    pthread_join(th, NULL);
}

/* A context kept by a global (anyone holding it can cancel it): the task
 * waiting on its done channel is not proved; once the only pointer left
 * to it is hidden, it is. */
static roost_ctx_t *g_ctx;

static void ctx_waiter(void *arg) {
    roost_ctx_t *ctx = arg;
    roost_chan_recv(NULL, roost_ctx_done(ctx), NULL);
    roost_ctx_unref(ctx);
}

static void make_ctx_waiter(void *arg) {
    (void)arg;
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    CHECK_OK(roost_go(ctx_waiter, roost_ctx_ref(ctx)));
    g_ctx = ctx; /* the caller's reference, kept */
}

static void t_context(void *arg) {
    (void)arg;
    CHECK_OK(roost_go(make_ctx_waiter, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    CHECK(prove() <= 0); /* g_ctx can still cancel it */
    roost_ctx_cancel(g_ctx);
    roost_ctx_unref(g_ctx);
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    /* Now one whose context nobody can reach: its cancel is lost. */
    CHECK_OK(roost_go(make_ctx_waiter, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    g_hidden = (uintptr_t)g_ctx ^ HIDE_KEY;
    g_ctx = NULL;
    int64_t got = prove_expect(1);
    if (got >= 0) CHECK_EQ(got, 1); /* and woken (policy wake) */
    roost_ctx_t *c = (roost_ctx_t *)(g_hidden ^ HIDE_KEY);
    g_hidden = 0;
    roost_ctx_cancel(c);
    roost_ctx_unref(c);
}

/* A wait group nobody can reach any more (the pointer kept XOR-ed, to let
 * the test end it). Reported, not woken. */
static void wg_waiter(void *arg) {
    roost_waitgroup_t *wg = arg;
    roost_waitgroup_wait(NULL, wg);
    free(wg);
}

static void lose_wg(void *arg) {
    (void)arg;
    roost_waitgroup_t *wg = calloc(1, sizeof *wg);
    CHECK_OK(roost_waitgroup_add(wg, 1)); /* the Done that an early return skips */
    CHECK_OK(roost_go(wg_waiter, wg));
    g_hidden = (uintptr_t)wg ^ HIDE_KEY;
    if (getenv("ROOST_REACH_DEBUG")) {
        char b[32];
        snprintf(b, sizeof b, "%lx", (unsigned long)(uintptr_t)wg);
        setenv("ROOST_REACH_TRACE", b, 1);
        printf("wg %p\n", (void *)wg);
    }
}

static void t_waitgroup(void *arg) {
    (void)arg;
    CHECK_OK(roost_go(lose_wg, NULL));
    wait_parked(ROOST_WAIT_WAITGROUP, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    int64_t got = prove_expect(1);
    if (got == 0) {
        setenv("ROOST_REACH_DEBUG", "1", 1); /* say why, then fail */
        got = prove();
    }
    if (got >= 0) CHECK_EQ(got, 1);
    roost_waitgroup_done((roost_waitgroup_t *)(g_hidden ^ HIDE_KEY));
    g_hidden = 0;
}

/* ------------------------------------------------------------ freed memory counts for nothing */

/* Dangling pointers to freed chunks that still hold the channel: some of
 * the chunks sit in glibc's tcache, the rest (past its 7 per size) in a
 * fast bin, where they look in use to the heap walk. Memory a program
 * freed is not reachable through, whoever still points at it. */
#define NSTALE 24
static void *g_dangling[NSTALE];
static uintptr_t g_kept; /* XOR-ed with HIDE_KEY */

static void make_stale(void *arg) {
    (void)arg;
    roost_chan_t *ch = spawn_waiter();
    for (int i = 0; i < NSTALE; i++) {
        void **p = malloc(48); /* a fast-bin size */
        CHECK(p != NULL);
        for (int k = 0; k < 6; k++) p[k] = ch;
        g_dangling[i] = p;
    }
    for (int i = 0; i < NSTALE; i++) free(g_dangling[i]);
    g_hidden = (uintptr_t)ch ^ HIDE_KEY;
}

static void t_freed_stale(void *arg) {
    (void)arg;
    CHECK_OK(roost_go(make_stale, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    int64_t got = prove_expect(1);
    if (got >= 0) CHECK_EQ(got, 1); /* and woken (policy wake) */
    /* The channel is kept (hidden), not freed: the report of its leak
     * leaves its address in the reporter thread's frames, and a channel
     * the next test makes in the same chunk would look reached. */
    g_kept = g_hidden;
    g_hidden = 0;
    memset(g_dangling, 0, sizeof g_dangling);
}

/* ------------------------------------------------------------ a chunk's end */

/* Two chunks, each holding the only copy of a channel a task waits on; a
 * global points at each: one word exactly at the end of its chunk's user
 * part (one past the last byte, which counts), the other 4 bytes further,
 * between that end and the next chunk's start, which is in no chunk.
 * Proved: the second waiter only. */
/* volatile: written and never read back, its stores would be optimised away. */
static volatile uintptr_t g_past[2];
static uintptr_t g_past_chunk[2]; /* XOR-ed with HIDE_KEY */
static void **g_past_kept;

static void make_past(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) {
        void **p = calloc(1, 64);
        CHECK(p != NULL);
        p[0] = spawn_waiter();
        g_past[i] = (uintptr_t)p + malloc_usable_size(p) + (i ? 4 : 0);
        g_past_chunk[i] = (uintptr_t)p ^ HIDE_KEY;
    }
}

static void t_past_end(void *arg) {
    (void)arg;
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack())); /* the last test's woken waiter, gone */
    CHECK_OK(roost_go(make_past, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 2);
    CHECK_OK(roost_wait_tasks(2, 5 * ROOST_S * check_slack()));
    /* Not prove_expect: its last try looks at every chunk's end (the
     * debug walk), which would hide a lookup that skips it wrongly. */
    int64_t got = 0;
    for (int i = 0; i < 3 && got == 0; i++) {
        got = prove();
        if (got == 0) roost_sleep(NULL, 5 * ROOST_MS);
    }
#ifdef SANITIZED
    /* The instrumented code's stale words may keep the second alive. */
    if (got >= 0) CHECK(got <= 1);
#else
    if (got >= 0) CHECK_EQ(got, 1); /* the second, woken (policy wake) */
#endif
    void **p0 = (void **)(g_past_chunk[0] ^ HIDE_KEY);
    release(p0[0]);
    free(p0);
    /* The proved channel is kept till the end, as in t_freed_stale (now
     * in sight of the sanitizer's leak check); if it was not proved, its
     * waiter is released. */
    g_past_kept = (void **)(g_past_chunk[1] ^ HIDE_KEY);
    if (got <= 0) {
        release(g_past_kept[0]);
        free(g_past_kept);
        g_past_kept = NULL;
    }
    g_past[0] = g_past[1] = 0;
}

/* ------------------------------------------------------------ a list in the heap */

/* A list built by pushing at its head, as most are: each node points at
 * the one allocated just before it, most often the chunk right below it,
 * which the sweep marks as it scans the node above (scan_sweep), with no
 * lookup. The only copy of the channel a task waits on is in the oldest
 * node, at the far end from the global that holds the list: reached only
 * if every step down the list is. Not proved while the list is held. */
#define LIST_NODES 2000
typedef struct lnode {
    struct lnode *next;
    roost_chan_t *ch;
    uint64_t pad[4];
} lnode;
static lnode *volatile g_list;
static uintptr_t g_list_hidden; /* XOR-ed with HIDE_KEY */
static roost_chan_t *g_list_kept;

static void make_list(void *arg) {
    (void)arg;
    lnode *head = NULL;
    for (int i = 0; i < LIST_NODES; i++) {
        lnode *x = calloc(1, sizeof *x);
        CHECK(x != NULL);
        x->next = head;
        if (!i) x->ch = spawn_waiter();
        head = x;
    }
    g_list = head;
}

/* In a task of its own, so that no frame of the test's keeps the head. */
static void drop_list(void *arg) {
    (void)arg;
    g_list_hidden = (uintptr_t)g_list ^ HIDE_KEY;
    g_list = NULL;
}

static void t_heap_list(void *arg) {
    (void)arg;
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack())); /* the last test's woken waiters, gone */
    CHECK_OK(roost_go(make_list, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    int64_t got = prove();
    if (got >= 0) CHECK_EQ(got, 0); /* held: every node reached */
    CHECK_OK(roost_go(drop_list, NULL));
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    /* Dropped: proved and woken (policy wake), most often. A stale copy
     * of a node's address (a register an idle worker kept from the task
     * that built or dropped the list) keeps every node below it, and
     * stays through prove_expect's retries: 0 is allowed here. The half
     * that matters is the one above: a step down the list lost would
     * prove the waiter while the list is held. */
    got = prove_expect(1);
    if (got >= 0) CHECK(got <= 1);
    lnode *x = (lnode *)(g_list_hidden ^ HIDE_KEY);
    g_list_hidden = 0;
    while (x) {
        lnode *next = x->next;
        if (x->ch) {
            /* Kept when proved, as in t_freed_stale; else its waiter is
             * released. */
            if (got <= 0)
                release(x->ch);
            else
                g_list_kept = x->ch;
        }
        free(x);
        x = next;
    }
}

/* ------------------------------------------------------------ a chain through a stack */

/* Task B waits on channel Y, whose only copy lies in the frame of task A;
 * A waits on channel X, held by a node in the heap that a global holds.
 * Both are live (a send on X wakes A, which wakes B), and the proof must
 * say so: it has to scan A's stack, found only once the sweep reaches X,
 * with two sweepers where two CPUs run them (the stacks they find go to a
 * queue both drain). */
typedef struct {
    roost_chan_t *x;
    uint64_t pad[3];
} cnode;
static cnode *volatile g_chain;
static roost_chan_t *volatile g_chain_y; /* handed to A, then cleared */

static void chain_holder(void *arg) {
    roost_chan_t *x = arg;
    roost_chan_t *volatile y = g_chain_y; /* in this frame only, from here on */
    g_chain_y = NULL;
    int v;
    CHECK_OK(roost_chan_recv(NULL, x, &v));
    release(y);
    roost_chan_unref(x);
}

/* In a task of its own, so that no frame of the test's keeps Y. */
static void make_chain(void *arg) {
    (void)arg;
    cnode *n = calloc(1, sizeof *n);
    CHECK(n != NULL);
    CHECK_OK(roost_chan_make(sizeof(int), 0, &n->x));
    g_chain_y = spawn_waiter();
    CHECK_OK(roost_go(chain_holder, roost_chan_ref(n->x)));
    g_chain = n;
}

static void t_stack_chain(void *arg) {
    (void)arg;
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    CHECK_OK(roost_go(make_chain, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 2);
    CHECK_OK(roost_wait_tasks(2, 5 * ROOST_S * check_slack()));
    CHECK(g_chain_y == NULL);
    for (int i = 0; i < 3; i++) {
        int64_t got = prove();
        if (got >= 0) CHECK_EQ(got, 0);
    }
    release(g_chain->x); /* wakes A, which wakes B */
    free(g_chain);
    g_chain = NULL;
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
}

/* ------------------------------------------------------------ the documented limit */

/* In a task of its own, so that no register or frame of the test's keeps
 * a copy of the pointer. */
static void hide_waiter(void *arg) {
    (void)arg;
    g_hidden = (uintptr_t)spawn_waiter() ^ HIDE_KEY;
}

static void t_xor_hidden(void *arg) {
    (void)arg;
    int old = roost_leak_policy(ROOST_LEAK_REPORT); /* proved wrongly: must not be woken here */
    CHECK_OK(roost_go(hide_waiter, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 1);
    CHECK_OK(roost_wait_tasks(1, 5 * ROOST_S * check_slack()));
    int64_t got = prove_expect(1);
    /* The limit, as documented: the only pointer is XOR-ed, so the proof
     * does not see it and calls the waiter leaked, though the program can
     * still wake it. */
    if (got >= 0) CHECK_EQ(got, 1);
    release((roost_chan_t *)(g_hidden ^ HIDE_KEY));
    g_hidden = 0;
    roost_leak_policy(old);
}

/* ------------------------------------------------------------ the stacks' snapshot */

/* The snapshot reads the task stacks from the program after the stop
 * (where the kernel allows it: src/reach_snap.c); a page written since
 * must be read as it was at the stop. Here, at the stop, the only pointer
 * to the waiter's channel is in the mover's frame; while the snapshot
 * waits (ROOST_REACH_SNAP_DELAY_MS), the mover moves it to memory
 * allocated after the stop and clears its frame. Read as it is by then,
 * that frame would hide the channel, and the waiter would be proved leaked
 * though the mover is about to wake it. */
static roost_chan_t *g_snap_gate;         /* of int: the mover waits on it (a global: reachable) */
static roost_chan_t **_Atomic g_snap_box; /* where the mover moves the channel to */
static _Atomic int g_snap_moved;

static void snap_mover(void *arg) {
    roost_chan_t *volatile x = *(roost_chan_t **)arg;
    free(arg);
    int v;
    CHECK_OK(roost_chan_recv(NULL, g_snap_gate, &v)); /* parked at the stop, x in this frame */
    roost_chan_t **box = malloc(sizeof *box);
    CHECK(box != NULL);
    box[0] = x;
    x = NULL;
    atomic_store(&g_snap_box,
                 (roost_chan_t **)((uintptr_t)box ^ HIDE_KEY)); /* not a pointer the snapshot sees */
    atomic_store(&g_snap_moved, 1);
    CHECK_OK(roost_chan_recv(NULL, g_snap_gate, &v)); /* parked again: this frame holds no x */
    box = (roost_chan_t **)((uintptr_t)atomic_load(&g_snap_box) ^ HIDE_KEY);
    release(box[0]); /* wakes the waiter */
    free(box);
}

static void start_mover(void *arg) {
    (void)arg;
    roost_chan_t **box = malloc(sizeof *box);
    CHECK(box != NULL);
    box[0] = spawn_waiter();
    CHECK_OK(roost_go(snap_mover, box));
}

static roost_leak_proof_t g_snap_st;
static int g_snap_rc;
static _Atomic int g_snap_done;
static void *snap_prover(void *arg) {
    (void)arg;
    g_snap_rc = roost_leak_prove(&g_snap_st);
    atomic_store(&g_snap_done, 1);
    return NULL;
}

static void t_snap_moved(void *arg) {
    (void)arg;
    int old = roost_leak_policy(ROOST_LEAK_REPORT); /* proved wrongly: must not be woken here */
    int64_t before = atomic_load(&by_reach);
    CHECK_OK(roost_chan_make(sizeof(int), 0, &g_snap_gate));
    CHECK_OK(roost_go(start_mover, NULL));
    wait_parked(ROOST_WAIT_CHAN_RECV, 2);
    CHECK_OK(roost_wait_tasks(2, 5 * ROOST_S * check_slack()));
    setenv("ROOST_REACH_SNAP_DELAY_MS", "400", 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, snap_prover, NULL) == 0);
    roost_sleep(NULL, 150 * ROOST_MS); /* the stop is over; the snapshot waits */
    int v = 1;
    CHECK_OK(roost_chan_send(NULL, g_snap_gate, &v));
    while (!atomic_load(&g_snap_moved) || !atomic_load(&g_snap_done)) roost_sleep(NULL, ROOST_MS);
    pthread_join(th, NULL);
    unsetenv("ROOST_REACH_SNAP_DELAY_MS");
    if (g_snap_rc == ROOST_OK) {
        CHECK_EQ(g_snap_st.leaked, 0);
        roost_leak_flush(2 * ROOST_S);
        CHECK_EQ(atomic_load(&by_reach), before);
    } else {
        CHECK_MSG(proof_expected() != 1, "proof unavailable: %s", g_snap_st.reason ? g_snap_st.reason : "?");
    }
    CHECK_OK(roost_chan_send(NULL, g_snap_gate, &v)); /* the mover wakes the waiter, and both end */
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(g_snap_gate);
    g_snap_gate = NULL;
    roost_leak_policy(old);
}

/* ------------------------------------------------------------ the proof during a stress */

/* A plain thread proving again and again while tasks pass malloc'd
 * messages through channels, grow a realloc'd table of channel pointers,
 * and park on channels that a timer or a partner will surely service:
 * every proof must find nothing (a false one would wake a task with
 * ROOST_ELEAKED), and under a sanitizer none of it may be reported. */
static _Atomic int stress_stop;
static _Atomic int64_t stress_proofs, stress_avail, stress_false, stress_max_ns, stress_max_stop_ns;

static void *prover(void *arg) {
    (void)arg;
    while (!atomic_load(&stress_stop)) {
        roost_leak_proof_t st;
        int rc = roost_leak_prove(&st);
        atomic_fetch_add(&stress_proofs, 1);
        if (rc == 0) atomic_fetch_add(&stress_avail, 1);
        if (st.leaked) atomic_fetch_add(&stress_false, st.leaked);
        if (st.total_ns > atomic_load(&stress_max_ns)) atomic_store(&stress_max_ns, st.total_ns);
        if (st.stop_ns > atomic_load(&stress_max_stop_ns)) atomic_store(&stress_max_stop_ns, st.stop_ns);
        usleep(2000);
    }
    return NULL;
}

typedef struct {
    roost_chan_t *ch; /* of msg *: the only reference to each message */
    int n;
} pair;

typedef struct {
    int64_t seq;
    char pad[200];
} msg;

static void st_producer(void *arg) {
    pair *p = arg;
    for (int i = 0; i < p->n; i++) {
        msg *m = malloc(sizeof *m);
        CHECK(m != NULL);
        m->seq = i;
        CHECK_OK(roost_chan_send(NULL, p->ch, &m));
    }
    roost_chan_close(p->ch);
    roost_chan_unref(p->ch);
    free(p);
}

static void st_consumer(void *arg) {
    pair *p = arg;
    msg *m;
    int64_t next = 0;
    while (roost_chan_recv(NULL, p->ch, &m) == 0) {
        CHECK_EQ(m->seq, next);
        next++;
        free(m);
    }
    CHECK_EQ(next, p->n);
    roost_chan_unref(p->ch);
    free(p);
}

static void sleeper_send(void *arg) {
    roost_chan_t *ch = arg;
    roost_sleep(NULL, 3 * ROOST_MS);
    int v = 7;
    CHECK_OK(roost_chan_send(NULL, ch, &v));
    roost_chan_unref(ch);
}

/* Parks on a channel only a table it keeps growing with realloc (and a
 * timer task given a reference) can reach. */
static void grower(void *arg) {
    int rounds = (int)(intptr_t)arg;
    roost_chan_t **tab = NULL;
    size_t n = 0;
    for (int r = 0; r < rounds; r++) {
        roost_chan_t *ch;
        CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
        roost_chan_t **t2 = realloc(tab, (n + 1) * sizeof *tab);
        CHECK(t2 != NULL);
        tab = t2;
        tab[n++] = ch;
        CHECK_OK(roost_go(sleeper_send, roost_chan_ref(ch)));
        ch = NULL;
        int v;
        CHECK_OK(roost_chan_recv(NULL, tab[n - 1], &v)); /* woken by the sleeper */
        CHECK_EQ(v, 7);
    }
    for (size_t i = 0; i < n; i++) roost_chan_unref(tab[i]);
    free(tab);
}

#ifdef CHECK_TSAN
static void t_prove_quiet(void *arg) {
    (void)arg;
    for (int i = 0; i < 5 && !atomic_load(&stress_avail); i++) {
        roost_leak_proof_t st;
        if (roost_leak_prove(&st) == 0) atomic_fetch_add(&stress_avail, 1);
        CHECK_EQ(st.leaked, 0);
    }
}
#endif

static void t_stress_prove(void *arg) {
    (void)arg;
    atomic_store(&by_reach, 0);
    atomic_store(&stress_stop, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, prover, NULL), 0);
    int pairs = SCALE(16, 4), per = SCALE(400, 60), growers = SCALE(8, 3);
    for (int i = 0; i < pairs; i++) {
        pair *p = malloc(sizeof *p), *q;
        CHECK(p != NULL);
        CHECK_OK(roost_chan_make(sizeof(msg *), (size_t)(i % 3), &p->ch));
        p->n = per;
        q = malloc(sizeof *q);
        CHECK(q != NULL);
        *q = *p;
        roost_chan_ref(p->ch);
        CHECK_OK(roost_go(st_consumer, q));
        CHECK_OK(roost_go(st_producer, p));
    }
    for (int i = 0; i < growers; i++) CHECK_OK(roost_go(grower, (void *)(intptr_t)SCALE(12, 4)));
    /* Let the prover get some in while everything runs. */
    int64_t end = roost_now() + 20 * ROOST_S * check_slack();
    while (atomic_load(&stress_proofs) < 3 && roost_now() < end) roost_sleep(NULL, 5 * ROOST_MS);
    CHECK_OK(roost_wait_tasks(1, 60 * ROOST_S * check_slack()));
    atomic_store(&stress_stop, 1);
    pthread_join(th, NULL);
    printf("stress: %lld proofs, %lld available, %lld tasks proved; longest %.1f ms, %.1f ms stopped\n",
           (long long)atomic_load(&stress_proofs), (long long)atomic_load(&stress_avail),
           (long long)atomic_load(&stress_false), (double)atomic_load(&stress_max_ns) / 1e6,
           (double)atomic_load(&stress_max_stop_ns) / 1e6);
    CHECK_EQ(atomic_load(&stress_false), 0);
    CHECK_EQ(atomic_load(&by_reach), 0);
    if (proof_expected() == 1) CHECK(atomic_load(&stress_avail) > 0);
}

/* ------------------------------------------------------------ unavailable */

static _Atomic int blocker_go;
static void *blocker(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMAX - 3);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    atomic_store(&blocker_go, 1);
    while (atomic_load(&blocker_go) == 1) usleep(1000);
    return NULL;
}

static void t_unavailable(void *arg) {
    (void)arg;
    roost_leak_proof_t st;
    /* A thread that blocks the stop signal: it cannot be stopped, so there
     * is no snapshot, and no proof. */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocker, NULL), 0);
    while (!atomic_load(&blocker_go)) roost_sleep(NULL, ROOST_MS);
    CHECK_ERR(roost_leak_prove(&st), ROOST_EAGAIN);
    CHECK(st.reason != NULL);
    CHECK_EQ(st.available, 0);
    atomic_store(&blocker_go, 2);
    pthread_join(th, NULL);
    /* Turned off. */
    setenv("ROOST_REACH_OFF", "1", 1);
    CHECK_ERR(roost_leak_prove(&st), ROOST_EAGAIN);
    CHECK(st.reason && strstr(st.reason, "ROOST_REACH_OFF"));
    unsetenv("ROOST_REACH_OFF");
    if (proof_expected() == 1) {
        int rc = roost_leak_prove(&st);
        CHECK_MSG(rc == 0, "unavailable: %s", st.reason);
    }
}

static void t_said_unavailable(void *arg) {
    (void)arg;
    roost_leak_proof_t st;
    CHECK_ERR(roost_leak_prove(&st), ROOST_EAGAIN);
    CHECK_EQ(st.available, 0);
    CHECK(st.reason != NULL);
    CHECK_EQ(st.leaked, 0);
    printf("unavailable: %s\n", st.reason);
}

int main(void) {
    /* Sweep blocks of two chunks: where two CPUs run the mark, the two
     * sweepers of the proof's snapshot meet at every turn even on these
     * small heaps (bugs.sh and goker.sh run the one sweeper of a heap so
     * small). */
    setenv("ROOST_REACH_SWEEP_BLOCK", "1", 0);
    roost_leak_policy(ROOST_LEAK_REPORT | ROOST_LEAK_WAKE);
    roost_leak_hook(on_leak, NULL);
    if (proof_expected() == 0) {
        /* The heap cannot be walked here: the proof must say so, prove
         * nothing, and cost nothing; the leaks the other tests make would
         * stay for good, so they do not run. */
        RUN(t_said_unavailable);
        printf(
            "SKIP: the leak-proving tests (no glibc heap to walk under a sanitizer or valgrind, or not x86-64)\n");
        check_no_leaks();
        return 0;
    }
#ifdef CHECK_TSAN
    /* The proof runs under TSan, but TSan keeps a sync object for every
     * address an atomic or a lock used, each holding that address: read as
     * roots (TSan's memory cannot be told from the program's), they reach
     * every channel, so nothing is proved. What runs here: the proof again
     * and again during a stress, with no report and no false proof. */
    RUN(t_stress_prove);
    /* Under load a task computing outside TSan's interceptors may not stop
     * within the proof's wait, and every proof of the stress may say so;
     * with the stress over, one must be available. */
    if (atomic_load(&stress_avail) == 0) RUN(t_prove_quiet);
    CHECK(atomic_load(&stress_avail) > 0);
    printf("SKIP: the leak-proving tests (under TSan its sync objects reach every channel)\n");
    check_no_leaks();
    return 0;
#endif
    RUN(t_story);
    RUN(t_pipeline);
    RUN(t_fixed);
    RUN(t_live_refs);
    RUN(t_context);
    RUN(t_waitgroup);
    RUN(t_freed_stale);
    RUN(t_past_end);
    RUN(t_heap_list);
    RUN(t_stack_chain);
    RUN(t_xor_hidden);
    RUN(t_snap_moved);
    RUN(t_stress_prove);
    RUN(t_unavailable);
    if (g_kept) roost_chan_unref((roost_chan_t *)(g_kept ^ HIDE_KEY));
    if (g_list_kept) roost_chan_unref(g_list_kept);
    if (g_past_kept) {
        roost_chan_unref(g_past_kept[0]);
        free(g_past_kept);
    }
    CHECK_EQ(atomic_load(&by_other), 0);
    check_no_leaks();
}
