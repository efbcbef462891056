/* The avx2 tiles of the 32-element block types (arch/x86/tile_avx2.c: Q4_1, Q5_0, Q5_1; Q8_0 has
 * its own tile on this path, arch/x86_512/tile_q8_0_vnni.c) built again with each lane's 4 products summed by one vpdpbusd (AVX512_VNNI, 256-bit) instead
 * of maddubs + madd. The integer lanes are the same exact numbers (maddubs never saturates on
 * these codes), so every output is bit-identical to the avx2 tile, to vec_dot and to llama.cpp's
 * AVX2 build: the avx512 path keeps those vec_dots. */
#include <immintrin.h>

#define TILE_LANE_SUMS(codes, yq) _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, yq)
#define TILE_FN(W) pg_vec_dot_tile_##W##_vnni
#define TILE_FILL pg_fill_avx512_tile_vnni
#define TILE_WITHOUT_Q8_0
#include "arch/x86/tile_avx2.c"
