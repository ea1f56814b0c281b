/* unity.c - the whole library as one translation unit.
 *
 * Each concept keeps its own file; this one only includes them, so that the
 * compiler can inline across them (a channel operation, its park and the
 * switch are one call chain). This is what the Makefile compiles; the
 * individual files are not compiled on their own. Static names must
 * therefore be unique across src/. _GNU_SOURCE comes first for all.
 */
#define _GNU_SOURCE
#include "error.c"
#include "thread.c"
#include "stack.c"
#include "sched.c"
#include "park.c"
#include "timer.c"
#include "ctx.c"
#include "chan.c"
#include "select.c"
#include "sync.c"
#include "group.c"
#include "registry.c"
#include "leak.c"
#include "heapwalk.c"
#include "reach.c"
#include "symbolize.c"
#include "profile.c"
#include "monitor.c"
#include "poll.c"
#include "net.c"
#include "offload.c"
#include "signal.c"
#include "fatal.c"
