/* roost_obs.h - the observability layer of roost: live counts, task
 * records, stacks, task profiles, the monitor, and leak detection.
 *
 * Everything here reads what the runtime records anyway, so it can stay on in
 * production (set ROOST_OBSERVE=0, or roost_config_t.observe = -1, to turn
 * the per-park bookkeeping off; the benchmarks' <workload>+obs rows measure
 * what it costs). Park times come from a clock refreshed every ~2 ms, so
 * they are good to about 2 ms; ROOST_OBSERVE=2 reads the TSC at every park
 * for exact ones, at ~11 ns a park. Errors follow roost.h: 0 or a negative ROOST_E* code.
 *
 * Where each concept lives: src/registry.c (counts, spawn sites, records,
 * stack capture), src/profile.c (the four profile formats, SIGQUIT),
 * src/monitor.c (periodic log, growth alerts), src/leak.c (the detector and
 * the test-time leak check), src/debug_http.c and src/metrics.c (the debug
 * endpoint and its Prometheus text).
 */
#ifndef ROOST_OBS_H
#define ROOST_OBS_H

#include "roost.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- counts */

/* Why a parked task waits. */
enum roost_wait_reason {
    ROOST_WAIT_NONE = 0, /* not parked */
    ROOST_WAIT_CHAN_SEND,
    ROOST_WAIT_CHAN_RECV,
    ROOST_WAIT_SELECT,
    ROOST_WAIT_SLEEP,
    ROOST_WAIT_MUTEX,
    ROOST_WAIT_RWMUTEX_R,
    ROOST_WAIT_RWMUTEX_W,
    ROOST_WAIT_COND,
    ROOST_WAIT_WAITGROUP,
    ROOST_WAIT_ONCE,
    ROOST_WAIT_CTX,
    ROOST_WAIT_IO,
    ROOST_WAIT_CHAN_SEND_NIL, /* a send on a nil (NULL) channel: until its context ends */
    ROOST_WAIT_CHAN_RECV_NIL, /* a receive on a nil (NULL) channel: until its context ends */
    ROOST_WAIT__COUNT
};
/* "chan send", "chan receive", "select", ... (Go's wording); never NULL. */
const char *roost_wait_reason_name(int reason);

enum roost_task_state { ROOST_TASK_RUNNABLE = 0, ROOST_TASK_RUNNING, ROOST_TASK_PARKED, ROOST_TASK_DEAD };
const char *roost_task_state_name(int state);

typedef struct roost_counts {
    int64_t alive;                        /* spawned and not yet returned */
    int64_t running, runnable, parked;    /* alive = running + runnable + parked */
    int64_t created, exited;              /* totals since start */
    int64_t by_reason[ROOST_WAIT__COUNT]; /* parked tasks by wait reason */
} roost_counts_t;

/* Fill *out (NULL: nothing). Cost: a few loads per worker, whatever the number of tasks.
 * The figures are read without stopping anything, so under load they can be
 * off by the tasks that were changing state during the read (never negative). */
void roost_counts(roost_counts_t *out);

/* Spawn sites. Each roost_go call site is one site, registered on its first
 * spawn. */
typedef struct roost_site_info {
    const char *file, *func;
    int line;
    int64_t alive, created;
} roost_site_info_t;

/* Copy up to max sites into out; returns the number of sites that exist.
 * out may be NULL (whatever max says) to ask for that number alone.
 * O(sites x workers). */
int roost_sites(roost_site_info_t *out, int max);

/* ---------------------------------------------------------------- task records */

#define ROOST_MAX_LABELS 4
#define ROOST_MAX_FRAMES 32

/* The calling task's labels (key/value, like pprof labels): set or replace
 * key's value (NULL value removes it). The strings are not copied: use
 * literals or strings that outlive the task. Children inherit their spawner's
 * labels. ROOST_ERANGE when ROOST_MAX_LABELS are set already; ROOST_ESTATE
 * outside a task. */
int roost_task_label(const char *key, const char *value);
/* Rename the calling task (static string). */
int roost_task_set_name(const char *name);

