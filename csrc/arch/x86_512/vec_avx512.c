/* AVX-512 versions of the avx2 path's softmax, scale and F16 conversions (arch/x86/vec_avx2.c),
 * 16 lanes a step, bit-identical to them: each lane gets the same operations as there, and the
 * softmax sum keeps llama.cpp's order (each block of 8 exps summed by hsum_f32x8's tree in
 * float, the block sums added in order in double; the last n % 8 by the reference's libm expf).
 * Used where a prompt's attention turns its scores into F16 probabilities, row after row. */
#include <immintrin.h>

#include "kernels.h"
#include "ops/vec_ref.h"

/* exp(x) as arch/x86/vec_avx2.c's ggml_exp_f32x8 (llama.cpp's ggml_v_expf for AVX2), lane for
 * lane: the same operations on 16 lanes; the split scale applied where a lane needs it */
static inline __m512 ggml_exp_f32x16(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512i z_exp = _mm512_slli_epi32(_mm512_castps_si512(z), 23);   /* n in the exponent field */
    const __m512 k = _mm512_castsi512_ps(_mm512_add_epi32(z_exp, _mm512_set1_epi32(0x3f800000)));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 hi = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f)));
    const __m512 poly = _mm512_fmadd_ps(hi, u, _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), b));
    const __m512 abs_n = _mm512_abs_ps(n);
    const __mmask16 split = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(126.0f), _CMP_GT_OQ);
    const __m512 normal = _mm512_fmadd_ps(k, poly, k);
    if (!split) return normal;
    /* n <= 0: s1 = 2^-125, s2 = 2^(n+125); n > 0: s1 = 2^127, s2 = 2^(n-127) */
    const __m512i neg = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                               _mm512_set1_epi32((int)0x82000000u));
    const __m512 s1 = _mm512_castsi512_ps(_mm512_add_epi32(neg, _mm512_set1_epi32(0x7f000000)));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_sub_epi32(z_exp, neg));
    const __mmask16 far = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    const __m512 scaled = _mm512_mask_blend_ps(split, normal, _mm512_mul_ps(_mm512_fmadd_ps(s2, poly, s2), s1));
    return _mm512_mask_blend_ps(far, scaled, _mm512_mul_ps(s1, s1));
}

/* lane 0: hsum_f32x8 of lanes 0..7, lane 8: of lanes 8..15, in its tree
 * ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)) */
static inline __m512 hsum_halves(__m512 v) {
    const __m512 t1 = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512 t2 = _mm512_add_ps(t1, _mm512_permute_ps(t1, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(t2, _mm512_permute_ps(t2, _MM_SHUFFLE(2, 3, 0, 1)));
}

static double vec_soft_max_f32_avx512(int n, float *y, const float *x, float max) {
    const __m512 vmax = _mm512_set1_ps(max);
    double sum = 0.0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = ggml_exp_f32x16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
        _mm512_storeu_ps(y + i, e);
        const __m512 h = hsum_halves(e);
        sum += (double)_mm512_cvtss_f32(h);
        sum += (double)_mm_cvtss_f32(_mm512_extractf32x4_ps(h, 2));
    }
    if (i + 8 <= n) {   /* one more block of 8 */
        const __m512 e = ggml_exp_f32x16(_mm512_sub_ps(_mm512_maskz_loadu_ps(0xff, x + i), vmax));
        _mm512_mask_storeu_ps(y + i, 0xff, e);
        sum += (double)_mm512_cvtss_f32(hsum_halves(e));
        i += 8;
    }
    return sum + pg_vec_soft_max_f32_ref(n - i, y + i, x + i, max);
}

static void vec_scale_f32_avx512(int n, float *y, float v) {
    const __m512 vv = _mm512_set1_ps(v);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), vv));
    pg_vec_scale_f32_ref(n - i, y + i, v);
}

static void vec_cvt_f32_f16_avx512(int n, uint16_t *y, const float *x) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    pg_vec_cvt_f32_f16_ref(n - i, y + i, x + i);
}

static void vec_cvt_f16_f32_avx512(int n, float *y, const uint16_t *x) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    pg_vec_cvt_f16_f32_ref(n - i, y + i, x + i);
}

void pg_fill_avx512_vec(pg_kernels *k) {
    k->vec_soft_max_f32 = vec_soft_max_f32_avx512;
    k->vec_scale_f32 = vec_scale_f32_avx512;
    k->vec_cvt_f32_f16 = vec_cvt_f32_f16_avx512;
    k->vec_cvt_f16_f32 = vec_cvt_f16_f32_avx512;
}
