/* Q8_0 x Q8_0 tile on the avx512 path (AVX512_VNNI, 256-bit), bit-identical to the avx2 tile, to
 * vec_dot and to llama.cpp's AVX2 build: per output 8 float lanes, lane j accumulating by FMA the
 * exact integer sum of the products of elements 4j..4j+3 of each block times d = d_x * d_y;
 * hsum_f32x8 at the end (arch/x86/tile_avx2.c states the order).
 * What changes is how the lanes' integers are reached, in fewer instructions per output and
 * block (one vpdpbusd, one conversion, one FMA): vpdpbusd multiplies unsigned by signed bytes, so
 * the activations are taken unsigned, a + 128 (XOR 0x80, once per tile call and block, read
 * straight from a small buffer), the weights stay signed, and
 * sum (a + 128) w = sum a w + 128 sum w per lane; the second term belongs to the weight block
 * alone (one vpdpbusd per weight row and block), and its negation starts every activation row's
 * sum. Exact for every byte value (-128 included), where the avx2 tile moves the weight's sign
 * onto the activation for every output. The d products are made 8 weight rows at a time per
 * block and activation row, as in the avx2 tile. Rows past nr are never computed. */
#include <immintrin.h>
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

#define ROWS 8
#define SEG 16 /* blocks whose activations and scales are prepared at once */

/* NC activation rows against weight rows 0..nr-1 of xr: per row, its FMA chains over blocks
 * [ib0, ib1) continue acc[r][c] */
TILE_INLINE void q8_0_rows(int ib0, int ib1, int nr, const char *const xr[ROWS], const uint8_t act[SEG][PG_TILE_COLS][32],
                           const float d[SEG][PG_TILE_COLS][ROWS], __m256 acc[ROWS][PG_TILE_COLS], const int NC) {
    const __m256i high_bit = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < nr; r++) {
        __m256 a[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) a[c] = acc[r][c];
        for (int ib = ib0; ib < ib1; ib++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)xr[r] + ib)->qs);
            const __m256i neg_bias = _mm256_sub_epi32(_mm256_setzero_si256(),
                                                      _mm256_dpbusd_epi32(_mm256_setzero_si256(), high_bit, w));
            for (int c = 0; c < NC; c++) {
                const __m256i lanes = _mm256_dpbusd_epi32(neg_bias, _mm256_load_si256((const __m256i *)act[ib - ib0][c]), w);
                a[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[ib - ib0][c][r]), _mm256_cvtepi32_ps(lanes), a[c]);
            }
        }
        for (int c = 0; c < NC; c++) acc[r][c] = a[c];
    }
}

TILE_INLINE void q8_0_tile_nc(int nb, float *s, size_t bs, int nr, const char *const xr[ROWS], const char *y, size_t by,
                              const int NC) {
    const __m256i high_bit = _mm256_set1_epi8((char)0x80);
    uint8_t act[SEG][PG_TILE_COLS][32] __attribute__((aligned(32)));   /* a + 128 */
    float d[SEG][PG_TILE_COLS][ROWS];                                  /* d_x * d_y */
    __m256 acc[ROWS][PG_TILE_COLS];
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int ib0 = 0; ib0 < nb; ib0 += SEG) {
        const int ib1 = ib0 + SEG < nb ? ib0 + SEG : nb;
        for (int ib = ib0; ib < ib1; ib++) {
            uint16_t xd_h[ROWS];
            for (int r = 0; r < ROWS; r++) memcpy(&xd_h[r], &((const block_q8_0 *)xr[r] + ib)->d, 2);
            const __m256 xd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xd_h));
            for (int c = 0; c < NC; c++) {
                const block_q8_0 *yb = (const block_q8_0 *)(y + c * by) + ib;
                _mm256_store_si256((__m256i *)act[ib - ib0][c],
                                   _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)yb->qs), high_bit));
                _mm256_storeu_ps(d[ib - ib0][c], _mm256_mul_ps(xd, _mm256_set1_ps(_cvtsh_ss(yb->d))));
            }
        }
        q8_0_rows(ib0, ib1, nr, xr, act, d, acc, NC);
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < NC; c++) ((float *)((char *)s + c * bs))[r] = hsum_f32x8(acc[r][c]);
}

static void tile_q8_0_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                           int nc) {
    const char *rows[ROWS];
    for (int r = 0; r < ROWS; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;
    const int nb = n / QK8_0;
    switch (nc) {
    case 1: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 1); break;
    case 2: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 2); break;
    case 3: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 3); break;
    case 4: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 4); break;
    case 5: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 5); break;
    case 6: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 6); break;
    case 7: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, 7); break;
    default: q8_0_tile_nc(nb, s, bs, nr, rows, y, by, PG_TILE_COLS); break;
    }
}

void pg_fill_avx512_tile_q8_0_vnni(pg_kernels *k) { k->vec_dot_tile[PG_TYPE_Q8_0] = tile_q8_0_vnni; }
