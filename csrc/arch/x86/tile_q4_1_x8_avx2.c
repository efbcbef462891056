/* AVX2 Q4_1 x Q8_1 over weights repacked by 8 rows (pg_repack_x8; layout in kernels.h): the
 * path's vec_dot_tile_x8 and vec_dot_gemv_x8 for Q4_1, both vec_dot's values (its vec_dot_gemv
 * is vec_dot). Per output, vec_dot's arithmetic (quants_avx2.c) with lane r of every vector =
 * weight row r instead of lane j = elements 4j..4j+3:
 *   - acc[j] lane r accumulates, block by block, fma(isum_j, d_x * d_y, acc[j]), isum_j the
 *     exact integer sum of the products of elements 4j..4j+3 (low nibbles of code bytes 4j..
 *     for j < 4, high nibbles of bytes 4(j-4).. for j >= 4, as vec_dot's lanes);
 *   - hsum_f32x8's order across j at the end: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7));
 *   - plus the min terms m_x * s_y summed block by block (each product exact in f32).
 * One activation row at a time, so the 8 accumulators stay in registers; a tile's further rows
 * re-read the group from L1. The avx512 path builds this file again with vpdpbusd
 * (arch/x86_512/tile_q4_1_x8_vnni.c): the same exact integers. */
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

#ifndef Q4_1_X8_LANE_SUMS
#define Q4_1_X8_LANE_SUMS(codes, yq) _mm256_madd_epi16(_mm256_maddubs_epi16(codes, yq), _mm256_set1_epi16(1))
#define Q4_1_X8_FN pg_vec_dot_x8_q4_1_avx2
#define Q4_1_X8_FILL pg_fill_avx2_tile_q4_1_x8
#endif

#define X8_BLOCK_BYTES (32 + 4 * 32)   /* 8 d, 8 m (f16), then the transposed codes */
#define X8_PREFETCH_BYTES 6144         /* one activation row: the group's stream this far ahead into L2 (as Q4_0's) */

/* 4 activation bytes starting at element i, in every lane */
static inline __m256i bcast4_q8_1(const int8_t *qs, int i) {
    int32_t w;
    memcpy(&w, qs + i, 4);
    return _mm256_set1_epi32(w);
}

/* outputs (row r, this activation row) for the nr rows of group xg; y one activation row */
TILE_INLINE void q4_1_x8_row(int nb, float *out, int nr, const char *xg, const block_q8_1 *y, const int PREFETCH) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    __m256 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
    __m256 sum_min = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const char *blk = xg + (size_t)ib * X8_BLOCK_BYTES;
        if (PREFETCH)
            for (int b = 0; b < X8_BLOCK_BYTES; b += 64) _mm_prefetch(blk + X8_PREFETCH_BYTES + b, _MM_HINT_T1);
        const __m256 xd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        const __m256 xm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
        const __m256 d = _mm256_mul_ps(xd, _mm256_set1_ps(_cvtsh_ss(y[ib].d)));
        sum_min = _mm256_add_ps(sum_min, _mm256_mul_ps(xm, _mm256_set1_ps(_cvtsh_ss(y[ib].s))));
        for (int k = 0; k < 4; k++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * k));
            const __m256i lo = _mm256_and_si256(bytes, mask4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask4);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Q4_1_X8_LANE_SUMS(lo, bcast4_q8_1(y[ib].qs, 4 * k))), d, acc[k]);
            acc[k + 4] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(Q4_1_X8_LANE_SUMS(hi, bcast4_q8_1(y[ib].qs, 16 + 4 * k))), d, acc[k + 4]);
        }
    }
    const __m256 lanes = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6])),
                                       _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7])));
    store_first_rows(out, nr, _mm256_add_ps(lanes, sum_min));
}

/* pg_vec_dot_tile_fn over a repacked group x (bx bytes): nc activation rows by apart */
static void Q4_1_X8_FN(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr, int nc) {
    (void)bx;
    const int nb = n / QK4_1;
    for (int c = 0; c < nc; c++) {
        float *out = (float *)((char *)s + c * bs);
        const block_q8_1 *yc = (const block_q8_1 *)((const char *)y + c * by);
        if (nc == 1) q4_1_x8_row(nb, out, nr, x, yc, 1);
        else q4_1_x8_row(nb, out, nr, x, yc, 0);
    }
}

void Q4_1_X8_FILL(pg_kernels *k) {
    k->vec_dot_tile_x8[PG_TYPE_Q4_1] = Q4_1_X8_FN;
    k->vec_dot_gemv_x8[PG_TYPE_Q4_1] = Q4_1_X8_FN;
}
