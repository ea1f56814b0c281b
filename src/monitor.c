/* monitor.c - the opt-in monitor: periodic count lines and growth alerts.
 * (Being written: see issue 3.) */
#include "internal.h"

int roost_monitor_start(const roost_monitor_opts_t *opts) { (void)opts; return ROOST_EINVAL; }
void roost_monitor_stop(void) {}
