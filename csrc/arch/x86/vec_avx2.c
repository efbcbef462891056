/* AVX2 + FMA + F16C versions of the F32 vector primitives: 8 lanes per step, then one scalar
 * tail that hands the remaining n % 8 elements to the reference (vec_ref.c).
 * exp: llama.cpp's polynomial (ggml_exp_f32x8) for softmax/SiLU, our own (exp_f32x8) for GELU;
 * their error against libm is measured by tests/c. */
#include <immintrin.h>

#include "kernels.h"
#include "ops/vec_ref.h"

/* ---- named helpers ---- */

static inline float hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* max of the lanes; MAXPS returns its second operand when either is NaN, so the running
 * maximum is always passed second: NaN lanes are ignored. */
static inline float hmax_f32x8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    m = _mm_max_ps(_mm_movehl_ps(m, m), m);
    m = _mm_max_ss(_mm_movehdup_ps(m), m);
    return _mm_cvtss_f32(m);
}

/* 2^n for integer n in [-126, 127], built in the exponent field. */
static inline __m256 pow2i_f32x8(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

/* exp(x): n = round(x / ln2), r = x - n ln2 with ln2 split in two (Cody-Waite; n * LN2_HI is
 * exact), exp(r) on |r| <= ln2/2 by a degree-7 Taylor polynomial, times 2^n applied as two
 * halves so that n in [-150, 128] gives both overflow to +inf and gradual underflow to 0.
 * x is clamped to [-104, 89] first (exp is 0 / inf beyond); MINPS/MAXPS take x second so a
 * NaN x propagates. */
static inline __m256 exp_f32x8(__m256 x) {
    const __m256 LOG2E = _mm256_set1_ps(1.44269504088896341f);
    const __m256 LN2_HI = _mm256_set1_ps(0.693145751953125f);
    const __m256 LN2_LO = _mm256_set1_ps(1.428606765330187045e-06f);
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, LOG2E), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, LN2_HI, x);
    r = _mm256_fnmadd_ps(n, LN2_LO, r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i_f32x8(n1)), pow2i_f32x8(n2));
}

/* exp(x) with llama.cpp's numerics (its ggml_v_expf for AVX2 and NEON), lane for lane:
 * n = round(x log2 e) by the 1.5*2^23 shift trick, b = x - n ln2 (ln2 in two parts, FMA),
 * poly = exp(b) - 1 by a degree-5 polynomial, result k + k * poly with k = 2^n built in the
 * exponent bits. When some |n| > 126 the scale is split in two (s1 * (s2 + s2 * poly)) so
 * results still overflow to inf / underflow gradually, and |n| > 192 gives s1 * s1 (inf or
 * 0). Max error about 2 ulp. Used where llama.cpp uses it (softmax, SiLU). */
static inline __m256 ggml_exp_f32x8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f), abs_mask = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i z_exp = _mm256_slli_epi32(_mm256_castps_si256(z), 23);   /* n in the exponent field */
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(z_exp, _mm256_set1_epi32(0x3f800000)));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 hi = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f)));
    const __m256 poly = _mm256_fmadd_ps(hi, u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    const __m256 abs_n = _mm256_andnot_ps(abs_mask, n);
    const __m256 split = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 normal = _mm256_fmadd_ps(k, poly, k);
    if (!_mm256_movemask_ps(split)) return normal;
    /* n <= 0: s1 = 2^-125, s2 = 2^(n+125); n > 0: s1 = 2^127, s2 = 2^(n-127) */
    const __m256i neg = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                         _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(neg, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(z_exp, neg));
    const __m256 far = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 scaled = _mm256_blendv_ps(normal, _mm256_mul_ps(_mm256_fmadd_ps(s2, poly, s2), s1), split);
    return _mm256_blendv_ps(scaled, _mm256_mul_ps(s1, s1), far);
}

/* x * sigmoid(x) = x / (1 + exp(-x)), exp as llama.cpp's (ggml_exp_f32x8) */
static inline __m256 silu_f32x8(__m256 x) {
    __m256 e = ggml_exp_f32x8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 load_f16x8(const uint16_t *x) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
}

/* ---- the primitives ---- */

static void vec_add_f32_avx2(int n, float *z, const float *x, const float *y) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(z + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    pg_vec_add_f32_ref(n - i, z + i, x + i, y + i);
}

static void vec_mul_f32_avx2(int n, float *z, const float *x, const float *y) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(z + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    pg_vec_mul_f32_ref(n - i, z + i, x + i, y + i);
}

static void vec_scale_f32_avx2(int n, float *y, float v) {
    const __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vv));
    pg_vec_scale_f32_ref(n - i, y + i, v);
}

static void vec_mad_f32_avx2(int n, float *y, const float *x, float v) {
    const __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vv, _mm256_loadu_ps(y + i)));
    pg_vec_mad_f32_ref(n - i, y + i, x + i, v);
}

static void vec_mad_f16_avx2(int n, float *y, const uint16_t *x, float v) {
    const __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(load_f16x8(x + i), vv, _mm256_loadu_ps(y + i)));
    pg_vec_mad_f16_ref(n - i, y + i, x + i, v);
}

static float vec_max_f32_avx2(int n, const float *x) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    float best = hmax_f32x8(m);
    float tail = pg_vec_max_f32_ref(n - i, x + i);
    return tail > best ? tail : best;
}

