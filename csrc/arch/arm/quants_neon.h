/* The NEON quant kernels, split over quants_neon.c (float types, the fill function),
 * quants_neon_act.c (quantizing rows of activations) and the int8 dot products of
 * quants_neon_int8.h, instantiated twice: quants_neon_dotprod.c (SDOT, ARMv8.2 dotprod) and
 * quants_neon_widen.c (vmull + pairwise add, any ARMv8). */
#ifndef PG_QUANTS_NEON_H
#define PG_QUANTS_NEON_H

#include <stdint.h>

#include "kernels.h"

/* the int8 dot products, one set per flavour */
#define PG_NEON_INT8_DOTS(X) \
    X(q4_0_q8_0) X(q4_1_q8_1) X(q5_0_q8_0) X(q5_1_q8_1) X(q8_0_q8_0) \
    X(q2_K_q8_K) X(q3_K_q8_K) X(q4_K_q8_K) X(q5_K_q8_K) X(q6_K_q8_K)
#define PG_DECLARE_NEON_DOT(wa) \
    void pg_vec_dot_##wa##_neon_dotprod(int n, float *s, const void *x, const void *y); \
    void pg_vec_dot_##wa##_neon_widen(int n, float *s, const void *x, const void *y);
PG_NEON_INT8_DOTS(PG_DECLARE_NEON_DOT)

void pg_quantize_row_q8_0_neon(const float *x, void *y, int64_t n);
void pg_quantize_row_q8_1_neon(const float *x, void *y, int64_t n);
void pg_quantize_row_q8_K_neon(const float *x, void *y, int64_t n);
void pg_quantize_row_f16_neon(const float *x, void *y, int64_t n);

/* Fill the quant kernels with the dotprod flavour (only on a CPU that has it) or the widening
 * one. pg_fill_neon_quant picks by pg_cpu_has_arm_dotprod(); the tests run both. */
void pg_fill_neon_quant_flavour(pg_kernels *k, int use_dotprod);

#endif
