/* heaptrack.h - the live chunks of a sanitizer's malloc (heaptrack.c), the
 * reachability proof's heap source where glibc's heap is not there to walk
 * (ASan, TSan). Not installed. */
#ifndef ROOST_HEAPTRACK_H
#define ROOST_HEAPTRACK_H

#include "reach.h"

#pragma GCC visibility push(hidden)

/* NULL when the table can stand for the heap (a sanitizer build whose hooks
 * went in before anything they could miss), else why not. */
const char *roost__heaptrack_unavailable(void);
/* An upper bound on the chunks a fill may add (read with the world stopped). */
size_t roost__heaptrack_count(void);
/* With every other thread stopped: the live chunks into h (sorted, in
 * segments, h->tracked set; h->cap entries at most). NULL, or why not (a
 * stopped thread holds the table, or is between the free and the malloc
 * of a realloc: try again). */
const char *roost__heaptrack_fill(roost__heapmap *h);
/* Whether [lo, hi) lies in memory the sanitizer's runtime keeps that holds
 * no pointer of the program's: its shadow, and its allocator's space for
 * small chunks (whose live chunks are the map's nodes). */
bool roost__heaptrack_runtime_memory(uintptr_t lo, uintptr_t hi);
/* The calling thread is in none of malloc, free or realloc: what it freed
 * last can leave the table now (TSan; see heaptrack.c). Cheap when it has
 * nothing pending. */
void roost__heaptrack_quiesce(void);
/* Whether thread tid is the sanitizer runtime's own background thread
 * (it blocks every signal, and runs none of the program's code). */
bool roost__heaptrack_runtime_thread(int tid);

#pragma GCC visibility pop

#endif