/* the squares 8 at a time in float; their sum in order in double, as the reference (and
 * llama.cpp's rms_norm) does: an in-order double sum does not vectorise */
static double vec_sum_sq_f32_avx2(int n, const float *x) {
    float sq[8];
    double s = 0.0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(sq, _mm256_mul_ps(v, v));
        for (int k = 0; k < 8; k++) s += (double)sq[k];
    }
    for (; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

/* 8 rows' in-order double sums side by side: 8 floats of each row transposed (lane r = row r),
 * squared in float, widened and added element by element, rows 0..3 and 4..7 in two chains */
static void vec_sum_sq_f32_x8_avx2(int n, double s[8], const float *const x[8]) {
    __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v[8];
        for (int r = 0; r < 8; r++) v[r] = _mm256_loadu_ps(x[r] + i);
        /* 8x8 transpose: t[e] lane r = x[r][i + e] */
        const __m256 a0 = _mm256_unpacklo_ps(v[0], v[1]), a1 = _mm256_unpackhi_ps(v[0], v[1]);
        const __m256 a2 = _mm256_unpacklo_ps(v[2], v[3]), a3 = _mm256_unpackhi_ps(v[2], v[3]);
        const __m256 a4 = _mm256_unpacklo_ps(v[4], v[5]), a5 = _mm256_unpackhi_ps(v[4], v[5]);
        const __m256 a6 = _mm256_unpacklo_ps(v[6], v[7]), a7 = _mm256_unpackhi_ps(v[6], v[7]);
        const __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xee);
        const __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xee);
        const __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xee);
        const __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xee);
        const __m256 t[8] = {
            _mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b1, b5, 0x20),
            _mm256_permute2f128_ps(b2, b6, 0x20), _mm256_permute2f128_ps(b3, b7, 0x20),
            _mm256_permute2f128_ps(b0, b4, 0x31), _mm256_permute2f128_ps(b1, b5, 0x31),
            _mm256_permute2f128_ps(b2, b6, 0x31), _mm256_permute2f128_ps(b3, b7, 0x31)};
        for (int e = 0; e < 8; e++) {
            const __m256 sq = _mm256_mul_ps(t[e], t[e]);
            acc_lo = _mm256_add_pd(acc_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
            acc_hi = _mm256_add_pd(acc_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
        }
    }
    _mm256_storeu_pd(s, acc_lo);
    _mm256_storeu_pd(s + 4, acc_hi);
    for (int r = 0; r < 8; r++)
        for (int j = i; j < n; j++) s[r] += (double)(x[r][j] * x[r][j]);
}

/* llama.cpp's order: each block of 8 exps summed by hsum_f32x8 in float, the block sums added
 * in double; the last n % 8 by the reference (libm expf, as llama.cpp's scalar tail). */
static double vec_soft_max_f32_avx2(int n, float *y, const float *x, float max) {
    const __m256 vmax = _mm256_set1_ps(max);
    double sum = 0.0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e0 = ggml_exp_f32x8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(y + i, e0);
        sum += (double)hsum_f32x8(e0);
    }
    return sum + pg_vec_soft_max_f32_ref(n - i, y + i, x + i, max);
}

/* silu and swiglu: SIMD over whole blocks of 8 and libm for the rest, as llama.cpp */
static void vec_silu_f32_avx2(int n, float *y, const float *x) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu_f32x8(_mm256_loadu_ps(x + i)));
    pg_vec_silu_f32_ref(n - i, y + i, x + i);
}

static void vec_swiglu_f32_avx2(int n, float *y, const float *x, const float *g) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(silu_f32x8(_mm256_loadu_ps(x + i)), _mm256_loadu_ps(g + i)));
    pg_vec_swiglu_f32_ref(n - i, y + i, x + i, g + i);
}

static void vec_cvt_f32_f16_avx2(int n, uint16_t *y, const float *x) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    pg_vec_cvt_f32_f16_ref(n - i, y + i, x + i);
}

static void vec_cvt_f16_f32_avx2(int n, float *y, const uint16_t *x) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16x8(x + i));
    pg_vec_cvt_f16_f32_ref(n - i, y + i, x + i);
}

void pg_fill_avx2_vec(pg_kernels *k) {
    k->vec_add_f32 = vec_add_f32_avx2;
    k->vec_mul_f32 = vec_mul_f32_avx2;
    k->vec_scale_f32 = vec_scale_f32_avx2;
    k->vec_mad_f32 = vec_mad_f32_avx2;
    k->vec_mad_f16 = vec_mad_f16_avx2;
    k->vec_max_f32 = vec_max_f32_avx2;
    k->vec_sum_sq_f32 = vec_sum_sq_f32_avx2;
    k->vec_sum_sq_f32_x8 = vec_sum_sq_f32_x8_avx2;
    k->vec_soft_max_f32 = vec_soft_max_f32_avx2;
    k->vec_silu_f32 = vec_silu_f32_avx2;
    k->vec_swiglu_f32 = vec_swiglu_f32_avx2;
    k->vec_cvt_f32_f16 = vec_cvt_f32_f16_avx2;
    k->vec_cvt_f16_f32 = vec_cvt_f16_f32_avx2;
}
