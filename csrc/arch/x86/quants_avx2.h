/* The AVX2 quant kernels, split over quants_avx2.c (32-element block types, float types, the
 * fill function), quants_avx2_k.c (K-quant dot products) and quants_avx2_act.c (quantizing rows
 * of activations). Signatures as pg_vec_dot_fn / pg_from_float_fn in kernels.h. */
#ifndef PG_QUANTS_AVX2_H
#define PG_QUANTS_AVX2_H

#include <stdint.h>

void pg_vec_dot_q2_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q3_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q4_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q5_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void pg_vec_dot_q6_K_q8_K_avx2(int n, float *s, const void *x, const void *y);

void pg_quantize_row_q8_0_avx2(const float *x, void *y, int64_t n);
void pg_quantize_row_q8_1_avx2(const float *x, void *y, int64_t n);
void pg_quantize_row_q8_K_avx2(const float *x, void *y, int64_t n);
void pg_quantize_row_f16_avx2(const float *x, void *y, int64_t n);

#endif
