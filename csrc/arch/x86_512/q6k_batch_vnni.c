/* The avx2 Q6_K batch-order kernel (arch/x86/quants_avx2_q6k_batch.c) built again with each
 * chunk's scaled sums added by vpdpwssd (AVX512_VNNI, 256-bit) instead of madd + add: the same
 * exact integers, so every output is bit-identical to avx2's (llama.cpp's tiled order). */
#include <immintrin.h>

#define Q6_K_SCALED_ADD(acc, codes, q8, scale_pair) \
    _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(codes, _mm256_loadu_si256((const __m256i *)(q8))), scale_pair)
#define Q6_K_BATCH_FN pg_vec_dot_batch_q6_K_vnni
#define Q6_K_BATCH_FILL pg_fill_avx512_q6k_batch_vnni
#include "arch/x86/quants_avx2_q6k_batch.c"
