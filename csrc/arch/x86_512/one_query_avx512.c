/* AVX-512 kernels of one query's attention over the F16 cache (pg_kernels.attn_scores_f16,
 * attn_pv_f16), bit-identical to their refs (csrc/ops/vec_pv_ref.c) and so to the avx2 kernels
 * (arch/x86/pv_avx2.c).
 * Scores: vec_dot_gemv[F16]'s 4 accumulators of 8 lanes (elements 32i + 8t + l in accumulator
 * t) held as two 512-bit vectors (a0 | a1), (a2 | a3), so (a0 + a2) + (a1 + a3) is one vector
 * add and a fold of its halves; up to 4 queries share each converted K row (avx2: 3).
 * P·V keeps the avx2 walk:
 * lane l (of 32) sums V[j][d] * p_h[j] over the positions j = l, l + 32, ... < n & ~31 in
 * order, lane after lane within a chunk of positions, then the lanes are reduced per head and
 * dim as vec_dot_gemv and the rest added in double. A vector holds 16 dims instead of 8, and 32
 * registers hold 16 to 18 accumulators: a pass covers 64 dims of 4 heads (avx2: 16) or 96 of 3,
 * so a long cache is walked 4 to 6 times fewer times. */
#include <immintrin.h>

#include "arch/x86/simd_avx2.h"
#include "kernels.h"

/* the gemv's (a0 + a2) + (a1 + a3) of K row k with nq queries (F32, dk apart): v[c * v_stride] */
static inline __attribute__((always_inline)) void dot_rows(int dk, const int nq, const uint16_t *k, const float *q,
                                                          __m256 *v, int v_stride) {
    __m512 a[4][2];
    for (int c = 0; c < nq; c++) a[c][0] = a[c][1] = _mm512_setzero_ps();
    for (int i = 0; i < dk; i += 32) {
        const __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i)));
        const __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i + 16)));
        for (int c = 0; c < nq; c++) {
            a[c][0] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + c * dk + i), a[c][0]);
            a[c][1] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(q + c * dk + i + 16), a[c][1]);
        }
    }
    for (int c = 0; c < nq; c++) {
        const __m512 t = _mm512_add_ps(a[c][0], a[c][1]);   /* (a0 + a2) | (a1 + a3) */
        v[c * v_stride] = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1));
    }
}

static inline __attribute__((always_inline)) void scores_group(int n, int dk, const int nq, float *s, size_t s_stride,
                                                              const uint16_t *k, size_t k_stride, const float *q) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        if (j + 24 <= n)   /* the rows of the block after next */
            for (int r = 0; r < 8; r++)
                for (int i = 0; i < dk; i += 32) _mm_prefetch((const char *)(k + (size_t)(j + 16 + r) * k_stride + i), _MM_HINT_T0);
        __m256 v[4][8];
        for (int r = 0; r < 8; r++) dot_rows(dk, nq, k + (size_t)(j + r) * k_stride, q, &v[0][r], 8);
        for (int c = 0; c < nq; c++) _mm256_storeu_ps(s + c * s_stride + j, reduce8_gemv(v[c]));
    }
    for (; j < n; j++) {
        __m256 v[4];
        dot_rows(dk, nq, k + (size_t)j * k_stride, q, v, 1);
        for (int c = 0; c < nq; c++) s[c * s_stride + j] = reduce1_gemv(v[c]);
    }
}

static void attn_scores_f16_avx512(int n, int dk, int nq, float *s, size_t s_stride, const uint16_t *k,
                                   size_t k_stride, const uint16_t *q16) {
    float q[nq * dk];   /* q exactly as F32 (F16 -> F32 is exact: the same products as the gemv) */
    for (int i = 0; i < nq * dk; i += 16) _mm512_storeu_ps(q + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q16 + i))));
    for (int c = 0; c < nq; c += 4) {   /* queries in groups of up to 4 */
        const int m = nq - c < 4 ? nq - c : 4;
        float *sc = s + c * s_stride;
        const float *qc = q + c * dk;
        if (m == 4) scores_group(n, dk, 4, sc, s_stride, k, k_stride, qc);
        else if (m == 3) scores_group(n, dk, 3, sc, s_stride, k, k_stride, qc);
        else if (m == 2) scores_group(n, dk, 2, sc, s_stride, k, k_stride, qc);
        else scores_group(n, dk, 1, sc, s_stride, k, k_stride, qc);
    }
}

#define PV_CHUNK 256   /* positions per chunk: 8 per lane */
#define PV_ACC_MAX 18  /* heads x dim vectors per pass */

