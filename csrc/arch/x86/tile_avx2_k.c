/* AVX2 tiles of vec_dot for Q6_K (with Q8_K activations): 4 weight rows x up to 4
 * activation rows, in passes of 1 or 2 activation rows; the 4 rows' outputs of one activation
 * row sit in the lanes of one __m128. Per output and super-block the arithmetic is that of
 * quants_avx2_k.c: the same integer sums (exact, so reduced here for 4 rows at once), then the
 * same float operations in the same order:
 *   Q6_K  sumf  = fma(d * yd, isum, sumf)
 * tests/c/test_tile_kernels.c holds every output to bit identity with vec_dot.
 * Q4_K has no tile: its vec_dot follows llama.cpp's repacked GEMM order (quants_avx2_k.c), which
 * a tile would have to repeat; it goes through the vec_dot loop. */
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

static inline __m128i load_16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline __m256i load_32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

static inline __m128 f16_lanes(pg_fp16 a, pg_fp16 b, pg_fp16 c, pg_fp16 d) {
    return _mm_setr_ps(fp16_to_f32(a), fp16_to_f32(b), fp16_to_f32(c), fp16_to_f32(d));
}

/* ---- Q6_K: code = low nibble + 2 high bits << 4, value code - 32; int8 scales per 16 ---- */

TILE_INLINE void tile_pass_q6_K(int nb, float *s, size_t bs, int nr, const char *const xr[4], const char *y,
                                size_t by, const int NC) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
    __m128 sumf[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    for (int ib = 0; ib < nb; ib++) {
        const block_q8_K *yb[2];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        const block_q6_K *xb[4];
        __m256i acc[2][4];
        for (int r = 0; r < 4; r++) {
            xb[r] = (const block_q6_K *)xr[r] + ib;
            const __m128i scales = load_16(xb[r]->scales);
            /* the offset -32 of every code, through the activation's group sums */
            const __m256i scales_i16 = _mm256_cvtepi8_epi16(scales);
            for (int c = 0; c < NC; c++)
                acc[c][r] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                             _mm256_slli_epi32(_mm256_madd_epi16(load_32(yb[c]->bsums), scales_i16), 5));
            for (int h = 0; h < 2; h++) {           /* 128 elements: ql[64h..], qh[32h..] */
                const __m256i ql_a = load_32(xb[r]->ql + 64 * h), ql_b = load_32(xb[r]->ql + 64 * h + 32);
                const __m256i qh = load_32(xb[r]->qh + 32 * h);
                const __m256i codes[4] = {
                    _mm256_or_si256(_mm256_and_si256(ql_a, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
                    _mm256_or_si256(_mm256_and_si256(ql_b, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), mask4), _mm256_and_si256(qh, bits45)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), mask4),
                                    _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
                };
                for (int j = 0; j < 4; j++) {
                    const int k = 4 * h + j;
                    const __m256i scale_pair = scale_pair_i16(scales, 2 * k, 2 * k + 1);
                    for (int c = 0; c < NC; c++)
                        acc[c][r] = _mm256_add_epi32(acc[c][r], mul_sum_scaled_16(codes[j], yb[c]->qs + 32 * k, scale_pair));
                }
            }
        }
        const __m128 d = f16_lanes(xb[0]->d, xb[1]->d, xb[2]->d, xb[3]->d);
        for (int c = 0; c < NC; c++) {
            const __m128 isum = _mm_cvtepi32_ps(sum_4x8(acc[c][0], acc[c][1], acc[c][2], acc[c][3]));
            sumf[c] = _mm_fmadd_ps(_mm_mul_ps(d, _mm_set1_ps(yb[c]->d)), isum, sumf[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        float out[4];
        _mm_storeu_ps(out, sumf[c]);
        for (int r = 0; r < 4; r++) store_out(s, bs, nr, c, r, out[r]);
    }
}

#define DEFINE_K_TILE(W)                                                                              \
    void pg_vec_dot_tile_##W##_avx2(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, \
                                    size_t by, int nr, int nc) {                                      \
        const char *rows[4];                                                                          \
        tile_rows(x, bx, nr, rows);                                                                   \
        int c = 0;                                                                                    \
        for (; c + 2 <= nc; c += 2)                                                                   \
            tile_pass_##W(n / QK_K, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 2); \
        if (c < nc) tile_pass_##W(n / QK_K, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 1); \
    }

DEFINE_K_TILE(q6_K)
