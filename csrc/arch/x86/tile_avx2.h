/* Shared parts of the AVX2 tile kernels (tile_avx2.c, 32-element block types): row pointers,
 * output stores, integer reductions of 4 or 8 vectors at once. */
#ifndef PG_TILE_AVX2_H
#define PG_TILE_AVX2_H

#include <stddef.h>

#include "arch/x86/simd_avx2.h"

#define TILE_INLINE static inline __attribute__((always_inline))

/* the 4 weight rows of a tile; rows past nr repeat row nr - 1 */
TILE_INLINE void tile_rows(const void *x, size_t bx, int nr, const char *rows[4]) {
    for (int r = 0; r < 4; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;
}

/* output (r, c) of the tile at s; rows past nr (repeats) are dropped */
TILE_INLINE void store_out(float *s, size_t bs, int nr, int c, int r, float v) {
    if (r < nr) ((float *)((char *)s + c * bs))[r] = v;
}

/* lanes [v0 | v1 | v2 | v3] partial: lane i of each half = sum of that half of v_i */
static inline __m256i hadd_4x8(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
}
/* the 4 totals of v0..v3 */
static inline __m128i sum_4x8(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    const __m256i h = hadd_4x8(v0, v1, v2, v3);
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

#endif
