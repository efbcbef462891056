/* The avx2 Q4_0 tile (arch/x86/tile_q4_0_avx2.c) built again with the block's integer sums taken
 * by 8 chained vpdpbusd (AVX512_VNNI, 256-bit) instead of maddubs + i16 adds + madd: the same
 * exact integers, so every output is bit-identical to the avx2 tile, to vec_dot and to
 * llama.cpp's AVX2 build. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline __m256i q4_0_block_sums_vnni(const __m256i lo[4], const __m256i hi[4], const int8_t *yqs);
#define Q4_0_BLOCK_SUMS q4_0_block_sums_vnni
#define Q4_0_TILE_FN pg_vec_dot_tile_q4_0_vnni
#define Q4_0_TILE_X8_FN pg_vec_dot_tile_x8_q4_0_vnni
#define Q4_0_TILE_FILL pg_fill_avx512_tile_q4_0_vnni
#include "arch/x86/tile_q4_0_avx2.c"

static inline __m256i q4_0_block_sums_vnni(const __m256i lo[4], const __m256i hi[4], const int8_t *yqs) {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256(); /* two chains: half the latency */
    for (int k = 0; k < 4; k++) {
        a = _mm256_dpbusd_epi32(a, lo[k], bcast4(yqs, 4 * k));
        b = _mm256_dpbusd_epi32(b, hi[k], bcast4(yqs, 16 + 4 * k));
    }
    return _mm256_add_epi32(a, b);
}
