/* AVX2 dot products of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 against their
 * Q8 partners) and of the float types, plus pg_fill_avx2_quant.
 * Per block the integer sum of code products is exact (as in the _ref kernels); it is scaled
 * by d_x * d_y and accumulated with FMA. The float summation order is llama.cpp's on AVX2, so
 * results match it bit for bit (docs/fidelity.md); only that order differs from the reference. */
#include "arch/x86/quants_avx2.h"

#include <math.h>

#include "arch/x86/simd_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* ---- per block: 8 lanes of exact integer partial sums of the code products ---- */

/* 5-bit codes: the nibbles with bit j of qh as their fifth bit, in [0, 31] */
static inline __m256i codes_5bit(const uint8_t qs[16], const uint8_t qh[4]) {
    const __m256i fifth = _mm256_and_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(bytes_from_nibbles_32(qs), fifth);
}

static inline __m256i load_q8(const int8_t *qs) { return _mm256_loadu_si256((const __m256i *)qs); }

static inline __m256i sums_q4_0(const block_q4_0 *x, const block_q8_0 *y) {
    return mul_sum_i8_pairs_i32(_mm256_sub_epi8(bytes_from_nibbles_32(x->qs), _mm256_set1_epi8(8)), load_q8(y->qs));
}
static inline __m256i sums_q4_1(const block_q4_1 *x, const block_q8_1 *y) {
    return mul_sum_us8_pairs_i32(bytes_from_nibbles_32(x->qs), load_q8(y->qs));
}
static inline __m256i sums_q5_0(const block_q5_0 *x, const block_q8_0 *y) {
    return mul_sum_i8_pairs_i32(_mm256_sub_epi8(codes_5bit(x->qs, x->qh), _mm256_set1_epi8(16)), load_q8(y->qs));
}
static inline __m256i sums_q5_1(const block_q5_1 *x, const block_q8_1 *y) {
    return mul_sum_us8_pairs_i32(codes_5bit(x->qs, x->qh), load_q8(y->qs));
}
/* x may hold -128 (any int8 a file stores): |x| = 128 still fits maddubs' unsigned operand */
static inline __m256i sums_q8_0(const block_q8_0 *x, const block_q8_0 *y) {
    return mul_sum_i8_pairs_i32(load_q8(x->qs), load_q8(y->qs));
}

/* the min terms m_x * s_y of the offset types (Q4_1, Q5_1); exact in f32 (two f16 factors) */
static inline float min_term_q4_1(const block_q4_1 *x, const block_q8_1 *y) { return fp16_to_f32(x->m) * fp16_to_f32(y->s); }
static inline float min_term_q5_1(const block_q5_1 *x, const block_q8_1 *y) { return fp16_to_f32(x->m) * fp16_to_f32(y->s); }
#define NO_MIN_TERM(W, A) \
    static inline float min_term_##W(const block_##W *x, const block_##A *y) { (void)x; (void)y; return 0.0f; }
NO_MIN_TERM(q5_0, q8_0)
NO_MIN_TERM(q8_0, q8_0)

/* llama.cpp's ggml_vec_dot_<W>_<A> order: 8 lanes, each accumulating its integer partial sum
 * of every block by FMA with d = d_x * d_y; lanes summed by hsum_f32x8 at the end; the min
 * terms summed block by block on the side and added last. */
#define DEFINE_BLOCK_DOT(W, A)                                                                   \
    static void pg_vec_dot_##W##_##A##_avx2(int n, float *s, const void *vx, const void *vy) {  \
        const block_##W *x = vx;                                                                 \
        const block_##A *y = vy;                                                                 \
        __m256 acc = _mm256_setzero_ps();                                                        \
        float sum_min = 0.0f;                                                                    \
        for (int ib = 0; ib < n / 32; ib++) {                                                    \
            const __m256 d = _mm256_set1_ps(fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d));       \
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums_##W(&x[ib], &y[ib])), acc);         \
            sum_min += min_term_##W(&x[ib], &y[ib]);                                             \
        }                                                                                        \
        *s = hsum_f32x8(acc) + sum_min;                                                          \
    }

DEFINE_BLOCK_DOT(q4_1, q8_1)
DEFINE_BLOCK_DOT(q5_0, q8_0)
DEFINE_BLOCK_DOT(q5_1, q8_1)
DEFINE_BLOCK_DOT(q8_0, q8_0)

/* Q4_0: llama.cpp repacks Q4_0 weights on AVX2 (8-row interleaved gemm/gemv), which sums each
 * block's 32 products in int32 and accumulates the blocks in order: acc = fma(sum, d, acc). */
static void pg_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int ib = 0; ib < n / 32; ib++)
        acc = fmaf((float)hsum_i32x8(sums_q4_0(&x[ib], &y[ib])), fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d), acc);
    *s = acc;
}

/* ---- float types ---- */

