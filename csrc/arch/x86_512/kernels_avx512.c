/* The AVX-512 (+VNNI) path: fills over the avx2 table (cpu_features.c registers it); what it
 * does not replace keeps avx2's kernels and their llama.cpp-exact order. */
#include "kernels.h"

void pg_kernels_fill_avx512(pg_kernels *k) {
    k->path = "avx512";
    pg_fill_avx512_tile_vnni(k);
    pg_fill_avx512_tile_q4_0_vnni(k);
    pg_fill_avx512_tile_q4_0_x16_vnni(k);
    pg_fill_avx512_tile_q4_1_x8_vnni(k);
    pg_fill_avx512_tile_q5_0_x8_vnni(k);
    pg_fill_avx512_tile_q8_0_vnni(k);
    pg_fill_avx512_tile_f32(k);
    pg_fill_avx512_q6k_batch_vnni(k);
    pg_fill_avx512_tile_k_vnni(k);
    pg_fill_avx512_tile_q4_k_x16(k);
    pg_fill_avx512_attn_block(k);
    pg_fill_avx512_one_query(k);
    pg_fill_avx512_vec(k);
}
