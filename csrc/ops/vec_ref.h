/* Portable reference versions of the F32 vector primitives of pg_kernels (csrc/kernels.h):
 * the ground truth every path (scalar, AVX2, NEON) is tested against. Plain loops, libm's
 * expf/tanhf, sums in double. Same signatures and contracts as the table entries.
 *
 * NaN policy (all paths): elementwise ops propagate NaN; vec_max_f32 ignores NaN (an all-NaN
 * or empty input gives -INF); sums containing NaN are NaN. */
#ifndef PG_VEC_REF_H
#define PG_VEC_REF_H

#include <stdint.h>

void pg_vec_add_f32_ref(int n, float *z, const float *x, const float *y);
void pg_vec_mul_f32_ref(int n, float *z, const float *x, const float *y);
void pg_vec_scale_f32_ref(int n, float *y, float v);
void pg_vec_mad_f32_ref(int n, float *y, const float *x, float v);
void pg_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float v);
float pg_vec_max_f32_ref(int n, const float *x);
double pg_vec_sum_sq_f32_ref(int n, const float *x);
double pg_vec_soft_max_f32_ref(int n, float *y, const float *x, float max);
void pg_vec_silu_f32_ref(int n, float *y, const float *x);
void pg_vec_swiglu_f32_ref(int n, float *y, const float *x, const float *g);
void pg_vec_cvt_f32_f16_ref(int n, uint16_t *y, const float *x);
void pg_vec_cvt_f16_f32_ref(int n, float *y, const uint16_t *x);
void pg_vec_rope_f32_ref(int n_dims, int neox, float *y, const float *x, const float *cache);
void pg_vec_pv8_f32_ref(int n, int dv, float *out, const float *v, size_t block_stride, const float *p);
void pg_attn_scores_f16_ref(int n, int dk, int nq, float *s, size_t s_stride, const uint16_t *k, size_t k_stride,
                            const uint16_t *q);
void pg_attn_pv_f16_ref(int n, int nd, int nh, float *out, size_t out_stride, const uint16_t *v, size_t v_stride,
                        const float *p, size_t p_stride);
void pg_attn_block_scores_ref(int dk, int nb, int nr, float *s, size_t s_stride, const float *q, const float *kt,
                              float scale, const float *const *mask, int n_valid);
void pg_attn_block_pv_ref(int n, int dv, int nr, float *out, size_t out_stride, const float *v, size_t block_stride,
                          const float *p, size_t p_stride);

/* The scalar elementwise functions behind the refs (ggml's formulas). */
#include <math.h>

#define PG_SQRT_2_OVER_PI 0.79788456080286535587989211986876f
#define PG_GELU_COEF_A 0.044715f

static inline float pg_silu_ref(float x) { return x / (1.0f + expf(-x)); }
/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). The inner
 * 1 + a x x is one fmaf, as llama.cpp's FMA build contracts it: its F16 table then matches
 * ggml_table_gelu_f16 in all entries (the plain form differs at x = -1.9990234). */
static inline float pg_gelu_ref(float x) {
    return 0.5f * x * (1.0f + tanhf(PG_SQRT_2_OVER_PI * x * fmaf(PG_GELU_COEF_A * x, x, 1.0f)));
}

#endif
