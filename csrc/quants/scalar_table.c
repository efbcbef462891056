/* Scalar path, quant family: dot product, from-float and to-float per type.
 * The scalar kernels ARE the reference ones: a separate scalar version would be the same
 * portable C (integer sums per block, then the scales), so the table points at the _ref
 * functions. ISA paths (csrc/arch/) start from this table and override what they accelerate. */
#include "kernels.h"
#include "quants/quants.h"

void pg_fill_scalar_quant(pg_kernels *k) {
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        k->to_float[t] = pg_type_traits_table[t].to_float_ref;
        k->from_float[t] = pg_type_traits_table[t].from_float_ref;
        k->vec_dot[t] = NULL;
        k->vec_dot_tile[t] = NULL;   /* no tiles on the scalar path: pg_vec_dot_tile loops */
    }
    k->from_float[PG_TYPE_Q8_0] = pg_quantize_row_q8_0_act_ref; /* activations, not weights */
    k->vec_dot[PG_TYPE_F32] = pg_vec_dot_f32_f32_ref;
    k->vec_dot[PG_TYPE_F16] = pg_vec_dot_f16_f16_ref;
    k->vec_dot[PG_TYPE_BF16] = pg_vec_dot_bf16_bf16_ref;
    k->vec_dot[PG_TYPE_Q4_0] = pg_vec_dot_q4_0_q8_0_ref;
    k->vec_dot[PG_TYPE_Q4_1] = pg_vec_dot_q4_1_q8_1_ref;
    k->vec_dot[PG_TYPE_Q5_0] = pg_vec_dot_q5_0_q8_0_ref;
    k->vec_dot[PG_TYPE_Q5_1] = pg_vec_dot_q5_1_q8_1_ref;
    k->vec_dot[PG_TYPE_Q8_0] = pg_vec_dot_q8_0_q8_0_ref;
    k->vec_dot[PG_TYPE_Q2_K] = pg_vec_dot_q2_K_q8_K_ref;
    k->vec_dot[PG_TYPE_Q3_K] = pg_vec_dot_q3_K_q8_K_ref;
    k->vec_dot[PG_TYPE_Q4_K] = pg_vec_dot_q4_K_q8_K_ref;
    k->vec_dot[PG_TYPE_Q5_K] = pg_vec_dot_q5_K_q8_K_ref;
    k->vec_dot[PG_TYPE_Q6_K] = pg_vec_dot_q6_K_q8_K_ref;
}
