/* The NEON path: starts from the scalar table, overrides what it accelerates. */
#include <arm_neon.h>

#include "kernels.h"

void pg_kernels_fill_neon(pg_kernels *k) {
    k->path = "neon";
}
