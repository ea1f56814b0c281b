/* buf.c - the string builder and write-all (buf.h). */
#include "buf.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool roost__buf_grow(roost__buf *b, size_t n) {
    if (b->oom) return false;
    if (b->cap - b->len >= n) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p, b->cap = cap;
    return true;
}

void roost__buf_printf(roost__buf *b, const char *fmt, ...) {
    for (int tries = 0; tries < 2; tries++) {
        if (!roost__buf_reserve(b, 64)) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (!roost__buf_reserve(b, (size_t)n + 1)) return;
    }
}

const char *roost__buf_str(roost__buf *b) {
    if (!roost__buf_reserve(b, 1)) return NULL;
    b->p[b->len] = 0;
    return b->p;
}

void roost__buf_free(roost__buf *b) {
    free(b->p);
    *b = (roost__buf){0};
}

int roost__write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        c += w, n -= (size_t)w;
    }
    return 0;
}
