/* AVX512_VNNI Q4_K x Q8_K over weights repacked by 8 rows, two groups at once: the avx512 path's
 * vec_dot_tile_x16 for Q4_K (kernels.h). 512-bit lane r = weight row r of 16 (rows 0..7 from the
 * group at x, 8..15 from the one at x + bx); the code words of both groups are joined once per
 * 16 bytes and serve every activation row of the pass. Each output is vec_dot's value bit for bit,
 * as the 256-bit x8 tile's (arch/x86/tile_k_avx2.c, built as tile_k_vnni.c), lane for lane:
 *   - per 64-element chunk c of a super-block: isum_c = scale(2c) * sum(low nibbles x activations)
 *     + scale(2c + 1) * sum(high nibbles x activations), exact i32 (vpdpbusd, vpmulld);
 *     acc = fma(isum_c, d * yd, acc), chunk by chunk;
 *   - acc_min = fma(madd(mins pair, bsums pair), dmin * yd, acc_min), chunk by chunk (an
 *     independent chain: its FMAs may come after the super-block's acc FMAs, same order within);
 *   - the output is acc - acc_min.
 * Rows past nr repeat row nr - 1 of their group (or the first group) and are dropped. */
#include <immintrin.h>
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "arch/x86_512/tile_512.h"
#include "kernels.h"
#include "quants/blocks.h"

#define GROUP_ROWS 8
/* activation rows per pass. 1B ffn shape (K 2048, N 8192, M 512), 2 threads, GMAC/s: 1 row 110,
 * 2 rows 360-425, 3 rows 165, 4 rows 250-330 (the 256-bit x8 tile: 250-260) */
#define PASS_COLS 2

/* 4 consecutive words w.. of 16 rows: vector k lane r = word w + k of row r */
static inline void words16(const char *g0, const char *g1, int w, __m512i out[4]) {
    for (int k = 0; k < 4; k++)
        out[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(g0 + 32 * (w + k)))),
                                    _mm256_loadu_si256((const __m256i *)(g1 + 32 * (w + k))), 1);
}

/* byte b of every 32-bit lane, zero-extended */
static inline __m512i lane_byte(__m512i v, int b) {
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * b), _mm512_set1_epi32(0xff));
}

