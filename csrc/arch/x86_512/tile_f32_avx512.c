/* F32 tile on the avx512 path (pg_vec_dot_tile_fn): up to 8 weight rows x up to PG_TILE_COLS
 * activation rows, bit-identical with the avx2 tile (arch/x86/tile_float_avx2.c) and so with
 * llama.cpp's AVX2 order: per output one 8-lane FMA accumulator over the 8-element chunks in
 * order, hsum_f32x8, then the n % 8 tail element by element.
 * A 512-bit accumulator holds two outputs' 8 lanes, weight rows 2p | 2p + 1 of one activation
 * row: per chunk, each pair of weight rows is loaded into one vector and each activation row's
 * chunk broadcast to both halves, so 16 FMAs serve 8 rows x 4 activation rows (the avx2 tile:
 * 12 FMAs for 4 x 3) with 32 registers to hold them. Rows past nr repeat row nr - 1, their
 * outputs are dropped. One or three activation rows over short rows (attention's scores of a GQA
 * group of 3: dk 64, 3 heads) go through the avx2 tile, measured faster there (48.7 vs 41.9
 * GFLOP/s); from 4 activation rows or 512 elements on this one is (dk 256 x 4: 88 vs 70). */
#include <immintrin.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"

#define ROWS 8
#define PASS_COLS 4

/* NC activation rows against the 8 weight rows x: out (r, c) */
TILE_INLINE void f32_pass(int n, float *s, size_t bs, int nr, const float *const x[ROWS], const char *y, size_t by,
                          const int NC) {
    __m512 acc[ROWS / 2][PASS_COLS];   /* [output (2p, c) | output (2p + 1, c)] */
    for (int p = 0; p < ROWS / 2; p++)
        for (int c = 0; c < NC; c++) acc[p][c] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512 xv[ROWS / 2];
        for (int p = 0; p < ROWS / 2; p++)
            xv[p] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x[2 * p] + i)), _mm256_loadu_ps(x[2 * p + 1] + i), 1);
        for (int c = 0; c < NC; c++) {
            const __m512 yv = _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)(y + c * by) + i));
            for (int p = 0; p < ROWS / 2; p++) acc[p][c] = _mm512_fmadd_ps(xv[p], yv, acc[p][c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        __m256 lanes8[ROWS];
        for (int p = 0; p < ROWS / 2; p++) {
            lanes8[2 * p] = _mm512_castps512_ps256(acc[p][c]);
            lanes8[2 * p + 1] = _mm512_extractf32x8_ps(acc[p][c], 1);
        }
        float sums[ROWS];
        _mm256_storeu_ps(sums, hsum_f32x8_of_8(lanes8));
        const float *yc = (const float *)(y + c * by);
        for (int r = 0; r < nr; r++) {
            float sum = sums[r];
            for (int t = i; t < n; t++) sum += x[r][t] * yc[t];
            ((float *)((char *)s + c * bs))[r] = sum;
        }
    }
}

static void tile_f32_avx512(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                            int nc) {
    if ((nc == 1 || nc == 3) && n < 512) {   /* e.g. attention's scores: the avx2 tile's 4 x 3 passes measured faster */
        pg_vec_dot_tile_f32_avx2(n, s, bs, x, bx, y, by, nr, nc);
        return;
    }
    const float *rows[ROWS];
    for (int r = 0; r < ROWS; r++) rows[r] = (const float *)((const char *)x + (size_t)(r < nr ? r : nr - 1) * bx);
    for (int c = 0; c < nc; c += PASS_COLS) {
        float *sc = (float *)((char *)s + c * bs);
        const char *yc = (const char *)y + c * by;
        switch (nc - c < PASS_COLS ? nc - c : PASS_COLS) {
        case 1: f32_pass(n, sc, bs, nr, rows, yc, by, 1); break;
        case 2: f32_pass(n, sc, bs, nr, rows, yc, by, 2); break;
        case 3: f32_pass(n, sc, bs, nr, rows, yc, by, 3); break;
        default: f32_pass(n, sc, bs, nr, rows, yc, by, PASS_COLS); break;
        }
    }
}

void pg_fill_avx512_tile_f32(pg_kernels *k) { k->vec_dot_tile[PG_TYPE_F32] = tile_f32_avx512; }
