/* NEON row quantizers of the activation formats (Q8_0, Q8_1, Q8_K) and F32 -> F16.
 * Bit-identical to the _ref converters: the same IEEE operations in the same order (for
 * Q8_0/Q8_1 id = 127 / amax, as llama.cpp's x86 quantizer) and the same rounding rule
 * (FCVTNS = ties-to-even). A block whose id is not finite (Inf/NaN inputs, or 127 / amax
 * overflowing) goes to the reference quantizer, which defines those cases. */
#include <float.h>

#include "arch/arm/quants_neon.h"
#include "arch/arm/simd_neon.h"
#include "quants/blocks.h"
#include "quants/quants.h"

#define ABS_MASK 0x7fffffffu
#define INF_BITS 0x7f800000u

/* max |x| over 4*nv floats as bits: sign-cleared bits order every finite value as integers,
 * and Inf/NaN compare above all of them */
static inline uint32_t abs_max_bits(const float *x, int nv) {
    uint32x4_t m = vdupq_n_u32(0);
    for (int i = 0; i < nv; i++) m = vmaxq_u32(m, vandq_u32(vld1q_u32((const uint32_t *)(x + 4 * i)), vdupq_n_u32(ABS_MASK)));
    return vmaxvq_u32(m);
}

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t abs_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u & ABS_MASK; }

/* 8 int32x4 (already within [-127, 127]) -> 32 int8 */
static inline void narrow_store_32(int8_t *dst, const int32x4_t q[8]) {
    for (int h = 0; h < 2; h++) {
        const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
        const int16x8_t b = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
        vst1q_s8(dst + 16 * h, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
}

static inline int32x4_t clamp_127(int32x4_t v) { return vminq_s32(vmaxq_s32(v, vdupq_n_s32(-127)), vdupq_n_s32(127)); }

/* One 32-block of Q8_0/Q8_1 codes with a finite scale. Returns 0 (block untouched) if the
 * reference must handle it; else writes qs, *d and the sum of the codes. */
static inline int quantize_block_8bit(const float *x, int8_t *qs, float *d_out, int *sum_out) {
    const uint32_t amax_bits = abs_max_bits(x, 8);
    if (amax_bits >= INF_BITS) return 0;
    const float amax = bits_to_f32(amax_bits);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (!(id <= FLT_MAX)) return 0;
    int32x4_t q[8], sum = vdupq_n_s32(0);
    for (int k = 0; k < 8; k++) {
        q[k] = clamp_127(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id)));
        sum = vaddq_s32(sum, q[k]);
    }
    narrow_store_32(qs, q);
    *d_out = d;
    *sum_out = vaddvq_s32(sum);
    return 1;
}

static inline pg_fp16 f32_to_fp16(float v) {
    const __fp16 h = (__fp16)v;                  /* FCVT: round to nearest even */
    pg_fp16 bits;
    memcpy(&bits, &h, 2);
    return bits;
}

void pg_quantize_row_q8_0_neon(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_0; ib++, x += QK8_0) {
        float d;
        int sum;
        if (quantize_block_8bit(x, y[ib].qs, &d, &sum)) y[ib].d = f32_to_fp16(d);
        else pg_quantize_row_q8_0_act_ref(x, &y[ib], QK8_0);
    }
}

void pg_quantize_row_q8_1_neon(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_1; ib++, x += QK8_1) {
        float d;
        int sum;
        if (quantize_block_8bit(x, y[ib].qs, &d, &sum)) {
            y[ib].d = f32_to_fp16(d);
            y[ib].s = f32_to_fp16((float)sum * d);
        } else {
            pg_quantize_row_q8_1_ref(x, &y[ib], QK8_1);
        }
    }
}

/* Q8_K: scale from the signed element of largest magnitude (the first on ties), codes rounded
 * half to even and clamped to [-127, 127], bsums = sum of each 16 codes. */
void pg_quantize_row_q8_K_neon(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        const uint32_t amax_bits = abs_max_bits(x, QK_K / 4);
        if (amax_bits >= INF_BITS) { pg_quantize_row_q8_K_ref(x, &y[ib], QK_K); continue; }
        if (amax_bits == 0) { memset(&y[ib], 0, sizeof y[ib]); continue; }
        int first = 0;                          /* first element whose |x| is the maximum */
        for (int i = 0; i < QK_K; i += 4) {
            const uint32x4_t a = vandq_u32(vld1q_u32((const uint32_t *)(x + i)), vdupq_n_u32(ABS_MASK));
            if (vmaxvq_u32(vceqq_u32(a, vdupq_n_u32(amax_bits)))) {
                for (first = i; abs_bits(x[first]) != amax_bits; first++) {}
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        if (!(iscale >= -FLT_MAX && iscale <= FLT_MAX)) { pg_quantize_row_q8_K_ref(x, &y[ib], QK_K); continue; }
        for (int c = 0; c < QK_K / 32; c++) {
            int32x4_t q[8];
            for (int k = 0; k < 8; k++) q[k] = clamp_127(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 32 * c + 4 * k), iscale)));
            narrow_store_32(y[ib].qs + 32 * c, q);
            y[ib].bsums[2 * c] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
            y[ib].bsums[2 * c + 1] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
        }
        y[ib].d = 1.0f / iscale;
    }
}

/* FCVTN rounds to nearest even and keeps NaN payloads as the reference does */
void pg_quantize_row_f16_neon(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = pg_fp32_to_fp16(x[i]);
}
