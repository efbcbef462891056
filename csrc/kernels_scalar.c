/* The scalar path's dispatch table. Entries without a separate scalar version point at the
 * portable reference (stated per entry). */
#include "kernels.h"
#include "quants/quants.h"

void pg_kernels_fill_scalar(pg_kernels *k) {
    k->path = "scalar";
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        k->to_float[t] = pg_type_traits_table[t].to_float_ref;
        k->from_float[t] = pg_type_traits_table[t].from_float_ref;
    }
}
