/* NEON dot products of the float types (F32, F16, BF16) and pg_fill_neon_quant, which picks
 * the int8 flavour (dotprod or widening) for this CPU. */
#include "arch/arm/quants_neon.h"

#include "arch/arm/simd_neon.h"

/* ---- float types: 4 elements -> float32x4_t, four accumulators, a scalar tail ---- */

static inline float32x4_t load4_f32(const float *p) { return vld1q_f32(p); }
static inline float32x4_t load4_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline float32x4_t load4_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline float scalar_f32(float v) { return v; }

#define DEFINE_FLOAT_DOT(T, ELEM, TO_F32)                                                     \
    static void pg_vec_dot_##T##_##T##_neon(int n, float *s, const void *vx, const void *vy) { \
        const ELEM *x = vx, *y = vy;                                                          \
        float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; \
        int i = 0;                                                                            \
        for (; i + 16 <= n; i += 16)                                                          \
            for (int k = 0; k < 4; k++)                                                       \
                acc[k] = vfmaq_f32(acc[k], load4_##T(x + i + 4 * k), load4_##T(y + i + 4 * k)); \
        for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], load4_##T(x + i), load4_##T(y + i)); \
        float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]))); \
        for (; i < n; i++) sum += TO_F32(x[i]) * TO_F32(y[i]);                                \
        *s = sum;                                                                             \
    }

DEFINE_FLOAT_DOT(f32, float, scalar_f32)
DEFINE_FLOAT_DOT(f16, uint16_t, fp16_to_f32)
DEFINE_FLOAT_DOT(bf16, uint16_t, pg_bf16_to_fp32)

#define SET_DOT(flavour, w, a, W) k->vec_dot[PG_TYPE_##W] = pg_vec_dot_##w##_##a##_neon_##flavour;
#define SET_INT8_DOTS(flavour)                  \
    SET_DOT(flavour, q4_0, q8_0, Q4_0)          \
    SET_DOT(flavour, q4_1, q8_1, Q4_1)          \
    SET_DOT(flavour, q5_0, q8_0, Q5_0)          \
    SET_DOT(flavour, q5_1, q8_1, Q5_1)          \
    SET_DOT(flavour, q8_0, q8_0, Q8_0)          \
    SET_DOT(flavour, q2_K, q8_K, Q2_K)          \
    SET_DOT(flavour, q3_K, q8_K, Q3_K)          \
    SET_DOT(flavour, q4_K, q8_K, Q4_K)          \
    SET_DOT(flavour, q5_K, q8_K, Q5_K)          \
    SET_DOT(flavour, q6_K, q8_K, Q6_K)

void pg_fill_neon_quant_flavour(pg_kernels *k, int use_dotprod) {
    if (use_dotprod) {
        SET_INT8_DOTS(dotprod)
    } else {
        SET_INT8_DOTS(widen)
    }
    k->vec_dot[PG_TYPE_F32] = pg_vec_dot_f32_f32_neon;
    k->vec_dot[PG_TYPE_F16] = pg_vec_dot_f16_f16_neon;
    k->vec_dot[PG_TYPE_BF16] = pg_vec_dot_bf16_bf16_neon;
    k->from_float[PG_TYPE_F16] = pg_quantize_row_f16_neon;
    k->from_float[PG_TYPE_Q8_0] = pg_quantize_row_q8_0_neon;
    k->from_float[PG_TYPE_Q8_1] = pg_quantize_row_q8_1_neon;
    k->from_float[PG_TYPE_Q8_K] = pg_quantize_row_q8_K_neon;
}

void pg_fill_neon_quant(pg_kernels *k) { pg_fill_neon_quant_flavour(k, pg_cpu_has_arm_dotprod()); }
