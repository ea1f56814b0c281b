/* buf.h - the observability layer's string builder and write-all.
 *
 * A growing byte buffer for text and encoded profiles: appends never fail
 * on the spot; an allocation failure sets `oom`, later appends do nothing,
 * and the caller reports ROOST_ENOMEM (or writes what it has) at the end.
 * Zero-initialised is empty. Not for signal handlers (it allocates):
 * fatal.c keeps its own fixed buffer for those.
 */
#ifndef ROOST_BUF_H
#define ROOST_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#pragma GCC visibility push(hidden)

typedef struct roost__buf {
    char *p; /* malloc'ed; not NUL-terminated unless roost__buf_str made it so */
    size_t len, cap;
    bool oom; /* an append failed: the contents are incomplete */
} roost__buf;

/* Room for n more bytes; false (and oom set) when it cannot be had. */
bool roost__buf_grow(roost__buf *b, size_t n);
static inline bool roost__buf_reserve(roost__buf *b, size_t n) {
    if (b->oom) return false;
    return b->cap - b->len >= n || roost__buf_grow(b, n);
}
static inline void roost__buf_put(roost__buf *b, const void *s, size_t n) {
    if (!n || !roost__buf_reserve(b, n)) return; /* s may be NULL when n is 0 */
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static inline void roost__buf_puts(roost__buf *b, const char *s) { roost__buf_put(b, s, strlen(s)); }
static inline void roost__buf_putc(roost__buf *b, char c) {
    if (!roost__buf_reserve(b, 1)) return;
    b->p[b->len++] = c;
}
void roost__buf_printf(roost__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a C string (a NUL kept past len), or NULL when out of memory. */
const char *roost__buf_str(roost__buf *b);
void roost__buf_free(roost__buf *b);

/* Write all n bytes to fd, again after EINTR and short writes. 0, or -1
 * with errno set (a bad descriptor, a broken pipe, a full non-blocking one). */
int roost__write_all(int fd, const void *p, size_t n);

#pragma GCC visibility pop

#endif