typedef struct roost_task_info {
    uint64_t id, parent_id;
    const char *file, *func; /* spawn site */
    int line;
    const char *name; /* NULL if none */
    int nlabels;
    const char *labels[ROOST_MAX_LABELS][2];
    int state;                       /* enum roost_task_state */
    int wait_reason;                 /* enum roost_wait_reason */
    const void *wait_obj;            /* the channel, mutex, ... waited on */
    int64_t created;                 /* roost_now() at spawn, to about 2 ms (exact: ROOST_OBSERVE=2) */
    int64_t parked_at;               /* roost_now() when it parked (to ~2 ms; see above); 0 if not parked */
    int nframes;                     /* 0 unless stacks were asked for (and the task is parked or runnable) */
    uintptr_t pcs[ROOST_MAX_FRAMES]; /* return addresses, innermost first */
} roost_task_info_t;

enum { ROOST_SNAP_STACKS = 1 };

/* A consistent copy of every live task's record (and, with ROOST_SNAP_STACKS,
 * its call stack, walked from its saved context). No worker is paused: each
 * record and stack is copied under a sequence counter and copied again if the
 * task moved meanwhile; a task that is running has no stack in the copy.
 * Stacks use frame pointers: build code you want to see in them with
 * -fno-omit-frame-pointer (roost itself is). *out is malloc'ed; free it with
 * free(). In no particular order (the order of stack slots). */
int roost_tasks_snapshot(int flags, roost_task_info_t **out, size_t *n);

/* Symbolize a return address: "function+0xoff (file:line)". Function names
 * come from each loaded module's ELF symbol table (static functions too,
 * no -rdynamic needed); file:line from the debug information, when roost
 * was built with libdw (Debian libdw-dev). Else the module and offset.
 * Results are cached per pc. Writes at most size bytes; returns the length. */
size_t roost_symbolize(uintptr_t pc, char *buf, size_t size);

/* ---------------------------------------------------------------- profiles */

enum roost_profile_format {
    ROOST_PROFILE_GROUPED =
        1,                   /* Go's goroutine profile debug=1: one entry per stack + reason, with a count */
    ROOST_PROFILE_FULL = 2,  /* debug=2: one entry per task, [chan send, 192s], spawn site */
    ROOST_PROFILE_PPROF = 3, /* profile.proto (gzip-less): `go tool pprof` reads it */
    ROOST_PROFILE_JSON = 4,
};

/* Take a task profile and write it to fd. 0, or ROOST_EINVAL for a bad
 * format or a failed write, ROOST_ENOMEM. Called from a task, a profile
 * holds the task's worker for no more than about 100 us at a time: the
 * pass over the tasks and the writing of one entry per task yield between
 * slices, and what cannot be cut (reading symbols the first time, sorting
 * the full forms) runs on the blocking pool while the task waits. What it
 * shows is what roost_tasks_snapshot shows, over a longer span: a task
 * alive throughout is in it once; one spawned or ended meanwhile may be
 * or not. */
int roost_profile_write(int fd, int format);
/* The same into a malloc'ed buffer (*len bytes; free() it). */
int roost_profile(int format, char **buf, size_t *len);

/* On signo (SIGQUIT by default: 0), write the full profile to stderr, as a Go
 * program does, then go on running (Go exits; set ROOST_SIGQUIT_EXIT=1 for
 * that). ROOST_SIGQUIT=0 in the environment turns the default handler off;
 * the runtime installs it at start-up unless the program set its own
 * handler or SIG_IGN. The dump ends with a "roost: end of task dump" line. */
int roost_profile_on_signal(int signo);

/* ---------------------------------------------------------------- monitor */

/* What an alert hook receives. The rises ("grew_by") are each figure now
 * minus its lowest sample over the growth window (the last 4 intervals when
 * growth alerts are off, or the samples so far when fewer). */
typedef struct roost_alert {
    int kind;                          /* ROOST_ALERT_THRESHOLD or ROOST_ALERT_GROWTH */
    int64_t alive;                     /* tasks alive now */
    int64_t grew_by;                   /* the rise of the total alive */
    const char *site_file, *site_func; /* GROWTH: the spawn site that grew most; THRESHOLD: the
                                * one with the most tasks alive (NULL: no site to name) */
    int site_line;
    int64_t site_grew_by;   /* that site's rise */
    int reason;             /* GROWTH: the wait reason that grew most; THRESHOLD: the one with
                                * the most tasks parked (ROOST_WAIT_NONE: none) */
    int64_t reason_grew_by; /* that reason's rise */
    const char *text;       /* one line (no newline) with the above, naming up to 3 sites and
                                * 3 reasons; valid during the call only */
} roost_alert_t;
enum { ROOST_ALERT_THRESHOLD = 1, ROOST_ALERT_GROWTH = 2 };

