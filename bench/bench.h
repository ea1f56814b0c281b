/* bench.h - what the roost benchmarks share: error checks, the clock, RSS.
 *
 * Each bench/<name>.c mirrors bench/go/<name>/main.go (same counts, same
 * figures) and prints one line whose keys match the Go program's, so
 * bench/run.sh reads both sides the same way. Figures roost alone can give
 * (select fairness, exit time, worker count) are appended as extra
 * "key value" pairs. Only the public API (roost.h) is used.
 */
#ifndef ROOST_BENCH_H
#define ROOST_BENCH_H

#include "roost.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort the benchmark (exit 1) with a message when a call fails. */
#define CHECK(call)                                                                                       \
    do {                                                                                                  \
        int rc_ = (call);                                                                                 \
        if (rc_ < 0) {                                                                                    \
            fprintf(stderr, "%s:%d: %s: %s (%d)\n", __FILE__, __LINE__, #call, roost_strerror(rc_), rc_); \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* Abort unless call returns exactly `want`. */
#define EXPECT(call, want)                                                                  \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ != (want)) {                                                                \
            fprintf(stderr, "%s:%d: %s: got %s (%d), want %d\n", __FILE__, __LINE__, #call, \
                    roost_strerror(rc_), rc_, (want));                                      \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

#define FAILX(...)                    \
    do {                              \
        fprintf(stderr, __VA_ARGS__); \
        fputc('\n', stderr);          \
        exit(1);                      \
    } while (0)

/* VmRSS of this process in KiB (0 if unreadable), as parked/main.go. */
static inline long bench_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Run body(arg) as the root task; exit 1 if roost_run itself fails. */
static inline void bench_run(void (*body)(void *), void *arg) { CHECK(roost_run(body, arg)); }

/* After closing the channel a crowd of parked tasks waits on: wait (up to
 * 60 s) for every task to return; exit 1, naming the benchmark, if not. */
static inline void bench_wait_drained(const char *name) {
    int rc = roost_wait_tasks(0, 60 * ROOST_S);
    if (rc != 0)
        FAILX("%s: %lld tasks still alive 60 s after close: %s", name, (long long)roost_task_count(),
              roost_strerror(rc));
}

#endif
