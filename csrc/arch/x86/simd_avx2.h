/* Named AVX2 building blocks of the quant kernels (compiled with -mavx2 -mfma -mf16c).
 * Integer dot products use maddubs (u8 x s8 -> pairs summed into i16) then madd (pairs of i16
 * -> i32): every product sum stays exact as long as one operand is within [0, 128] and the
 * other within [-127, 127], which holds for every code the quantizers produce. */
#ifndef PG_SIMD_AVX2_H
#define PG_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* 16 bytes of packed 4-bit codes -> 32 bytes in [0, 15]: the low nibbles (elements 0..15)
 * then the high nibbles (elements 16..31), the layout of the 32-element block types. */
static inline __m256i bytes_from_nibbles_32(const uint8_t *qs) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/* 32 bits (4 little-endian bytes) -> 32 bytes, 0xff where bit j is set, else 0. */
static inline __m256i bytes_from_bits_32(const uint8_t *bits) {
    uint32_t word;
    memcpy(&word, bits, 4);
    /* byte j of the result takes source byte j / 8, then tests its bit j % 8 */
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)word),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit_of_byte = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte);
}

/* 8 x i32: each the sum of 4 adjacent products u[i] * s[i] (u unsigned, s signed bytes). */
static inline __m256i mul_sum_us8_pairs_i32(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for two signed operands: |x| times y with x's sign moved onto y (y != -128). */
static inline __m256i mul_sum_i8_pairs_i32(__m256i x, __m256i y) {
    return mul_sum_us8_pairs_i32(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 8 x i32: products of 32 codes u (unsigned) with 32 int8 activations, summed per 16-element
 * group and weighted by that group's scale: lanes 0..3 carry scale_lo (elements 0..15), lanes
 * 4..7 scale_hi (elements 16..31). scale_pair holds scale_lo in its 8 low i16, scale_hi in its
 * 8 high i16. */
static inline __m256i mul_sum_scaled_16(__m256i u, const int8_t *q8, __m256i scale_pair) {
    const __m256i pairs = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)q8));
    return _mm256_madd_epi16(pairs, scale_pair);
}

/* scale_pair for mul_sum_scaled_16 from 16 int8 scales: scale lo for elements 0..15, scale hi
 * for 16..31 (groups 2c, 2c + 1 of 16, or lo = hi = c for groups of 32) */
static inline __m256i scale_pair_i16(__m128i scales_i8, int lo, int hi) {
    const long long lo_bytes = (long long)(0x0101010101010101ull * (uint64_t)lo);
    const long long hi_bytes = (long long)(0x0101010101010101ull * (uint64_t)hi);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales_i8, _mm_set_epi64x(hi_bytes, lo_bytes)));
}

/* 4 little-endian words (see arch/k_scales.h) -> 16 bytes in a register */
static inline __m128i words_to_bytes_16(const uint32_t w[4]) {
    return _mm_setr_epi32((int)w[0], (int)w[1], (int)w[2], (int)w[3]);
}

static inline float hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* lane-sums of one vector in ggml's vec_dot_f16 gemv order: (l0+l4 + l1+l5) + (l2+l6 + l3+l7) */
static inline float reduce1_gemv(__m256 v) {
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

/* reduce1_gemv of 8 vectors at once: result lane i = reduce1_gemv(v[i]). Pairs (i, i + 4) share
 * a register after the lo + hi step; two rounds of hadd then give the same sums in order. */
static inline __m256 reduce8_gemv(const __m256 v[8]) {
    __m256 s[4];
    for (int i = 0; i < 4; i++)
        s[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[i], v[i + 4], 0x20), _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
    return _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
}

static inline int32_t hsum_i32x4(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
}

static inline int32_t hsum_i32x8(__m256i v) {
    return hsum_i32x4(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

static inline float fp16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

#endif
