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
/* the path these kernels fill: arch/x86_512/q6k_batch_vnni.c builds this file again */
#ifndef Q6_K_BATCH_FN
#define Q6_K_BATCH_FN pg_vec_dot_batch_q6_K_avx2
#define Q6_K_BATCH_FILL pg_fill_avx2_q6k_batch
#endif

#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* One weight row x against NC activation rows (blocks of row c at y + c * by): output c at
 * s + c * bs. */
TILE_INLINE void q6_K_batch_row(int nb, float *s, size_t bs, const block_q6_K *x, const char *y, size_t by,
                                const int NC) {
    float acc[PG_TILE_COLS];
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    for (int ib = 0; ib < nb; ib++) {
        const block_q8_K *yb[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        __m256i lanes[PG_TILE_COLS];
        q6_K_superblock_lanes(x + ib, yb, NC, lanes);
        const float dx = fp16_to_f32(x[ib].d);
        for (int c = 0; c < NC; c++) acc[c] = __builtin_fmaf(yb[c]->d, dx * (float)hsum_i32x8(lanes[c]), acc[c]);
    }
    for (int c = 0; c < NC; c++) *(float *)((char *)s + c * bs) = acc[c];
}

DEFINE_Q6_K_ROWS_TILE(Q6_K_BATCH_FN, q6_K_batch_row)

void Q6_K_BATCH_FILL(pg_kernels *k) { k->vec_dot_batch[PG_TYPE_Q6_K] = Q6_K_BATCH_FN; }
