/* The NEON path: starts from the scalar table, overrides what it accelerates. */
#include "kernels.h"

void pg_kernels_fill_neon(pg_kernels *k) {
    k->path = "neon";
    pg_fill_neon_quant(k);
    pg_fill_neon_vec(k);
    pg_fill_neon_rope(k);
}
