/* AVX2 dot products of the K-quants (super-blocks of 256) with Q8_K activations.
 * Per super-block the kernels compute the reference's integer sums exactly (codes taken
 * unsigned, then the offset removed through the activation's bsums), reduce them to one int,
 * and apply the float scales with the reference's formula (the compiler may fuse a multiply-add,
 * so the last bit can differ). Chunk c (elements 32c..32c+31) covers
 * the 16-element groups 2c and 2c + 1 or the 32-element group c. Q4_K and Q6_K follow
 * llama.cpp's float order exactly (see below); the others use the single-row formula above. */
#include <math.h>

#include "arch/k_scales.h"
#include "arch/x86/quants_avx2.h"
#include "arch/x86/simd_avx2.h"
#include "quants/blocks.h"

static inline __m128i load_16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline __m256i load_32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* sum_g weight[g] * bsums[g] over the 16 groups (weights as 16 int8) */
static inline int32_t weighted_bsums(const int16_t bsums[16], __m128i weights_i8) {
    return hsum_i32x8(_mm256_madd_epi16(load_32(bsums), _mm256_cvtepi8_epi16(weights_i8)));
}

/* ---- Q2_K: codes in [0, 3], 4-bit scale (low nibble) and min (high nibble) per group ---- */
void pg_vec_dot_q2_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i mask2 = _mm256_set1_epi8(3);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        const __m128i packed = load_16(x[ib].scales);
        const __m128i scales = _mm_and_si128(packed, _mm_set1_epi8(0x0f));
        const __m128i mins = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {                /* 128 elements share 32 code bytes */
            const __m256i bytes = load_32(x[ib].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const __m256i codes = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * j), mask2);
                acc = _mm256_add_epi32(acc, mul_sum_scaled_16(codes, y[ib].qs + 32 * c, scale_pair_i16(scales, 2 * c, 2 * c + 1)));
            }
        }
        const int32_t isum = hsum_i32x8(acc);
        const int32_t summs = weighted_bsums(y[ib].bsums, mins);
        const float dall = y[ib].d * fp16_to_f32(x[ib].d), dmin = y[ib].d * fp16_to_f32(x[ib].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

/* ---- Q3_K: code = 2 low bits + hmask bit << 2, value code - 4; 6-bit signed scales ---- */
void pg_vec_dot_q3_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i mask2 = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint32_t biased[4];
        q3_K_scales_biased(x[ib].scales, biased);
        const __m128i scales = _mm_sub_epi8(words_to_bytes_16(biased), _mm_set1_epi8(32));
        __m256i high = load_32(x[ib].hmask);     /* chunk c's high bit is bit c of hmask[l] */
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i bytes = load_32(x[ib].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * j), mask2);
                const __m256i codes = _mm256_or_si256(low, _mm256_and_si256(_mm256_slli_epi16(high, 2), bit2));
                high = _mm256_srli_epi16(high, 1);
                acc = _mm256_add_epi32(acc, mul_sum_scaled_16(codes, y[ib].qs + 32 * c, scale_pair_i16(scales, 2 * c, 2 * c + 1)));
            }
        }
        const int32_t isum = hsum_i32x8(acc) - 4 * weighted_bsums(y[ib].bsums, scales);
        sumf += (fp16_to_f32(x[ib].d) * y[ib].d) * (float)isum;
    }
    *s = sumf;
}

/* ---- Q4_K / Q5_K: 8 groups of 32 with 6-bit scales and mins ---- */

/* sum_g min[g] * (bsums[2g] + bsums[2g + 1]), mins in bytes 8..15 of scales_mins */
static inline int32_t k_min_term(const int16_t bsums[16], __m128i scales_mins) {
    const __m128i per_group = _mm_hadd_epi16(load_16(bsums), load_16(bsums + 8));
    const __m128i mins_i16 = _mm_cvtepu8_epi16(_mm_srli_si128(scales_mins, 8));
    return hsum_i32x4(_mm_madd_epi16(per_group, mins_i16));
}

static inline float k_superblock(int32_t isum, int32_t summs, pg_fp16 d, pg_fp16 dmin, float yd) {
    return (yd * fp16_to_f32(d)) * (float)isum - (yd * fp16_to_f32(dmin)) * (float)summs;
}

/* Q4_K as llama.cpp computes it on AVX2, where every Q4_K matrix with rows % 8 == 0 is
 * repacked (8-row interleave) and multiplied by its GEMM (activation rows in groups of 4) or
 * GEMV (the remaining rows). Both keep two float accumulators per output, scale terms and min
 * terms, and return scale_acc - min_acc; they differ in how often they round:
 *   GEMM: per 64 elements (groups 2c, 2c + 1)  acc = fma(isum_c, yd * d, acc), same for mins
 *   GEMV: per super-block                      acc = fma(isum, yd * d, acc), same for mins
 * (the GEMV: arch/x86/gemv_q4_K_avx2.c) */
typedef struct { int32_t scaled[4], mins[4]; } q4_K_pair_sums;

