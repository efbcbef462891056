/* Kernel template: the NEON int8 dot products of every weight type with its Q8 partner.
 * Included once per flavour of multiplying int8 vectors; the includer defines
 *   DOT_I8(acc, a, b)  int32x4_t acc plus the 16 products a[i] * b[i] (int8), spread over the
 *                      4 lanes in any way (only the lane total or a common scale is used)
 *   KERNEL(wa)         the instance's name of pg_vec_dot_<wa>
 * Codes are made signed (offset removed) before the product, so per block / per group the
 * integer sums are the reference's exactly; for the 32-element types the 4 lanes are scaled
 * by d_x * d_y and accumulated in f32, the K-quants reduce to one int per super-block and
 * apply the scales as the reference does. */
#include "arch/arm/simd_neon.h"
#include "arch/k_scales.h"
#include "quants/blocks.h"

/* 32 int8 codes (two halves) times 32 activations */
static inline int32x4_t dot_32(int8x16_t x0, int8x16_t x1, const int8_t *q8) {
    return DOT_I8(DOT_I8(vdupq_n_s32(0), x0, vld1q_s8(q8)), x1, vld1q_s8(q8 + 16));
}

static inline float32x4_t scaled_lanes(float32x4_t acc, pg_fp16 dx, pg_fp16 dy, int32x4_t sums) {
    return vfmaq_n_f32(acc, vcvtq_f32_s32(sums), fp16_to_f32(dx) * fp16_to_f32(dy));
}

/* ---- the 32-element block types; *min_terms collects m_x * s_y of the offset types ---- */

static inline float32x4_t block_q4_0_q8_0(float32x4_t acc, float *min_terms, const block_q4_0 *x, const block_q8_0 *y) {
    (void)min_terms;
    const uint8x16_t b = vld1q_u8(x->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    return scaled_lanes(acc, x->d, y->d, dot_32(vsubq_s8(low_nibbles(b), eight), vsubq_s8(high_nibbles(b), eight), y->qs));
}

static inline float32x4_t block_q4_1_q8_1(float32x4_t acc, float *min_terms, const block_q4_1 *x, const block_q8_1 *y) {
    const uint8x16_t b = vld1q_u8(x->qs);
    *min_terms += fp16_to_f32(x->m) * fp16_to_f32(y->s);
    return scaled_lanes(acc, x->d, y->d, dot_32(low_nibbles(b), high_nibbles(b), y->qs));
}

static inline float32x4_t block_q5_0_q8_0(float32x4_t acc, float *min_terms, const block_q5_0 *x, const block_q8_0 *y) {
    (void)min_terms;
    const uint8x16_t b = vld1q_u8(x->qs);
    const uint8x16x2_t fifth = fifth_bits_32(x->qh);
    const int8x16_t sixteen = vdupq_n_s8(16);
    const int8x16_t x0 = vsubq_s8(vorrq_s8(low_nibbles(b), vreinterpretq_s8_u8(fifth.val[0])), sixteen);
    const int8x16_t x1 = vsubq_s8(vorrq_s8(high_nibbles(b), vreinterpretq_s8_u8(fifth.val[1])), sixteen);
    return scaled_lanes(acc, x->d, y->d, dot_32(x0, x1, y->qs));
}

static inline float32x4_t block_q5_1_q8_1(float32x4_t acc, float *min_terms, const block_q5_1 *x, const block_q8_1 *y) {
    const uint8x16_t b = vld1q_u8(x->qs);
    const uint8x16x2_t fifth = fifth_bits_32(x->qh);
    const int8x16_t x0 = vorrq_s8(low_nibbles(b), vreinterpretq_s8_u8(fifth.val[0]));
    const int8x16_t x1 = vorrq_s8(high_nibbles(b), vreinterpretq_s8_u8(fifth.val[1]));
    *min_terms += fp16_to_f32(x->m) * fp16_to_f32(y->s);
    return scaled_lanes(acc, x->d, y->d, dot_32(x0, x1, y->qs));
}

static inline float32x4_t block_q8_0_q8_0(float32x4_t acc, float *min_terms, const block_q8_0 *x, const block_q8_0 *y) {
    (void)min_terms;
    return scaled_lanes(acc, x->d, y->d, dot_32(vld1q_s8(x->qs), vld1q_s8(x->qs + 16), y->qs));
}

/* The row loop: two accumulators (two blocks in flight), one odd block at the end. */
#define DEFINE_BLOCK_DOT(W, A)                                                  \
    void KERNEL(W##_##A)(int n, float *s, const void *vx, const void *vy) {     \
        const block_##W *x = vx;                                                \
        const block_##A *y = vy;                                                \
        const int nb = n / 32;                                                  \
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);         \
        float min_terms = 0.0f;                                                 \
        int ib = 0;                                                             \
        for (; ib + 1 < nb; ib += 2) {                                          \
            acc0 = block_##W##_##A(acc0, &min_terms, &x[ib], &y[ib]);           \
            acc1 = block_##W##_##A(acc1, &min_terms, &x[ib + 1], &y[ib + 1]);   \
        }                                                                       \
        if (ib < nb) acc0 = block_##W##_##A(acc0, &min_terms, &x[ib], &y[ib]);  \
        *s = vaddvq_f32(vaddq_f32(acc0, acc1)) + min_terms;                     \
    }

