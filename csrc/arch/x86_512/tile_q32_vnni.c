/* AVX-512 VNNI tiles of vec_dot for the 32-element block types Q4_1, Q8_0 against their
 * Q8 partners (pg_vec_dot_tile_fn, kernels.h): up to 8 weight rows x up to PG_TILE_COLS (8)
 * activation rows; lane r of every vector = weight row r. Compiled with -mavx512vl -mavx512vnni
 * (256-bit EVEX vpdpbusd: on this CPU class as fast per element as the 512-bit form, and one
 * block of 8 rows fills exactly one register).
 *
 * Per block and 8 rows, the 32 weight codes are made unsigned and transposed once: vector k
 * holds elements 4k..4k+3 of every row. Each is multiplied by the matching 4 activation bytes
 * broadcast to all lanes, one vpdpbusd (u8 x s8, 4 products added into i32) each, starting from
 * -(offset * sum of the activation block): Q8_0 codes are stored +128 (x ^ 0x80) to be unsigned.
 * The integer block sum is exact (|sum| < 2^21).
 * Float order (not llama.cpp's; within the reference tolerances, tests/test_reference_models.py):
 * per output one FMA chain over the blocks, acc = fma(isum, d_x * d_y, acc); Q4_1 adds its min
 * term m_x * s_y into the same chain, block by block. vec_dot is this tile at 1 x 1, so the two
 * agree bit for bit. Rows past nr repeat row nr - 1 and are never stored. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "quants/blocks.h"

#define ROWS 8
#define COLS PG_TILE_COLS
#define INLINE static inline __attribute__((always_inline))
/* one activation row (GEMV): weight rows this far ahead are prefetched */
#define GEMV_PREFETCH_ROWS 32

