/* AVX512_VNNI Q4_0 x Q8_0 over weights repacked by 8 rows, two groups at once (the avx512 path's
 * vec_dot_tile_x16, kernels.h): zmm lane r = weight row r, rows 0..7 from group x, 8..15 from
 * group x + bx (layout in kernels.h: per block 8 f16 scales, then 4 vectors of 32 code bytes).
 * Per output the arithmetic of the x8 tile (arch/x86/tile_q4_0_avx2.c, its vnni build), lane for
 * lane, so every output is bit-identical to it and to vec_dot:
 *   per block d = d_x * d_y (one f32 rounding), then acc = fma((float)isum, d, acc), one chain
 *   from 0 over the blocks in order; isum the block's exact integer dot product (8 vpdpbusd of
 *   the unsigned codes 0..15 with the 4 matching activation bytes broadcast, less the activation
 *   row's stored 8 * (sum of the block's codes)): integers, exact in any order.
 * Each block's codes are split into nibbles once per pass of up to 4 activation rows. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "arch/x86_512/tile_512.h"
#include "kernels.h"
#include "quants/blocks.h"

#define X8_BLOCK_BYTES (16 + 4 * 32)   /* a block of 8 repacked rows */

/* outputs (row r < nr, activation row c < NC) at s + c * bs bytes, float r; x0, x1 the two
 * groups (x1 = x0 when nr <= 8: lanes 8..15 then repeat rows 0..7, dropped) */
TILE_INLINE void q4_0_x16_pass(int nb, float *s, size_t bs, int nr, const char *x0, const char *x1, const char *y,
                               size_t by, const int NC, size_t pf) {
    const __m512i mask4 = _mm512_set1_epi8(0x0f);
    __m512 acc[4];
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    /* the activation rows' 8 * block sums, after their Q8_0 blocks (kernels.h) */
    const char *sums = y + (size_t)nb * sizeof(block_q8_0);
    for (int ib = 0; ib < nb; ib++) {
        const char *b0 = x0 + (size_t)ib * X8_BLOCK_BYTES, *b1 = x1 + (size_t)ib * X8_BLOCK_BYTES;
        for (int b = 0; b < X8_BLOCK_BYTES; b += 64) {   /* both streams pf bytes ahead into L2 */
            _mm_prefetch(b0 + pf + b, _MM_HINT_T1);
            _mm_prefetch(b1 + pf + b, _MM_HINT_T1);
        }
        const __m512 xd = _mm512_cvtph_ps(
            _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0)),
                                    _mm_loadu_si128((const __m128i *)b1), 1));
        __m512i lo[4], hi[4];   /* code vector k of both groups: low nibbles (elements 4k..), high (16 + 4k..) */
        for (int k = 0; k < 4; k++) {
            const __m512i bytes =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 16 + 32 * k))),
                                   _mm256_loadu_si256((const __m256i *)(b1 + 16 + 32 * k)), 1);
            lo[k] = _mm512_and_si512(bytes, mask4);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), mask4);
        }
        for (int c = 0; c < NC; c++) {
            const block_q8_0 *yb = (const block_q8_0 *)(y + c * by) + ib;
            int32_t eight_sum;
            memcpy(&eight_sum, sums + c * by + (size_t)ib * sizeof(int32_t), 4);
            __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();   /* two chains: half the latency */
            for (int k = 0; k < 4; k++) {
                a = _mm512_dpbusd_epi32(a, lo[k], bcast4_512(yb->qs, 4 * k));
                b = _mm512_dpbusd_epi32(b, hi[k], bcast4_512(yb->qs, 16 + 4 * k));
            }
            const __m512i isum = _mm512_sub_epi32(_mm512_add_epi32(a, b), _mm512_set1_epi32(eight_sum));
            const __m512 d = _mm512_mul_ps(xd, _mm512_set1_ps(_cvtsh_ss(yb->d)));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[c]);
        }
    }
    const __mmask16 keep = (__mmask16)((1u << nr) - 1);
    for (int c = 0; c < NC; c++) {
        float *out = (float *)((char *)s + c * bs);
        if (nr == 16) _mm512_storeu_ps(out, acc[c]);
        else _mm512_mask_storeu_ps(out, keep, acc[c]);
    }
}

/* pg_vec_dot_tile_fn: groups x and x + bx (weight rows 0..nr-1), nc activation rows by apart;
 * right for nc = 1 too, but mul_mat sends a lone row to the x8 tile (faster from DRAM) */
static void pg_vec_dot_tile_x16_q4_0_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                                          int nr, int nc) {
    const int nb = n / QK4_0;
    const char *x0 = (const char *)x, *x1 = nr > 8 ? x0 + bx : x0, *yc = (const char *)y;
    /* the next pair of groups (two interleaved streams: without it 1B-shaped weights from DRAM
     * ran at 68-116 GMAC/s for 2-4 activation rows, 1 thread, against the x8 tile's 110-150;
     * with it 155-272; no change where they come from L2) */
    const size_t pf = 2 * bx;
    if (nc > 4) {   /* 4 activation rows, then the rest (K=576 N=1536 M=512, 1 thread:
                     * one pass of 5..8 rows 275-286 GMAC/s, 4 + the rest 287-298) */
        q4_0_x16_pass(nb, s, bs, nr, x0, x1, yc, by, 4, pf);
        s = (float *)((char *)s + 4 * bs);
        yc += 4 * by;
        nc -= 4;
    }
    switch (nc) {
    case 1: q4_0_x16_pass(nb, s, bs, nr, x0, x1, yc, by, 1, pf); break;
    case 2: q4_0_x16_pass(nb, s, bs, nr, x0, x1, yc, by, 2, pf); break;
    case 3: q4_0_x16_pass(nb, s, bs, nr, x0, x1, yc, by, 3, pf); break;
    default: q4_0_x16_pass(nb, s, bs, nr, x0, x1, yc, by, 4, pf); break;
    }
}

void pg_fill_avx512_tile_q4_0_x16_vnni(pg_kernels *k) {
    k->vec_dot_tile_x16[PG_TYPE_Q4_0] = pg_vec_dot_tile_x16_q4_0_vnni;
}
