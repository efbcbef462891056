/* Q4_K x Q8_K for one activation row in llama.cpp's GEMV order (its repacked Q4_K GEMV on
 * AVX2): per super-block acc = fma(isum, yd * d, acc) and acc_min = fma(mins, yd * dmin,
 * acc_min), the result acc - acc_min. isum (the 8 groups' scaled code x activation sums) and
 * mins (sum_g min[g] * group g's activation sum) are exact integers, reached here with as few
 * instructions per super-block as the layout allows: the weights stream row by row, each
 * 32-byte chunk c of codes gives group 2c (low nibbles) and 2c + 1 (high nibbles), whose
 * maddubs pair sums (|.| <= 2 * 15 * 128, exact in i16) are weighted by the group's scale in
 * one madd; one horizontal sum per super-block. The super-block header (scales, mins, the
 * two FMAs) stays in 128-bit registers: a few instructions, no scalar unpack. A 512-bit version
 * (chunk pairs per vector) measured slower on Zen 4 (double-pumped), so avx512 keeps this one. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "quants/blocks.h"

/* The 12 packed scale bytes -> bytes 0..7 = the group scales, 8..15 = the group mins, 6 bits
 * each (arch/k_scales.h's k_scales_mins_6bit: words w0, w1, w2 ->
 * [w0 & 3f.., w2 & 0f.. | (w0 >> 6 & 03..) << 4, w1 & 3f.., w2 >> 4 & 0f.. | (w1 >> 6 & 03..) << 4]).
 * Reads 16 bytes at scales: the last 4 are the block's first code bytes, ignored. */
/* a lone row streams at up to ~30 GB/s per core: the hardware prefetchers alone lag (measured
 * 1.1-1.2x with this software prefetch on Zen 4) */
#define PREFETCH_BYTES 1024

static inline __m128i q4_K_scales_mins(const uint8_t *scales) {
    const __m128i w = _mm_loadu_si128((const __m128i *)scales);
    const __m128i low = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4)),
                                      _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    /* (w >> 6 & 03..) << 4 == w >> 2 & 30.. */
    const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(1, 1, 0, 0)), 2),
                                      _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(low, top);
}

/* 4 i32 lanes whose total is sum_g min[g] * (bsums[2g] + bsums[2g + 1]); mins_i16 = the 8 mins */
static inline __m128i q4_K_min_lanes(const block_q8_K *y, __m128i mins_i16) {
    const __m128i group_act_sums = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                                  _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
    return _mm_madd_epi16(group_act_sums, mins_i16);
}

/* One GEMV step: acc2 = [acc, acc_min] += [isum * (yd * d), mins * (yd * dmin)] by lane-wise FMA
 * (the same float operations as the scalar fmaf pair), isum = total of sum_lanes, mins = total
 * of min_lanes. */
static inline __m128 q4_K_gemv_step(__m128 acc2, __m128i sum_lanes, __m128i min_lanes, const block_q4_K *x,
                                    const block_q8_K *y) {
    const __m128i h = _mm_hadd_epi32(sum_lanes, min_lanes);
    const __m128 totals = _mm_cvtepi32_ps(_mm_hadd_epi32(h, h));          /* [isum, mins, ..] */
    uint32_t d_dmin;
    memcpy(&d_dmin, &x->d, 4);
    const __m128 scales = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin)), _mm_set1_ps(y->d));
    return _mm_fmadd_ps(totals, scales, acc2);
}

/* scale of group g (an i16 at bytes 2g, 2g + 1 of each 128-bit half) in all 16 i16 slots */
static inline __m256i group_scale(__m256i scales_i16, int g) {
    return _mm256_shuffle_epi8(scales_i16, _mm256_set1_epi16((short)((2 * g + 1) << 8 | 2 * g)));
}

/* acc + the i16 pairs weighted by scale, summed into i32 lanes */
static inline __m256i scaled_add(__m256i acc, __m256i pairs, __m256i scale) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale));
}

static void vec_dot_q4_K_q8_K_gemv_avx2(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    __m128 acc2 = _mm_setzero_ps();   /* [acc, acc_min, -, -] */
    for (int ib = 0; ib < n / QK_K; ib++) {
        /* the weights PREFETCH_BYTES ahead into L2 (into L1 measured no gain) */
        for (int b = 0; b < (int)sizeof(block_q4_K); b += 64) _mm_prefetch((const char *)&x[ib] + PREFETCH_BYTES + b, _MM_HINT_T1);
        /* i16 slots 0..7 = the group scales, 8..15 = the group mins (all 0..63) */
        const __m256i scales_mins = _mm256_cvtepu8_epi16(q4_K_scales_mins(x[ib].scales));
        const __m256i scales = _mm256_permute2x128_si256(scales_mins, scales_mins, 0x00);
        const int8_t *q8 = y[ib].qs;
        __m256i sum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(x[ib].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(bytes, mask4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask4);
            const __m256i act_lo = _mm256_loadu_si256((const __m256i *)(q8 + 64 * c));
            const __m256i act_hi = _mm256_loadu_si256((const __m256i *)(q8 + 64 * c + 32));
            sum = scaled_add(sum, _mm256_maddubs_epi16(lo, act_lo), group_scale(scales, 2 * c));
            sum = scaled_add(sum, _mm256_maddubs_epi16(hi, act_hi), group_scale(scales, 2 * c + 1));
        }
        const __m128i sum_lanes = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        acc2 = q4_K_gemv_step(acc2, sum_lanes, q4_K_min_lanes(&y[ib], _mm256_extracti128_si256(scales_mins, 1)),
                              &x[ib], &y[ib]);
    }
    *s = _mm_cvtss_f32(_mm_sub_ss(acc2, _mm_movehdup_ps(acc2)));
}

void pg_fill_avx2_gemv_q4_K(pg_kernels *k) {
    k->vec_dot_gemv[PG_TYPE_Q4_K] = vec_dot_q4_K_q8_K_gemv_avx2;
    k->gemv_group[PG_TYPE_Q4_K] = 4;
}
