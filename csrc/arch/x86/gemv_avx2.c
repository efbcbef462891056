/* AVX2 single-row F32/F16 dot products in ggml's vec_dot order (see csrc/quants/gemv_ref.c):
 * four 8-lane FMA accumulators over the first n & ~31 elements, reduced (a0+a2) + (a1+a3), then
 * lanes lo+hi and two horizontal adds; the tail is added afterwards (double for F16). */
#include <immintrin.h>

#include "kernels.h"

static inline float reduce4(__m256 a[4]) {
    const __m256 v = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

static void vec_dot_f32_gemv_avx2(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    const int np = n & ~31;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), _mm256_loadu_ps(y + i + 8 * j), acc[j]);
    float sum = reduce4(acc);
    for (int i = np; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void vec_dot_f16_gemv_avx2(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int np = n & ~31;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            acc[j] = _mm256_fmadd_ps(load8_f16(x + i + 8 * j), load8_f16(y + i + 8 * j), acc[j]);
    double sum = reduce4(acc);
    for (int i = np; i < n; i++) sum += (double)(_cvtsh_ss(x[i]) * _cvtsh_ss(y[i]));
    *s = (float)sum;
}

void pg_fill_avx2_gemv(pg_kernels *k) {
    k->vec_dot_gemv[PG_TYPE_F32] = vec_dot_f32_gemv_avx2;
    k->vec_dot_gemv[PG_TYPE_F16] = vec_dot_f16_gemv_avx2;
    /* Q4_1, Q5_0, Q5_1, Q8_0: a lone row goes through the tile (tile_avx2.c, 8 weight rows per
     * pass, rows ahead prefetched), faster than one vec_dot per row; same values by definition */
}
