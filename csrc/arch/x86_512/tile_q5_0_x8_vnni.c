/* AVX512_VNNI Q5_0 x Q8_0 over weights repacked by 8 rows (pg_repack_x8; layout in kernels.h):
 * the avx512 path's vec_dot_tile_x8 and vec_dot_gemv_x8 for Q5_0, both vec_dot's values (its
 * vec_dot_gemv is vec_dot). Per output, vec_dot's arithmetic (arch/x86/quants_avx2.c) with lane r
 * of every vector = weight row r instead of lane j = elements 4j..4j+3, as
 * arch/x86/tile_q4_1_x8_avx2.c:
 *   - acc[j] lane r accumulates, block by block, fma(isum_j, d_x * d_y, acc[j]), isum_j the
 *     exact integer sum of (code - 16) * activation over elements 4j..4j+3: one vpdpbusd adds the
 *     codes' products to a start of -16 * (the 4 activations' sum), the same for every row;
 *   - hsum_f32x8's order across j at the end: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
 * A code's fifth bit comes from its row's high-bit word, rearranged at repack so that one shift
 * puts it at bit 4 of the code's byte: byte b of the word holds bit k = the bit of element
 * 4k + b and bit 4 + k = the bit of element 16 + 4k + b.
 * Activation rows go two at a time (32 vector registers hold both rows' 8 accumulators), so each
 * block's codes are unpacked once per pair; a tile's further rows re-read the group from L1.
 * Only this path repacks Q5_0: with AVX2's 16 registers and maddubs + madd the same scheme ran
 * prompts at 108 GFLOP/s against the plain tile's 145 (SmolLM2 ffn_gate, 512 rows, 2 threads). */
#include <immintrin.h>
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

#define ROWS 8
#define X8_BLOCK_BYTES (16 + 32 + 4 * 32)   /* 8 d (f16), 8 high-bit words, then the transposed codes */
#define SEG 32                              /* blocks whose lane starts are made at once */
#define X8_PREFETCH_BYTES 6144              /* one activation row: the group's stream this far ahead into L2 */

/* 4 activation bytes starting at element i, in every lane */
static inline __m256i bcast4_q8_0(const int8_t *qs, int i) {
    int32_t w;
    memcpy(&w, qs + i, 4);
    return _mm256_set1_epi32(w);
}

/* lane j: -16 * (the sum of activation bytes 4j..4j+3): the start of lane j's sums */
static inline void neg_offsets(const block_q8_0 *y, int32_t start[8]) {
    const __m256i yq = _mm256_loadu_si256((const __m256i *)y->qs);
    _mm256_storeu_si256((__m256i *)start,
                        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(16), yq), _mm256_set1_epi16(-1)));
}

static inline void store_rows(float *out, int nr, __m256 v) {
    if (nr == ROWS) {
        _mm256_storeu_ps(out, v);
    } else {
        float tmp[ROWS];
        _mm256_storeu_ps(tmp, v);
        for (int r = 0; r < nr; r++) out[r] = tmp[r];
    }
}

/* outputs (row r, activation rows c < NC) for the nr rows of group xg; y[c] one activation row */
TILE_INLINE void q5_0_x8_rows(int nb, float *const out[], int nr, const char *xg, const block_q8_0 *const y[],
                              const int NC, const int PREFETCH) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc[2][8];
    for (int c = 0; c < NC; c++)
        for (int j = 0; j < 8; j++) acc[c][j] = _mm256_setzero_ps();
    for (int ib0 = 0; ib0 < nb; ib0 += SEG) {
        const int ib1 = ib0 + SEG < nb ? ib0 + SEG : nb;
        int32_t start[2][SEG][8];   /* stored a segment ahead of their loads (no store forwarding) */
        for (int c = 0; c < NC; c++)
            for (int ib = ib0; ib < ib1; ib++) neg_offsets(&y[c][ib], start[c][ib - ib0]);
        for (int ib = ib0; ib < ib1; ib++) {
            const char *blk = xg + (size_t)ib * X8_BLOCK_BYTES;
            if (PREFETCH)
                for (int b = 0; b < X8_BLOCK_BYTES; b += 64) _mm_prefetch(blk + X8_PREFETCH_BYTES + b, _MM_HINT_T1);
            const __m256 xd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
            __m256 d[2];
            for (int c = 0; c < NC; c++) d[c] = _mm256_mul_ps(xd, _mm256_set1_ps(_cvtsh_ss(y[c][ib].d)));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i bytes = _mm256_loadu_si256((const __m256i *)(blk + 48 + 32 * k));
                const __m256i lo = _mm256_or_si256(_mm256_and_si256(bytes, mask4),
                                                   _mm256_and_si256(_mm256_slli_epi32(qh, 4 - k), bit4));
                const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask4),
                                                   _mm256_and_si256(_mm256_srli_epi32(qh, k), bit4));
                for (int c = 0; c < NC; c++) {
                    const int32_t *st = start[c][ib - ib0];
                    const __m256i s_lo = _mm256_dpbusd_epi32(_mm256_set1_epi32(st[k]), lo, bcast4_q8_0(y[c][ib].qs, 4 * k));
                    const __m256i s_hi =
                        _mm256_dpbusd_epi32(_mm256_set1_epi32(st[k + 4]), hi, bcast4_q8_0(y[c][ib].qs, 16 + 4 * k));
                    acc[c][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_lo), d[c], acc[c][k]);
                    acc[c][k + 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_hi), d[c], acc[c][k + 4]);
                }
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        const __m256 *a = acc[c];
        store_rows(out[c], nr,
                   _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6])),
                                 _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]))));
    }
}

/* pg_vec_dot_tile_fn over a repacked group x (bx bytes): nc activation rows by apart */
static void pg_vec_dot_x8_q5_0_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                                    int nc) {
    (void)bx;
    const int nb = n / QK5_0;
    int c = 0;
    for (; c + 2 <= nc; c += 2) {
        float *const out[2] = {(float *)((char *)s + c * bs), (float *)((char *)s + (c + 1) * bs)};
        const block_q8_0 *const yc[2] = {(const block_q8_0 *)((const char *)y + c * by),
                                         (const block_q8_0 *)((const char *)y + (c + 1) * by)};
        q5_0_x8_rows(nb, out, nr, x, yc, 2, 0);
    }
    for (; c < nc; c++) {
        float *const out[1] = {(float *)((char *)s + c * bs)};
        const block_q8_0 *const yc[1] = {(const block_q8_0 *)((const char *)y + c * by)};
        if (nc == 1) q5_0_x8_rows(nb, out, nr, x, yc, 1, 1);
        else q5_0_x8_rows(nb, out, nr, x, yc, 1, 0);
    }
}

void pg_fill_avx512_tile_q5_0_x8_vnni(pg_kernels *k) {
    k->vec_dot_tile_x8[PG_TYPE_Q5_0] = pg_vec_dot_x8_q5_0_vnni;
    k->vec_dot_gemv_x8[PG_TYPE_Q5_0] = pg_vec_dot_x8_q5_0_vnni;
}