INLINE int32_t load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* the f16 field at byte offset off of block ib of the 8 rows, as 8 floats (lane r = row r) */
INLINE __m256 row_f16_field(const char *const xr[ROWS], size_t bsize, int ib, size_t off) {
    uint16_t h[ROWS];
    for (int r = 0; r < ROWS; r++) memcpy(&h[r], xr[r] + (size_t)ib * bsize + off, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* 8 rows x 4 dwords (16 bytes per row at p[r]) -> t[k] lane r = dword k of row r */
INLINE void transpose_8x4(const uint8_t *const p[ROWS], __m256i t[4]) {
    __m256i q[4]; /* q[j] = [row j | row j + 4] */
    for (int j = 0; j < 4; j++) q[j] = _mm256_loadu2_m128i((const __m128i *)p[j + 4], (const __m128i *)p[j]);
    const __m256i t0 = _mm256_unpacklo_epi32(q[0], q[1]), t1 = _mm256_unpackhi_epi32(q[0], q[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(q[2], q[3]), t3 = _mm256_unpackhi_epi32(q[2], q[3]);
    t[0] = _mm256_unpacklo_epi64(t0, t2);
    t[1] = _mm256_unpackhi_epi64(t0, t2);
    t[2] = _mm256_unpacklo_epi64(t1, t3);
    t[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* ---- per weight type: the unsigned codes of block ib, u[k] lane r = elements 4k..4k+3 of row r ---- */

INLINE void nibble_codes(const uint8_t *const qs[ROWS], __m256i u[8]) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    __m256i t[4];
    transpose_8x4(qs, t);
    for (int k = 0; k < 4; k++) {
        u[k] = _mm256_and_si256(t[k], mask4);                          /* elements 4k..   */
        u[k + 4] = _mm256_and_si256(_mm256_srli_epi16(t[k], 4), mask4); /* elements 16+4k.. */
    }
}
INLINE void codes_q4_1(const char *const xr[ROWS], int ib, __m256i u[8]) {
    const uint8_t *qs[ROWS];
    for (int r = 0; r < ROWS; r++) qs[r] = ((const block_q4_1 *)xr[r] + ib)->qs;
    nibble_codes(qs, u);
}
/* x + 128 = x ^ 0x80 */
INLINE void codes_q8_0(const char *const xr[ROWS], int ib, __m256i u[8]) {
    const uint8_t *lo[ROWS], *hi[ROWS];
    for (int r = 0; r < ROWS; r++) {
        lo[r] = (const uint8_t *)((const block_q8_0 *)xr[r] + ib)->qs;
        hi[r] = lo[r] + 16;
    }
    __m256i t[4];
    transpose_8x4(lo, t);
    for (int k = 0; k < 4; k++) u[k] = _mm256_xor_si256(t[k], _mm256_set1_epi8((char)0x80));
    transpose_8x4(hi, t);
    for (int k = 0; k < 4; k++) u[k + 4] = _mm256_xor_si256(t[k], _mm256_set1_epi8((char)0x80));
}

/* the codes' offset (0: none) and the min term (Q4_1: m follows d, s follows d in Q8_1) */
#define OFFSET_q4_1 0
#define OFFSET_q8_0 128
#define MIN_q4_1 1
#define MIN_q8_0 0

/* offset * (sum of the 32 activation bytes), in every lane */
INLINE __m256i offset_sum(const int8_t *qs, int offset) {
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)offset),
                                    _mm256_loadu_si256((const __m256i *)qs));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm256_add_epi32(s, _mm256_permute2x128_si256(s, s, 0x01));
}

INLINE __m256 f16_bcast(uint16_t h) { return _mm256_cvtph_ps(_mm_set1_epi16((short)h)); }

/* One pass of the 8 rows against NC activation rows; acc[c] lane r = output (r, c). */
#define DEFINE_PASS(W, A)                                                                                   \
    INLINE void pass_##W(int nb, float *s, size_t bs, int nr, const char *const xr[ROWS], size_t bx,        \
                         const char *y, size_t by, const int NC) {                                          \
        __m256 acc[COLS];                                                                                   \
        for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();                                          \
        for (int ib = 0; ib < nb; ib++) {                                                                   \
            if (NC == 1)                                                                                    \
                for (int r = 0; r < ROWS; r++)                                                              \
                    _mm_prefetch(xr[r] + (size_t)ib * sizeof(block_##W) + GEMV_PREFETCH_ROWS * bx, _MM_HINT_T0); \
            __m256i u[8];                                                                                   \
            codes_##W(xr, ib, u);                                                                           \
            const __m256 xd = row_f16_field(xr, sizeof(block_##W), ib, 0);                                  \
            const __m256 xm = MIN_##W ? row_f16_field(xr, sizeof(block_##W), ib, 2) : _mm256_setzero_ps();  \
            for (int c = 0; c < NC; c++) {                                                                  \
                const block_##A *yb = (const block_##A *)(y + c * by) + ib;                                 \
                __m256i isum = OFFSET_##W ? _mm256_sub_epi32(_mm256_setzero_si256(),                        \
                                                             offset_sum(yb->qs, OFFSET_##W))                 \
                                          : _mm256_setzero_si256();                                         \
                for (int k = 0; k < 8; k++)                                                                 \
                    isum = _mm256_dpbusd_epi32(isum, u[k], _mm256_set1_epi32(load_i32(yb->qs + 4 * k)));    \
                uint16_t yd;                                                                                \
                memcpy(&yd, &yb->d, 2);                                                                     \
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(xd, f16_bcast(yd)), acc[c]); \
                if (MIN_##W) {                                                                              \
                    uint16_t ys;                                                                            \
                    memcpy(&ys, (const char *)yb + 2, 2);                                                   \
                    acc[c] = _mm256_fmadd_ps(xm, f16_bcast(ys), acc[c]);                                    \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
        for (int c = 0; c < NC; c++) {                                                                      \
            float *out = (float *)((char *)s + c * bs);                                                     \
            _mm256_mask_storeu_ps(out, (__mmask8)((1u << nr) - 1), acc[c]);                                 \
        }                                                                                                   \
    }

#define DEFINE_TILE(W, A)                                                                                   \
    DEFINE_PASS(W, A)                                                                                       \
    static void pg_vec_dot_tile_##W##_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, \
                                           size_t by, int nr, int nc) {                                     \
        const char *rows[ROWS];                                                                             \
        for (int r = 0; r < ROWS; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;      \
        const int nb = n / 32;                                                                              \
        const char *yc = (const char *)y;                                                                   \
        if (nc > 4 && nc < COLS) { /* 5..7: 4 activation rows, then the rest */                            \
            pass_##W(nb, s, bs, nr, rows, bx, yc, by, 4);                                                   \
            s = (float *)((char *)s + 4 * bs);                                                              \
            yc += 4 * by;                                                                                   \
            nc -= 4;                                                                                        \
        }                                                                                                   \
        switch (nc) {                                                                                       \
        case 1: pass_##W(nb, s, bs, nr, rows, bx, yc, by, 1); break;                                        \
        case 2: pass_##W(nb, s, bs, nr, rows, bx, yc, by, 2); break;                                        \
        case 3: pass_##W(nb, s, bs, nr, rows, bx, yc, by, 3); break;                                        \
        case 4: pass_##W(nb, s, bs, nr, rows, bx, yc, by, 4); break;                                        \
        default: pass_##W(nb, s, bs, nr, rows, bx, yc, by, COLS); break;                                    \
        }                                                                                                   \
    }                                                                                                       \
    static void pg_vec_dot_##W##_##A##_vnni(int n, float *s, const void *x, const void *y) {                \
        pg_vec_dot_tile_##W##_vnni(n, s, sizeof(float), x, 0, y, 0, 1, 1);                                  \
    }

DEFINE_TILE(q4_1, q8_1)
DEFINE_TILE(q8_0, q8_0)

/* Q4_0 is not filled: with its offset taken per activation block it measured slower here than
 * avx2's tile (tile_q4_0_avx2.c), whose float order it shares; avx512 keeps that one. */
void pg_fill_avx512_tile_q32(pg_kernels *k) {
    k->vec_dot[PG_TYPE_Q4_1] = pg_vec_dot_q4_1_q8_1_vnni;
    k->vec_dot_tile[PG_TYPE_Q4_1] = pg_vec_dot_tile_q4_1_vnni;
    k->vec_dot[PG_TYPE_Q8_0] = pg_vec_dot_q8_0_q8_0_vnni;
    k->vec_dot_tile[PG_TYPE_Q8_0] = pg_vec_dot_tile_q8_0_vnni;
}