DEFINE_BLOCK_DOT(q4_0, q8_0)
DEFINE_BLOCK_DOT(q4_1, q8_1)
DEFINE_BLOCK_DOT(q5_0, q8_0)
DEFINE_BLOCK_DOT(q5_1, q8_1)
DEFINE_BLOCK_DOT(q8_0, q8_0)

/* ---- K-quants: chunk c = elements 32c..32c+31 = groups 2c, 2c + 1 (16 each) or group c (32) ---- */

/* acc + scale_lo * (x0 . q8[0..16)) + scale_hi * (x1 . q8[16..32)) */
static inline int32x4_t scaled_dot_16x2(int32x4_t acc, int8x16_t x0, int8x16_t x1, const int8_t *q8, int scale_lo,
                                        int scale_hi) {
    acc = vmlaq_n_s32(acc, DOT_I8(vdupq_n_s32(0), x0, vld1q_s8(q8)), scale_lo);
    return vmlaq_n_s32(acc, DOT_I8(vdupq_n_s32(0), x1, vld1q_s8(q8 + 16)), scale_hi);
}

/* Q2_K: codes in [0, 3]; scales low nibble, mins high nibble, per 16 */
void KERNEL(q2_K_q8_K)(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t mask2 = vdupq_n_u8(3);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        const uint8_t *sc = x[ib].scales;
        const int8x16_t mins = vreinterpretq_s8_u8(vshrq_n_u8(vld1q_u8(sc), 4));
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16x2_t bytes = vld1q_u8_x2(x[ib].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const int8x16_t x0 = vreinterpretq_s8_u8(vandq_u8(bytes.val[0], mask2));
                const int8x16_t x1 = vreinterpretq_s8_u8(vandq_u8(bytes.val[1], mask2));
                acc = scaled_dot_16x2(acc, x0, x1, y[ib].qs + 32 * c, sc[2 * c] & 0x0f, sc[2 * c + 1] & 0x0f);
                bytes.val[0] = vshrq_n_u8(bytes.val[0], 2);
                bytes.val[1] = vshrq_n_u8(bytes.val[1], 2);
            }
        }
        const int32_t isum = vaddvq_s32(acc), summs = weighted_sum_16(y[ib].bsums, mins);
        const float dall = y[ib].d * fp16_to_f32(x[ib].d), dmin = y[ib].d * fp16_to_f32(x[ib].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

/* Q3_K: value = (2 low bits | hmask bit << 2) - 4; 6-bit signed scales per 16 */
void KERNEL(q3_K_q8_K)(int n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t mask2 = vdupq_n_u8(3), bit2 = vdupq_n_u8(4);
    const int8x16_t four = vdupq_n_s8(4);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint32_t biased[4];
        q3_K_scales_biased(x[ib].scales, biased);
        uint8x16x2_t high = vld1q_u8_x2(x[ib].hmask);   /* chunk c's high bit: bit c of hmask[l] */
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16x2_t bytes = vld1q_u8_x2(x[ib].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                int8x16_t v[2];
                for (int k = 0; k < 2; k++) {
                    const uint8x16_t code = vorrq_u8(vandq_u8(bytes.val[k], mask2), vandq_u8(vshlq_n_u8(high.val[k], 2), bit2));
                    v[k] = vsubq_s8(vreinterpretq_s8_u8(code), four);
                    bytes.val[k] = vshrq_n_u8(bytes.val[k], 2);
                    high.val[k] = vshrq_n_u8(high.val[k], 1);
                }
                acc = scaled_dot_16x2(acc, v[0], v[1], y[ib].qs + 32 * c, scale_byte(biased, 2 * c) - 32,
                                      scale_byte(biased, 2 * c + 1) - 32);
            }
        }
        sumf += (fp16_to_f32(x[ib].d) * y[ib].d) * (float)vaddvq_s32(acc);
    }
    *s = sumf;
}

/* Q4_K / Q5_K: sum_g min[g] * (bsums[2g] + bsums[2g + 1]), the mins in scale bytes 8..15 */
static inline int32_t k_min_term(const int16_t bsums[16], const uint32_t words[4]) {
    const int16x8_t per_group = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const uint8x8_t mins = vcreate_u8((uint64_t)words[3] << 32 | words[2]);
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(mins));
    int32x4_t acc = vmull_s16(vget_low_s16(per_group), vget_low_s16(m));
    acc = vmlal_s16(acc, vget_high_s16(per_group), vget_high_s16(m));
    return vaddvq_s32(acc);
}

