/* 19 a select whose every channel has been set to nil.
 *
 * Go:
 *     func merge(a, b <-chan int, out chan<- int) {
 *         for {                             // should be: for a != nil || b != nil
 *             select {
 *             case v, ok := <-a:
 *                 if !ok { a = nil; continue }
 *                 out <- v
 *             case v, ok := <-b:
 *                 if !ok { b = nil; continue }
 *                 out <- v
 *             }
 *         }                                 // once both are nil: select {} forever
 *         close(out)
 *     }
 *
 * leaky  the merge loop has no exit: when both inputs are closed and
 *        disabled (NULL, never ready), it selects on nothing for good. The
 *        caller reads with a deadline, gets every value and then gives up.
 * fixed  loop while either input is still live, then close out.
 */
#include "bug.h"

typedef struct merge_args {
    roost_chan_t *a, *b, *out; /* adopted */
    int stops;                 /* fixed: 1 */
} merge_args;

static void source(void *arg) {
    roost_chan_t *ch = arg;
    MUST(roost_chan_adopt(ch));
    for (int v = 1; v <= 2; v++)
        if (roost_chan_send(NULL, ch, &v)) return;
    roost_chan_close(ch);
}

static void merge(void *arg) {
    merge_args *m = arg;
    MUST(roost_chan_adopt(m->a));
    MUST(roost_chan_adopt(m->b));
    MUST(roost_chan_adopt(m->out));
    roost_chan_t *a = m->a, *b = m->b;
    while (!m->stops || a || b) {
        int va, vb;
        roost_case_t cases[] = {
            {.chan = a, .op = ROOST_RECV, .elem = &va},
            {.chan = b, .op = ROOST_RECV, .elem = &vb},
        };
        int i = roost_select(NULL, cases, 2, 0);
        if (i < 0) {
            bug_note("merge: select: %s", roost_strerror(i));
            break;
        }
        if (cases[i].err == ROOST_ECLOSED) {
            if (i == 0)
                a = NULL; /* a = nil */
            else
                b = NULL; /* b = nil */
            continue;
        }
        if (roost_chan_send(NULL, m->out, i == 0 ? &va : &vb)) break; /* out <- v */
    }
    roost_chan_close(m->out);
    free(m);
}

static void run(int stops) {
    roost_chan_t *a, *b, *out;
    roost_ctx_t *ctx;
    MUST(roost_chan_make(sizeof(int), 0, &a));
    MUST(roost_chan_make(sizeof(int), 0, &b));
    MUST(roost_chan_make(sizeof(int), 0, &out));
    MUST(roost_go(source, roost_chan_ref(a)));
    MUST(roost_go(source, roost_chan_ref(b)));
    merge_args *m = bug_alloc(sizeof *m);
    *m = (merge_args){roost_chan_ref(a), roost_chan_ref(b), roost_chan_ref(out), stops};
    MUST(roost_go(merge, m));
    roost_chan_unref(a);
    roost_chan_unref(b);
    MUST(roost_ctx_with_timeout(NULL, 30 * ROOST_MS, &ctx));
    int v, sum = 0, rc;
    while ((rc = roost_chan_recv(ctx, out, &v)) == 0) sum += v; /* for v := range out */
    bug_note("caller: sum %d, then %s", sum, roost_strerror(rc));
    roost_ctx_cancel(ctx);
    roost_ctx_unref(ctx);
    roost_chan_unref(out);
}

static void leaky(void) { run(0); }
static void fixed(void) { run(1); }

BUG_MAIN(leaky, fixed)
