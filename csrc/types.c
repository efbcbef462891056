/* The type-trait table, indexed by ggml type id. Adding a type = one row + its kernels.
 * to_float_ref / from_float_ref point at the portable reference converters in csrc/quants/. */
#include "kernels.h"
#include "quants/quants.h"

#define ROW(id, nm, blck, size, quant, to, from, vdt) \
    [id] = {.name = nm, .blck_size = blck, .type_size = size, .is_quantized = quant, .known = true, \
            .to_float_ref = to, .from_float_ref = from, .vec_dot_type = vdt}

const pg_type_traits pg_type_traits_table[PG_TYPE_COUNT] = {
    ROW(PG_TYPE_F32, "f32", 1, 4, false, pg_to_float_f32_ref, pg_from_float_f32_ref, PG_TYPE_F32),
    ROW(PG_TYPE_F16, "f16", 1, 2, false, pg_dequantize_row_f16_ref, pg_quantize_row_f16_ref, PG_TYPE_F16),
    ROW(PG_TYPE_BF16, "bf16", 1, 2, false, pg_dequantize_row_bf16_ref, pg_quantize_row_bf16_ref, PG_TYPE_BF16),
    ROW(PG_TYPE_Q4_0, "q4_0", 32, 18, true, pg_dequantize_row_q4_0_ref, pg_quantize_row_q4_0_ref, PG_TYPE_Q8_0),
    ROW(PG_TYPE_Q4_1, "q4_1", 32, 20, true, pg_dequantize_row_q4_1_ref, pg_quantize_row_q4_1_ref, PG_TYPE_Q8_1),
    ROW(PG_TYPE_Q5_0, "q5_0", 32, 22, true, pg_dequantize_row_q5_0_ref, pg_quantize_row_q5_0_ref, PG_TYPE_Q8_0),
    ROW(PG_TYPE_Q5_1, "q5_1", 32, 24, true, pg_dequantize_row_q5_1_ref, pg_quantize_row_q5_1_ref, PG_TYPE_Q8_1),
    ROW(PG_TYPE_Q8_0, "q8_0", 32, 34, true, pg_dequantize_row_q8_0_ref, pg_quantize_row_q8_0_ref, PG_TYPE_Q8_0),
    ROW(PG_TYPE_Q8_1, "q8_1", 32, 36, true, pg_dequantize_row_q8_1_ref, pg_quantize_row_q8_1_ref, -1),
    ROW(PG_TYPE_Q2_K, "q2_K", 256, 84, true, pg_dequantize_row_q2_K_ref, pg_quantize_row_q2_K_ref, PG_TYPE_Q8_K),
    ROW(PG_TYPE_Q3_K, "q3_K", 256, 110, true, pg_dequantize_row_q3_K_ref, pg_quantize_row_q3_K_ref, PG_TYPE_Q8_K),
    ROW(PG_TYPE_Q4_K, "q4_K", 256, 144, true, pg_dequantize_row_q4_K_ref, pg_quantize_row_q4_K_ref, PG_TYPE_Q8_K),
    ROW(PG_TYPE_Q5_K, "q5_K", 256, 176, true, pg_dequantize_row_q5_K_ref, pg_quantize_row_q5_K_ref, PG_TYPE_Q8_K),
    ROW(PG_TYPE_Q6_K, "q6_K", 256, 210, true, pg_dequantize_row_q6_K_ref, pg_quantize_row_q6_K_ref, PG_TYPE_Q8_K),
    ROW(PG_TYPE_Q8_K, "q8_K", 256, 292, true, pg_dequantize_row_q8_K_ref, pg_quantize_row_q8_K_ref, -1),
    /* known to the format, not computable by pyggml (yet): no converters */
    ROW(PG_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ2_XS, "iq2_xs", 256, 74, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ1_S, "iq1_s", 256, 50, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ4_NL, "iq4_nl", 32, 18, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ3_S, "iq3_s", 256, 110, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ2_S, "iq2_s", 256, 82, true, NULL, NULL, -1),
    ROW(PG_TYPE_IQ4_XS, "iq4_xs", 256, 136, true, NULL, NULL, -1),
    ROW(PG_TYPE_I8, "i8", 1, 1, false, NULL, NULL, -1),
    ROW(PG_TYPE_I16, "i16", 1, 2, false, NULL, NULL, -1),
    ROW(PG_TYPE_I32, "i32", 1, 4, false, NULL, NULL, -1),
    ROW(PG_TYPE_I64, "i64", 1, 8, false, NULL, NULL, -1),
    ROW(PG_TYPE_F64, "f64", 1, 8, false, NULL, NULL, -1),
    ROW(PG_TYPE_IQ1_M, "iq1_m", 256, 56, true, NULL, NULL, -1),
    ROW(PG_TYPE_TQ1_0, "tq1_0", 256, 54, true, NULL, NULL, -1),
    ROW(PG_TYPE_TQ2_0, "tq2_0", 256, 66, true, NULL, NULL, -1),
    ROW(PG_TYPE_MXFP4, "mxfp4", 32, 17, true, NULL, NULL, -1),
};

bool pg_type_is_known(int type) {
    return type >= 0 && type < PG_TYPE_COUNT && pg_type_traits_table[type].known;
}
int64_t pg_blck_size(int type) { return pg_type_traits_table[type].blck_size; }
size_t pg_type_size(int type) { return pg_type_traits_table[type].type_size; }
const char *pg_type_name(int type) { return pg_type_is_known(type) ? pg_type_traits_table[type].name : "unknown"; }
size_t pg_row_size(int type, int64_t ne0) {
    return pg_type_size(type) * (size_t)(ne0 / pg_blck_size(type));
}
