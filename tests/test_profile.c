/* test_profile.c - task profiles (src/profile.c): symbolization, the
 * grouped, full, JSON and pprof forms, and the SIGQUIT dump.
 *
 * Tasks park at two spawn sites: senders on a channel nobody receives from
 * (spawn_senders) and receivers, named and labelled, on one nobody sends to
 * (spawn_receivers). Closing both channels sends them home.
 *
 * Modes for tests/pprof_test.sh and for the SIGQUIT cases that need a fresh
 * process (the default handler is installed once, at runtime start):
 *   test_profile --write grouped|full|json|pprof FILE
 *   test_profile --child exit|off|own
 */
#include "check.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>

extern char **environ;

#define NOTAIL() __asm__ volatile("" ::: "memory") /* keep the caller's frame: no tail calls */

static const char *self_path;

/* ------------------------------------------------------------ parked tasks */

static __attribute__((noinline)) void send_deep(roost_chan_t *ch) {
    int v = 1;
    CHECK_ERR(roost_chan_send(NULL, ch, &v), ROOST_ECLOSED);
    NOTAIL();
}

static void parked_sender(void *arg) {
    send_deep(arg);
    NOTAIL();
}

static __attribute__((noinline)) void recv_deep(roost_chan_t *ch) {
    int v;
    CHECK_ERR(roost_chan_recv(NULL, ch, &v), ROOST_ECLOSED);
    NOTAIL();
}

static void parked_receiver(void *arg) {
    CHECK_OK(roost_task_set_name("reader"));
    recv_deep(arg);
    NOTAIL();
}

static __attribute__((noinline)) void spawn_senders(roost_chan_t *ch, int n) {
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(parked_sender, ch));
}

/* The children inherit the label set here. */
static __attribute__((noinline)) void spawn_receivers(roost_chan_t *ch, int n) {
    CHECK_OK(roost_task_label("role", "reader"));
    for (int i = 0; i < n; i++) CHECK_OK(roost_go(parked_receiver, ch));
    CHECK_OK(roost_task_label("role", NULL));
}

typedef struct {
    roost_chan_t *send_ch, *recv_ch;
    int nsend, nrecv;
} parked;

static void wait_parked(int reason, int64_t n) {
    int64_t end = roost_now() + 10 * ROOST_S * check_slack();
    roost_counts_t c;
    do {
        roost_sleep(NULL, ROOST_MS);
        roost_counts(&c);
    } while (c.by_reason[reason] < n && roost_now() < end);
    CHECK_EQ(c.by_reason[reason], n);
}

static void park_all(parked *p, int nsend, int nrecv) {
    p->nsend = nsend, p->nrecv = nrecv;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &p->send_ch));
    CHECK_OK(roost_chan_make(sizeof(int), 0, &p->recv_ch));
    spawn_senders(p->send_ch, nsend);
    spawn_receivers(p->recv_ch, nrecv);
    wait_parked(ROOST_WAIT_CHAN_SEND, nsend);
    wait_parked(ROOST_WAIT_CHAN_RECV, nrecv);
}

static void release_all(parked *p) {
    CHECK_OK(roost_chan_close(p->send_ch));
    CHECK_OK(roost_chan_close(p->recv_ch));
    CHECK_OK(roost_wait_tasks(0, 10 * ROOST_S * check_slack()));
    roost_chan_unref(p->send_ch);
    roost_chan_unref(p->recv_ch);
}

