/* AVX2 RoPE rotation (pg_kernels.vec_rope_f32), bit-identical to pg_vec_rope_f32_ref: the same
 * fused multiply-adds per pair, 4 (normal) or 8 (neox) pairs per step, scalar tail by the ref. */
#include <immintrin.h>

#include "kernels.h"
#include "ops/vec_ref.h"

/* 8 interleaved (c, s) pairs at p -> 8 cos and 8 sin */
static inline void split_cache(const float *p, __m256 *c, __m256 *s) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    *c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xd8));
    *s = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xd8));
}

static void vec_rope_f32_avx2(int n_dims, int neox, float *y, const float *x, const float *cache) {
    const int half = n_dims / 2;
    int i = 0;
    if (neox) {
        for (; i + 8 <= half; i += 8) {
            __m256 c, s;
            split_cache(cache + 2 * i, &c, &s);
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + half);
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(x0, c, _mm256_xor_ps(_mm256_mul_ps(x1, s), _mm256_set1_ps(-0.0f))));
            _mm256_storeu_ps(y + i + half, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
        }
        /* the tail pairs (i, i + half) with i >= the last multiple of 8 */
        for (; i < half; i++) {
            const float c = cache[2 * i], s = cache[2 * i + 1], x0 = x[i], x1 = x[i + half];
            y[i] = __builtin_fmaf(x0, c, -(x1 * s));
            y[i + half] = __builtin_fmaf(x0, s, x1 * c);
        }
        return;
    }
    for (; i + 4 <= half; i += 4) {   /* 8 floats = 4 pairs (x0, x1) against 4 (c, s) */
        const __m256 v = _mm256_loadu_ps(x + 2 * i), cs = _mm256_loadu_ps(cache + 2 * i);
        const __m256 x0 = _mm256_moveldup_ps(v), x1 = _mm256_movehdup_ps(v);
        const __m256 c = _mm256_moveldup_ps(cs), s = _mm256_movehdup_ps(cs);
        const __m256 y0 = _mm256_fmadd_ps(x0, c, _mm256_xor_ps(_mm256_mul_ps(x1, s), _mm256_set1_ps(-0.0f)));
        const __m256 y1 = _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c));
        _mm256_storeu_ps(y + 2 * i, _mm256_blend_ps(y0, y1, 0xaa));
    }
    pg_vec_rope_f32_ref(n_dims - 2 * i, 0, y + 2 * i, x + 2 * i, cache + 2 * i);
}

void pg_fill_avx2_rope(pg_kernels *k) { k->vec_rope_f32 = vec_rope_f32_avx2; }
