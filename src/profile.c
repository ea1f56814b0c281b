/* profile.c - task profiles in four formats, symbolization, and the SIGQUIT
 * dump. (Being written: see issue 3.) */
#include "internal.h"
#include <stdio.h>

size_t roost_symbolize(uintptr_t pc, char *buf, size_t size) {
    int n = snprintf(buf, size, "%#lx", (unsigned long)pc);
    return n < 0 ? 0 : (size_t)n;
}
int roost_profile_write(int fd, int format) { (void)fd, (void)format; return ROOST_EINVAL; }
int roost_profile(int format, char **buf, size_t *len) { (void)format, (void)buf, (void)len; return ROOST_EINVAL; }
int roost_profile_on_signal(int signo) { (void)signo; return ROOST_EINVAL; }
/* Called once at runtime start (sched.c start_locked). */
void roost__profile_start(void) {}
