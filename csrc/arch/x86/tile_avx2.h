/* Shared parts of the AVX2 tile kernels (tile*_avx2.c, quants_avx2_q6k_batch.c): row pointers,
 * output stores, register pinning, Q6_K code unpacking. */
#ifndef PG_TILE_AVX2_H
#define PG_TILE_AVX2_H

#include <stddef.h>

#include "arch/x86/simd_avx2.h"
#include "quants/blocks.h"

#define TILE_INLINE static inline __attribute__((always_inline))

/* the 4 weight rows of a tile; rows past nr repeat row nr - 1 */
TILE_INLINE void tile_rows(const void *x, size_t bx, int nr, const char *rows[4]) {
    for (int r = 0; r < 4; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;
}

/* A tile of up to PG_TILE_ROWS (8) weight rows through a kernel of 4: rows 0..3, then 4..nr-1 */
#define TILE_IN_FOURS(FN, n, s, bs, x, bx, y, by, nr, nc)                                             \
    do {                                                                                              \
        FN(n, s, bs, x, bx, y, by, (nr) < 4 ? (nr) : 4, nc);                                          \
        if ((nr) > 4) FN(n, (s) + 4, bs, (const char *)(x) + 4 * (bx), bx, y, by, (nr) - 4, nc);      \
    } while (0)

/* v as computed, from a register: an empty asm the compiler cannot see through, so it keeps a
 * chain of integer adds as written instead of re-associating it into a tree of stored partial
 * sums (register spills) */
TILE_INLINE __m256i in_register(__m256i v) {
    __asm__("" : "+x"(v));
    return v;
}

/* the 32 codes (0..63, offset 32 not removed) of chunk ch (elements 32ch..32ch+31) of a Q6_K
 * super-block: in half h = ch / 4, chunk j = ch % 4 takes the low (j < 2) or high nibble of
 * ql[64h + 32 (j % 2) + l] and bits 2j, 2j+1 of qh[32h + l] (moved to bits 4, 5) */
TILE_INLINE __m256i q6_K_codes(const block_q6_K *xb, const int ch) {
    const int h = ch / 4, j = ch % 4;
    const __m256i ql = _mm256_loadu_si256((const __m256i *)(xb->ql + 64 * h + 32 * (j % 2)));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(xb->qh + 32 * h));
    const __m256i nibble = j < 2 ? ql : _mm256_srli_epi16(ql, 4);
    const __m256i high = j == 0 ? _mm256_slli_epi16(qh, 4) : j == 1 ? _mm256_slli_epi16(qh, 2)
                       : j == 2 ? qh : _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(_mm256_and_si256(nibble, _mm256_set1_epi8(0x0f)),
                           _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
}

/* output (r, c) of the tile at s; rows past nr (repeats) are dropped */
TILE_INLINE void store_out(float *s, size_t bs, int nr, int c, int r, float v) {
    if (r < nr) ((float *)((char *)s + c * bs))[r] = v;
}

#endif
