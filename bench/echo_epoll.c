/* echo_epoll: the ceiling for make bench's echo_conns row: the same 1,000
 * loopback TCP connections doing 64-byte ping-pong, 200 round trips each,
 * as a plain epoll loop per thread in C, with no roost (no tasks, no
 * parking: a thread reads what epoll says is there and answers at once).
 * One thread per CPU (ROOST_WORKERS when set, as roost's workers), each
 * owning whole connections, both ends; the timed part, as echo_conns's,
 * includes connecting them. It makes the same four socket calls a round
 * trip as roost does (two writes, two reads), so the gap between the two
 * rows is what tasks cost, and this row against Go is the most any runtime
 * on this kernel can gain over Go.
 *
 * Prints: echo_conns_msgs_per_s <round trips per second> threads <n>
 *         cpu_us_per_msg <process CPU time a round trip, us>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS 1000
#define ROUNDS 200
#define MSG 64
#define MAX_THREADS 256

static int nthreads;
static int cfd[CONNS], sfd[CONNS];

static void die(const char *what) {
    perror(what);
    exit(1);
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("write"); /* 64 bytes into an idle loopback socket never block */
        buf += w, n -= (size_t)w;
    }
}

/* Thread t: connections t, t + nthreads, ... Event data: 2 * i for the
 * client end of connection i, 2 * i + 1 for its server end. */
static void *loop(void *arg) {
    int t = (int)(intptr_t)arg, ep = epoll_create1(EPOLL_CLOEXEC), left = 0;
    if (ep < 0) die("epoll_create1");
    static _Thread_local int rounds[CONNS], got[CONNS];
    char buf[MSG];
    memset(buf, 'x', MSG);
    for (int i = t; i < CONNS; i += nthreads) {
        struct epoll_event ce = {.events = EPOLLIN, .data.u32 = 2 * (uint32_t)i};
        struct epoll_event se = {.events = EPOLLIN, .data.u32 = 2 * (uint32_t)i + 1};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd[i], &ce) || epoll_ctl(ep, EPOLL_CTL_ADD, sfd[i], &se))
            die("epoll_ctl");
        write_all(cfd[i], buf, MSG);
        left++;
    }
    struct epoll_event evs[128];
    while (left) {
        int n = epoll_wait(ep, evs, 128, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            int i = (int)(evs[k].data.u32 / 2), server = evs[k].data.u32 & 1;
            int fd = server ? sfd[i] : cfd[i];
            ssize_t r = read(fd, buf, MSG - (server ? 0 : got[i]));
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) die("read");
            if (server) {
                write_all(fd, buf, (size_t)r);
            } else if ((got[i] += (int)r) == MSG) {
                got[i] = 0;
                if (++rounds[i] < ROUNDS)
                    write_all(fd, buf, MSG);
                else
                    left--;
            }
        }
    }
    close(ep);
    return NULL;
}

int main(void) {
    const char *env = getenv("ROOST_WORKERS");
    nthreads = env && atoi(env) > 0 ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    struct rlimit rl; /* two descriptors a connection, both ends here */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * CONNS) {
        rl.rlim_cur = rl.rlim_max < 4 * CONNS ? rl.rlim_max : 4 * CONNS;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&a, &alen))
        die("listen");
    double t0 = now(), c0 = cpu_seconds();
    for (int i = 0; i < CONNS; i++) {
        cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cfd[i] < 0 || connect(cfd[i], (struct sockaddr *)&a, sizeof a)) die("connect");
        if ((sfd[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) die("accept4");
        setsockopt(cfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(sfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    pthread_t th[MAX_THREADS];
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, loop, (void *)(intptr_t)t)) die("pthread_create");
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    double rate = (double)CONNS * ROUNDS / (now() - t0);
    double cpu_us = (cpu_seconds() - c0) * 1e6 / ((double)CONNS * ROUNDS);
    for (int i = 0; i < CONNS; i++) close(cfd[i]), close(sfd[i]);
    close(lfd);
    printf("echo_conns_msgs_per_s %.0f threads %d cpu_us_per_msg %.2f\n", rate, nthreads, cpu_us);
    return 0;
}
