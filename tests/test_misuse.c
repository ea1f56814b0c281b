/* test_misuse.c - misuse that would corrupt memory or hang is reported at
 * the call, naming the task, and aborts (docs/guide.md, "When roost aborts").
 *
 * Each case runs in a forked child (death.h) that must die of SIGABRT with
 * a report naming what was misused, the task and its spawn site. Under ASan
 * or TSan a use of freed memory is the sanitizer's to report, and it
 * reports it first: those cases then accept its report. Then, in this process, the legitimate
 * neighbours of each misuse, which must not abort.
 */
#include "death.h"

static roost_chan_t *parked_on; /* the channel a parked receiver waits on */

static void receiver(void *arg) {
    roost_chan_t *ch = arg;
    roost_chan_recv(NULL, ch, NULL); /* never returns: the child aborts first */
}

/* One unref too many while a parked task keeps the channel's memory: the
 * count itself goes below zero. */
static void unref_below_zero(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    parked_on = ch;
    roost_task_opts_t o = {.name = "receiver"};
    CHECK_OK(roost_go_opts(receiver, roost_chan_ref(ch), &o));
    while (roost_chan_len(ch) == 0 && roost_task_count() < 2) roost_yield();
    roost_sleep(NULL, 20 * ROOST_MS); /* the receiver parks */
    roost_chan_unref(ch);
    roost_chan_unref(ch); /* orphaned: only the parked receiver's node keeps it */
    roost_chan_unref(ch); /* below zero */
}

/* The case: a channel unreferenced twice (the second frees nothing:
 * it is already freed). */
static void unref_twice(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &ch));
    roost_chan_unref(ch);
    roost_chan_unref(ch);
}

/* A send on a channel after its last reference was dropped. Before, it
 * spun for ever on the lock word malloc had written into the freed block. */
static void send_after_free(void *unused) {
    roost_chan_t *ch;
    int v = 1;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &ch));
    roost_chan_ref(ch);
    roost_chan_unref(ch);
    roost_chan_unref(ch);
    roost_chan_send(NULL, ch, &v);
}

/* A select on a freed channel (one not ready: the all-locked pass). */
static void select_after_free(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    roost_chan_unref(ch);
    int v;
    roost_case_t c[1] = {{ch, ROOST_RECV, &v, 0}};
    roost_select(NULL, c, 1, ROOST_SELECT_NONBLOCK);
}

/* Unreferencing a context's done channel, which the context owns. Before,
 * cancelling the context then hung. */
static void done_unref(void *unused) {
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_chan_unref(roost_ctx_done(ctx));
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
}

static void adopter(void *arg) {
    roost_chan_t *ch = arg;
    CHECK_OK(roost_chan_adopt(ch));
    roost_chan_adopt(ch); /* the same reference again */
}

/* A second adopt of the one reference a task was given. Before, both
 * succeeded, and the reference was dropped twice at the task's exit. */
static void adopt_twice(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    roost_task_opts_t o = {.name = "adopter"};
    CHECK_OK(roost_go_opts(adopter, roost_chan_ref(ch), &o));
    roost_sleep(NULL, 10 * ROOST_S);
}

static void ctx_unref_twice(void *unused) {
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_ctx_unref(ctx);
    roost_ctx_unref(ctx);
}

static void ctx_use_after_free(void *unused) {
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_ctx_unref(ctx);
    roost_sleep(ctx, ROOST_MS);
}

/* A misuse on a plain thread (no task) is reported too: a task parks on a
 * channel, then the thread drops the channel's references (below). */
static void thread_setup(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    parked_on = ch;
    CHECK_OK(roost_go(receiver, roost_chan_ref(ch)));
    roost_sleep(NULL, 20 * ROOST_MS);
}

/* A group closed (which drops the creator's reference) and then
 * unreferenced as well: the second drop finds it freed. */
static int returns_at_once(roost_ctx_t *ctx, void *arg) { return 0; }

static void group_close_then_unref(void *unused) {
    roost_group_t *g;
    CHECK_OK(roost_group_make(NULL, &g));
    CHECK_OK(roost_group_go(NULL, g, returns_at_once, NULL));
    CHECK_OK(roost_group_close(g));
    roost_group_unref(g);
}

static void t_death(const char *name, void (*body)(void *), bool freed, const char *const *says) {
    death_t *d = malloc(sizeof *d);
    CHECK(d != NULL);
    death_run(body, NULL, d);
#ifdef DEATH_SAN
    if (freed) { /* the sanitizer reports the use of freed memory before our check can */
        CHECK_MSG(DEATH_SIGNAL(*d) == SIGABRT || (WIFEXITED(d->status) && WEXITSTATUS(d->status)),
                  "child status %#x, stderr:\n%s", d->status, d->out);
        CHECK_MSG(strstr(d->out, "heap-use-after-free") || strstr(d->out, "roost: fatal: misuse"),
                  "stderr:\n%s", d->out);
        printf("ok %s (the sanitizer's report)\n", name);
        free(d);
        return;
    }
#else
    (void)freed;
#endif
    death_expect(d, SIGABRT, says);
    printf("ok %s\n", name);
    free(d);
}