static inline void q4_K_superblock_sums(const block_q4_K *x, const block_q8_K *y, q4_K_pair_sums *out) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    uint32_t words[4];
    k_scales_mins_6bit(x->scales, words);
    const uint8_t *sm = (const uint8_t *)words;   /* bytes 0..7 scales, 8..15 mins */
    const __m128i sm_vec = words_to_bytes_16(words);
    for (int c = 0; c < 4; c++) {               /* 32 code bytes: group 2c low, 2c + 1 high nibbles */
        const __m256i bytes = load_32(x->qs + 32 * c);
        const __m256i lo = _mm256_and_si256(bytes, mask4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask4);
        out->scaled[c] = hsum_i32x8(_mm256_add_epi32(
            mul_sum_scaled_16(lo, y->qs + 64 * c, scale_pair_i16(sm_vec, 2 * c, 2 * c)),
            mul_sum_scaled_16(hi, y->qs + 64 * c + 32, scale_pair_i16(sm_vec, 2 * c + 1, 2 * c + 1))));
        out->mins[c] = sm[8 + 2 * c] * (y->bsums[4 * c] + y->bsums[4 * c + 1]) +
                       sm[8 + 2 * c + 1] * (y->bsums[4 * c + 2] + y->bsums[4 * c + 3]);
    }
}

void pg_vec_dot_q4_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        q4_K_pair_sums sums;
        q4_K_superblock_sums(&x[ib], &y[ib], &sums);
        const float dd = fp16_to_f32(x[ib].d) * y[ib].d, dm = fp16_to_f32(x[ib].dmin) * y[ib].d;
        for (int c = 0; c < 4; c++) {
            acc = fmaf((float)sums.scaled[c], dd, acc);
            acc_min = fmaf((float)sums.mins[c], dm, acc_min);
        }
    }
    *s = acc - acc_min;
}

void pg_vec_dot_q5_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i mask4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint32_t words[4];
        k_scales_mins_6bit(x[ib].scales, words);
        const __m128i sm = words_to_bytes_16(words);
        const int8_t *q8 = y[ib].qs;
        __m256i high = load_32(x[ib].qh);       /* group g's fifth bit is bit g of qh[l] */
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i bytes = load_32(x[ib].qs + 32 * c);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bytes, mask4),
                                               _mm256_and_si256(_mm256_slli_epi16(high, 4), bit4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask4),
                                               _mm256_and_si256(_mm256_slli_epi16(high, 3), bit4));
            high = _mm256_srli_epi16(high, 2);
            acc = _mm256_add_epi32(acc, mul_sum_scaled_16(lo, q8 + 64 * c, scale_pair_i16(sm, 2 * c, 2 * c)));
            acc = _mm256_add_epi32(acc, mul_sum_scaled_16(hi, q8 + 64 * c + 32, scale_pair_i16(sm, 2 * c + 1, 2 * c + 1)));
        }
        sumf += k_superblock(hsum_i32x8(acc), k_min_term(y[ib].bsums, sm), x[ib].d, x[ib].dmin, y[ib].d);
    }
    *s = sumf;
}

/* ---- Q6_K: code = low nibble (ql) + 2 high bits (qh) << 4, value code - 32; int8 scales ---- */
/* llama.cpp's AVX2 order (it runs plain vec_dot for Q6_K, no repack): per super-block 8 int
 * lanes, lane l = the unsigned codes' scaled products of bytes 4l..4l+3 of every 32-element
 * chunk minus 32 * (scale[2l] * bsums[2l] + scale[2l+1] * bsums[2l+1]); then per lane
 * acc = fma(yd * d, lane, acc), and one horizontal float sum at the end. */
void pg_vec_dot_q6_K_q8_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i mask4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int ib = 0; ib < n / QK_K; ib++) {
        const __m128i scales = load_16(x[ib].scales);
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load_32(y[ib].bsums), _mm256_cvtepi8_epi16(scales)), 5);
        __m256i lanes = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {           /* 128 elements: ql[64h..], qh[32h..] */
            const __m256i ql_a = load_32(x[ib].ql + 64 * h), ql_b = load_32(x[ib].ql + 64 * h + 32);
            const __m256i qh = load_32(x[ib].qh + 32 * h);
            /* chunk j takes qh bits 2j, 2j+1 (moved to bits 4, 5) and the nibble below */
            const __m256i codes[4] = {
                _mm256_or_si256(_mm256_and_si256(ql_a, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
                _mm256_or_si256(_mm256_and_si256(ql_b, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), mask4), _mm256_and_si256(qh, bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), mask4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
            };
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                lanes = _mm256_add_epi32(lanes, mul_sum_scaled_16(codes[j], y[ib].qs + 32 * c, scale_pair_i16(scales, 2 * c, 2 * c + 1)));
            }
        }
        const float dd = y[ib].d * fp16_to_f32(x[ib].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(_mm256_sub_epi32(lanes, offset)), acc);
    }
    *s = hsum_f32x8(acc);
}
