/* The avx2 K-quant tiles (arch/x86/tile_k_avx2.c: Q4_K, Q6_K in vec_dot's order) built again
 * with AVX512_VNNI (256-bit): a Q4_K group's products summed by vpdpbusd straight into i32 lanes
 * and scaled by vpmulld (instead of maddubs + i16 adds + madd), Q6_K's scaled chunk sums added by
 * vpdpwssd (instead of madd + add). The same exact integers, so every output is bit-identical
 * to the avx2 tile and to vec_dot. */
#include <immintrin.h>

#define Q4_K_GROUP_ADD(sum, codes, act) _mm256_dpbusd_epi32(sum, codes, act)
/* the scale pair holds the scale in both i16 halves of its lane; scales are 0..63 */
#define Q4_K_GROUP_SCALE(sum, scale_pair) _mm256_mullo_epi32(sum, _mm256_srli_epi32(scale_pair, 16))
#define Q6_K_SCALED_ADD(acc, codes, q8, scale_pair) \
    _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(codes, _mm256_loadu_si256((const __m256i *)(q8))), scale_pair)
#define TILE_K_FN(T) pg_vec_dot_tile_##T##_vnni
#define TILE_K_FILL pg_fill_avx512_tile_k_vnni
#include "arch/x86/tile_k_avx2.c"