typedef struct roost_monitor_opts {
    int64_t interval;  /* between samples, at least 1 ms; 0: 1 s */
    int log_fd;        /* a count line per sample; -1: none; 0 is taken as stderr */
    int64_t threshold; /* alert when alive >= threshold; 0: off */
    int64_t window;    /* growth alert over this span (rounded up to whole intervals, at
                                * least 4, at most 4096 of them); 0: off */
    void (*alert)(const roost_alert_t *a, void *arg); /* NULL: write the alert line to log_fd
                                                       * (stderr if none) */
    void *alert_arg;
} roost_monitor_opts_t;

/* Start the monitor thread, or reconfigure the running one (NULL opts: the
 * defaults, a line a second on stderr). Off by default.
 *
 * Every interval, from the start on, it samples roost_counts() and
 * roost_sites() and writes, with a log_fd, a line like
 *   roost: tasks alive=123 running=2 runnable=0 parked=121 (chan send 120, sleep 1) created=5000 exited=4877
 * (only the wait reasons with parked tasks). A line that does not fit a
 * non-blocking fd, or meets a closed pipe, is dropped (no SIGPIPE). The fd
 * must stay open until the monitor is stopped or moved to another one.
 * With the bookkeeping off (ROOST_OBSERVE=0) there are no figures by site
 * or wait reason: the alerts watch the total alone.
 *
 * Threshold: the alert fires on a sample with alive >= threshold, and again
 * only after a sample below it.
 * Growth: with the last n + 1 samples s[0..n] (n = window / interval), cut
 * in four quarters, the total alive or one spawn site's alive is growing
 * when each quarter's lowest sample is below every later sample: its
 * low-water mark rose in every quarter and never came back down (noise
 * within a quarter is forgiven; a single jump, or a rise of fewer than 4, is
 * not growth). The alert fires once per episode, which ends after a whole
 * window without growth; it names the growing sites and the wait reasons
 * that rose most, with the amounts. src/monitor.c has the details.
 *
 * The hook runs on the monitor thread; it must not wait for tasks. It may
 * call roost_monitor_start (reconfigure) or roost_monitor_stop (the thread
 * exits when the hook returns). Reconfiguring with the same interval and
 * window keeps the history (and a threshold that fired stays quiet unless it
 * changed); otherwise the history starts over.
 *
 * It does not start the runtime: before the runtime starts the figures are
 * zero, and roost_shutdown stops the monitor.
 *
 * Cost: nothing on the runtime's paths; per sample O(workers x sites) reads
 * and O(sites x n) work, and 4 bytes per site per sample kept.
 * Returns 0; ROOST_EINVAL for a negative field or an interval under 1 ms;
 * ROOST_ERANGE for a window over 4096 intervals; ROOST_ENOMEM. */
int roost_monitor_start(const roost_monitor_opts_t *opts);
/* Stop the monitor and join its thread. A no-op when it is not running; safe
 * to call repeatedly. roost_shutdown calls it. From a task it holds that
 * task's worker until the current sample is done. */
void roost_monitor_stop(void);

/* ---------------------------------------------------------------- debug endpoint */

/* A live HTTP/1.1 endpoint, served by roost's own tasks (label
 * component=debug), off until enabled by this call or by ROOST_DEBUG_ADDR
 * in the environment (the runtime then starts it at start-up and says
 * "roost: debug endpoint on http://HOST:PORT/" on stderr). It serves:
 *   /debug/pprof/goroutine   the task profile on Go's path: ?debug=1
 *                            (grouped), ?debug=2 (one entry per task), no
 *                            debug: gzip'ed profile.proto, which
 *                            `go tool pprof http://HOST:PORT/debug/pprof/goroutine`
 *                            reads; ?format=json: the JSON form
 *   /debug/roost/tasks.json  the JSON form
 *   /debug/roost/summary.json counts now, and with ?groups=1 the largest
 *                            groups of tasks (spawn site, state or wait
 *                            reason, count, oldest wait)
 *   /metrics                 Prometheus text format 0.0.4 (roost_metrics_text)
 *   /                        a self-contained page: the task count over time,
 *                            and the largest groups
 * addr: "host:port" (NULL: "127.0.0.1:6060"; port 0: a free one, which
 * roost_debug_addr tells). Anything heavier than a count (a profile, the
 * metrics) is built on the blocking pool, never on a worker. Requests are
 * bounded (http_parse.h: request line 1 KB, 32 headers, head 8 KB), and so
 * is the time to send a head and read an answer (ROOST_DEBUG_TIMEOUT_MS,
 * default 10000), and the connections served at once (64; beyond, 503).
 * Returns 0; ROOST_ESTATE when it runs already; a listen error
 * (ROOST_ESYS(EADDRINUSE), ...). Starts the runtime if need be. */
