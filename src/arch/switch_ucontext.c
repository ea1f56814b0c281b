/* switch_ucontext.c - portable fallback context switch on <ucontext.h>.
 *
 * For targets without a hand-written switch. Slow: swapcontext saves and
 * restores the signal mask with a system call on every switch. The saved
 * "sp" is a pointer to a ucontext_t living on the suspended stack itself. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr1 (built as the assembly files are, without LIB_CFLAGS) */
#endif
#include "internal.h"
#include <dlfcn.h>
#include <link.h>
#include <ucontext.h>

void roost__switch(void **from_sp, void *to_sp) {
    ucontext_t here;
    *from_sp = &here;
    swapcontext(&here, (ucontext_t *)to_sp);
}

/* A pc in swapcontext, which loads the other context's registers one by one:
 * its range from the dynamic symbol table, found on the first call (fatal.c
 * makes it before any signal can ask). Not found: every pc counts as one,
 * and a stack request answers with the pc alone. */
bool roost__switch_pc(uintptr_t pc) {
    static uintptr_t lo, hi;
    static int known; /* 0 not looked up, 1 [lo, hi) found, -1 unknown */
    if (!known) {
        Dl_info di;
        const ElfW(Sym) *sym = NULL;
        known = -1;
        if (dladdr1((void *)swapcontext, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size &&
            di.dli_saddr) {
            lo = (uintptr_t)di.dli_saddr;
            hi = lo + sym->st_size;
            known = 1;
        }
    }
    return known < 0 || (pc >= lo && pc < hi);
}

static void tramp(unsigned hi, unsigned lo, unsigned ehi, unsigned elo) {
    void *arg = (void *)(((uintptr_t)hi << 32) | lo);
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)ehi << 32) | elo);
    entry(arg);
    __builtin_trap();
}

void *roost__ctx_init(void *stack_top, void (*entry)(void *), void *arg) {
    uintptr_t top = ((uintptr_t)stack_top - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)top;
    getcontext(uc);
    /* makecontext only uses ss_sp + ss_size, the top; the task stack below
     * uc is at least a page, whatever the configured size. */
    uc->uc_stack.ss_sp = (char *)uc - 4096;
    uc->uc_stack.ss_size = 4096;
    uc->uc_link = NULL;
    uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;
    makecontext(uc, (void (*)(void))tramp, 4, (unsigned)(a >> 32), (unsigned)a, (unsigned)(e >> 32),
                (unsigned)e);
    return uc;
}
