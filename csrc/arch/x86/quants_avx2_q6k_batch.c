/* Q6_K x Q8_K in llama.cpp's order for batches of >= 8 activation rows (kernels.h
 * vec_dot_batch). For such batches llama.cpp's CPU backend runs its "tiled" K-quant mul_mat
 * (ggml_compute_forward_mul_mat_tiled), whose float order differs from its Q6_K vec_dot
 * (quants_avx2_k.c). Found by probing libggml-cpu.so (tools/probe_ggml.py, docs/fidelity.md);
 * per output, over super-blocks b in order:
 *   isum_b = sum over the 16 groups g of scale_g * sum of (code - 32) * q8   (exact int32)
 *   acc    = fma(yd_b, d_b * (float)isum_b, acc)                             (acc starts at 0)
 * i.e. the weight scale multiplies the whole super-block's integer sum first (one rounding), the
 * activation scale joins by FMA. Activations are quantize_row_q8_K's blocks, as elsewhere.
 *
 * The tile (pg_vec_dot_tile_fn) takes one weight row at a time against up to 4 activation
 * rows: each super-block's codes and scale pairs are unpacked once for all of them. */
#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

static inline __m256i load_32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* One weight row x against NC activation rows (blocks of row c at y + c * by): output c at
 * s + c * bs. */
TILE_INLINE void q6_K_batch_row(int nb, float *s, size_t bs, const block_q6_K *x, const char *y, size_t by,
                                const int NC) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int ib = 0; ib < nb; ib++) {
        const block_q6_K *xb = x + ib;
        const block_q8_K *yb[4];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        const __m128i scales = _mm_loadu_si128((const __m128i *)xb->scales);
        /* per activation row: 8 int lanes whose total is the super-block's sum with the codes
         * taken unsigned (0..63); the -32 offset is removed below through bsums */
        __m256i lanes[4];
        for (int c = 0; c < NC; c++) lanes[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) { /* 128 elements: ql[64h..], qh[32h..] */
            const __m256i ql_a = load_32(xb->ql + 64 * h), ql_b = load_32(xb->ql + 64 * h + 32);
            const __m256i qh = load_32(xb->qh + 32 * h);
            /* 32-element chunk j of this half: qh bits 2j, 2j+1 (moved to bits 4, 5) over a nibble */
            const __m256i codes[4] = {
                _mm256_or_si256(_mm256_and_si256(ql_a, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
                _mm256_or_si256(_mm256_and_si256(ql_b, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), mask4), _mm256_and_si256(qh, bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), mask4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
            };
            for (int j = 0; j < 4; j++) {
                const int ch = 4 * h + j;
                const __m256i scale_pair = scale_pair_i16(scales, 2 * ch, 2 * ch + 1);
                for (int c = 0; c < NC; c++)
                    lanes[c] = _mm256_add_epi32(lanes[c], mul_sum_scaled_16(codes[j], yb[c]->qs + 32 * ch, scale_pair));
            }
        }
        const __m256i scales_i16 = _mm256_cvtepi8_epi16(scales);
        const float dx = fp16_to_f32(xb->d);
        for (int c = 0; c < NC; c++) {
            /* 32 * sum_g scale_g * bsums_g: the offset of the codes, subtracted lane-wise */
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load_32(yb[c]->bsums), scales_i16), 5);
            const int32_t isum = hsum_i32x8(_mm256_sub_epi32(lanes[c], offset));
            acc[c] = __builtin_fmaf(yb[c]->d, dx * (float)isum, acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) *(float *)((char *)s + c * bs) = acc[c];
}

static void pg_vec_dot_batch_q6_K_avx2(int n, float *s, size_t bs, const void *x, size_t bx, const void *y,
                                       size_t by, int nr, int nc) {
    const int nb = n / QK_K;
    for (int r = 0; r < nr; r++) {
        const block_q6_K *row = (const block_q6_K *)((const char *)x + (size_t)r * bx);
        switch (nc) {
        case 1: q6_K_batch_row(nb, s + r, bs, row, y, by, 1); break;
        case 2: q6_K_batch_row(nb, s + r, bs, row, y, by, 2); break;
        case 3: q6_K_batch_row(nb, s + r, bs, row, y, by, 3); break;
        default: q6_K_batch_row(nb, s + r, bs, row, y, by, 4); break;
        }
    }
}

void pg_fill_avx2_q6k_batch(pg_kernels *k) { k->vec_dot_batch[PG_TYPE_Q6_K] = pg_vec_dot_batch_q6_K_avx2; }