int roost_debug_start(const char *addr);
/* The bound address, "host:port"; ROOST_ESTATE when not running,
 * ROOST_ERANGE when buf is too small (64 bytes always do). */
int roost_debug_addr(char *buf, size_t len);
/* Stop the endpoint: close its listener and connections, and wait for its
 * tasks to return. A no-op when it is not running. roost_shutdown calls it. */
void roost_debug_stop(void);

/* What /metrics serves, into a malloc'ed buffer (*len bytes, NUL-terminated;
 * free() it): task counts by state, wait reason and spawn site (the 20
 * sites with the most tasks alive, the rest summed under site="other"),
 * totals, leak figures, workers, scheduler and blocking-pool figures, and
 * the process's memory and CPU. 0 or ROOST_ENOMEM. Cost: O(workers x
 * sites), no snapshot. */
int roost_metrics_text(char **buf, size_t *len);

/* ---------------------------------------------------------------- leaks */

enum roost_leak_kind {
    ROOST_LEAK_CHAN = 1,      /* parked on a channel nothing else can reach (provable) */
    ROOST_LEAK_SELECT,        /* a select whose every channel is unreachable (provable) */
    ROOST_LEAK_LOCK_CYCLE,    /* tasks waiting on locks held within the set (provable) */
    ROOST_LEAK_LOCK_ORPHANED, /* waiting on a lock whose holder exited */
    ROOST_LEAK_DEADLOCK,      /* every task asleep and nothing can wake one */
    ROOST_LEAK_SUSPECT,       /* parked longer than the suspect threshold */
    ROOST_LEAK_CYCLE, /* a set of tasks only each other could wake, through channels and locks (scan) */
    ROOST_LEAK_GROUP, /* a task group dropped with tasks still running (roost_group_unref; obj: the group) */
    ROOST_LEAK_UNREACHABLE, /* parked on something no running task, thread, global or timer can
                                * reach (roost_leak_prove; obj: what the tasks wait on) */
};
const char *roost_leak_kind_name(int kind);

/* What a finding rests on (roost_leak_t.verdict). */
enum roost_leak_verdict {
    ROOST_VERDICT_REFS = 1, /* exact references: every reference left to what the tasks wait
                                * on is held by tasks that cannot run (CHAN, SELECT, CYCLE) */
    ROOST_VERDICT_LOCKS,    /* the lock chain: a cycle of holders, or a holder that exited
                                * (LOCK_CYCLE, LOCK_ORPHANED) */
    ROOST_VERDICT_RELOCK,   /* a re-lock refused with ROOST_EDEADLK: nobody is stuck (kind
                                * LOCK_CYCLE; not counted) */
    ROOST_VERDICT_DEADLOCK, /* global deadlock: every task asleep, nothing to wake one */
    ROOST_VERDICT_SUSPECT,  /* nothing proved: parked longer than the threshold */
    ROOST_VERDICT_REACH,    /* reachability: a conservative mark of the whole process from
                                * what can run found nothing that reaches what they wait on
                                * (UNREACHABLE) */
};
/* "exact references", "lock chain", "refused re-lock", "global deadlock",
 * "suspect", "reachability"; never NULL. */
const char *roost_leak_verdict_name(int verdict);

/* What to do when a leak is proved. Flags, combined:
 *   ROOST_LEAK_REPORT: write a report (tasks, wait reasons, stacks) to stderr
 *                      and count it (roost_leaks_found). On stderr, findings
 *                      are grouped by kind, spawn site and wait reason: the
 *                      first of a group in full, then one line a second
 *                      with the count of those that followed ("roost: leak:
 *                      57 more tasks leaked at story.c:224 in chan send in
 *                      the last 1s (channel unreachable)").
 *   ROOST_LEAK_WAKE:   wake the stranded tasks: their blocking call returns
 *                      ROOST_ELEAKED, so they can clean up and exit.
 *   ROOST_LEAK_ABORT:  report, then abort() (for tests).
 * The default is ROOST_LEAK_REPORT (see docs/leaks.md for why); set it with
 * this call or ROOST_LEAK=report|wake|abort|off (comma-separated). Returns
 * the previous policy. */
