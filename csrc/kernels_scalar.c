/* The scalar path's dispatch table: the quant family and the vector primitives. */
#include "kernels.h"

void pg_kernels_fill_scalar(pg_kernels *k) {
    k->path = "scalar";
    pg_fill_scalar_quant(k);
    pg_fill_scalar_vec(k);
}
