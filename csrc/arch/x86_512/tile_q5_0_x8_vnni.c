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
 * Two accumulators share a 512-bit vector (acc[j] | acc[j + 1]): one vpdpbusd, conversion and
 * FMA serve both, the activation dwords and lane starts are picked into place by one permute
 * each. Activation rows go X8_GROUP at a time, so each block's codes are unpacked once per group;
 * a tile's further rows re-read the group from L1.
 * Only this path repacks Q5_0: with AVX2's 16 registers and maddubs + madd the same scheme ran
 * prompts at 108 GFLOP/s against the plain tile's 145 (SmolLM2 ffn_gate, 512 rows, 2 threads). */
#include <immintrin.h>
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

#define X8_BLOCK_BYTES (16 + 32 + 4 * 32)   /* 8 d (f16), 8 high-bit words, then the transposed codes */
#define X8_GROUP 4   /* activation rows per pass (4: 179-183 GFLOP/s, 2: 174-175 on SmolLM2's ffn_gate) */
#define X8_PREFETCH_BYTES 6144              /* one activation row: the group's stream this far ahead into L2 */

/* dword i of v in the low 8 lanes, dword i + 1 in the high 8 */
#define DWORD_PAIR(i) _mm512_set_epi32(i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i, i, i, i, i, i, i, i)

/* outputs (row r, activation rows c < NC) for the nr rows of group xg; y[c] one activation row.
 * A 512-bit vector carries two of the 8 lane accumulators (acc[j] | acc[j + 1], lane = row):
 * pair 0 = (acc0 | acc1), 1 = (acc2 | acc3) from the low nibbles, 2 = (acc4 | acc5),
 * 3 = (acc6 | acc7) from the high ones; every operation is lane-wise, as on acc[j] alone. */
TILE_INLINE void q5_0_x8_rows(int nb, float *const out[], int nr, const char *xg, const block_q8_0 *const y[],
                              const int NC, const int PREFETCH) {
    const __m512i mask4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    /* fifth bits: of element 4k + b at bit k of the word's byte b (to bit 4: << 4 - k), of
     * element 16 + 4k + b at bit 4 + k (>> k); pair p holds k = 2p, 2p + 1 */
    const __m512i shl[2] = {_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4),
                            _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2)};
    const __m512i shr[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                            _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
    const __m512i pick[4] = {DWORD_PAIR(0), DWORD_PAIR(2), DWORD_PAIR(4), DWORD_PAIR(6)};   /* lanes j, j + 1 */
    __m512 acc[X8_GROUP][4];
    for (int c = 0; c < NC; c++)
        for (int q = 0; q < 4; q++) acc[c][q] = _mm512_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const char *blk = xg + (size_t)ib * X8_BLOCK_BYTES;
        if (PREFETCH)
            for (int b = 0; b < X8_BLOCK_BYTES; b += 64) _mm_prefetch(blk + X8_PREFETCH_BYTES + b, _MM_HINT_T1);
        const __m512 xd = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)blk)));
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
        __m512i codes[4];   /* pair order: low nibbles of k = 0, 1; of 2, 3; high nibbles of 0, 1; of 2, 3 */
        for (int h = 0; h < 2; h++) {
            const __m512i bytes = _mm512_loadu_si512((const void *)(blk + 48 + 64 * h));
            codes[h] = _mm512_or_si512(_mm512_and_si512(bytes, mask4), _mm512_and_si512(_mm512_sllv_epi32(qh, shl[h]), bit4));
            codes[2 + h] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(bytes, 4), mask4),
                                           _mm512_and_si512(_mm512_srlv_epi32(qh, shr[h]), bit4));
        }
        for (int c = 0; c < NC; c++) {
            const __m256i yq = _mm256_loadu_si256((const __m256i *)y[c][ib].qs);
            /* lane j: -16 * (the sum of activation bytes 4j..4j+3), the start of lane j's sums */
            const __m256i start = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(16), yq), _mm256_set1_epi16(-1));
            const __m512 d = _mm512_mul_ps(xd, _mm512_set1_ps(_cvtsh_ss(y[c][ib].d)));
            for (int q = 0; q < 4; q++) {
                const __m512i sums = _mm512_dpbusd_epi32(_mm512_permutexvar_epi32(pick[q], _mm512_castsi256_si512(start)),
                                                         codes[q], _mm512_permutexvar_epi32(pick[q], _mm512_castsi256_si512(yq)));
                acc[c][q] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), d, acc[c][q]);
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        /* [(a0 + a4) + (a2 + a6) | (a1 + a5) + (a3 + a7)], then its halves added */
        const __m512 t = _mm512_add_ps(_mm512_add_ps(acc[c][0], acc[c][2]), _mm512_add_ps(acc[c][1], acc[c][3]));
        store_first_rows(out[c], nr, _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1)));
    }
}

/* pg_vec_dot_tile_fn over a repacked group x (bx bytes): nc activation rows by apart */
static void pg_vec_dot_x8_q5_0_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                                    int nc) {
    (void)bx;
    const int nb = n / QK5_0;
    if (nc == 1) {
        float *const out[1] = {s};
        const block_q8_0 *const yc[1] = {(const block_q8_0 *)y};
        q5_0_x8_rows(nb, out, nr, x, yc, 1, 1);
        return;
    }
    for (int c = 0; c < nc; c += X8_GROUP) {
        float *out[X8_GROUP];
        const block_q8_0 *yc[X8_GROUP];
        const int m = nc - c < X8_GROUP ? nc - c : X8_GROUP;
        for (int i = 0; i < m; i++) {
            out[i] = (float *)((char *)s + (c + i) * bs);
            yc[i] = (const block_q8_0 *)((const char *)y + (c + i) * by);
        }
        switch (m) {
        case 1: q5_0_x8_rows(nb, out, nr, x, yc, 1, 0); break;
        case 2: q5_0_x8_rows(nb, out, nr, x, yc, 2, 0); break;
        case 3: q5_0_x8_rows(nb, out, nr, x, yc, 3, 0); break;
        default: q5_0_x8_rows(nb, out, nr, x, yc, X8_GROUP, 0); break;
        }
    }
}

void pg_fill_avx512_tile_q5_0_x8_vnni(pg_kernels *k) {
    k->vec_dot_tile_x8[PG_TYPE_Q5_0] = pg_vec_dot_x8_q5_0_vnni;
    k->vec_dot_gemv_x8[PG_TYPE_Q5_0] = pg_vec_dot_x8_q5_0_vnni;
}