enum { ROOST_LEAK_OFF = 0, ROOST_LEAK_REPORT = 1, ROOST_LEAK_WAKE = 2, ROOST_LEAK_ABORT = 4 };
int roost_leak_policy(int policy);

typedef struct roost_leak {
    int kind;        /* enum roost_leak_kind */
    const void *obj; /* the channel or lock involved */
    size_t ntasks;
    const roost_task_info_t *tasks; /* the tasks this finding names for the first time, with
                                * stacks (a task is named by one finding only) */
    const char *text;               /* the report in full, as written to stderr when it is */
    int verdict;                    /* enum roost_leak_verdict */
} roost_leak_t;

/* Call fn for every finding (instead of, not as well as, writing it to
 * stderr): every one, in full; grouping and rate limits are stderr's. fn
 * runs on the leak detector's reporter thread; it must not block. */
void roost_leak_hook(void (*fn)(const roost_leak_t *leak, void *arg), void *arg);

/* Tasks proved leaked so far. Each task counts once, at its first proof:
 * a scan that meets it again, or a suspect that is proved later, does not
 * count it twice. Suspects and refused re-locks are not counted. */
int64_t roost_leaks_found(void);

/* Every live task a finding has named, with its record now (and its stack,
 * with ROOST_SNAP_STACKS): the whole list, whatever stderr left out. A task
 * woken with ROOST_ELEAKED leaves it when it exits. *out is malloc'ed (free
 * it); in no particular order. 0, ROOST_EINVAL for a NULL out or n, or
 * ROOST_ENOMEM. */
typedef struct roost_leaked_task {
    int kind;    /* the finding that named it: enum roost_leak_kind */
    int verdict; /* enum roost_leak_verdict */
    roost_task_info_t task;
} roost_leaked_task_t;
int roost_leaked_tasks(int flags, roost_leaked_task_t **out, size_t *n);

/* What the detector has done so far, and what it cost. A versioned
 * struct: fields are only ever added at the end, before `reserved`. */
typedef struct roost_leak_stats {
    int64_t proved;      /* distinct tasks proved leaked (roost_leaks_found) */
    int64_t suspects;    /* distinct tasks reported as suspects */
    int64_t reports;     /* findings delivered: to the hook, or written to stderr in full */
    int64_t folded;      /* findings written to stderr as part of a count line instead */
    int64_t lock_steps;  /* lock holders the lock-chain check followed past the first */
    int64_t probes;      /* words of possibly freed memory read through the kernel (a
                                * system call each): the lock-chain check and the scan */
    int64_t woken;       /* tasks the wake policy (ROOST_LEAK_WAKE) woke with ROOST_ELEAKED:
                                * leaks averted */
    int64_t reserved[9]; /* zero */
} roost_leak_stats_t;
void roost_leak_stats(roost_leak_stats_t *out);

/* Wait, up to timeout_ns, until every leak found so far has been reported
 * (reports are written by a reporter thread). roost_check_leaks does this
 * first, and so does the process's exit (up to 2 s). 0, or ROOST_ETIMELIMIT
 * when timeout_ns ran out first (timeout_ns <= 0: one look; past the
 * clock's range: no limit). */
int roost_leak_flush(int64_t timeout_ns);

/* Search now for leak sets the moment-of-proof checks cannot see, and for
 * suspects parked longer than suspect_ns (0: skip suspects). The search
 * marks, as Go's leak profile does, every task that could still run: the
 * running and runnable ones, those asleep on a timer or a cancellable
 * context, and from them whatever they could wake (a channel they hold a
 * reference to, a lock they hold); channels with references roost cannot
 * attribute count as reachable. The parked tasks left unmarked only each
 * other could wake (ROOST_LEAK_CYCLE; with no task marked at all and no
 * timer pending, ROOST_LEAK_DEADLOCK). Findings are reported (and abort
 * under ROOST_LEAK_ABORT) but never woken: a scan is not a moment of proof.
 * Returns the number of tasks found that no finding had named before (a
 * task is reported once, whoever finds it). */
int64_t roost_leak_scan(int64_t suspect_ns);

