/* profile.h - what the task profile's formats share (profile.c): the
 * per-profile pc table and the groups tasks fold into; pprof.c encodes
 * the groups in profile.proto form.
 */
#ifndef ROOST_PROFILE_H
#define ROOST_PROFILE_H

#include "roost_obs.h"
#include "buf.h"
#include "hash.h"
#include "symbolize.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The distinct pcs of one profile, each with its cached symbol: the global
 * cache costs a lock per look-up, this costs a probe. */
typedef struct {
    uintptr_t *pcs;          /* in order of first use: index + 1 is the pprof location id */
    const roost__sym **syms; /* their symbols */
    size_t n, cap;
    roost__index index; /* pcs by value */
    bool oom;
} roost__prof_pcs;
/* pc's index in P (added, and symbolized, if new); SIZE_MAX when out of memory. */
size_t roost__prof_pcs_find(roost__prof_pcs *P, uintptr_t pc);
/* pc's symbol; a stand-in with no name when it cannot be had. */
const roost__sym *roost__prof_pcs_sym(roost__prof_pcs *P, uintptr_t pc);

/* Tasks folded by what makes them one entry: stack, state, wait reason,
 * spawn site and labels. */
typedef struct {
    roost_task_info_t *t; /* the first task of the group (in the snapshot, or a copy) */
    size_t count;
    uint64_t hash;
} roost__prof_group;

typedef struct {
    roost__prof_group *g;
    size_t n, cap;
    roost__index index; /* g by key */
    bool by_content;    /* compare strings by content (else by pointer) */
    bool owns;          /* t is a malloc'ed copy of each group's first task */
} roost__prof_groups;
/* Merge groups formed by pointer identity (G1, which keeps its tasks) into
 * groups by content, *out, sorted by count, descending. Free out->g after. */
int roost__prof_group_merge(roost__prof_groups *G1, roost__prof_groups *out);

/* One task's traceback (its id, name, wait, labels, symbolized frames and
 * spawn site) appended to b: the one form of a task in leak reports, group
 * reports and the full profile. now: roost_now(), for the time parked.
 * ROOST__TB_PROFILE: the full profile's form (profile.c says how it
 * differs), with symbols from P; else P is unused (may be NULL). */
enum { ROOST__TB_PROFILE = 1 };
void roost__traceback(roost__buf *b, const roost_task_info_t *t, int64_t now, int flags, roost__prof_pcs *P);

/* The grouped profile in profile.proto form (pprof.c), appended to b. */
int roost__pprof(roost__buf *b, roost__prof_groups *G1, roost__prof_pcs *P);

#pragma GCC visibility pop

#endif