static char *profile(int format, size_t *lenp) {
    char *buf;
    size_t len;
    CHECK_OK(roost_profile(format, &buf, &len));
    CHECK(buf != NULL);
    CHECK_GT(len, 0);
    char *s = malloc(len + 1); /* a copy with a NUL after it, to search */
    CHECK(s != NULL);
    memcpy(s, buf, len);
    s[len] = 0;
    free(buf);
    if (lenp) *lenp = len;
    return s;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ------------------------------------------------------------ symbolize */

static void t_symbolize(void *unused) {
    char buf[512];
    /* A return address one byte into send_deep: a static function, found
     * in the executable's .symtab. */
    size_t n = roost_symbolize((uintptr_t)&send_deep + 1, buf, sizeof buf);
    CHECK_EQ(n, strlen(buf));
    CHECK_MSG(strncmp(buf, "send_deep+0x1", 13) == 0, "symbolize: %s", buf);
    /* With line information (libdw), the file is this one. */
    if (strchr(buf, '(')) CHECK_MSG(strstr(buf, "test_profile.c:") != NULL, "symbolize: %s", buf);
    n = roost_symbolize((uintptr_t)&getpid + 1, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "getpid") != NULL, "symbolize: %s", buf);
    /* No module: the bare pc. */
    n = roost_symbolize(0x10, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, "0x10") == 0, "symbolize: %s", buf);
    /* Truncated, still terminated, length of what was written. */
    n = roost_symbolize((uintptr_t)&send_deep + 1, buf, 6);
    CHECK_EQ(n, 5);
    CHECK_EQ(strlen(buf), 5);
    CHECK_EQ(roost_symbolize((uintptr_t)&send_deep + 1, buf, 0), 0);
}

/* Many threads symbolize the same pcs at once: one answer each (TSan
 * watches the caches). */
static uintptr_t sym_pcs[4];
static char sym_want[4][256];

static void *sym_thread(void *arg) {
    (void)arg;
    char buf[256];
    for (int i = 0; i < SCALE(2000, 100); i++) {
        int k = i % 4;
        roost_symbolize(sym_pcs[k], buf, sizeof buf);
        CHECK_MSG(strcmp(buf, sym_want[k]) == 0, "%s vs %s", buf, sym_want[k]);
    }
    return NULL;
}

static void t_symbolize_threads(void *unused) {
    sym_pcs[0] = (uintptr_t)&send_deep + 3;
    sym_pcs[1] = (uintptr_t)&recv_deep + 5;
    sym_pcs[2] = (uintptr_t)&spawn_senders + 7;
    sym_pcs[3] = (uintptr_t)&getpid + 1;
    for (int k = 0; k < 4; k++) roost_symbolize(sym_pcs[k], sym_want[k], sizeof sym_want[k]);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) CHECK_EQ(pthread_create(&th[i], NULL, sym_thread, NULL), 0);
    for (int i = 0; i < 4; i++) CHECK_EQ(pthread_join(th[i], NULL), 0);
}

/* ------------------------------------------------------------ formats */

static void t_errors(void *unused) {
    char *buf;
    size_t len;
    CHECK_ERR(roost_profile(0, &buf, &len), ROOST_EINVAL);
    CHECK_ERR(roost_profile(99, &buf, &len), ROOST_EINVAL);
    CHECK_ERR(roost_profile(ROOST_PROFILE_GROUPED, NULL, &len), ROOST_EINVAL);
    CHECK_ERR(roost_profile(ROOST_PROFILE_GROUPED, &buf, NULL), ROOST_EINVAL);
    CHECK_ERR(roost_profile_write(-1, ROOST_PROFILE_GROUPED), ROOST_EINVAL);
    CHECK_ERR(roost_profile_on_signal(-3), ROOST_EINVAL);
    CHECK_ERR(roost_profile_on_signal(SIGKILL), ROOST_EINVAL);
}

/* The entries of the grouped profile whose wait line starts with `what`:
 * the sum of their counts, and the text of the first (up to the blank
 * line) in *entry. One site can make more than one entry: the library may
 * park on more than one path (the first parker of a channel, say), and
 * every path is its own stack. */
static long grouped_entry(const char *prof, const char *what, char **entry) {
    const char *p = prof;
    long sum = -1;
    *entry = NULL;
    while ((p = strstr(p, " @"))) {
        const char *start = p;
        while (start > prof && start[-1] != '\n') start--;
        const char *end = strstr(p, "\n\n");
        if (!end) end = p + strlen(p);
        const char *w = strchr(p, '\n');
        if (w && w < end && strncmp(w + 1, what, strlen(what)) == 0) {
            if (!*entry) *entry = strndup(start, (size_t)(end - start));
            sum = (sum < 0 ? 0 : sum) + strtol(start, NULL, 10);
        }
        p = end;
    }
    return sum;
}

