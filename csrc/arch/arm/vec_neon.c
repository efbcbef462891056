/* NEON (ARMv8) versions of the F32 vector primitives: 4 lanes per step, then one scalar tail
 * that hands the remaining n % 4 elements to the reference (vec_ref.c). F16 via vcvt_f32_f16.
 * exp is the same polynomial as the AVX2 path (exp_f32x4); its error is measured by tests/c. */
#include <arm_neon.h>

#include "kernels.h"
#include "ops/vec_ref.h"

/* ---- named helpers ---- */

static inline void acc_f64(float32x4_t v, float64x2_t *lo, float64x2_t *hi) {
    *lo = vaddq_f64(*lo, vcvt_f64_f32(vget_low_f32(v)));
    *hi = vaddq_f64(*hi, vcvt_high_f64_f32(v));
}

/* 2^n for integer n in [-126, 127], built in the exponent field. */
static inline float32x4_t pow2i_f32x4(int32x4_t n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23));
}

/* exp(x): see exp_f32x8 in arch/x86/vec_avx2.c for the method (Cody-Waite reduction,
 * degree-7 Taylor polynomial, 2^n applied in two halves). vminq/vmaxq propagate NaN. */
static inline float32x4_t exp_f32x4(float32x4_t x) {
    x = vminq_f32(x, vdupq_n_f32(89.0f));
    x = vmaxq_f32(x, vdupq_n_f32(-104.0f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t n1 = vshrq_n_s32(ni, 1);
    int32x4_t n2 = vsubq_s32(ni, n1);
    return vmulq_f32(vmulq_f32(p, pow2i_f32x4(n1)), pow2i_f32x4(n2));
}

static inline float32x4_t silu_f32x4(float32x4_t x) {
    float32x4_t e = exp_f32x4(vnegq_f32(x));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), e));
}

static inline float32x4_t load_f16x4(const uint16_t *x) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x)));
}

/* ---- the primitives ---- */

static void vec_add_f32_neon(int n, float *z, const float *x, const float *y) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(z + i, vaddq_f32(vld1q_f32(x + i), vld1q_f32(y + i)));
    pg_vec_add_f32_ref(n - i, z + i, x + i, y + i);
}

static void vec_mul_f32_neon(int n, float *z, const float *x, const float *y) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(z + i, vmulq_f32(vld1q_f32(x + i), vld1q_f32(y + i)));
    pg_vec_mul_f32_ref(n - i, z + i, x + i, y + i);
}

static void vec_scale_f32_neon(int n, float *y, float v) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), v));
    pg_vec_scale_f32_ref(n - i, y + i, v);
}

static void vec_mad_f32_neon(int n, float *y, const float *x, float v) {
    const float32x4_t vv = vdupq_n_f32(v);
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), vld1q_f32(x + i), vv));
    pg_vec_mad_f32_ref(n - i, y + i, x + i, v);
}

static void vec_mad_f16_neon(int n, float *y, const uint16_t *x, float v) {
    const float32x4_t vv = vdupq_n_f32(v);
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), load_f16x4(x + i), vv));
    pg_vec_mad_f16_ref(n - i, y + i, x + i, v);
}

/* vmaxnmq (IEEE maxNum) returns the number when one operand is NaN: NaN lanes are ignored. */
static float vec_max_f32_neon(int n, const float *x) {
    float32x4_t m = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxnmq_f32(m, vld1q_f32(x + i));
    float best = vmaxnmvq_f32(m);
    float tail = pg_vec_max_f32_ref(n - i, x + i);
    return tail > best ? tail : best;
}

/* the squares 4 at a time in float; their sum in order in double, as the reference (and
 * llama.cpp's rms_norm) does: an in-order double sum does not vectorise */
static double vec_sum_sq_f32_neon(int n, const float *x) {
    float sq[4];
    double s = 0.0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        vst1q_f32(sq, vmulq_f32(v, v));
        for (int k = 0; k < 4; k++) s += (double)sq[k];
    }
    return s + pg_vec_sum_sq_f32_ref(n - i, x + i);
}

static double vec_soft_max_f32_neon(int n, float *y, const float *x, float max) {
    const float32x4_t vmax = vdupq_n_f32(max);
    float64x2_t lo = vdupq_n_f64(0.0), hi = vdupq_n_f64(0.0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_f32x4(vsubq_f32(vld1q_f32(x + i), vmax));
        vst1q_f32(y + i, e);
        acc_f64(e, &lo, &hi);
    }
    return vaddvq_f64(vaddq_f64(lo, hi)) + pg_vec_soft_max_f32_ref(n - i, y + i, x + i, max);
}

static void vec_silu_f32_neon(int n, float *y, const float *x) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, silu_f32x4(vld1q_f32(x + i)));
    pg_vec_silu_f32_ref(n - i, y + i, x + i);
}

static void vec_swiglu_f32_neon(int n, float *y, const float *x, const float *g) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(silu_f32x4(vld1q_f32(x + i)), vld1q_f32(g + i)));
    pg_vec_swiglu_f32_ref(n - i, y + i, x + i, g + i);
}

static void vec_cvt_f32_f16_neon(int n, uint16_t *y, const float *x) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    pg_vec_cvt_f32_f16_ref(n - i, y + i, x + i);
}

static void vec_cvt_f16_f32_neon(int n, float *y, const uint16_t *x) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, load_f16x4(x + i));
    pg_vec_cvt_f16_f32_ref(n - i, y + i, x + i);
}

void pg_fill_neon_vec(pg_kernels *k) {
    k->vec_add_f32 = vec_add_f32_neon;
    k->vec_mul_f32 = vec_mul_f32_neon;
    k->vec_scale_f32 = vec_scale_f32_neon;
    k->vec_mad_f32 = vec_mad_f32_neon;
    k->vec_mad_f16 = vec_mad_f16_neon;
    k->vec_max_f32 = vec_max_f32_neon;
    k->vec_sum_sq_f32 = vec_sum_sq_f32_neon;
    k->vec_soft_max_f32 = vec_soft_max_f32_neon;
    k->vec_silu_f32 = vec_silu_f32_neon;
    k->vec_swiglu_f32 = vec_swiglu_f32_neon;
    k->vec_cvt_f32_f16 = vec_cvt_f32_f16_neon;
    k->vec_cvt_f16_f32 = vec_cvt_f16_f32_neon;
}
