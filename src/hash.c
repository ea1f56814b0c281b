/* hash.c - the index table's growth, and the string hash (hash.h). */
#include "hash.h"
#include <stdlib.h>
#include <string.h>

bool roost__index_grow(roost__index *x, size_t n, uint64_t (*hash_of)(size_t i, void *arg), void *arg) {
    size_t cap = x->cap ? x->cap * 2 : 256;
    while (n * 2 >= cap) cap *= 2;
    if (n >= UINT32_MAX) return false;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)hash_of(i, arg) & (cap - 1);
        while (s[j]) j = (j + 1) & (cap - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(x->slots);
    x->slots = s, x->cap = cap;
    return true;
}

void roost__index_clear(roost__index *x) {
    if (x->slots) memset(x->slots, 0, x->cap * sizeof *x->slots);
}

void roost__index_free(roost__index *x) {
    free(x->slots);
    x->slots = NULL, x->cap = 0;
}

/* FNV-1a over the bytes, then mixed in. */
uint64_t roost__hash_str(uint64_t h, const char *s) {
    uint64_t x = 0xcbf29ce484222325ull;
    for (; s && *s; s++) x = (x ^ (unsigned char)*s) * 0x100000001b3ull;
    return roost__hash_mix(h, x);
}