static inline __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline __m256 load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m256 load8_bf16(const uint16_t *p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
static inline float scalar_f32(float v) { return v; }

/* F32 and F16: llama.cpp's matmul for these (its tinyBLAS on AVX2): one 8-lane FMA
 * accumulator over the row, then hsum_f32x8; bit-equal to it (docs/fidelity.md). The n % 8
 * tail (llama.cpp takes another kernel then) is added last. */
#define DEFINE_FLOAT_DOT_1ACC(T, ELEM, TO_F32)                                                \
    static void pg_vec_dot_##T##_##T##_avx2(int n, float *s, const void *vx, const void *vy) { \
        const ELEM *x = vx, *y = vy;                                                          \
        __m256 acc = _mm256_setzero_ps();                                                     \
        int i = 0;                                                                            \
        for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(load8_##T(x + i), load8_##T(y + i), acc); \
        float sum = hsum_f32x8(acc);                                                          \
        for (; i < n; i++) sum += TO_F32(x[i]) * TO_F32(y[i]);                                \
        *s = sum;                                                                             \
    }

/* BF16: four 8-lane accumulators, then a scalar tail */
#define DEFINE_FLOAT_DOT(T, ELEM, TO_F32)                                                     \
    static void pg_vec_dot_##T##_##T##_avx2(int n, float *s, const void *vx, const void *vy) { \
        const ELEM *x = vx, *y = vy;                                                          \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),       \
                         _mm256_setzero_ps()};                                                \
        int i = 0;                                                                            \
        for (; i + 32 <= n; i += 32)                                                          \
            for (int k = 0; k < 4; k++)                                                       \
                acc[k] = _mm256_fmadd_ps(load8_##T(x + i + 8 * k), load8_##T(y + i + 8 * k), acc[k]); \
        for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load8_##T(x + i), load8_##T(y + i), acc[0]); \
        float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))); \
        for (; i < n; i++) sum += TO_F32(x[i]) * TO_F32(y[i]);                                \
        *s = sum;                                                                             \
    }

DEFINE_FLOAT_DOT_1ACC(f32, float, scalar_f32)
DEFINE_FLOAT_DOT_1ACC(f16, uint16_t, fp16_to_f32)
DEFINE_FLOAT_DOT(bf16, uint16_t, pg_bf16_to_fp32)

void pg_fill_avx2_quant(pg_kernels *k) {
    k->vec_dot[PG_TYPE_F32] = pg_vec_dot_f32_f32_avx2;
    k->vec_dot[PG_TYPE_F16] = pg_vec_dot_f16_f16_avx2;
    k->vec_dot[PG_TYPE_BF16] = pg_vec_dot_bf16_bf16_avx2;
    k->vec_dot[PG_TYPE_Q4_0] = pg_vec_dot_q4_0_q8_0_avx2;
    k->vec_dot[PG_TYPE_Q4_1] = pg_vec_dot_q4_1_q8_1_avx2;
    k->vec_dot[PG_TYPE_Q5_0] = pg_vec_dot_q5_0_q8_0_avx2;
    k->vec_dot[PG_TYPE_Q5_1] = pg_vec_dot_q5_1_q8_1_avx2;
    k->vec_dot[PG_TYPE_Q8_0] = pg_vec_dot_q8_0_q8_0_avx2;
    /* a lone activation row streams its weights one row at a time through vec_dot: measured
     * 1.1x (Q5_1), 1.4x (Q4_1), 2.6x (Q8_0) the rate of arch/x86/tile_avx2.c's 8-row tiles on a
     * 142 MB matrix, with the same values (those tiles repeat vec_dot's arithmetic) */
    k->vec_dot_gemv[PG_TYPE_Q4_1] = pg_vec_dot_q4_1_q8_1_avx2;
    k->vec_dot_gemv[PG_TYPE_Q5_1] = pg_vec_dot_q5_1_q8_1_avx2;
    k->vec_dot_gemv[PG_TYPE_Q8_0] = pg_vec_dot_q8_0_q8_0_avx2;
    k->vec_dot[PG_TYPE_Q2_K] = pg_vec_dot_q2_K_q8_K_avx2;
    k->vec_dot[PG_TYPE_Q3_K] = pg_vec_dot_q3_K_q8_K_avx2;
    k->vec_dot[PG_TYPE_Q4_K] = pg_vec_dot_q4_K_q8_K_avx2;
    k->vec_dot[PG_TYPE_Q5_K] = pg_vec_dot_q5_K_q8_K_avx2;
    k->vec_dot[PG_TYPE_Q6_K] = pg_vec_dot_q6_K_q8_K_avx2;
    k->from_float[PG_TYPE_F16] = pg_quantize_row_f16_avx2;
    k->from_float[PG_TYPE_Q8_0] = pg_quantize_row_q8_0_avx2;
    k->from_float[PG_TYPE_Q8_1] = pg_quantize_row_q8_1_avx2;
    k->from_float[PG_TYPE_Q8_K] = pg_quantize_row_q8_K_avx2;
}
