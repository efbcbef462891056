/* Shared parts of the AVX2 tile kernels (tile_avx2.c, 32-element block types): row pointers,
 * output stores. */
#ifndef PG_TILE_AVX2_H
#define PG_TILE_AVX2_H

#include <stddef.h>

#include "arch/x86/simd_avx2.h"

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

/* output (r, c) of the tile at s; rows past nr (repeats) are dropped */
TILE_INLINE void store_out(float *s, size_t bs, int nr, int c, int r, float v) {
    if (r < nr) ((float *)((char *)s + c * bs))[r] = v;
}

#endif
