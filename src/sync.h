/* sync.h - the layout of the sync objects behind the public opaque storage
 * (roost_mutex_t, ...), for sync.c and for the leak detector, which reads
 * a lock's holder (leak.c). Not installed.
 *
 * The one idea: a program compiles the public types' sizes into its own
 * objects, so these structures must fit the storage and need no stricter
 * alignment; sync.c checks both at compile time. All-zero is each object's
 * initial state (the public ROOST_*_INIT are all zero). The structures are
 * may_alias: they are read and written through pointers to storage the
 * program declared as another type.
 */
#ifndef ROOST_SYNC_H
#define ROOST_SYNC_H

#include "internal.h"

#pragma GCC visibility push(hidden)

typedef struct __attribute__((may_alias)) roost__mutex {
    int lock;               /* spin lock guarding the rest */
    int locked;             /* 1 while held */
    roost__task *holder;    /* the holding task; NULL for a plain thread or when unlocked */
    roost__waitq_t waiters; /* lock calls waiting, FIFO; non-empty only while locked */
    uint64_t holder_id;     /* the holder's task id: the leak detector tells a holder that exited
                             * (its record reused) from one still waiting */
} roost__mutex;

typedef struct __attribute__((may_alias)) roost__rwmutex {
    int lock;            /* spin lock guarding the rest */
    int readers;         /* readers holding it */
    int writer;          /* 1 while a writer holds it (never with readers > 0) */
    roost__task *holder; /* the writer, while writer is 1 (NULL: a plain thread) */
    roost__waitq_t rq;   /* readers waiting */
    roost__waitq_t wq;   /* writers waiting; non-empty holds new readers back */
    uint64_t holder_id;  /* the writer's task id */
} roost__rwmutex;

typedef struct __attribute__((may_alias)) roost__cond {
    int lock;               /* spin lock guarding the queue */
    roost__waitq_t waiters; /* waits queued, FIFO: a signal takes the first */
} roost__cond;

typedef struct __attribute__((may_alias)) roost__waitgroup {
    int lock;               /* spin lock guarding the rest */
    int64_t count;          /* >= 0 */
    roost__waitq_t waiters; /* waits; non-empty only while count > 0 */
} roost__waitgroup;

typedef struct __attribute__((may_alias)) roost__once {
    int lock;               /* spin lock guarding the rest */
    atomic_int state;       /* ONCE_NEW -> ONCE_RUNNING -> ONCE_DONE, never back; read
                             * without the lock once done (acquire) */
    roost__waitq_t waiters; /* callers waiting while it runs */
    uint64_t runner;        /* while it runs: the id of the task running fn (0: a plain thread) */
} roost__once;

#pragma GCC visibility pop

#endif
