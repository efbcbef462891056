/* AVX2 attention kernels, bit-identical to their refs (csrc/ops/vec_pv_ref.c):
 * - vec_pv8_f32 (a batch's P·V): per block of 8 output dims, the 8 position lanes live in 8
 *   registers, each updated by FMA in position order, then reduced in the ref's order;
 * - attn_scores_f16 / attn_pv_f16 (one query over the F16 cache, ggml's vec_dot_f16 order). */
#include <immintrin.h>

#include "arch/x86/simd_avx2.h"
#include "kernels.h"

static void vec_pv8_f32_avx2(int n, int dv, float *out, const float *v, size_t block_stride, const float *p) {
    for (int d = 0; d < dv; d += 8) {
        const float *vb = v + (size_t)(d / 8) * block_stride;   /* positions' 8 dims, contiguous */
        __m256 lane[8];
        for (int l = 0; l < 8; l++) lane[l] = _mm256_setzero_ps();
        for (int j0 = 0; j0 < n; j0 += 8) {
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {   /* l constant after unrolling: lanes stay in registers */
                const int j = j0 + l;
                if (j < n)
                    lane[l] = _mm256_fmadd_ps(_mm256_loadu_ps(vb + (size_t)j * 8), _mm256_set1_ps(p[j]), lane[l]);
            }
        }
        const __m256 t0 = _mm256_add_ps(lane[0], lane[4]), t1 = _mm256_add_ps(lane[1], lane[5]);
        const __m256 t2 = _mm256_add_ps(lane[2], lane[6]), t3 = _mm256_add_ps(lane[3], lane[7]);
        _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
    }
}

static inline __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* the four accumulators of one K row · q (dk % 32 == 0), folded to one vector as the gemv
 * reduction's first step: (a0 + a2) + (a1 + a3) */
static inline __m256 dot_lanes(int dk, const uint16_t *k, const float *q) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < dk; i += 32) {
        a0 = _mm256_fmadd_ps(load8_f16(k + i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(load8_f16(k + i + 8), _mm256_loadu_ps(q + i + 8), a1);
        a2 = _mm256_fmadd_ps(load8_f16(k + i + 16), _mm256_loadu_ps(q + i + 16), a2);
        a3 = _mm256_fmadd_ps(load8_f16(k + i + 24), _mm256_loadu_ps(q + i + 24), a3);
    }
    return _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
}

/* dot_lanes of one K row with nq queries at once (nq <= 3, a constant after inlining): each 32
 * elements of the row converted once, 4 accumulators per query in registers */
static inline __attribute__((always_inline)) void dot_lanes_group(int dk, const int nq, const uint16_t *k,
                                                                 const float *q, __m256 *v, int v_stride) {
    __m256 a[3][4];
    for (int c = 0; c < nq; c++)
        for (int i = 0; i < 4; i++) a[c][i] = _mm256_setzero_ps();
    for (int i = 0; i < dk; i += 32) {
        __m256 x[4];
        for (int t = 0; t < 4; t++) x[t] = load8_f16(k + i + 8 * t);
        for (int c = 0; c < nq; c++)
            for (int t = 0; t < 4; t++) a[c][t] = _mm256_fmadd_ps(x[t], _mm256_loadu_ps(q + c * dk + i + 8 * t), a[c][t]);
    }
    for (int c = 0; c < nq; c++) v[c * v_stride] = _mm256_add_ps(_mm256_add_ps(a[c][0], a[c][2]), _mm256_add_ps(a[c][1], a[c][3]));
}

static inline __attribute__((always_inline)) void scores_group(int n, int dk, const int nq, float *s, size_t s_stride,
                                                              const uint16_t *k, size_t k_stride, const float *q) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        if (j + 24 <= n)   /* the rows of the block after next */
            for (int r = 0; r < 8; r++)
                for (int i = 0; i < dk; i += 32) _mm_prefetch((const char *)(k + (size_t)(j + 16 + r) * k_stride + i), _MM_HINT_T0);
        __m256 v[3][8];
        for (int r = 0; r < 8; r++) dot_lanes_group(dk, nq, k + (size_t)(j + r) * k_stride, q, &v[0][r], 8);
        for (int c = 0; c < nq; c++) _mm256_storeu_ps(s + c * s_stride + j, reduce8_gemv(v[c]));
    }
    for (; j < n; j++) {
        __m256 v[3];
        dot_lanes_group(dk, nq, k + (size_t)j * k_stride, q, v, 1);
        for (int c = 0; c < nq; c++) s[c * s_stride + j] = reduce1_gemv(v[c]);
    }
}

static void attn_scores_f16_avx2(int n, int dk, int nq, float *s, size_t s_stride, const uint16_t *k,
                                 size_t k_stride, const uint16_t *q16) {
    float q[nq * dk];   /* q exactly as F32 (F16 -> F32 is exact: the same products as the gemv) */
    for (int i = 0; i < nq * dk; i += 8) _mm256_storeu_ps(q + i, load8_f16(q16 + i));
    for (int c = 0; c < nq; c += 3) {   /* queries in groups of up to 3 */
        const int m = nq - c < 3 ? nq - c : 3;
        float *sc = s + c * s_stride;
        const float *qc = q + c * dk;
        if (m == 3) scores_group(n, dk, 3, sc, s_stride, k, k_stride, qc);
        else if (m == 2) scores_group(n, dk, 2, sc, s_stride, k, k_stride, qc);
        else scores_group(n, dk, 1, sc, s_stride, k, k_stride, qc);
    }
}

