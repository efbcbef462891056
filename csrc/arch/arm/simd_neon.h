/* Named NEON (AArch64) building blocks of the quant kernels. */
#ifndef PG_SIMD_NEON_H
#define PG_SIMD_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

/* packed 4-bit codes: byte j holds element j (low nibble) and element j + 16 (high nibble) */
static inline int8x16_t low_nibbles(uint8x16_t b) { return vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0f))); }
static inline int8x16_t high_nibbles(uint8x16_t b) { return vreinterpretq_s8_u8(vshrq_n_u8(b, 4)); }

/* 32 bits (4 little-endian bytes) -> 32 bytes, 0x10 where bit j is set, else 0: the fifth bit
 * of the 5-bit codes. val[0] holds bits 0..15, val[1] bits 16..31. */
static inline uint8x16x2_t fifth_bits_32(const uint8_t *bits) {
    uint32_t word;
    memcpy(&word, bits, 4);
    const uint8x16_t src = vreinterpretq_u8_u32(vdupq_n_u32(word));
    /* byte j takes source byte j / 8 and tests its bit j % 8 */
    static const uint8_t SPREAD_LO[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t SPREAD_HI[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t BIT_OF_BYTE[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bit = vld1q_u8(BIT_OF_BYTE), sixteen = vdupq_n_u8(0x10);
    uint8x16x2_t r;
    r.val[0] = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(SPREAD_LO)), bit), sixteen);
    r.val[1] = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(SPREAD_HI)), bit), sixteen);
    return r;
}

static inline float fp16_to_f32(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}

/* sum_g w[g] * v[g] over 16 int16 groups (v = bsums) with 16 int8 weights */
static inline int32_t weighted_sum_16(const int16_t v[16], int8x16_t w) {
    const int16x8_t w_lo = vmovl_s8(vget_low_s8(w)), w_hi = vmovl_s8(vget_high_s8(w));
    int32x4_t acc = vmull_s16(vget_low_s16(vld1q_s16(v)), vget_low_s16(w_lo));
    acc = vmlal_s16(acc, vget_high_s16(vld1q_s16(v)), vget_high_s16(w_lo));
    acc = vmlal_s16(acc, vget_low_s16(vld1q_s16(v + 8)), vget_low_s16(w_hi));
    acc = vmlal_s16(acc, vget_high_s16(vld1q_s16(v + 8)), vget_high_s16(w_hi));
    return vaddvq_s32(acc);
}

#endif