static void t_grouped(void *unused) {
    parked p;
    int ns = SCALE(30, 5), nr = SCALE(20, 4);
    park_all(&p, ns, nr);
    char *prof = profile(ROOST_PROFILE_GROUPED, NULL);
    long total = -1;
    CHECK_EQ(sscanf(prof, "task profile: total %ld", &total), 1);
    CHECK_GE(total, ns + nr + 1); /* and us */

    char *e;
    long n = grouped_entry(prof, "# chan send; created by spawn_senders at ", &e);
    CHECK_MSG(n == ns, "senders: %ld, want %d in\n%s", n, ns, prof);
    CHECK_MSG(strstr(e, "test_profile.c:") && strstr(e, "\tsend_deep+0x") && strstr(e, "\tparked_sender+0x"),
              "sender entry:\n%s", e);
    CHECK(!strstr(e, "# labels:"));
    free(e);

    n = grouped_entry(prof, "# chan receive; created by spawn_receivers at ", &e);
    CHECK_MSG(n == nr, "receivers: %ld, want %d in\n%s", n, nr, prof);
    CHECK_MSG(strstr(e, "\trecv_deep+0x") && strstr(e, "\tparked_receiver+0x"), "receiver entry:\n%s", e);
    CHECK_MSG(strstr(e, "\n# labels: {role=reader}\n"), "receiver entry:\n%s", e);
    /* "COUNT @ pc pc ..." then one "#\tpc\tfunc+off" line per pc */
    int npcs = 0;
    for (const char *q = strchr(e, '@') + 1; *q == ' '; npcs++) q = strpbrk(q + 1, " \n");
    CHECK_GE(npcs, 3);
    CHECK_EQ(count_of(e, "\n#\t0x"), npcs);
    free(e);
    /* Sorted by count, largest first. */
    long last = -1;
    for (const char *q = prof; (q = strstr(q, " @")); q++) {
        const char *start = q;
        while (start > prof && start[-1] != '\n') start--;
        long c = strtol(start, NULL, 10);
        CHECK(last < 0 || c <= last);
        last = c;
    }
    free(prof);
    release_all(&p);
}

static void t_full(void *unused) {
    parked p;
    park_all(&p, 3, 2);
    roost_sleep(NULL, 50 * ROOST_MS);
    char *prof = profile(ROOST_PROFILE_FULL, NULL);
    CHECK_MSG(count_of(prof, "[chan send, ") == 3, "%s", prof);
    CHECK_MSG(count_of(prof, "\"reader\" [chan receive, ") == 2, "%s", prof);
    CHECK_EQ(count_of(prof, "] {role=reader}:\n"), 2);
    CHECK_EQ(count_of(prof, "created by spawn_senders at "), 3);
    CHECK_EQ(count_of(prof, "created by spawn_receivers at "), 2);
    CHECK_EQ(count_of(prof, " (task "), 5);
    CHECK_EQ(count_of(prof, " (from a thread)\n"), 1); /* roost_run's task: us */
    CHECK_GE(count_of(prof, " send_deep+0x"), 3);
    /* the wait, in seconds: at least the 50 ms slept, well under a minute */
    const char *q = strstr(prof, "[chan send, ");
    double s = -1;
    char unit = 0, closing = 0;
    CHECK_EQ(sscanf(q, "[chan send, %lf%c%c", &s, &unit, &closing), 3);
    CHECK_EQ(unit, 's');
    CHECK_EQ(closing, ']');
    CHECK_MSG(s >= 0.0 && s < 60, "waited %f s", s);
    /* one entry per task, in id order */
    long total = -1;
    CHECK_EQ(sscanf(prof, "task profile: total %ld", &total), 1);
    CHECK_EQ(count_of(prof, "\ntask "), total);
    unsigned long long last = 0, id;
    for (const char *t = prof; (t = strstr(t, "\ntask ")); t++) {
        CHECK_EQ(sscanf(t, "\ntask %llu", &id), 1);
        CHECK_GT(id, last);
        last = id;
    }
    free(prof);

    /* roost_profile_write: the same to a file. */
    char path[] = "/tmp/roost-profile-XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    unlink(path);
    CHECK_OK(roost_profile_write(fd, ROOST_PROFILE_FULL));
    off_t size = lseek(fd, 0, SEEK_CUR);
    CHECK_GT(size, 100);
    close(fd);
    release_all(&p);
}

