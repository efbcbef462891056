/* Portable reference converters, one pair per type: pg_quantize_row_<t>_ref (n floats -> n/QK
 * blocks) and pg_dequantize_row_<t>_ref (blocks -> floats). n is a multiple of the block size.
 * Also the reference vec_dot kernels pg_vec_dot_<w>_<a>_ref (ground truth for every path).
 * Where they live: float_ref.c (F32/F16/BF16), q4_q5_q8.c (32-blocks), k_quants.c (K-quant
 * dequantize, Q8_K, K dots), k_quantize.c (K-quant quantizers). docs/quants.md: exactness, NaN
 * policy, K-quant RMSE vs ggml. */
#ifndef PG_QUANTS_H
#define PG_QUANTS_H

#include <stdint.h>

#include "quants/blocks.h"

#define PG_DECLARE_ROW_CONVERTERS(t)                                         \
    void pg_quantize_row_##t##_ref(const float *x, void *y, int64_t n);      \
    void pg_dequantize_row_##t##_ref(const void *x, float *y, int64_t n);

void pg_to_float_f32_ref(const void *x, float *y, int64_t n);
void pg_from_float_f32_ref(const float *x, void *y, int64_t n);
PG_DECLARE_ROW_CONVERTERS(f16)
PG_DECLARE_ROW_CONVERTERS(bf16)
PG_DECLARE_ROW_CONVERTERS(q4_0)
PG_DECLARE_ROW_CONVERTERS(q4_1)
PG_DECLARE_ROW_CONVERTERS(q5_0)
PG_DECLARE_ROW_CONVERTERS(q5_1)
PG_DECLARE_ROW_CONVERTERS(q8_0)
PG_DECLARE_ROW_CONVERTERS(q8_1)
/* Q8_0 as an activation (vec_dot partner): ggml's x86 rounding, see q4_q5_q8.c */
void pg_quantize_row_q8_0_act_ref(const float *x, void *y, int64_t n);
PG_DECLARE_ROW_CONVERTERS(q2_K)
PG_DECLARE_ROW_CONVERTERS(q3_K)
PG_DECLARE_ROW_CONVERTERS(q4_K)
PG_DECLARE_ROW_CONVERTERS(q5_K)
PG_DECLARE_ROW_CONVERTERS(q6_K)
PG_DECLARE_ROW_CONVERTERS(q8_K)

/* reference dot products: x = weight row, y = activation row of the partner type */
void pg_vec_dot_f32_f32_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_f16_f16_ref(int n, float *s, const void *x, const void *y);
/* ggml's single-row order (csrc/quants/gemv_ref.c) */
typedef float (*pg_elem_fn)(const void *p, size_t i);   /* element i of a row as F32 */
float pg_elem_f32(const void *p, size_t i);
float pg_elem_f16(const void *p, size_t i);
/* the lanes' sum over elements i < np (np % 32 == 0) of x[i * x_stride] * y[i]: element i feeds
 * lane i % 8 of accumulator (i / 8) % 4 by FMA, then (a0 + a2) + (a1 + a3) and the lane tree */
float pg_gemv_lanes(int np, const void *x, size_t x_stride, pg_elem_fn x_elem, const void *y, pg_elem_fn y_elem);
void pg_vec_dot_f32_gemv_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_f16_gemv_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q4_K_q8_K_gemv_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_bf16_bf16_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q4_0_q8_0_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q4_1_q8_1_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q5_0_q8_0_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q5_1_q8_1_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q8_0_q8_0_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q2_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q3_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q4_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q5_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q6_K_q8_K_ref(int n, float *s, const void *x, const void *y);

#endif
