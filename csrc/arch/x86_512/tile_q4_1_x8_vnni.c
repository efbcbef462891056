/* The avx2 Q4_1 kernels over repacked weights (arch/x86/tile_q4_1_x8_avx2.c) built again with each
 * lane's 4 products summed by one vpdpbusd (AVX512_VNNI, 256-bit) instead of maddubs + madd: the
 * same exact integers, so the same outputs as vec_dot. */
#include <immintrin.h>

#define Q4_1_X8_LANE_SUMS(codes, yq) _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, yq)
#define Q4_1_X8_FN pg_vec_dot_x8_q4_1_vnni
#define Q4_1_X8_FILL pg_fill_avx512_tile_q4_1_x8_vnni
#include "arch/x86/tile_q4_1_x8_avx2.c"
