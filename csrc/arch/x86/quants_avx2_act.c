/* AVX2 row quantizers of the activation formats (Q8_0, Q8_1, Q8_K) and F32 -> F16.
 * All of them are bit-identical to the _ref converters: the same IEEE operations in the same
 * order (max |x|, d = amax / 127, id = 127 / amax, x * id, round half to even for Q8_0/Q8_1 as
 * llama.cpp's AVX2 quantizer does). A block whose id is not finite (Inf/NaN inputs, or
 * 127 / amax overflowing) is handed to the reference quantizer, which defines those cases. */
#include <float.h>

#include "arch/x86/quants_avx2.h"
#include "arch/x86/simd_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"
#include "quants/quants.h"

#define ABS_MASK 0x7fffffff
#define INF_BITS 0x7f800000

/* max |x| over 8*nv floats as bits: integer max of the sign-cleared bits orders every finite
 * value, and Inf/NaN compare above all of them */
static inline uint32_t abs_max_bits(const float *x, int nv) {
    const __m256i abs_mask = _mm256_set1_epi32(ABS_MASK);
    __m256i m = _mm256_setzero_si256();
    for (int i = 0; i < nv; i++)
        m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + 8 * i)), abs_mask));
    __m128i v = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    v = _mm_max_epu32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_max_epu32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(v);
}

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* 4 x 8 int32 in [-128, 127] -> 32 int8 in element order */
static inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    /* the packs interleave 128-bit lanes; restore the order of the 4-byte groups */
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One 32-block of Q8_0/Q8_1 codes with a finite scale. Returns 0 (block untouched) if the
 * reference must handle it; else writes qs, *d and the sum of the codes. */
static inline int quantize_block_8bit(const float *x, int8_t *qs, float *d_out, int *sum_out) {
    const uint32_t amax_bits = abs_max_bits(x, 4);
    if (amax_bits >= INF_BITS) return 0;
    const float amax = bits_to_f32(amax_bits);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (!(id <= FLT_MAX)) return 0;
    const __m256 vid = _mm256_set1_ps(id), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
        const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
    }
    _mm256_storeu_si256((__m256i *)qs, pack_i32_to_i8(q[0], q[1], q[2], q[3]));
    *d_out = d;
    *sum_out = hsum_i32x8(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    return 1;
}

static inline pg_fp16 f32_to_fp16(float v) { return (pg_fp16)_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT); }

void pg_quantize_row_q8_0_avx2(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_0; ib++, x += QK8_0) {
        float d;
        int sum;
        if (quantize_block_8bit(x, y[ib].qs, &d, &sum)) y[ib].d = f32_to_fp16(d);
        else pg_quantize_row_q8_0_act_ref(x, &y[ib], QK8_0);
    }
}

void pg_quantize_row_q8_1_avx2(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_1; ib++, x += QK8_1) {
        float d;
        int sum;
        if (quantize_block_8bit(x, y[ib].qs, &d, &sum)) {
            y[ib].d = f32_to_fp16(d);
            y[ib].s = f32_to_fp16((float)sum * d);
        } else {
            pg_quantize_row_q8_1_ref(x, &y[ib], QK8_1);
        }
    }
}

/* Q8_K: scale from the signed element of largest magnitude (the first on ties), codes rounded
 * half to even and clamped to [-127, 127], bsums = sum of each 16 codes. */
void pg_quantize_row_q8_K_avx2(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        const uint32_t amax_bits = abs_max_bits(x, QK_K / 8);
        if (amax_bits >= INF_BITS) { pg_quantize_row_q8_K_ref(x, &y[ib], QK_K); continue; }
        if (amax_bits == 0) { memset(&y[ib], 0, sizeof y[ib]); continue; }
        int first = 0;                          /* first element whose |x| is the maximum */
        const __m256i target = _mm256_set1_epi32((int)amax_bits), abs_mask = _mm256_set1_epi32(ABS_MASK);
        for (int i = 0; i < QK_K; i += 8) {
            const __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), abs_mask);
            const int hits = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, target)));
            if (hits) { first = i + __builtin_ctz((unsigned)hits); break; }
        }
        const float iscale = -127.0f / x[first];
        if (!(iscale >= -FLT_MAX && iscale <= FLT_MAX)) { pg_quantize_row_q8_K_ref(x, &y[ib], QK_K); continue; }
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
        for (int c = 0; c < QK_K / 32; c++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), vs);
                const __m256i r = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
                q[k] = _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
            }
            _mm256_storeu_si256((__m256i *)(y[ib].qs + 32 * c), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
            y[ib].bsums[2 * c] = (int16_t)hsum_i32x8(_mm256_add_epi32(q[0], q[1]));
            y[ib].bsums[2 * c + 1] = (int16_t)hsum_i32x8(_mm256_add_epi32(q[2], q[3]));
        }
        y[ib].d = 1.0f / iscale;
    }
}

/* F16C rounds to nearest even and keeps NaN payloads as the reference does */
void pg_quantize_row_f16_avx2(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = pg_fp32_to_fp16(x[i]);
}
