/* The AVX2 (+FMA, F16C) path: starts from the scalar table, overrides what it accelerates. */
#include "kernels.h"

void pg_kernels_fill_avx2(pg_kernels *k) {
    k->path = "avx2";
    pg_fill_avx2_quant(k);
    pg_fill_avx2_vec(k);
    pg_fill_avx2_tile(k);
    pg_fill_avx2_tile_q4_0(k);
    pg_fill_avx2_tile_q4_1_x8(k);
    pg_fill_avx2_tile_k(k);
    pg_fill_avx2_q6k_batch(k);
    pg_fill_avx2_float_tile(k);
    pg_fill_avx2_gemv(k);
    pg_fill_avx2_gemv_q4_K(k);
    pg_fill_avx2_rope(k);
    pg_fill_avx2_pv(k);
}