static inline float k_superblock(int32_t isum, int32_t summs, pg_fp16 d, pg_fp16 dmin, float yd) {
    return (yd * fp16_to_f32(d)) * (float)isum - (yd * fp16_to_f32(dmin)) * (float)summs;
}

void KERNEL(q4_K_q8_K)(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint32_t sm[4];                         /* bytes: 8 scales, 8 mins */
        k_scales_mins_6bit(x[ib].scales, sm);
        const int8_t *q8 = y[ib].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {           /* 32 code bytes: group 2c low, 2c + 1 high nibbles */
            const uint8x16x2_t b = vld1q_u8_x2(x[ib].qs + 32 * c);
            acc = vmlaq_n_s32(acc, dot_32(low_nibbles(b.val[0]), low_nibbles(b.val[1]), q8 + 64 * c), scale_byte(sm, 2 * c));
            acc = vmlaq_n_s32(acc, dot_32(high_nibbles(b.val[0]), high_nibbles(b.val[1]), q8 + 64 * c + 32), scale_byte(sm, 2 * c + 1));
        }
        sumf += k_superblock(vaddvq_s32(acc), k_min_term(y[ib].bsums, sm), x[ib].d, x[ib].dmin, y[ib].d);
    }
    *s = sumf;
}

void KERNEL(q5_K_q8_K)(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint32_t sm[4];
        k_scales_mins_6bit(x[ib].scales, sm);
        const int8_t *q8 = y[ib].qs;
        uint8x16x2_t high = vld1q_u8_x2(x[ib].qh);       /* group g's fifth bit: bit g of qh[l] */
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16x2_t b = vld1q_u8_x2(x[ib].qs + 32 * c);
            int8x16_t lo[2], hi[2];
            for (int k = 0; k < 2; k++) {
                lo[k] = vorrq_s8(low_nibbles(b.val[k]), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(high.val[k], 4), bit4)));
                hi[k] = vorrq_s8(high_nibbles(b.val[k]), vreinterpretq_s8_u8(vandq_u8(vshlq_n_u8(high.val[k], 3), bit4)));
                high.val[k] = vshrq_n_u8(high.val[k], 2);
            }
            acc = vmlaq_n_s32(acc, dot_32(lo[0], lo[1], q8 + 64 * c), scale_byte(sm, 2 * c));
            acc = vmlaq_n_s32(acc, dot_32(hi[0], hi[1], q8 + 64 * c + 32), scale_byte(sm, 2 * c + 1));
        }
        sumf += k_superblock(vaddvq_s32(acc), k_min_term(y[ib].bsums, sm), x[ib].d, x[ib].dmin, y[ib].d);
    }
    *s = sumf;
}

/* Q6_K: value = (low nibble | 2 high bits << 4) - 32; int8 scales per 16 */
void KERNEL(q6_K_q8_K)(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t mask4 = vdupq_n_u8(0x0f), bits45 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        const int8_t *sc = x[ib].scales;
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {           /* 128 elements: ql[64h..], qh[32h..] */
            const uint8x16x2_t ql_a = vld1q_u8_x2(x[ib].ql + 64 * h), ql_b = vld1q_u8_x2(x[ib].ql + 64 * h + 32);
            const uint8x16x2_t qh = vld1q_u8_x2(x[ib].qh + 32 * h);
            int8x16_t v[4][2];                  /* chunk j takes qh bits 2j, 2j+1 and a nibble */
            for (int k = 0; k < 2; k++) {
                const uint8x16_t codes[4] = {
                    vorrq_u8(vandq_u8(ql_a.val[k], mask4), vandq_u8(vshlq_n_u8(qh.val[k], 4), bits45)),
                    vorrq_u8(vandq_u8(ql_b.val[k], mask4), vandq_u8(vshlq_n_u8(qh.val[k], 2), bits45)),
                    vorrq_u8(vshrq_n_u8(ql_a.val[k], 4), vandq_u8(qh.val[k], bits45)),
                    vorrq_u8(vshrq_n_u8(ql_b.val[k], 4), vandq_u8(vshrq_n_u8(qh.val[k], 2), bits45)),
                };
                for (int j = 0; j < 4; j++) v[j][k] = vsubq_s8(vreinterpretq_s8_u8(codes[j]), off);
            }
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                acc = scaled_dot_16x2(acc, v[j][0], v[j][1], y[ib].qs + 32 * c, sc[2 * c], sc[2 * c + 1]);
            }
        }
        sumf += (fp16_to_f32(x[ib].d) * y[ib].d) * (float)vaddvq_s32(acc);
    }
    *s = sumf;
}