/* up to 16 F16 values (mask: which) as F32 */
static inline __m512 load16_f16(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* nb vectors of 16 dims (the last masked by tail) of nh heads */
static inline __attribute__((always_inline)) void pv_pass(int n, const int nh, const int nb, __mmask16 tail,
                                                         float *out, size_t out_stride, const uint16_t *v,
                                                         size_t v_stride, const float *p, size_t p_stride) {
    __m512 lanes[32][PV_ACC_MAX];
    for (int l = 0; l < 32; l++)
        for (int a = 0; a < nh * nb; a++) lanes[l][a] = _mm512_setzero_ps();
    const int np = n & ~31;
    for (int c0 = 0; c0 < np; c0 += PV_CHUNK) {
        const int c1 = c0 + PV_CHUNK < np ? c0 + PV_CHUNK : np;
        for (int l = 0; l < 32; l++) {
            __m512 acc[PV_ACC_MAX];
            for (int a = 0; a < nh * nb; a++) acc[a] = lanes[l][a];
            for (int j = c0 + l; j < c1; j += 32) {
                const uint16_t *row = v + (size_t)j * v_stride;
                if (j + PV_CHUNK < np) {   /* the same lane's row in the next chunk */
                    const char *ahead = (const char *)(row + PV_CHUNK * v_stride);
                    for (int off = 0; off < 32 * nb; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
                    _mm_prefetch(ahead + 32 * nb - 1, _MM_HINT_T0);   /* the pass's bytes end here */
                }
                __m512 ph[4];
                for (int h = 0; h < nh; h++) ph[h] = _mm512_set1_ps(p[h * p_stride + j]);
                for (int b = 0; b < nb; b++) {
                    const __m512 x = load16_f16(row + 16 * b, b == nb - 1 ? tail : (__mmask16)0xffff);
                    for (int h = 0; h < nh; h++) acc[h * nb + b] = _mm512_fmadd_ps(x, ph[h], acc[h * nb + b]);
                }
            }
            for (int a = 0; a < nh * nb; a++) lanes[l][a] = acc[a];
        }
    }
    for (int h = 0; h < nh; h++)
        for (int b = 0; b < nb; b++) {
            const int a = h * nb + b;
            const __mmask16 m = b == nb - 1 ? tail : (__mmask16)0xffff;
            __m512 l8[8];   /* accumulator i = lanes 8i .. 8i+7 */
            for (int i = 0; i < 8; i++)
                l8[i] = _mm512_add_ps(_mm512_add_ps(lanes[i][a], lanes[16 + i][a]),
                                      _mm512_add_ps(lanes[8 + i][a], lanes[24 + i][a]));
            __m512 t[4];
            for (int i = 0; i < 4; i++) t[i] = _mm512_add_ps(l8[i], l8[i + 4]);
            const __m512 r = _mm512_add_ps(_mm512_add_ps(t[0], t[1]), _mm512_add_ps(t[2], t[3]));
            __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(r));
            __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(r, 1));
            for (int j = np; j < n; j++) {
                const __m512 prod = _mm512_mul_ps(load16_f16(v + (size_t)j * v_stride + 16 * b, m),
                                                  _mm512_set1_ps(p[h * p_stride + j]));
                lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(prod)));
                hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(prod, 1)));
            }
            const __m512 res = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
            _mm512_mask_storeu_ps(out + h * out_stride + 16 * b, m, res);
        }
}

#define PV_CASE(NH, NB) case (NH) * 8 + (NB): pv_pass(n, NH, NB, tail, out, out_stride, v, v_stride, p, p_stride); break;

static void pv_dispatch(int n, int nh, int nb, __mmask16 tail, float *out, size_t out_stride, const uint16_t *v,
                        size_t v_stride, const float *p, size_t p_stride) {
    switch (nh * 8 + nb) {
        PV_CASE(1, 1) PV_CASE(1, 2) PV_CASE(1, 3) PV_CASE(1, 4) PV_CASE(1, 5) PV_CASE(1, 6) PV_CASE(1, 7) PV_CASE(1, 8)
        PV_CASE(2, 1) PV_CASE(2, 2) PV_CASE(2, 3) PV_CASE(2, 4) PV_CASE(2, 5) PV_CASE(2, 6) PV_CASE(2, 7) PV_CASE(2, 8)
        PV_CASE(3, 1) PV_CASE(3, 2) PV_CASE(3, 3) PV_CASE(3, 4) PV_CASE(3, 5) PV_CASE(3, 6)
        PV_CASE(4, 1) PV_CASE(4, 2) PV_CASE(4, 3) PV_CASE(4, 4)
    default: break;
    }
}

/* heads 4 at a time; per pass as many 16-dim vectors as PV_ACC_MAX accumulators allow */
static void attn_pv_f16_avx512(int n, int nd, int nh, float *out, size_t out_stride, const uint16_t *v,
                               size_t v_stride, const float *p, size_t p_stride) {
    for (int h0 = 0; h0 < nh; h0 += 4) {
        const int nhh = nh - h0 < 4 ? nh - h0 : 4;
        const int max_nb = nhh == 4 ? 4 : nhh == 3 ? 6 : 8;
        for (int d = 0; d < nd; d += 16 * max_nb) {
            const int left = nd - d, nvec = (left + 15) / 16;
            const int nb = nvec < max_nb ? nvec : max_nb;
            const int last = left - 16 * (nb - 1);   /* dims in the pass's last vector: 8 or 16 */
            const __mmask16 tail = last >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << last) - 1);
            pv_dispatch(n, nhh, nb, tail, out + h0 * out_stride + d, out_stride, v + d, v_stride, p + h0 * p_stride,
                        p_stride);
        }
    }
}

void pg_fill_avx512_one_query(pg_kernels *k) {
    k->attn_scores_f16 = attn_scores_f16_avx512;
    k->attn_pv_f16 = attn_pv_f16_avx512;
}
