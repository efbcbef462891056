/* AVX2 tiles of vec_dot for F32 and F16 weights (pg_vec_dot_tile_fn): up to 8 weight rows (as
 * two tiles of 4) x up to PG_TILE_COLS activation rows, in passes of 3 activation rows (12 accumulators). Per
 * output exactly the arithmetic of the path's float vec_dot (quants_avx2.c
 * DEFINE_FLOAT_DOT_1ACC): one 8-lane FMA accumulator over the 8-element chunks in order,
 * hsum_f32x8, then the n % 8 tail added element by element. */
#include "arch/x86/tile_avx2.h"
#include "kernels.h"

static inline __m256 load8_f32(const void *p, int i) { return _mm256_loadu_ps((const float *)p + i); }
static inline __m256 load8_f16(const void *p, int i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
static inline float elem_f32(const void *p, int i) { return ((const float *)p)[i]; }
static inline float elem_f16(const void *p, int i) { return _cvtsh_ss(((const uint16_t *)p)[i]); }

#define DEFINE_FLOAT_TILE(T)                                                                          \
    TILE_INLINE void tile_pass_##T(int n, float *s, size_t bs, int nr, const char *const xr[4],        \
                                   const char *y, size_t by, const int NC) {                         \
        __m256 acc[4][3];                                                                             \
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = acc[r][2] = _mm256_setzero_ps();         \
        int i = 0;                                                                                    \
        for (; i + 8 <= n; i += 8) {                                                                  \
            __m256 yv[3];                                                                             \
            for (int c = 0; c < NC; c++) yv[c] = load8_##T(y + c * by, i);                            \
            for (int r = 0; r < 4; r++) {                                                             \
                const __m256 xv = load8_##T(xr[r], i);                                                \
                for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(xv, yv[c], acc[r][c]);       \
            }                                                                                         \
        }                                                                                             \
        for (int c = 0; c < NC; c++)                                                                  \
            for (int r = 0; r < 4; r++) {                                                             \
                float sum = hsum_f32x8(acc[r][c]);                                                    \
                for (int t = i; t < n; t++) sum += elem_##T(xr[r], t) * elem_##T(y + c * by, t);      \
                store_out(s, bs, nr, c, r, sum);                                                      \
            }                                                                                         \
    }                                                                                                 \
    static void tile4_##T(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, \
                          int nr, int nc) {                                                           \
        const char *rows[4];                                                                          \
        tile_rows(x, bx, nr, rows);                                                                   \
        int c = 0;                                                                                    \
        for (; c + 3 <= nc; c += 3)                                                                   \
            tile_pass_##T(n, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 3); \
        if (nc - c == 2) tile_pass_##T(n, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 2); \
        if (nc - c == 1) tile_pass_##T(n, (float *)((char *)s + c * bs), bs, nr, rows, (const char *)y + c * by, by, 1); \
    }                                                                                                 \
    void pg_vec_dot_tile_##T##_avx2(int n, float *s, size_t bs, const void *x, size_t bx,             \
                                    const void *y, size_t by, int nr, int nc) {                       \
        TILE_IN_FOURS(tile4_##T, n, s, bs, x, bx, y, by, nr, nc);                                     \
    }

DEFINE_FLOAT_TILE(f32)
DEFINE_FLOAT_TILE(f16)

void pg_fill_avx2_float_tile(pg_kernels *k) {
    k->vec_dot_tile[PG_TYPE_F32] = pg_vec_dot_tile_f32_avx2;
    k->vec_dot_tile[PG_TYPE_F16] = pg_vec_dot_tile_f16_avx2;
}