/* Balanced braces and brackets outside strings, and valid escapes: the
 * JSON's structure (tests/pprof_test.sh parses it with python3 as well). */
static void check_json_shape(const char *s) {
    int depth = 0;
    bool in_str = false;
    for (const char *p = s; *p; p++) {
        if (in_str) {
            CHECK((unsigned char)*p >= 0x20);
            if (*p == '\\') {
                p++;
                CHECK(strchr("\"\\/bfnrtu", *p) != NULL);
            } else if (*p == '"') {
                in_str = false;
            }
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            CHECK_GT(depth, 0);
            depth--;
        }
    }
    CHECK(!in_str);
    CHECK_EQ(depth, 0);
}

static const char *odd_label = "quote\" backslash\\ tab\t nl\n ctl\x01 end";

static void labelled_receiver(void *arg) {
    CHECK_OK(roost_task_label("odd", odd_label));
    recv_deep(arg);
    NOTAIL();
}

static void t_json(void *unused) {
    parked p;
    park_all(&p, 2, 3);
    CHECK_OK(roost_go(labelled_receiver, p.recv_ch));
    wait_parked(ROOST_WAIT_CHAN_RECV, 4);
    char *prof = profile(ROOST_PROFILE_JSON, NULL);
    check_json_shape(prof);
    long total = -1;
    CHECK_EQ(sscanf(prof, "{\"total\":%ld", &total), 1);
    CHECK_EQ(count_of(prof, "{\"id\":"), total);
    CHECK_EQ(count_of(prof, "\"state\":\"parked\",\"wait_reason\":\"chan send\",\"waiting_s\":"), 2);
    CHECK_EQ(count_of(prof, "\"wait_reason\":\"chan receive\""), 4);
    CHECK_EQ(count_of(prof, "\"name\":\"reader\""), 3);
    CHECK_EQ(count_of(prof, "\"labels\":{\"role\":\"reader\"}"), 3);
    CHECK_MSG(strstr(prof, "\"odd\":\"quote\\\" backslash\\\\ tab\\t nl\\n ctl\\u0001 end\""), "%s", prof);
    CHECK_EQ(count_of(prof, "\"func\":\"spawn_senders\""), 2);
    CHECK_GE(count_of(prof, "\"func\":\"send_deep\""), 2);
    CHECK(strstr(prof, "\"stack\":[{\"pc\":\"0x"));
    free(prof);
    release_all(&p);
}

/* A few fields of the protobuf, decoded just enough to count samples and
 * find the strings; go tool pprof reads it for real in pprof_test.sh. */
static uint64_t pb_varint_at(const unsigned char **p, const unsigned char *end) {
    uint64_t v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    CHECK_MSG(0, "bad varint");
}

static void t_pprof(void *unused) {
    parked p;
    park_all(&p, 4, 3);
    size_t len;
    char *prof = profile(ROOST_PROFILE_PPROF, &len);
    const unsigned char *q = (const unsigned char *)prof, *end = q + len;
    int samples = 0, strings = 0, locations = 0, functions = 0;
    bool saw_send_deep = false, saw_reason = false, saw_role = false;
    while (q < end) {
        uint64_t key = pb_varint_at(&q, end);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 0) {
            pb_varint_at(&q, end);
            continue;
        }
        CHECK_EQ(wire, 2);
        uint64_t n = pb_varint_at(&q, end);
        CHECK_LE(n, (uint64_t)(end - q));
        if (field == 2) samples++;
        if (field == 4) locations++;
        if (field == 5) functions++;
        if (field == 6) {
            if (strings++ == 0) CHECK_EQ(n, 0); /* string_table[0] is "" */
            if (n == 9 && memcmp(q, "send_deep", 9) == 0) saw_send_deep = true;
            if (n == 12 && memcmp(q, "chan receive", 12) == 0) saw_reason = true;
            if (n == 4 && memcmp(q, "role", 4) == 0) saw_role = true;
        }
        q += n;
    }
    CHECK_GE(samples, 2);
    CHECK_GE(locations, 3);
    CHECK_GE(functions, 3);
    CHECK(saw_send_deep && saw_reason && saw_role);
    free(prof);
    release_all(&p);
}

