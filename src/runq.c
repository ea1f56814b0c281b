/* runq.c - the global run queue, and a full ring's overflow into it.
 *
 * The one idea: whatever cannot go to a worker's ring (a task readied by a
 * plain thread or the timer thread, the older half of a full ring) waits
 * here in FIFO order, and workers take it in fair shares (roost__gq_get).
 * The rings themselves are inline, in runq.h, where their invariants are.
 *
 * Invariants, under gq.lock:
 *   - tq_head..tq_tail and gq_head..gq_tail are NULL-terminated lists
 *     linked by roost__task.next; a list's head is NULL exactly when its
 *     tail is.
 *   - roost__gq_len is the number of tasks in both lists, give or take the
 *     tasks of a push or a take in progress (it is updated under the lock,
 *     and read without it only as a hint).
 *   - A task is in at most one list, and then in no ring and no runnext.
 *   - tq_took says the last task gq_next took came from the timer list.
 */
#include "runq.h"

atomic_long roost__gq_len;

static struct {
    int lock; /* spin lock over both lists: held for a few pointer moves */
    roost__task *gq_head, *gq_tail;
    roost__task *tq_head, *tq_tail;
    bool tq_took; /* gq_next's last task came from tq */
} gq;

roost__task *roost__ring_take_own_shared(roost__worker *w) {
    return roost__ring_take_mo(w, memory_order_acquire, memory_order_relaxed);
}

void roost__gq_push_list(roost__task *head, roost__task *tail, long n, bool timer) {
    roost__task **qh = timer ? &gq.tq_head : &gq.gq_head, **qt = timer ? &gq.tq_tail : &gq.gq_tail;
    roost__lock(&gq.lock);
    tail->next = NULL; /* under the lock, where gq_get read it last (TSan) */
    if (*qt)
        (*qt)->next = head;
    else
        *qh = head;
    *qt = tail;
    atomic_fetch_add(&roost__gq_len, n);
    roost__unlock(&gq.lock);
}

void roost__ring_overflow(roost__worker *w, roost__task *t, bool alone) {
    roost__task *head = NULL, *tail = NULL;
    long n = 0;
    for (int i = 0; i < ROOST_RUNQ_SIZE / 2; i++) {
        roost__task *x = roost__ring_take_own(w, alone);
        if (!x) break;
        if (tail)
            tail->next = x;
        else
            head = x;
        tail = x, n++;
    }
    if (tail)
        tail->next = t;
    else
        head = t;
    roost__gq_push_list(head, t, n + 1, false);
}

/* With the lock held: unlink a list's first task. */
static inline roost__task *pop_front(roost__task **head, roost__task **tail) {
    roost__task *t = *head;
    if (t && !(*head = t->next)) *tail = NULL;
    return t;
}

/* With the lock held: the next task to run from the two lists. The timer
 * list goes first, except when the last one taken this way was the timer
 * list's and the global queue waits: a steady stream of timer wake-ups
 * cannot starve it. */
static inline roost__task *gq_next(void) {
    bool from_tq = gq.tq_head && (!gq.gq_head || !gq.tq_took);
    gq.tq_took = from_tq;
    return from_tq ? pop_front(&gq.tq_head, &gq.tq_tail) : pop_front(&gq.gq_head, &gq.gq_tail);
}

roost__task *roost__gq_get_slow(roost__worker *w, long max, int nw) {
    roost__lock(&gq.lock);
    roost__task *t = gq_next();
    if (!t) {
        roost__unlock(&gq.lock);
        return NULL;
    }
    long len = atomic_load(&roost__gq_len);
    long n = len / (nw > 0 ? nw : 1) + 1;
    if (n > max) n = max;
    long took = 1;
    for (; took < n; took++) {
        bool tq = gq.tq_head != NULL;
        roost__task *x = tq ? gq.tq_head : gq.gq_head;
        if (!x || !roost__ring_put(w, x)) break;
        if (tq)
            pop_front(&gq.tq_head, &gq.tq_tail);
        else
            pop_front(&gq.gq_head, &gq.gq_tail);
    }
    atomic_fetch_sub(&roost__gq_len, took);
    roost__unlock(&gq.lock);
    return t;
}

roost__task *roost__gq_swap(roost__task *old) {
    if (atomic_load_explicit(&roost__gq_len, memory_order_relaxed) == 0) return old;
    roost__lock(&gq.lock);
    roost__task *t = gq_next();
    if (t) {
        old->next = NULL;
        if (gq.gq_tail)
            gq.gq_tail->next = old;
        else
            gq.gq_head = old;
        gq.gq_tail = old;
    } else {
        t = old;
    }
    roost__unlock(&gq.lock);
    return t;
}
