/* select4: one receiver selecting over 4 unbuffered channels, each fed by its
 * own sender task with n/4 values; 1M receives, as bench/go/selectb/main.go.
 *
 * Fairness: every sender sends exactly n/4 values, so over the whole run each
 * case is necessarily chosen n/4 times. What fair selection shows is how the
 * cases share the first half of the run: uniform choice gives each about
 * n/8 there; a select that prefers low indices drains channel 0 first. We
 * print the first-half counts and spread = (max - min) / mean of them
 * (0 is perfectly even; a strict priority order gives 2).
 *
 * Prints: select4_ns_per_op <ns per receive> first_half <c0>/<c1>/<c2>/<c3>
 *         spread <x> workers <n>
 */
#include "bench.h"

#define N 1000000
#define NC 4

static void sender(void *p) {
    roost_chan_t *c = p; /* a reference owned by the task */
    for (int64_t j = 0; j < N / NC; j++) CHECK(roost_chan_send(NULL, c, &j));
    roost_chan_unref(c);
}

static double ns_per_op, spread;
static long first_half[NC];

static void body(void *unused) {
    roost_chan_t *cs[NC];
    int64_t vals[NC];
    long total[NC] = {0};
    int64_t next[NC] = {0};
    roost_case_t cases[NC];
    for (int i = 0; i < NC; i++) {
        CHECK(roost_chan_make(sizeof(int64_t), 0, &cs[i]));
        CHECK(roost_go(sender, roost_chan_ref(cs[i])));
    }
    int64_t t = roost_now();
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < NC; k++) cases[k] = (roost_case_t){cs[k], ROOST_RECV, &vals[k], 0};
        int k = roost_select(NULL, cases, NC, 0);
        if (k < 0 || k >= NC) FAILX("select4: roost_select returned %d (%s)", k, roost_strerror(k));
        if (cases[k].err != 0)
            FAILX("select4: case %d err %d (%s)", k, cases[k].err, roost_strerror(cases[k].err));
        if (vals[k] != next[k]) /* each channel delivers 0, 1, 2, ... in order */
            FAILX("select4: case %d got %lld, want %lld", k, (long long)vals[k], (long long)next[k]);
        next[k]++;
        total[k]++;
        if (i < N / 2) first_half[k]++;
    }
    int64_t d = roost_now() - t;
    ns_per_op = (double)d / N;
    long mx = 0, mn = N;
    for (int k = 0; k < NC; k++) {
        if (total[k] != N / NC) FAILX("select4: case %d chosen %ld times, want %d", k, total[k], N / NC);
        if (first_half[k] > mx) mx = first_half[k];
        if (first_half[k] < mn) mn = first_half[k];
        roost_chan_unref(cs[k]);
    }
    spread = (double)(mx - mn) / ((double)(N / 2) / NC);
}

int main(void) {
    bench_run(body, NULL);
    printf("select4_ns_per_op %.1f first_half %ld/%ld/%ld/%ld spread %.3f workers %d\n", ns_per_op,
           first_half[0], first_half[1], first_half[2], first_half[3], spread, roost_workers());
    return 0;
}