/* Many tasks, few stacks: one entry per site, whatever the count; printed
 * for scale (bench/profile100k measures it properly). */
static void t_grouped_many(void *unused) {
    parked p;
    int ns = SCALE(20000, 300);
    park_all(&p, ns, 1);
    int64_t t0 = roost_now();
    char *prof = profile(ROOST_PROFILE_GROUPED, NULL);
    int64_t dt = check_since(t0);
    printf("grouped profile of %d parked tasks: %.1f ms, %zu bytes\n", ns + 2, (double)dt / 1e6,
           strlen(prof));
    char *e;
    CHECK_EQ(grouped_entry(prof, "# chan send; created by spawn_senders at ", &e), ns);
    free(e);
    CHECK_LT(dt, 2 * ROOST_S * check_slack());
    free(prof);
    release_all(&p);
}

/* ------------------------------------------------------------ SIGQUIT */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *s = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            s = realloc(s, cap);
            CHECK(s != NULL);
        }
        size_t r = fread(s + len, 1, cap - len - 1, f);
        if (!r) break;
        len += r;
    }
    fclose(f);
    s[len] = 0;
    return s;
}

/* raise(SIGQUIT) in this process, stderr into a file, until the dump's
 * last line shows up. */
static void t_sigquit(void *unused) {
    struct sigaction sa;
    CHECK_EQ(sigaction(SIGQUIT, NULL, &sa), 0);
    if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN) {
        /* started with SIGQUIT ignored (in the background): the default
         * handler stayed out; install it by hand. The --child cases below
         * check the default itself. */
        printf("SIGQUIT was %s at start; installing the handler by hand\n",
               sa.sa_handler == SIG_IGN ? "ignored" : "default");
        CHECK_OK(roost_profile_on_signal(0));
    }
    parked p;
    park_all(&p, 2, 1);
    char path[] = "/tmp/roost-sigquit-XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK_GE(saved, 0);
    CHECK_EQ(dup2(fd, 2), 2);
    CHECK_EQ(raise(SIGQUIT), 0);
    char *out = NULL;
    int64_t end = roost_now() + 10 * ROOST_S * check_slack();
    do {
        roost_sleep(NULL, 5 * ROOST_MS);
        free(out);
        out = read_file(path);
    } while (!strstr(out, "roost: end of task dump\n") && roost_now() < end);
    CHECK_EQ(dup2(saved, 2), 2);
    close(saved);
    close(fd);
    unlink(path);
    CHECK_MSG(strstr(out, "SIGQUIT: quit\n"), "dump:\n%s", out);
    CHECK_MSG(strstr(out, "roost: end of task dump\n"), "dump:\n%s", out);
    CHECK_EQ(count_of(out, "[chan send, "), 2);
    CHECK_EQ(count_of(out, "created by spawn_receivers at "), 1);
    free(out);
    release_all(&p);
}

/* Run this program again as `--child mode` with one more environment
 * variable; its output in *out. Returns the wait status, or -1 if it could
 * not be started (an emulator without binfmt, say). */
static int run_child(const char *mode, const char *env, char **out) {
    char path[] = "/tmp/roost-child-XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    close(fd);
    size_t ne = 0;
    while (environ[ne]) ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    CHECK(envp != NULL);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "ROOST_SIGQUIT", 13) != 0) envp[k++] = environ[i];
    if (env) envp[k++] = (char *)env;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_TRUNC, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGQUIT);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &def); /* whatever our own parent did with SIGQUIT */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char *argv[] = {(char *)self_path, "--child", (char *)mode, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self_path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    int status = -1;
    if (rc == 0) {
        while (waitpid(pid, &status, 0) < 0) CHECK_EQ(errno, EINTR);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) status = -1;
    }
    *out = read_file(path);
    unlink(path);
    return status;
}

