/* Scalar path, quant family: converters and dot products per type. */
#include "kernels.h"

void pg_fill_scalar_quant(pg_kernels *k) {
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        k->to_float[t] = pg_type_traits_table[t].to_float_ref;
        k->from_float[t] = pg_type_traits_table[t].from_float_ref;
    }
}
