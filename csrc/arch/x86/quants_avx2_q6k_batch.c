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
 * The tile (pg_vec_dot_tile_fn) takes one weight row at a time against up to PG_TILE_COLS (8)
 * activation rows: each chunk's codes and scale pair are unpacked once for all of them. */
#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

static inline __m256i load_32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* One weight row x against NC activation rows (blocks of row c at y + c * by): output c at
 * s + c * bs. */
TILE_INLINE void q6_K_batch_row(int nb, float *s, size_t bs, const block_q6_K *x, const char *y, size_t by,
                                const int NC) {
    float acc[PG_TILE_COLS];
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    for (int ib = 0; ib < nb; ib++) {
        const block_q6_K *xb = x + ib;
        const block_q8_K *yb[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        const __m128i scales = _mm_loadu_si128((const __m128i *)xb->scales);
        /* per activation row: 8 int lanes whose total is the super-block's sum with the codes
         * taken unsigned (0..63); the -32 offset is removed below through bsums */
        __m256i lanes[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) lanes[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int ch = 0; ch < 8; ch++) {
            const __m256i codes = q6_K_codes(xb, ch);
            const __m256i scale_pair = scale_pair_i16(scales, 2 * ch, 2 * ch + 1);
            for (int c = 0; c < NC; c++)
                lanes[c] = in_register(
                    _mm256_add_epi32(lanes[c], mul_sum_scaled_16(codes, yb[c]->qs + 32 * ch, scale_pair)));
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
        float *sr = s + r;
        const char *yc = y;
        int left = nc;
        if (left > 4 && left < PG_TILE_COLS) { /* 5..7: 4 activation rows, then the rest */
            q6_K_batch_row(nb, sr, bs, row, yc, by, 4);
            sr = (float *)((char *)sr + 4 * bs);
            yc += 4 * by;
            left -= 4;
        }
        switch (left) {
        case 1: q6_K_batch_row(nb, sr, bs, row, yc, by, 1); break;
        case 2: q6_K_batch_row(nb, sr, bs, row, yc, by, 2); break;
        case 3: q6_K_batch_row(nb, sr, bs, row, yc, by, 3); break;
        case 4: q6_K_batch_row(nb, sr, bs, row, yc, by, 4); break;
        default: q6_K_batch_row(nb, sr, bs, row, yc, by, PG_TILE_COLS); break;
        }
    }
}

void pg_fill_avx2_q6k_batch(pg_kernels *k) { k->vec_dot_batch[PG_TYPE_Q6_K] = pg_vec_dot_batch_q6_K_avx2; }