static void t_sigquit_children(void *unused) {
    char *out;
    /* ROOST_SIGQUIT_EXIT=1: dump, then exit(2) as Go does. */
    int st = run_child("exit", "ROOST_SIGQUIT_EXIT=1", &out);
    if (st == -1) {
        printf("skip: cannot run %s again here\n", self_path);
        free(out);
        return;
    }
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %#x, output:\n%s", st, out);
    /* Only the dump itself: a slow child (sanitizers) may also have met the
     * deadlock watch, whose report lists the same task. */
    char *from = strstr(out, "SIGQUIT: quit\n"), *to = strstr(out, "roost: end of task dump\n");
    CHECK_MSG(from && to && from < to, "output:\n%s", out);
    *to = 0;
    CHECK_MSG(count_of(from, "[chan send, ") == 1 && count_of(from, "created by spawn_senders at ") == 1,
              "output:\n%s", out);
    free(out);
    /* ROOST_SIGQUIT=0: no handler goes in. */
    st = run_child("off", "ROOST_SIGQUIT=0", &out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, output:\n%s", st, out);
    free(out);
    /* The program's own handler stays. */
    st = run_child("own", NULL, &out);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x, output:\n%s", st, out);
    CHECK_MSG(!strstr(out, "task dump"), "output:\n%s", out);
    free(out);
}

/* ------------------------------------------------------------ modes */

static volatile sig_atomic_t own_handler_ran;
static void own_handler(int sig) {
    (void)sig;
    own_handler_ran = 1;
}

static int child_main(const char *mode) {
    if (strcmp(mode, "own") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = own_handler;
        sigemptyset(&sa.sa_mask);
        CHECK_EQ(sigaction(SIGQUIT, &sa, NULL), 0);
    }
    check_init_workers(2);
    struct sigaction now;
    CHECK_EQ(sigaction(SIGQUIT, NULL, &now), 0);
    if (strcmp(mode, "off") == 0) {
        CHECK(now.sa_handler == SIG_DFL);
        return 0;
    }
    if (strcmp(mode, "own") == 0) {
        CHECK(now.sa_handler == own_handler);
        CHECK_EQ(raise(SIGQUIT), 0);
        CHECK_EQ(own_handler_ran, 1);
        return 0;
    }
    CHECK(strcmp(mode, "exit") == 0);
    roost_chan_t *ch;
    CHECK_OK(roost_chan_make(sizeof(int), 0, &ch));
    spawn_senders(ch, 1);
    for (roost_counts_t c;; usleep(1000)) {
        roost_counts(&c);
        if (c.by_reason[ROOST_WAIT_CHAN_SEND] >= 1) break;
    }
    prctl(PR_SET_DUMPABLE, 0); /* should it die of the signal after all: no core file */
    CHECK_EQ(raise(SIGQUIT), 0);
    sleep(30); /* the dumper exits the process */
    return 1;
}

static int write_format;
static const char *write_path;

static void write_body(void *unused) {
    parked p;
    park_all(&p, 7, 3);
    int fd = open(write_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_GE(fd, 0);
    CHECK_OK(roost_profile_write(fd, write_format));
    CHECK_EQ(close(fd), 0);
    release_all(&p);
}

static int write_main(const char *fmt, const char *path) {
    write_format = strcmp(fmt, "grouped") == 0 ? ROOST_PROFILE_GROUPED
                   : strcmp(fmt, "full") == 0  ? ROOST_PROFILE_FULL
                   : strcmp(fmt, "json") == 0  ? ROOST_PROFILE_JSON
                   : strcmp(fmt, "pprof") == 0 ? ROOST_PROFILE_PPROF
                                               : 0;
    CHECK_MSG(write_format, "unknown format %s", fmt);
    write_path = path;
    check_init_workers(2);
    CHECK_OK(roost_run(write_body, NULL));
    check_no_leaks();
    return 0;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "--child") == 0) return child_main(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--write") == 0) return write_main(argv[2], argv[3]);
    check_init_workers(4);
    RUN(t_symbolize);
    RUN(t_symbolize_threads);
    RUN(t_errors);
    RUN(t_grouped);
    RUN(t_full);
    RUN(t_json);
    RUN(t_pprof);
    RUN(t_grouped_many);
    RUN(t_sigquit);
    RUN(t_sigquit_children);
    check_no_leaks();
    return 0;
}
