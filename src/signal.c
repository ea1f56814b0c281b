/* signal.c - signals as a context (Go's signal.NotifyContext).
 *
 * The one idea: the handler does the least a handler may (one write of the
 * signal number to a pipe); a watcher thread reads the pipe and, outside
 * any handler, cancels every context registered for that signal with the
 * signal number as its cause. A context leaves the table when its signal
 * arrives or when it is found already cancelled (the program's own
 * roost_ctx_cancel is its "stop"); once no live context wants a signal,
 * its previous disposition is restored, so a second Ctrl-C after shutdown
 * began, with nothing registered, kills the program as it would without
 * roost. A signal that arrives while only stopped contexts want it is
 * delivered again under the restored disposition.
 *
 * Invariant (under sig.lock): a signal's handler is installed exactly
 * while some table entry names it; sig.old[s] is what it replaced.
 */
#include "internal.h"
#include "roost_io.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sig_entry {
    struct sig_entry *next;
    roost_ctx_t *ctx; /* a reference, dropped when the entry goes */
    sigset_t sigs;
} sig_entry;

static struct {
    pthread_mutex_t lock;
    sig_entry *entries;
    int pipe[2]; /* handler -> watcher; -1 before the first use */
    bool installed[NSIG];
    struct sigaction old[NSIG];
} sig = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe = {-1, -1}};

static void on_signal(int s) {
    int saved = errno; /* the interrupted code's errno */
    unsigned char b = (unsigned char)s;
    ssize_t r = write(sig.pipe[1], &b, 1); /* full pipe: a signal is pending anyway */
    (void)r;
    errno = saved;
}

/* With sig.lock: install or restore handlers to match the table. */
static void sync_handlers_locked(void) {
    for (int s = 1; s < NSIG; s++) {
        bool want = false;
        for (sig_entry *e = sig.entries; e && !want; e = e->next) want = sigismember(&e->sigs, s) == 1;
        if (want && !sig.installed[s]) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigfillset(&sa.sa_mask);
            if (sigaction(s, &sa, &sig.old[s]) == 0) sig.installed[s] = true;
        } else if (!want && sig.installed[s]) {
            sigaction(s, &sig.old[s], NULL);
            sig.installed[s] = false;
        }
    }
}

/* With sig.lock: unlink the entries whose context is done, and those
 * naming s when s > 0, onto *gone (to cancel and free once the handlers
 * match the table again). */
static void sweep_locked(int s, sig_entry **gone) {
    for (sig_entry **pe = &sig.entries; *pe;) {
        sig_entry *e = *pe;
        if ((s > 0 && sigismember(&e->sigs, s) == 1) || roost_ctx_err(e->ctx)) {
            *pe = e->next;
            e->next = *gone;
            *gone = e;
        } else {
            pe = &e->next;
        }
    }
}

/* Cancel the live contexts of entries unlinked for signal s (s > 0), drop
 * every entry; returns how many were cancelled. Outside sig.lock, after the
 * handlers were synced: a woken task sees the restored disposition. */
static int finish(sig_entry *gone, int s) {
    int n = 0;
    while (gone) {
        sig_entry *e = gone;
        gone = e->next;
        if (s > 0 && !roost_ctx_err(e->ctx)) {
            roost_ctx_cancel_cause(e->ctx, s);
            n++;
        }
        roost_ctx_unref(e->ctx);
        free(e);
    }
    return n;
}

static void *watcher_main(void *unused) {
    (void)unused;
    unsigned char b;
    for (;;) {
        ssize_t r = read(sig.pipe[0], &b, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        sig_entry *gone = NULL;
        pthread_mutex_lock(&sig.lock);
        sweep_locked(b, &gone);
        sync_handlers_locked();
        pthread_mutex_unlock(&sig.lock);
        int n = finish(gone, b);
        /* Nobody was listening any more: what would have happened
         * without roost happens now, under the restored disposition. */
        if (n == 0) kill(getpid(), b);
    }
}

int roost_ctx_with_signals(roost_ctx_t *parent, const int *sigs, int nsigs, roost_ctx_t **out) {
    if (!out || !sigs || nsigs <= 0) return ROOST_EINVAL;
    sig_entry *e = calloc(1, sizeof *e);
    if (!e) return ROOST_ENOMEM;
    sigemptyset(&e->sigs);
    for (int i = 0; i < nsigs; i++) {
        int s = sigs[i];
        /* Faults and the two signals no handler can catch make no sense here. */
        if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP || s == SIGSEGV || s == SIGBUS ||
            s == SIGILL || s == SIGFPE || s > 255) {
            free(e);
            return ROOST_EINVAL;
        }
        sigaddset(&e->sigs, s);
    }
    int rc = roost_ctx_with_cancel(parent, out);
    if (rc) {
        free(e);
        return rc;
    }
    pthread_mutex_lock(&sig.lock);
    if (sig.pipe[0] < 0) {
        if (pipe2(sig.pipe, O_CLOEXEC) < 0) {
            rc = ROOST_ESYS(errno);
        } else {
            fcntl(sig.pipe[1], F_SETFL, O_NONBLOCK);
            rc = roost__thread_start(NULL, watcher_main, NULL, "roost-signals", true);
            if (rc) {
                close(sig.pipe[0]);
                close(sig.pipe[1]);
                sig.pipe[0] = sig.pipe[1] = -1;
            }
        }
    }
    sig_entry *gone = NULL;
    if (!rc) {
        e->ctx = roost_ctx_ref(*out);
        e->next = sig.entries;
        sig.entries = e;
        sweep_locked(0, &gone);
        sync_handlers_locked();
    }
    pthread_mutex_unlock(&sig.lock);
    finish(gone, 0);
    if (rc) {
        free(e);
        roost_ctx_unref(*out);
        *out = NULL;
    }
    return rc;
}