#define PV_HEADS 4    /* heads per pass */
#define PV_BLOCKS 4   /* blocks of 8 dims per pass */

#define PV_CHUNK 256   /* positions per chunk: 8 per lane */

/* nb blocks of 8 dims (from out / v) of nh heads: lane l (of 32) sums V[j][b] * p_h[j] over the
 * positions j = l, l + 32, ... < n & ~31 in order, in registers while a chunk of PV_CHUNK
 * positions lasts (lane after lane: rows 32 apart; each row's successor in the next chunk is
 * prefetched); the
 * lanes are then reduced per head and dim as vec_dot_gemv, the rest added in double.
 * nh, nb are constants after inlining: the inner loops unroll. */
static inline __attribute__((always_inline)) void pv_pass(int n, const int nh, const int nb, float *out,
                                                         size_t out_stride, const uint16_t *v, size_t v_stride,
                                                         const float *p, size_t p_stride) {
    __m256 lanes[32][PV_HEADS][PV_BLOCKS];
    for (int l = 0; l < 32; l++)
        for (int h = 0; h < nh; h++)
            for (int b = 0; b < nb; b++) lanes[l][h][b] = _mm256_setzero_ps();
    const int np = n & ~31;
    for (int c0 = 0; c0 < np; c0 += PV_CHUNK) {
        const int c1 = c0 + PV_CHUNK < np ? c0 + PV_CHUNK : np;
        for (int l = 0; l < 32; l++) {
            __m256 acc[PV_HEADS][PV_BLOCKS];
            for (int h = 0; h < nh; h++)
                for (int b = 0; b < nb; b++) acc[h][b] = lanes[l][h][b];
            for (int j = c0 + l; j < c1; j += 32) {
                const uint16_t *row = v + (size_t)j * v_stride;
                if (j + PV_CHUNK < np) {   /* the same lane's row in the next chunk */
                    const char *ahead = (const char *)(row + PV_CHUNK * v_stride);
                    _mm_prefetch(ahead, _MM_HINT_T0);
                    if (nb > 2) _mm_prefetch(ahead + 63, _MM_HINT_T0);
                }
                __m256 ph[PV_HEADS];
                for (int h = 0; h < nh; h++) ph[h] = _mm256_broadcast_ss(p + h * p_stride + j);
                for (int b = 0; b < nb; b++) {
                    const __m256 x = load8_f16(row + 8 * b);
                    for (int h = 0; h < nh; h++) acc[h][b] = _mm256_fmadd_ps(x, ph[h], acc[h][b]);
                }
            }
            for (int h = 0; h < nh; h++)
                for (int b = 0; b < nb; b++) lanes[l][h][b] = acc[h][b];
        }
    }
    for (int h = 0; h < nh; h++)
        for (int b = 0; b < nb; b++) {
            __m256 l8[8];   /* accumulator i = lanes 8i .. 8i+7 */
            for (int i = 0; i < 8; i++)
                l8[i] = _mm256_add_ps(_mm256_add_ps(lanes[i][h][b], lanes[16 + i][h][b]),
                                      _mm256_add_ps(lanes[8 + i][h][b], lanes[24 + i][h][b]));
            __m256 t[4];
            for (int i = 0; i < 4; i++) t[i] = _mm256_add_ps(l8[i], l8[i + 4]);
            const __m256 r = _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]));
            __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(r)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
            for (int j = np; j < n; j++) {
                const __m256 prod = _mm256_mul_ps(load8_f16(v + (size_t)j * v_stride + 8 * b),
                                                  _mm256_broadcast_ss(p + h * p_stride + j));
                lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(prod)));
                hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(prod, 1)));
            }
            _mm256_storeu_ps(out + h * out_stride + 8 * b, _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
        }
}

#define PV_CASE(NH, NB) case (NH) * 8 + (NB): pv_pass(n, NH, NB, out, out_stride, v, v_stride, p, p_stride); break;
#define PV_CASES(NH) PV_CASE(NH, 1) PV_CASE(NH, 2) PV_CASE(NH, 3) PV_CASE(NH, 4)

static void pv_dispatch(int n, int nh, int nb, float *out, size_t out_stride, const uint16_t *v, size_t v_stride,
                        const float *p, size_t p_stride) {
    switch (nh * 8 + nb) {
        PV_CASES(1) PV_CASES(2) PV_CASES(3) PV_CASES(4)
    default: break;
    }
}

static void attn_pv_f16_avx2(int n, int nd, int nh, float *out, size_t out_stride, const uint16_t *v,
                             size_t v_stride, const float *p, size_t p_stride) {
    for (int h0 = 0; h0 < nh; h0 += PV_HEADS) {
        const int nhh = nh - h0 < PV_HEADS ? nh - h0 : PV_HEADS;
        const int max_nb = nhh == 4 ? 2 : PV_BLOCKS;   /* nh * nb accumulators + nh + 1 within 16 registers */
        for (int d = 0; d < nd; d += 8 * max_nb) {
            const int nb = (nd - d) / 8 < max_nb ? (nd - d) / 8 : max_nb;
            pv_dispatch(n, nhh, nb, out + h0 * out_stride + d, out_stride, v + d, v_stride, p + h0 * p_stride, p_stride);
        }
    }
}

void pg_fill_avx2_pv(pg_kernels *k) {
    k->vec_pv8_f32 = vec_pv8_f32_avx2;
    k->attn_scores_f16 = attn_scores_f16_avx2;
    k->attn_pv_f16 = attn_pv_f16_avx2;
}
