/* 16 a global deadlock: every task asleep, main included.
 *
 * Go:
 *     results := make(chan int)
 *     var wg sync.WaitGroup
 *     for i := 0; i < 3; i++ {
 *         wg.Add(1)
 *         go func(i int) { defer wg.Done(); results <- i * i }(i)
 *     }
 *     wg.Wait()                             // waits for workers that wait for a reader
 *     close(results)
 *     for r := range results { sum += r }
 *     // fatal error: all goroutines are asleep - deadlock!
 *
 * leaky  main waits on the wait group before it drains the unbuffered
 *        results channel; the workers wait on their sends. Nothing runs.
 *        (main is the body of roost_run here, so the program's harness
 *        scans from a plain thread: see bug.h.)
 * fixed  a closer task waits and closes while main drains the channel.
 */
#include "bug.h"

static roost_waitgroup_t wg = ROOST_WAITGROUP_INIT;
static _Atomic int next_i;

static void worker(void *arg) {
    roost_chan_t *results = arg;
    MUST(roost_chan_adopt(results));
    int i = atomic_fetch_add(&next_i, 1);
    int r = i * i;
    int rc = roost_chan_send(NULL, results, &r); /* results <- i * i */
    if (rc) bug_note("worker: send: %s", roost_strerror(rc));
    roost_waitgroup_done(&wg); /* defer wg.Done() */
}

static void closer(void *arg) {
    roost_chan_t *results = arg;
    MUST(roost_chan_adopt(results));
    int rc = roost_waitgroup_wait(NULL, &wg);
    if (rc) bug_note("closer: wait: %s", roost_strerror(rc));
    roost_chan_close(results);
}

static roost_chan_t *start(void) {
    roost_chan_t *results;
    MUST(roost_chan_make(sizeof(int), 0, &results));
    for (int i = 0; i < 3; i++) {
        MUST(roost_waitgroup_add(&wg, 1));
        MUST(roost_go(worker, roost_chan_ref(results)));
    }
    return results;
}

static int drain(roost_chan_t *results) {
    int r, sum = 0;
    while (roost_chan_recv(NULL, results, &r) == 0) sum += r; /* for r := range results */
    return sum;
}

static void leaky(void) {
    roost_chan_t *results = start();
    int rc = roost_waitgroup_wait(NULL, &wg); /* wg.Wait() before anyone reads */
    if (rc) bug_note("main: wait: %s", roost_strerror(rc));
    roost_chan_close(results);
    bug_note("main: sum %d", drain(results));
    roost_chan_unref(results);
}

static void fixed(void) {
    roost_chan_t *results = start();
    MUST(roost_go(closer, roost_chan_ref(results))); /* go func() { wg.Wait(); close(results) }() */
    bug_note("main: sum %d", drain(results));
    roost_chan_unref(results);
}

BUG_MAIN_POLICY(leaky, fixed, ROOST_LEAK_REPORT)
