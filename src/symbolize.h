/* symbolize.h - the process-wide symbol cache (symbolize.c), as the
 * profile formats (profile.c, pprof.c) see it: a symbolized pc with its
 * module, and the arena their strings live in.
 */
#ifndef ROOST_SYMBOLIZE_H
#define ROOST_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* An arena: memory handed out and never taken back one piece at a time,
 * freed whole (roost__arena_free). The symbol caches keep theirs for the
 * life of the process (reachable, so no leak checker reports it, and
 * bounded by the distinct pcs and modules ever symbolized); a profile
 * keeps one for the strings it makes. Not locked: the owner serialises. */
typedef struct roost__arena {
    struct roost__arena *next;
    size_t used, cap;
    _Alignas(16) char data[];
} roost__arena;
void *roost__arena_alloc(roost__arena **head, size_t n);
const char *roost__arena_strdup(roost__arena **head, const char *s);
void roost__arena_free(roost__arena *b);

/* A loaded module (the program, a shared library). */
typedef struct roost__module {
    struct roost__module *next;
    uintptr_t bias;                       /* dlpi_addr: run-time address = link-time + bias */
    uintptr_t lo, hi;                     /* run-time range of its PT_LOAD segments */
    uintptr_t text_lo, text_hi, text_off; /* the executable segment (pprof's mapping) */
    const char *path;                     /* the file (the main program's resolved via /proc/self/exe) */
    const char *base;                     /* its last component, for "module+0xoff" */
    bool loaded;                          /* symbols read, or tried */
    bool seen;                            /* met in the current dl_iterate_phdr walk */
    size_t nsyms;
    struct roost__fsym *syms; /* functions, sorted by addr; malloc'ed (symbolize.c) */
    char *names;              /* their names; malloc'ed */
} roost__module;

/* One symbolized pc. Immutable once in the cache, and never freed. */
typedef struct roost__sym {
    uintptr_t pc;
    const char *func; /* NULL if no symbol covers it */
    uintptr_t off;    /* pc - function start; pc - module bias without func */
    const char *file; /* NULL without line information */
    int line;
    const roost__module *mod; /* NULL if in no module we know */
} roost__sym;

/* For a batch of look-ups (one profile): bring the modules up to date once. */
void roost__sym_begin(void);
/* pc (a return address), symbolized, from the cache or now; NULL only when
 * out of memory. Deep on the stack with libdw: call it off a task's stack
 * (roost__off_task). */
const roost__sym *roost__sym_get(uintptr_t pc);
/* The cache alone, for n pcs at once: out[i] is pc i's symbol if cached,
 * else NULL; every one is NULL when the modules changed since the cache was
 * filled. Returns how many are NULL. One lock, a short dl_iterate_phdr and
 * a probe per pc: cheap, and shallow enough for a task's stack. */
size_t roost__sym_peek(const uintptr_t *pcs, const roost__sym **out, size_t n);
/* "function+0xoff (file:line)", "module+0xoff", or "0x..." into buf; the
 * length written, without the NUL. s may be NULL (the bare pc). */
size_t roost__sym_format(const roost__sym *s, uintptr_t pc, char *buf, size_t size);
/* Run fn(arg) on a stack deep enough for libdw: on a short-lived plain
 * thread when called from a task, else right here. */
void roost__off_task(void *(*fn)(void *), void *arg);

#pragma GCC visibility pop

#endif
