/* AVX2 tiles of vec_dot (pg_vec_dot_tile_fn, kernels.h) for Q4_1, Q5_0, Q5_1, Q8_0 (Q4_0:
 * tile_q4_0_avx2.c): 4 weight rows x up to 4 activation rows per pass (8 rows: two passes),
 * activation rows taken 1 or 2 at a time. Every output repeats the arithmetic of its vec_dot
 * in quants_avx2.c exactly: 8 float lanes per output, lane j accumulating by FMA the integer
 * sum of the products of elements 4j..4j+3 of each block (the lanes maddubs + madd give in any
 * order of operands), times d_x * d_y; hsum_f32x8 at the end, plus the min terms summed block
 * by block on the side.
 * What a tile adds: independent outputs overlap their FMA chains, each weight block is
 * unpacked once for all activation rows, each activation block loaded once for all rows.
 * Rows: 4 are always computed; for nr < 4 the last row is repeated and its outputs dropped. */
#include <math.h>

#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

static inline __m256i load_q8(const int8_t *qs) { return _mm256_loadu_si256((const __m256i *)qs); }

/* ---- per weight block: its 32 codes as bytes (signed types: minus the offset) ---- */

static inline __m256i codes_q4_0(const block_q4_0 *x) {
    return _mm256_sub_epi8(bytes_from_nibbles_32(x->qs), _mm256_set1_epi8(8));
}
static inline __m256i codes_q4_1(const block_q4_1 *x) { return bytes_from_nibbles_32(x->qs); }
/* nibbles with bit j of qh as their fifth bit, in [0, 31] */
static inline __m256i codes_5bit(const uint8_t qs[16], const uint8_t qh[4]) {
    const __m256i fifth = _mm256_and_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(bytes_from_nibbles_32(qs), fifth);
}
static inline __m256i codes_q5_0(const block_q5_0 *x) {
    return _mm256_sub_epi8(codes_5bit(x->qs, x->qh), _mm256_set1_epi8(16));
}
static inline __m256i codes_q5_1(const block_q5_1 *x) { return codes_5bit(x->qs, x->qh); }
static inline __m256i codes_q8_0(const block_q8_0 *x) { return load_q8(x->qs); }

/* 8 lanes of exact integer sums: codes (signed or unsigned per type) x activation bytes */
#define SIGNED_PAIRS mul_sum_i8_pairs_i32
#define UNSIGNED_PAIRS mul_sum_us8_pairs_i32

/* ---- Q4_1, Q5_0, Q5_1, Q8_0: 8 float lanes per output ---- */

/* One pass over NC (1 or 2) activation rows at y: acc[r][c] as vec_dot's acc, sum_min[r][c]
 * as its sum_min. */
#define DEFINE_LANE_TILE(W, A, PAIRS)                                                       \
    TILE_INLINE void tile_pass_##W(int nb, float *s, size_t bs, int nr, const char *const xr[4], const char *y, \
                                   size_t by, const int NC) {                                         \
        __m256 acc[4][2];                                                                             \
        float sum_min[4][2];                                                                          \
        for (int r = 0; r < 4; r++)                                                                   \
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps(), sum_min[r][c] = 0.0f;       \
        for (int ib = 0; ib < nb; ib++) {                                                             \
            const block_##A *yb[2];                                                                   \
            __m256i yq[2];                                                                            \
            __m256 yd[2];                                                                             \
            for (int c = 0; c < NC; c++) {                                                            \
                yb[c] = (const block_##A *)(y + c * by) + ib;                                         \
                yq[c] = load_q8(yb[c]->qs);                                                           \
                yd[c] = _mm256_set1_ps(fp16_to_f32(yb[c]->d));                                        \
            }                                                                                         \
            for (int r = 0; r < 4; r++) {                                                             \
                const block_##W *xb = (const block_##W *)xr[r] + ib;                                  \
                const __m256i codes = codes_##W(xb);                                                  \
                const __m256 xd = _mm256_set1_ps(fp16_to_f32(xb->d));                                 \
                for (int c = 0; c < NC; c++) {                                                        \
                    const __m256 d = _mm256_mul_ps(xd, yd[c]);                                        \
                    acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(PAIRS(codes, yq[c])), acc[r][c]); \
                    sum_min[r][c] += min_term_##W(xb, yb[c]);                                         \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < NC; c++)                                                                  \
            for (int r = 0; r < 4; r++) store_out(s, bs, nr, c, r, hsum_f32x8(acc[r][c]) + sum_min[r][c]); \
    }

/* the min terms m_x * s_y of the offset types (exact in f32: two f16 factors); 0 for the
 * others, added all the same, as vec_dot does */
static inline float min_term_q4_1(const block_q4_1 *x, const block_q8_1 *y) { return fp16_to_f32(x->m) * fp16_to_f32(y->s); }
static inline float min_term_q5_1(const block_q5_1 *x, const block_q8_1 *y) { return fp16_to_f32(x->m) * fp16_to_f32(y->s); }
static inline float min_term_q5_0(const block_q5_0 *x, const block_q8_0 *y) { (void)x; (void)y; return 0.0f; }
static inline float min_term_q8_0(const block_q8_0 *x, const block_q8_0 *y) { (void)x; (void)y; return 0.0f; }

DEFINE_LANE_TILE(q4_1, q8_1, UNSIGNED_PAIRS)
DEFINE_LANE_TILE(q5_0, q8_0, SIGNED_PAIRS)
DEFINE_LANE_TILE(q5_1, q8_1, UNSIGNED_PAIRS)
DEFINE_LANE_TILE(q8_0, q8_0, SIGNED_PAIRS)

/* ---- the tile functions: activation rows in passes of 2, then 1 ---- */

#define DEFINE_TILE(W, BLCK)                                                                          \
    static void tile4_##W(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, \
                          int nr, int nc) {                                                           \
        const char *rows[4];                                                                          \
        tile_rows(x, bx, nr, rows);                                                                   \
        int c = 0;                                                                                    \
        for (; c + 2 <= nc; c += 2)                                                                   \
            tile_pass_##W(n / BLCK, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 2); \
        if (c < nc) tile_pass_##W(n / BLCK, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 1); \
    }                                                                                                 \
    static void pg_vec_dot_tile_##W##_avx2(int n, float *s, size_t bs, const void *x, size_t bx,     \
                                           const void *y, size_t by, int nr, int nc) {               \
        TILE_IN_FOURS(tile4_##W, n, s, bs, x, bx, y, by, nr, nc);                                     \
    }

DEFINE_TILE(q4_1, QK4_1)
DEFINE_TILE(q5_0, QK5_0)
DEFINE_TILE(q5_1, QK5_1)
DEFINE_TILE(q8_0, QK8_0)

void pg_fill_avx2_tile(pg_kernels *k) {
    k->vec_dot_tile[PG_TYPE_Q4_1] = pg_vec_dot_tile_q4_1_avx2;
    k->vec_dot_tile[PG_TYPE_Q5_0] = pg_vec_dot_tile_q5_0_avx2;
    k->vec_dot_tile[PG_TYPE_Q5_1] = pg_vec_dot_tile_q5_1_avx2;
    k->vec_dot_tile[PG_TYPE_Q8_0] = pg_vec_dot_tile_q8_0_avx2;
}