/* roost_leak_scan, with what it found told apart. Only tasks no finding
 * named before count. Returns proved + suspects. */
typedef struct roost_leak_scan_result {
    int64_t proved;      /* tasks only each other could wake, or a global deadlock */
    int64_t suspects;    /* tasks parked longer than suspect_ns, nothing proved */
    int64_t reserved[6]; /* zero */
} roost_leak_scan_result_t;
int64_t roost_leak_scan_detail(int64_t suspect_ns, roost_leak_scan_result_t *out);

/* The reachability proof: Go's goroutine leak profile, conservatively, in C.
 * With every thread of the process stopped for a moment, it marks memory
 * from what can run: every thread's stack and registers, the running and
 * runnable tasks' stacks, every writable mapping that is not the malloc
 * heap or a task stack (globals of every module, other allocators), and,
 * through them, the malloc heap, chunk by chunk (any word that points into
 * a chunk, interior or low-bit tagged, marks it). A parked task joins the
 * roots once what it waits on (a channel, a select's channels, a lock,
 * a condition, a wait group, its cancellable context) is marked; a task
 * asleep on a timer or I/O is a root. The parked tasks never reached are
 * leaked: reported as ROOST_LEAK_UNREACHABLE with ROOST_VERDICT_REACH,
 * and, under ROOST_LEAK_WAKE, those waiting on channels or a select are
 * woken with ROOST_ELEAKED. No annotation (roost_chan_adopt) is needed.
 * docs/leaks.md gives the design, what it costs and what can hide a
 * pointer from it (a pointer stored XOR-ed or compressed, or held only by
 * the kernel or another process, is not seen: the task may be proved
 * wrongly).
 *
 * It needs glibc's malloc (the heap is walked), or a build with ASan or
 * TSan (the chunks come from their malloc hooks; under TSan its own sync
 * objects reach every channel, so it runs but proves little): under
 * valgrind or another allocator, and when a thread blocks ROOST_STOP_SIGNAL
 * (SIGRTMAX - 3; the runtime's threads leave it open) or the signal has a
 * handler of the program's, it proves nothing and says why. Set
 * ROOST_LEAK_PROVE=<seconds> to have a thread run it on that period.
 *
 * The other threads are stopped only while the process forks a
 * copy-on-write snapshot (stop_ns; it grows with the resident pages); the
 * mark runs in that child while the program goes on, and the caller
 * blocks until it answers (total_ns; walk_ns and mark_ns are the child's
 * two phases), not until it has exited. ROOST_REACH_FORK=0, a fork that
 * fails, or TSan marks in place with the threads stopped throughout.
 *
 * Fills *out (NULL: nothing). Returns 0 when the proof ran, ROOST_EAGAIN
 * when it could not (out->reason says why; the heap was changing, a thread
 * did not stop), ROOST_ENOMEM. */
typedef struct roost_leak_proof {
    int available;       /* 1: the proof ran */
    const char *reason;  /* why not (a static string), or NULL */
    int64_t parked;      /* parked tasks looked at */
    int64_t leaked;      /* of them, proved leaked (whether or not named before) */
    int64_t reported;    /* of those, named by no finding before: reported now */
    int64_t woken;       /* of those, woken with ROOST_ELEAKED (policy wake) */
    int64_t threads;     /* threads stopped, the caller's not counted */
    int64_t chunks;      /* malloc chunks in use, as walked */
    int64_t marked;      /* of them, reached */
    int64_t heap_bytes;  /* bytes of the malloc heap walked */
    int64_t root_bytes;  /* bytes read as roots */
    int64_t stop_ns;     /* how long the other threads were stopped */
    int64_t total_ns;    /* the whole call */
    int64_t walk_ns;     /* of it, finding the roots, the tasks and the heap's chunks */
    int64_t mark_ns;     /* of it, the mark */
    int64_t reserved[6]; /* zero */
} roost_leak_proof_t;
int roost_leak_prove(roost_leak_proof_t *out);

/* The test helper (Go's goleak.VerifyNone): wait up to timeout_ns for the
 * live tasks to drop to `expected` (the caller, if a task, is not counted),
 * then write each task left (spawn site, wait reason, how long, stack) to fd
 * and return how many there are (0: none leaked). Works from any test
 * framework: fail the test when it returns non-zero. */
int64_t roost_check_leaks(int64_t expected, int64_t timeout_ns, int fd);

#ifdef __cplusplus
}
#endif
#endif
