/* debug_scrape: what the debug endpoint costs with 100,000 live tasks: the
 * time to answer a /metrics scrape and a /debug/pprof/goroutine?debug=1
 * request, and the longest any worker went without running a task while it
 * was answered; and what the endpoint costs when nobody asks. As
 * bench/go/debug_scrape/main.go (net/http/pprof, and a /metrics written
 * from runtime/metrics, which is what a Go program's Prometheus client
 * reads).
 *
 * 100,000 tasks park receiving on one channel from three spawn sites at
 * three stack depths (as profile100k). Two tasks per worker loop on
 * roost_yield(), stamping roost_now() into a slot of the worker they run
 * on; the largest gap between one worker's consecutive stamps is the
 * longest it ran no task. The client is a plain thread with blocking
 * sockets, as an outside scraper is: it sends the request on a new
 * connection and reads the answer to the end. Every worker is watched:
 * the endpoint builds its answers on the blocking pool, so none of them
 * should be held. For each of REPS requests: the largest gap while it was
 * answered minus the largest over an equal period right after without one
 * (the scheduler's and the machine's own noise), or 0; the stall figures
 * are the median and the largest of those. On a machine shared with other
 * work those gaps are mostly the machine's: so the *_held figures take out
 * of each gap the time the worker thread spent runnable but waiting for a
 * CPU (the kernel's schedstat run delay), which leaves the time a worker
 * had a CPU and still ran no task: what roost itself can cause.
 *
 * Idle: the CPU time the process uses over IDLE_MS with the endpoint
 * started and nobody connected, against the same span before it was
 * started; and the resident memory a start added (the first start also
 * pages in the endpoint's code: reported apart).
 *
 * Prints: metrics_ms <best> metrics_stall_ms <median> metrics_stall_max_ms <max>
 *         goroutine1_ms <best> goroutine1_stall_ms <median> goroutine1_stall_max_ms <max>
 *         metrics_bytes <n> goroutine1_bytes <n> idle_cpu_ms <with> idle_cpu_base_ms <without>
 *         idle_rss_kb <a start added> idle_rss_first_kb <the first start added>
 *         groups_ms, groups_stall_ms, groups_stall_max_ms: /debug/roost/summary.json?groups=1
 *         {metrics,goroutine1,groups}_held_ms, _held_max_ms: the stalls less CPU waits
 *         tasks <n> workers <n>
 */
#include "bench.h"
#include "roost_obs.h"
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#define N 100000
#define REPS 5
#define MAXW 256
#define YIELDERS_PER_WORKER 2
#define IDLE_MS 2000

static roost_waitgroup_t started = ROOST_WAITGROUP_INIT;
static roost_waitgroup_t yielders_done = ROOST_WAITGROUP_INIT;

/* ------------------------------------------------------------ parked tasks */