TILE_INLINE void q4_K_pass16(int nb, float *s, size_t bs, int nr, const char *g0, const char *g1, const char *y,
                             size_t by, const int NC) {
    const __m512i mask4 = _mm512_set1_epi8(0x0f);
    __m512 acc[PASS_COLS], acc_min[PASS_COLS];
    for (int c = 0; c < NC; c++) acc[c] = acc_min[c] = _mm512_setzero_ps();
    const size_t sb_bytes = GROUP_ROWS * sizeof(block_q4_K);   /* one super-block of a group */
    for (int ib = 0; ib < nb; ib++) {
        const char *x0 = g0 + ib * sb_bytes, *x1 = g1 + ib * sb_bytes;
        /* header: w[0] = d | dmin << 16, w[1..3] the 12 packed scale bytes (k_scales_mins_6bit) */
        __m512i w[4];
        words16(x0, x1, 0, w);
        const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(w[0], _mm512_set1_epi32(0xffff))));
        const __m512 dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(w[0], 16)));
        const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f),
                      m2 = _mm512_set1_epi32(0x03030303);
        const __m512i scale_bytes[2] = {
            _mm512_and_si512(w[1], m6),
            _mm512_or_si512(_mm512_and_si512(w[3], m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w[1], 6), m2), 4))};
        const __m512i min_bytes[2] = {
            _mm512_and_si512(w[2], m6),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w[3], 4), m4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w[2], 6), m2), 4))};
        const block_q8_K *yb[PASS_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
#pragma GCC unroll 4
        for (int ch = 0; ch < 4; ch++) {
            __m512i sum_lo[PASS_COLS], sum_hi[PASS_COLS];
            for (int c = 0; c < NC; c++) sum_lo[c] = sum_hi[c] = _mm512_setzero_si512();
#pragma GCC unroll 2
            for (int half = 0; half < 2; half++) {
                __m512i bytes[4], lo[4], hi[4];
                words16(x0, x1, 4 + 8 * ch + 4 * half, bytes);   /* code bytes 32ch + 16half.. */
                for (int k = 0; k < 4; k++) {
                    lo[k] = _mm512_and_si512(bytes[k], mask4);
                    hi[k] = _mm512_and_si512(_mm512_srli_epi16(bytes[k], 4), mask4);
                }
                for (int c = 0; c < NC; c++)
                    for (int k = 0; k < 4; k++) {
                        const int e = 64 * ch + 16 * half + 4 * k;
                        sum_lo[c] = _mm512_dpbusd_epi32(sum_lo[c], lo[k], bcast4_512(yb[c]->qs, e));
                        sum_hi[c] = _mm512_dpbusd_epi32(sum_hi[c], hi[k], bcast4_512(yb[c]->qs, e + 32));
                    }
            }
            const __m512i scale_lo = lane_byte(scale_bytes[ch / 2], 2 * (ch % 2));
            const __m512i scale_hi = lane_byte(scale_bytes[ch / 2], 2 * (ch % 2) + 1);
            for (int c = 0; c < NC; c++) {
                const __m512i isum = _mm512_add_epi32(_mm512_mullo_epi32(sum_lo[c], scale_lo),
                                                      _mm512_mullo_epi32(sum_hi[c], scale_hi));
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(yb[c]->d)), acc[c]);
            }
        }
        /* mins: chunk ch pairs (min 2ch, min 2ch + 1) with (bsums 4ch + 4ch+1, 4ch+2 + 4ch+3) */
        for (int c = 0; c < NC; c++) {
            const __m512 dm = _mm512_mul_ps(dmin, _mm512_set1_ps(yb[c]->d));
            const int16_t *bsums = yb[c]->bsums;
            for (int ch = 0; ch < 4; ch++) {
                const __m512i mins = _mm512_or_si512(lane_byte(min_bytes[ch / 2], 2 * (ch % 2)),
                                                     _mm512_slli_epi32(lane_byte(min_bytes[ch / 2], 2 * (ch % 2) + 1), 16));
                const int16_t pair[2] = {(int16_t)(bsums[4 * ch] + bsums[4 * ch + 1]),
                                         (int16_t)(bsums[4 * ch + 2] + bsums[4 * ch + 3])};
                int32_t pair_word;
                memcpy(&pair_word, pair, 4);
                const __m512i msum = _mm512_madd_epi16(mins, _mm512_set1_epi32(pair_word));
                acc_min[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), dm, acc_min[c]);
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        float *out = (float *)((char *)s + c * bs);
        const __m512 v = _mm512_sub_ps(acc[c], acc_min[c]);
        _mm512_mask_storeu_ps(out, (__mmask16)((1u << nr) - 1), v);
    }
}

static void pg_vec_dot_tile_x16_q4_K_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y,
                                          size_t by, int nr, int nc) {
    const char *g0 = (const char *)x;
    const char *g1 = nr > GROUP_ROWS ? g0 + bx : g0;   /* a lone group: its lanes computed twice, dropped */
    const int nb = n / QK_K;
    const char *yc = (const char *)y;
    while (nc > 0) {
        const int here = nc < PASS_COLS ? nc : PASS_COLS;
        if (here == PASS_COLS) q4_K_pass16(nb, s, bs, nr, g0, g1, yc, by, PASS_COLS);
        else q4_K_pass16(nb, s, bs, nr, g0, g1, yc, by, 1);
        s = (float *)((char *)s + here * bs);
        yc += here * by;
        nc -= here;
    }
}

void pg_fill_avx512_tile_q4_k_x16(pg_kernels *k) { k->vec_dot_tile_x16[PG_TYPE_Q4_K] = pg_vec_dot_tile_x16_q4_K_vnni; }
