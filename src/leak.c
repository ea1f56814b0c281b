/* leak.c - the leak detector. (Being written: see issue 3.) */
#include "internal.h"
