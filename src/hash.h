/* hash.h - one hash table for the observability layer, and its hashes.
 *
 * An index over an array the caller keeps (a profile's groups, strings
 * and pcs, the symbol cache, roost_go_at's spawn sites):
 * open addressing with linear probing, at most half full, each slot the
 * entry's array index + 1 (0: empty). The caller's array stays dense and
 * in order of insertion (a profile's location ids are those indexes), and
 * the table knows nothing of the entries: finding takes the caller's eq,
 * growing its hash_of. Both are inlined where they are constants.
 * Zero-initialised is empty. Not locked.
 */
#ifndef ROOST_HASH_H
#define ROOST_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

typedef struct {
    uint32_t *slots; /* cap of them; index + 1, 0 empty */
    size_t cap;      /* a power of two, or 0 */
} roost__index;

/* Rebuild x at twice its size (256 at first) for the n entries whose
 * hashes hash_of(i, arg) gives; false (x unchanged) when out of memory. */
bool roost__index_grow(roost__index *x, size_t n, uint64_t (*hash_of)(size_t i, void *arg), void *arg);
/* Room for an entry more beside n: false only when out of memory. */
static inline bool roost__index_reserve(roost__index *x, size_t n, uint64_t (*hash_of)(size_t i, void *arg),
                                        void *arg) {
    return n * 2 < x->cap || roost__index_grow(x, n, hash_of, arg);
}
/* The slot of the entry with hash h that eq(i, arg) accepts, or the empty
 * slot where it goes (store index + 1 there to add it). x must have room
 * (roost__index_reserve). */
static inline uint32_t *roost__index_find(const roost__index *x, uint64_t h, bool (*eq)(size_t i, void *arg),
                                          void *arg) {
    size_t m = x->cap - 1;
    for (size_t j = (size_t)h & m;; j = (j + 1) & m) {
        uint32_t k = x->slots[j];
        if (!k || eq(k - 1, arg)) return &x->slots[j];
    }
}
/* Forget every entry (the slots stay allocated). */
void roost__index_clear(roost__index *x);
void roost__index_free(roost__index *x);

/* Hashes: one word mixed into h; a string by content (NULL as ""); a
 * pointer or pc alone. */
static inline uint64_t roost__hash_mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}
uint64_t roost__hash_str(uint64_t h, const char *s);
static inline uint64_t roost__hash_ptr(uintptr_t p) {
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

#pragma GCC visibility pop

#endif