static __attribute__((noinline)) void wait_closed(roost_chan_t *ch) {
    EXPECT(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
}
static __attribute__((noinline)) void depth3(roost_chan_t *ch) {
    wait_closed(ch);
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void depth2(roost_chan_t *ch) {
    depth3(ch);
    __asm__ volatile("" ::: "memory");
}
static void parked_a(void *p) {
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    EXPECT(roost_chan_recv(NULL, ch, NULL), ROOST_ECLOSED);
    roost_chan_unref(ch);
}
static void parked_b(void *p) {
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    wait_closed(ch);
    roost_chan_unref(ch);
}
static void parked_c(void *p) {
    roost_chan_t *ch = p;
    CHECK(roost_waitgroup_done(&started));
    depth2(ch);
    roost_chan_unref(ch);
}

/* ------------------------------------------------------------ stall probes */

typedef struct {
    _Atomic int64_t last, maxgap;     /* the raw gaps */
    _Atomic int64_t last_rd, maxheld; /* the same less the time spent waiting for a CPU */
    int fd;                           /* this worker thread's /proc/thread-self/schedstat, or -1 */
    char pad[20];
} slot_t;
static slot_t slots[MAXW];
static atomic_int nslots, measuring, stop;
static __thread int tl_slot = -1;

static __attribute__((noipa)) int slot_index(void) {
    if (tl_slot < 0) {
        int i = atomic_fetch_add(&nslots, 1);
        if (i >= MAXW) FAILX("debug_scrape: more than %d worker threads", MAXW);
        slots[i].fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        tl_slot = i;
    }
    return tl_slot;
}

/* The kernel's count of the time this thread spent runnable but waiting
 * for a CPU (schedstat's second field, ns); 0 without it. */
static int64_t run_delay(const slot_t *s) {
    char b[96];
    ssize_t n = s->fd >= 0 ? pread(s->fd, b, sizeof b - 1, 0) : -1;
    if (n <= 0) return 0;
    b[n] = '\0';
    unsigned long long cpu, rd;
    return sscanf(b, "%llu %llu", &cpu, &rd) == 2 ? (int64_t)rd : 0;
}

static void yielder(void *unused) {
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        slot_t *s = &slots[slot_index()];
        int64_t now = roost_now(), rd = run_delay(s);
        int64_t last = atomic_load_explicit(&s->last, memory_order_relaxed);
        if (last && atomic_load_explicit(&measuring, memory_order_relaxed)) {
            int64_t gap = now - last;
            if (gap > atomic_load_explicit(&s->maxgap, memory_order_relaxed))
                atomic_store_explicit(&s->maxgap, gap, memory_order_relaxed);
            int64_t held = gap - (rd - atomic_load_explicit(&s->last_rd, memory_order_relaxed));
            if (held > atomic_load_explicit(&s->maxheld, memory_order_relaxed))
                atomic_store_explicit(&s->maxheld, held, memory_order_relaxed);
        }
        atomic_store_explicit(&s->last, now, memory_order_relaxed);
        atomic_store_explicit(&s->last_rd, rd, memory_order_relaxed);
        CHECK(roost_yield());
    }
    CHECK(roost_waitgroup_done(&yielders_done));
}

static void measure_begin(void) {
    int n = atomic_load(&nslots);
    for (int i = 0; i < n; i++) atomic_store(&slots[i].maxgap, 0), atomic_store(&slots[i].maxheld, 0);
    atomic_store(&measuring, 1);
}

/* The largest raw gap; *held: the largest gap less the CPU wait in it. */
static int64_t measure_end(int64_t *held) {
    atomic_store(&measuring, 0);
    int64_t m = 0, h = 0;
    for (int i = 0, n = atomic_load(&nslots); i < n; i++) {
        int64_t g = atomic_load(&slots[i].maxgap), k = atomic_load(&slots[i].maxheld);
        if (g > m) m = g;
        if (k > h) h = k;
    }
    *held = h;
    return m;
}

/* ------------------------------------------------------------ the client */

static char addr_host[64];
static int addr_port;

/* GET path on a new connection, read to the end; the answer's size, or
 * exit 1 unless it is a 200. */
static size_t get(const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)addr_port)};
    inet_pton(AF_INET, addr_host, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) FAILX("debug_scrape: connect failed");
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) FAILX("debug_scrape: write failed");
    static char buf[1 << 16];
    size_t total = 0;
    char first[16] = "";
    for (ssize_t r; (r = read(fd, buf, sizeof buf)) > 0; total += (size_t)r)
        if (!total) memcpy(first, buf, r < 15 ? (size_t)r : 15);
    close(fd);
    if (strncmp(first, "HTTP/1.1 200", 12) != 0) FAILX("debug_scrape: GET %s: not a 200", path);
    return total;
}

typedef struct {
    const char *path;
    _Atomic int go, done;
    int64_t took;
    size_t bytes;
} client_t;
static client_t client;

/* The client thread: one request each time go is raised. */
static void *client_main(void *unused) {
    for (;;) {
        while (!atomic_load(&client.go)) usleep(100);
        atomic_store(&client.go, 0);
        if (!client.path) return NULL;
        int64_t t = roost_now();
        client.bytes = get(client.path);
        client.took = roost_now() - t;
        atomic_store(&client.done, 1);
    }
}

/* One request from the client thread, with the workers watched. */
static int64_t request(const char *path, int64_t *gap, int64_t *held) {
    client.path = path;
    atomic_store(&client.done, 0);
    measure_begin();
    atomic_store(&client.go, 1);
    while (!atomic_load(&client.done)) CHECK(roost_sleep(NULL, 100 * 1000));
    *gap = measure_end(held);
    return client.took;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double best_ms, stall_ms, stall_max_ms, held_ms, held_max_ms;
    size_t bytes;
} figures_t;

static void series(const char *path, figures_t *f) {
    int64_t best = INT64_MAX, stall[REPS], held[REPS], g, h;
    request(path, &g, &h); /* warm-up: page in, fill the symbol cache */
    for (int r = 0; r < REPS; r++) {
        int64_t d = request(path, &g, &h);
        if (d < best) best = d;
        measure_begin();
        CHECK(roost_sleep(NULL, d));
        int64_t bh, base = measure_end(&bh);
        stall[r] = g > base ? g - base : 0;
        held[r] = h > bh ? h - bh : 0;
    }
    qsort(stall, REPS, sizeof stall[0], cmp64);
    qsort(held, REPS, sizeof held[0], cmp64);
    f->best_ms = (double)best / ROOST_MS;
    f->stall_ms = (double)stall[REPS / 2] / ROOST_MS;
    f->stall_max_ms = (double)stall[REPS - 1] / ROOST_MS;
    f->held_ms = (double)held[REPS / 2] / ROOST_MS;
    f->held_max_ms = (double)held[REPS - 1] / ROOST_MS;
    f->bytes = client.bytes;
}

/* ------------------------------------------------------------ the run */

static figures_t metrics, goroutine1, groups;
static double idle_cpu_ms, idle_cpu_base_ms;
static long idle_rss_kb, idle_rss_first_kb;
static int64_t ntasks;