#define SAYS(...) ((const char *const[]){"roost: fatal: misuse: ", __VA_ARGS__, NULL})

/* This thread (no task) drops the references one too many times. */
static void unref_thrice_from_thread(void) {
    roost_chan_unref(parked_on);
    roost_chan_unref(parked_on);
    roost_chan_unref(parked_on);
}

static void t_thread_misuse(void) {
    death_t *d = malloc(sizeof *d);
    CHECK(d != NULL);
    death_run_with(NULL, thread_setup, unref_thrice_from_thread, NULL, d);
    death_expect(d, SIGABRT, SAYS("reference count below zero", "on a thread (not a task)"));
    printf("ok t_thread_misuse\n");
    free(d);
}

/* ------------------------------------------------------------ legitimate */

/* A reference of one's own to a done channel outlives the context. */
static void t_done_own_ref(void *unused) {
    roost_ctx_t *ctx;
    CHECK_OK(roost_ctx_with_cancel(NULL, &ctx));
    roost_chan_t *d = roost_chan_ref(roost_ctx_done(ctx));
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
    CHECK_ERR(roost_chan_recv(NULL, d, NULL), ROOST_ECLOSED);
    roost_chan_unref(d);
    /* And one dropped while the context lives. */
    CHECK_OK(roost_ctx_with_timeout(NULL, ROOST_MS, &ctx));
    d = roost_chan_ref(roost_ctx_done(ctx));
    roost_chan_unref(d);
    CHECK_ERR(roost_chan_recv(NULL, roost_ctx_done(ctx), NULL), ROOST_ECLOSED);
    CHECK_ERR(roost_ctx_err(ctx), ROOST_ETIMEDOUT);
    roost_ctx_unref(ctx);
}

static void adopt_two(void *arg) {
    roost_chan_t **ch = arg;
    CHECK_OK(roost_chan_adopt(ch[0]));
    CHECK_OK(roost_chan_adopt(ch[1]));
    int v = 7;
    CHECK_OK(roost_chan_send(NULL, ch[0], &v));
}

/* Two channels adopted by one task; a channel adopted by two tasks. */
static void t_adopt_distinct(void *unused) {
    roost_chan_t *a, *b;
    CHECK_OK(roost_chan_make(sizeof(int), 1, &a));
    CHECK_OK(roost_chan_make(sizeof(int), 1, &b));
    roost_chan_t *pair1[2] = {roost_chan_ref(a), roost_chan_ref(b)};
    roost_chan_t *pair2[2] = {roost_chan_ref(b), roost_chan_ref(a)};
    CHECK_OK(roost_go(adopt_two, pair1));
    int v;
    CHECK_OK(roost_chan_recv(NULL, a, &v));
    CHECK_OK(roost_go(adopt_two, pair2));
    CHECK_OK(roost_chan_recv(NULL, b, &v));
    CHECK_OK(roost_wait_tasks(0, 5 * ROOST_S * check_slack()));
    roost_chan_unref(a);
    roost_chan_unref(b);
}

/* Go's panics that roost turns into errors stay errors. */
static void t_errors_stay_errors(void *unused) {
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    CHECK_OK(roost_chan_close(ch));
    CHECK_ERR(roost_chan_close(ch), ROOST_EALREADY);
    roost_chan_unref(ch);
    roost_mutex_t mu = ROOST_MUTEX_INIT;
    CHECK_ERR(roost_mutex_unlock(&mu), ROOST_ESTATE);
    roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
    CHECK_ERR(roost_waitgroup_done(&wg), ROOST_ESTATE);
}

int main(void) {
    /* Every fork happens before this process starts the runtime. */
    t_death("t_unref_below_zero", unref_below_zero, false,
            SAYS("reference count below zero", "roost_chan_unref of channel", "in task 1 ",
                 "spawned at src/init.c", "unref_below_zero+") /* roost_run's task */);
    t_death("t_unref_twice", unref_twice, true, SAYS("roost_chan_unref on channel", "which was freed"));
    t_death("t_send_after_free", send_after_free, true, SAYS("which was freed", "send_after_free"));
    t_death("t_select_after_free", select_after_free, true, SAYS("which was freed"));
    t_death("t_done_unref", done_unref, false, SAYS("the reference its context holds", "done_unref"));
    t_death("t_adopt_twice", adopt_twice, false,
            SAYS("second roost_chan_adopt of channel", "in task", "\"adopter\"",
                 "spawned at tests/test_misuse.c:", "in adopt_twice"));
    t_death("t_ctx_unref_twice", ctx_unref_twice, true,
            SAYS("roost_ctx_unref on context", "which was freed"));
    t_death("t_ctx_use_after_free", ctx_use_after_free, true, SAYS("on context", "which was freed"));
    t_death("t_group_close_then_unref", group_close_then_unref, true,
            SAYS("roost_group_unref on group", "which was freed", "group_close_then_unref"));
    t_thread_misuse();
    RUN(t_done_own_ref);
    RUN(t_adopt_distinct);
    RUN(t_errors_stay_errors);
    check_no_leaks();
    return 0;
}
