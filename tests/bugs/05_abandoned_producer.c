/* 05 a producer left behind by a consumer that quit.
 *
 * Go:
 *     func firstMatch() int {
 *         ch := make(chan int)
 *         go func() {
 *             for i := 0; ; i++ { ch <- i }   // blocks on the send after the consumer left
 *         }()
 *         for v := range ch {
 *             if v%7 == 3 { return v }         // quits early
 *         }
 *     }
 *
 * leaky  a generator task sends forever; the consumer takes what it needs
 *        and returns; the generator parks on its next send.
 * fixed  ctx, cancel := context.WithCancel(); defer cancel(); the generator
 *        selects on its send against ctx.Done() and returns when cancelled.
 */
#include "bug.h"

typedef struct gen_args {
    roost_chan_t *ch; /* adopted */
    roost_ctx_t *ctx; /* fixed: the generator's own reference */
} gen_args;

static void generator_leaky(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    for (int i = 0;; i++) {
        int rc = roost_chan_send(NULL, ch, &i); /* ch <- i */
        if (rc) {
            bug_note("generator: send: %s", roost_strerror(rc));
            return;
        }
    }
}

static void generator(void *arg) {
    gen_args *a = arg;
    MUST(roost_chan_adopt(a->ch));
    for (int i = 0;; i++) {
        roost_case_t cases[] = {
            {.chan = a->ch, .op = ROOST_SEND, .elem = &i},      /* case ch <- i: */
            {.chan = roost_ctx_done(a->ctx), .op = ROOST_RECV}, /* case <-ctx.Done(): return */
        };
        if (roost_select(NULL, cases, 2, 0) != 0) break;
    }
    roost_ctx_unref(a->ctx);
    free(a);
}

static int first_match(roost_chan_t *ch) {
    int v;
    while (roost_chan_recv(NULL, ch, &v) == 0)
        if (v % 7 == 3) return v; /* the consumer quits */
    return -1;
}

static void leaky(void) {
    roost_chan_t *ch;
    MUST(roost_chan_make(sizeof(int), 0, &ch));
    MUST(roost_go(generator_leaky, roost_chan_ref(ch)));
    bug_note("first match %d", first_match(ch));
    roost_chan_unref(ch);
}

static void fixed(void) {
    roost_chan_t *ch;
    roost_ctx_t *ctx;
    MUST(roost_ctx_with_cancel(NULL, &ctx));
    MUST(roost_chan_make(sizeof(int), 0, &ch));
    gen_args *a = bug_alloc(sizeof *a);
    a->ch = roost_chan_ref(ch);
    a->ctx = roost_ctx_ref(ctx);
    MUST(roost_go(generator, a));
    bug_note("first match %d", first_match(ch));
    roost_chan_unref(ch);
    roost_ctx_cancel(ctx); /* defer cancel() */
    roost_ctx_unref(ctx);
}

BUG_MAIN(leaky, fixed)
