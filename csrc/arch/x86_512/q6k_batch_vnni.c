/* The avx512 path's Q6_K x Q8_K kernel for batches of >= 8 activation rows (kernels.h
 * vec_dot_batch), in llama.cpp's tiled order as the avx2 one (arch/x86/quants_avx2_q6k_batch.c
 * states it): per output and super-block b, acc = fma(yd_b, d_b * (float)isum_b, acc), isum_b the
 * super-block's exact int32 sum of scale_g * (code - 32) * q8. Only how isum_b is reached changes
 * (integers are exact in any order), so every output is bit-identical to avx2's.
 *
 * 512-bit vectors hold two 32-element chunks (ch = 2p, 2p + 1) at once: the 64 ql bytes of the
 * half (low nibbles for p even, high for p odd) and the 32 qh bytes in both 256-bit halves, each
 * half shifted by its own count (vpsllvw / vpsrlvw) to put its chunk's 2 bits at 4..5; the 64
 * matching activation bytes are contiguous. maddubs (codes 0..63 unsigned: |pair| <= 2 * 63 * 128
 * fits i16) then vpdpwssd with the 4 groups' scales, one per 128-bit lane. The codes' offset, 32 *
 * sum_g scale_g * bsums_g, starts each output's lanes. Each weight row's super-block against up to 8
 * activation rows' (its chunk pairs unpacked once for all of them), super-block by super-block. */
#include <immintrin.h>

#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* codes (0..63) of chunks 2p, 2p + 1 of a super-block: bytes 0..31 chunk 2p, 32..63 chunk 2p + 1 */
static inline __m512i q6_K_codes_pair(const block_q6_K *xb, int p) {
    const int h = p / 2;
    const __m512i ql = _mm512_loadu_si512((const void *)(xb->ql + 64 * h));
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xb->qh + 32 * h)));
    const __m512i nibble = p % 2 ? _mm512_srli_epi16(ql, 4) : ql;
    /* chunk j of the half takes qh bits 2j, 2j + 1: j = 0, 1 shifted left by 4, 2; j = 2, 3 right by 0, 2 */
    const __m512i high = p % 2 ? _mm512_srlv_epi16(qh, _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1))
                               : _mm512_sllv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1));
    return _mm512_or_si512(_mm512_and_si512(nibble, _mm512_set1_epi8(0x0f)), _mm512_and_si512(high, _mm512_set1_epi8(0x30)));
}

/* Super-block xb of one weight row against NC activation blocks yb[c]: lanes[c] = vectors whose
 * i32 sum is isum of output c */
static inline __attribute__((always_inline)) void q6_K_superblock_512(const block_q6_K *xb, const block_q8_K *const yb[],
                                                                      __m512i lanes[], const int NC) {
    const __m256i scales_i16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)xb->scales));
    const __m512i scales_all = _mm512_zextsi256_si512(scales_i16);
    for (int c = 0; c < NC; c++) {   /* start: -32 * sum_g scale_g * bsums_g */
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)yb[c]->bsums);
        lanes[c] = _mm512_zextsi256_si512(
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales_i16), 5)));
    }
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
        const __m512i codes = q6_K_codes_pair(xb, p);
        /* i16 element e -> the scale of group 4p + e / 8 (one group per 128-bit lane) */
        const __m512i pick = _mm512_add_epi16(_mm512_set1_epi16((short)(4 * p)),
                                              _mm512_set_epi64(0x0003000300030003, 0x0003000300030003, 0x0002000200020002,
                                                               0x0002000200020002, 0x0001000100010001, 0x0001000100010001, 0, 0));
        const __m512i scale_quad = _mm512_permutexvar_epi16(pick, scales_all);
        for (int c = 0; c < NC; c++) {
            const __m512i q8 = _mm512_loadu_si512((const void *)(yb[c]->qs + 64 * p));
            lanes[c] = _mm512_dpwssd_epi32(lanes[c], _mm512_maddubs_epi16(codes, q8), scale_quad);
        }
    }
}

/* lane c = the i32 sum of lanes[c], c < 8 */
static inline __m256i sums_of_8(const __m512i lanes[8]) {
    __m256i y[8];
    for (int c = 0; c < 8; c++) y[c] = _mm256_add_epi32(_mm512_castsi512_si256(lanes[c]), _mm512_extracti64x4_epi64(lanes[c], 1));
    /* hadd pairs within 128-bit halves: [y0 y1 y2 y3 quarter sums | the same of the high halves] */
    const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(y[0], y[1]), _mm256_hadd_epi32(y[2], y[3]));
    const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(y[4], y[5]), _mm256_hadd_epi32(y[6], y[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

/* The tile: super-block by super-block, each weight row's against all NC activation rows' (the
 * activation blocks stay in L1 for the nr rows; a whole row of 8192 elements against 8 activation
 * rows would stream 75 KB per weight row from L2). With 8 activation rows an output row's 8
 * accumulators are one vector (lane c), the same fma per lane. */
static inline __attribute__((always_inline)) void q6_K_batch_tile_512(int nb, float *s, size_t bs, const char *x,
                                                                      size_t bx, int nr, const char *y, size_t by,
                                                                      const int NC) {
    float acc[PG_TILE_ROWS][PG_TILE_COLS] = {{0}};
    __m256 acc8[PG_TILE_ROWS];
    for (int r = 0; r < PG_TILE_ROWS; r++) acc8[r] = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const block_q8_K *yb[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        __m256 yd8 = _mm256_setzero_ps();
        if (NC == 8)
            yd8 = _mm256_setr_ps(yb[0]->d, yb[1]->d, yb[2]->d, yb[3]->d, yb[4]->d, yb[5]->d, yb[6]->d, yb[7]->d);
        for (int r = 0; r < nr; r++) {
            const block_q6_K *xb = (const block_q6_K *)(x + r * bx) + ib;
            __m512i lanes[PG_TILE_COLS];
            q6_K_superblock_512(xb, yb, lanes, NC);
            const float dx = fp16_to_f32(xb->d);
            if (NC == 8) {
                const __m256 dxi = _mm256_mul_ps(_mm256_set1_ps(dx), _mm256_cvtepi32_ps(sums_of_8(lanes)));
                acc8[r] = _mm256_fmadd_ps(yd8, dxi, acc8[r]);
            } else {
                for (int c = 0; c < NC; c++)
                    acc[r][c] = __builtin_fmaf(yb[c]->d, dx * (float)_mm512_reduce_add_epi32(lanes[c]), acc[r][c]);
            }
        }
    }
    if (NC == 8)
        for (int r = 0; r < nr; r++) _mm256_storeu_ps(acc[r], acc8[r]);
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < NC; c++) *((float *)((char *)s + c * bs) + r) = acc[r][c];
}

static void pg_vec_dot_batch_q6_K_vnni(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                                       int nr, int nc) {
    const int nb = n / QK_K;
    switch (nc) {
    case 1: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 1); break;
    case 2: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 2); break;
    case 3: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 3); break;
    case 4: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 4); break;
    case 5: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 5); break;
    case 6: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 6); break;
    case 7: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, 7); break;
    default: q6_K_batch_tile_512(nb, s, bs, x, bx, nr, y, by, PG_TILE_COLS); break;
    }
}

void pg_fill_avx512_q6k_batch_vnni(pg_kernels *k) { k->vec_dot_batch[PG_TYPE_Q6_K] = pg_vec_dot_batch_q6_K_vnni; }