static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void body(void *unused) {
    /* Idle first: the same quiet span without and with the endpoint. */
    CHECK(roost_sleep(NULL, 100 * ROOST_MS));
    double c0 = cpu_ms();
    CHECK(roost_sleep(NULL, IDLE_MS * ROOST_MS));
    idle_cpu_base_ms = cpu_ms() - c0;
    /* The first start pages in the endpoint's code and one-time state; a
     * second start shows what a running endpoint itself holds. */
    long rss0 = bench_rss_kb();
    CHECK(roost_debug_start("127.0.0.1:0"));
    CHECK(roost_sleep(NULL, 20 * ROOST_MS));
    idle_rss_first_kb = bench_rss_kb() - rss0;
    roost_debug_stop();
    rss0 = bench_rss_kb();
    CHECK(roost_debug_start("127.0.0.1:0"));
    char addr[64];
    CHECK(roost_debug_addr(addr, sizeof addr));
    CHECK(roost_sleep(NULL, 20 * ROOST_MS));
    idle_rss_kb = bench_rss_kb() - rss0;
    CHECK(roost_sleep(NULL, 100 * ROOST_MS));
    c0 = cpu_ms();
    CHECK(roost_sleep(NULL, IDLE_MS * ROOST_MS));
    idle_cpu_ms = cpu_ms() - c0;
    char *colon = strrchr(addr, ':');
    *colon = '\0';
    snprintf(addr_host, sizeof addr_host, "%s", addr);
    addr_port = atoi(colon + 1);

    int nw = roost_workers();
    roost_chan_t *ch;
    CHECK(roost_chan_make(sizeof(int64_t), 0, &ch));
    int ny = nw * YIELDERS_PER_WORKER;
    CHECK(roost_waitgroup_add(&yielders_done, ny));
    for (int i = 0; i < ny; i++) CHECK(roost_go(yielder, NULL));
    CHECK(roost_waitgroup_add(&started, N));
    for (int i = 0; i < N; i++) {
        switch (i % 3) {
        case 0: CHECK(roost_go(parked_a, roost_chan_ref(ch))); break;
        case 1: CHECK(roost_go(parked_b, roost_chan_ref(ch))); break;
        default: CHECK(roost_go(parked_c, roost_chan_ref(ch))); break;
        }
    }
    CHECK(roost_waitgroup_wait(NULL, &started));
    int64_t end = roost_now() + 10 * ROOST_S;
    for (;;) {
        roost_counts_t c;
        roost_counts(&c);
        if (c.by_reason[ROOST_WAIT_CHAN_RECV] >= N || roost_now() > end) break;
        CHECK(roost_sleep(NULL, ROOST_MS));
    }
    CHECK(roost_sleep(NULL, 50 * ROOST_MS));
    ntasks = roost_task_count();

    pthread_t th;
    if (pthread_create(&th, NULL, client_main, NULL)) FAILX("debug_scrape: pthread_create failed");
    series("/metrics", &metrics);
    series("/debug/pprof/goroutine?debug=1", &goroutine1);
    series("/debug/roost/summary.json?groups=1", &groups);
    client.path = NULL;
    atomic_store(&client.go, 1);
    pthread_join(th, NULL);

    atomic_store(&stop, 1);
    CHECK(roost_waitgroup_wait(NULL, &yielders_done));
    CHECK(roost_chan_close(ch));
    roost_chan_unref(ch);
    roost_debug_stop();
}

int main(void) {
    bench_run(body, NULL);
    int workers = roost_workers();
    bench_wait_drained("debug_scrape");
    printf(
        "metrics_ms %.3f metrics_stall_ms %.3f metrics_stall_max_ms %.3f "
        "goroutine1_ms %.2f goroutine1_stall_ms %.3f goroutine1_stall_max_ms %.3f "
        "metrics_bytes %zu goroutine1_bytes %zu idle_cpu_ms %.1f idle_cpu_base_ms %.1f "
        "idle_rss_kb %ld idle_rss_first_kb %ld groups_ms %.2f groups_stall_ms %.3f groups_stall_max_ms %.3f "
        "metrics_held_ms %.3f metrics_held_max_ms %.3f goroutine1_held_ms %.3f goroutine1_held_max_ms %.3f "
        "groups_held_ms %.3f groups_held_max_ms %.3f tasks %lld workers %d\n",
        metrics.best_ms, metrics.stall_ms, metrics.stall_max_ms, goroutine1.best_ms, goroutine1.stall_ms,
        goroutine1.stall_max_ms, metrics.bytes, goroutine1.bytes, idle_cpu_ms, idle_cpu_base_ms, idle_rss_kb,
        idle_rss_first_kb, groups.best_ms, groups.stall_ms, groups.stall_max_ms, metrics.held_ms,
        metrics.held_max_ms, goroutine1.held_ms, goroutine1.held_max_ms, groups.held_ms, groups.held_max_ms,
        (long long)ntasks, workers);
    return 0;
}
