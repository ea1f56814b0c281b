/* error.c - messages for error codes and names for wait reasons.
 *
 * One table each, indexed by the code, so adding a code is one line here
 * and one in roost.h. */
#include "internal.h"
#include "roost_io.h"
#include <string.h>

static const char *const messages[] = {
    [0] = "success",
    [-ROOST_EINVAL] = "invalid argument",
    [-ROOST_ENOMEM] = "out of memory",
    [-ROOST_ECLOSED] = "channel closed",
    [-ROOST_ECANCELED] = "context canceled",
    [-ROOST_ETIMEDOUT] = "context deadline exceeded",
    [-ROOST_EAGAIN] = "operation would block",
    [-ROOST_EALREADY] = "already closed",
    [-ROOST_ESTATE] = "object in the wrong state for this call",
    [-ROOST_ERANGE] = "size or count out of range",
    [-ROOST_EDEADLK] = "the calling task would wait for itself",
    [-ROOST_ELEAKED] = "operation can never complete: the leak detector proved it",
    [-ROOST_EFDCLOSED] = "use of closed file descriptor",
    [-ROOST_ENOHOST] = "no such host",
    [-ROOST_ETIMELIMIT] = "time limit reached",
};

const char *roost_strerror(int err) {
    /* A system call's errno (roost_io.h): glibc's message for it, a
     * constant string (strerror may write a shared buffer). */
    if (err <= -ROOST_ESYS_BASE) {
        const char *m = strerrordesc_np(-err - ROOST_ESYS_BASE);
        return m ? m : "unknown system error";
    }
    if (err > 0 || -err >= (int)(sizeof messages / sizeof *messages) || !messages[-err])
        return "unknown error";
    return messages[-err];
}

static const char *const reasons[ROOST_WAIT__COUNT] = {
    [ROOST_WAIT_NONE] = "running",
    [ROOST_WAIT_CHAN_SEND] = "chan send",
    [ROOST_WAIT_CHAN_RECV] = "chan receive",
    [ROOST_WAIT_SELECT] = "select",
    [ROOST_WAIT_SLEEP] = "sleep",
    [ROOST_WAIT_MUTEX] = "mutex",
    [ROOST_WAIT_RWMUTEX_R] = "rwmutex rlock",
    [ROOST_WAIT_RWMUTEX_W] = "rwmutex lock",
    [ROOST_WAIT_COND] = "cond wait",
    [ROOST_WAIT_WAITGROUP] = "waitgroup wait",
    [ROOST_WAIT_ONCE] = "once",
    [ROOST_WAIT_CTX] = "context",
    [ROOST_WAIT_IO] = "io wait",
    [ROOST_WAIT_CHAN_SEND_NIL] = "chan send (nil chan)",
    [ROOST_WAIT_CHAN_RECV_NIL] = "chan receive (nil chan)",
};

const char *roost__reason_name(int reason) {
    return reason >= 0 && reason < ROOST_WAIT__COUNT && reasons[reason] ? reasons[reason] : "?";
}

const char *roost_task_state_name(int state) {
    static const char *const names[] = {"runnable", "running", "parked", "dead"};
    return state >= 0 && state < 4 ? names[state] : "?";
}

const char *roost_leak_kind_name(int kind) {
    static const char *const names[] = {
        [ROOST_LEAK_CHAN] = "channel unreachable",
        [ROOST_LEAK_SELECT] = "select on unreachable channels",
        [ROOST_LEAK_LOCK_CYCLE] = "lock cycle",
        [ROOST_LEAK_LOCK_ORPHANED] = "lock held by an exited task",
        [ROOST_LEAK_DEADLOCK] = "all tasks are asleep - deadlock",
        [ROOST_LEAK_SUSPECT] = "suspect: parked long",
        [ROOST_LEAK_CYCLE] = "tasks only each other could wake",
        [ROOST_LEAK_GROUP] = "group abandoned with tasks running",
        [ROOST_LEAK_UNREACHABLE] = "unreachable",
    };
    return kind > 0 && kind <= ROOST_LEAK_UNREACHABLE ? names[kind] : "?";
}
