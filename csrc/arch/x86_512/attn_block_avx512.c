/* AVX-512 kernels for a block of attention rows (pg_kernels.attn_block_scores / attn_block_pv),
 * bit-identical to their refs (csrc/ops/vec_pv_ref.c). Each output's 8 lanes are 8 separate
 * accumulators, one 16-wide vector each (16 keys for the scores, 16 dims for P·V): a lane's
 * FMA chain runs in its own register in the ref's order, and the 8 lanes meet by vertical adds
 * in the ref's tree (no horizontal sums). 3 rows x 8 lanes = 24 accumulators; every K / V vector
 * loaded serves the 3 rows, whose q / p values come as broadcasts. Scores are scaled and masked
 * as they are stored. */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "kernels.h"

#define ROW_BLOCK 3
#define KERNEL_INLINE static inline __attribute__((always_inline))
/* GCC folds a vector load into every FMA that uses it (one 64-byte load per row, not per K / V
 * vector): an empty asm makes the loaded value opaque, so it is loaded once into a register.
 * SmolLM2-shaped 512 x 4096 causal block, 2 threads: 62 -> 40 ms. */
#define KEEP_IN_REGISTER(v) __asm__("" : "+v"(v))

/* ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) */
KERNEL_INLINE __m512 sum_8_lanes(const __m512 a[8]) {
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
                         _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])));
}

/* NR rows' scores of the 16 keys of kb ([dk][16]), scaled and masked: lane l takes dims 8t + l;
 * keys from `valid` on are -INF */
KERNEL_INLINE void scores_rows(int dk, const float *kb, const float *q, float *s, size_t s_stride, __m512 scale,
                               const float *const *mask, int valid, const int NR) {
    __m512 acc[ROW_BLOCK][8];
#pragma GCC unroll 3
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) acc[r][l] = _mm512_setzero_ps();
    for (int t = 0; t < dk; t += 8) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m512 kv = _mm512_loadu_ps(kb + (size_t)(t + l) * 16);
            KEEP_IN_REGISTER(kv);
#pragma GCC unroll 3
            for (int r = 0; r < NR; r++) acc[r][l] = _mm512_fmadd_ps(_mm512_set1_ps(q[r * dk + t + l]), kv, acc[r][l]);
        }
    }
    const __mmask16 live = valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
#pragma GCC unroll 3
    for (int r = 0; r < NR; r++) {
        __m512 v = _mm512_mul_ps(sum_8_lanes(acc[r]), scale);
        if (mask && mask[r]) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(live, mask[r]));
        _mm512_storeu_ps(s + r * s_stride, _mm512_mask_blend_ps(live, _mm512_set1_ps(-INFINITY), v));
    }
}

/* key blocks outer: a block's K (dk x 16 floats) stays in L1 for every row */
static void attn_block_scores_avx512(int dk, int nb, int nr, float *s, size_t s_stride, const float *q, const float *kt,
                                     float scale, const float *const *mask, int n_valid) {
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int b = 0; b < nb; b++) {
        const float *kb = kt + (size_t)b * (size_t)dk * 16;
        const int valid = n_valid - 16 * b;
        for (int r = 0; r < nr; r += ROW_BLOCK) {
            float *sr = s + r * s_stride + 16 * b;
            const float *qr = q + r * dk;
            const float *mrows[ROW_BLOCK] = {NULL, NULL, NULL};
            if (mask)
                for (int i = 0; i < ROW_BLOCK && r + i < nr; i++) mrows[i] = mask[r + i] ? mask[r + i] + 16 * b : NULL;
            switch (nr - r) {
            case 1: scores_rows(dk, kb, qr, sr, s_stride, vscale, mask ? mrows : NULL, valid, 1); break;
            case 2: scores_rows(dk, kb, qr, sr, s_stride, vscale, mask ? mrows : NULL, valid, 2); break;
            default: scores_rows(dk, kb, qr, sr, s_stride, vscale, mask ? mrows : NULL, valid, 3); break;
            }
        }
    }
}

/* NR rows' P·V on the 16 dims of vb ([n][16]): position j feeds lane j % 8 */
KERNEL_INLINE void pv_rows(int n, const float *vb, const float *p, size_t p_stride, float *out, size_t out_stride,
                           const int NR) {
    __m512 acc[ROW_BLOCK][8];
#pragma GCC unroll 3
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) acc[r][l] = _mm512_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m512 vv = _mm512_loadu_ps(vb + (size_t)(j + l) * 16);
            KEEP_IN_REGISTER(vv);
#pragma GCC unroll 3
            for (int r = 0; r < NR; r++) acc[r][l] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * p_stride + j + l]), vv, acc[r][l]);
        }
    }
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++)
        if (j + l < n) {
            const __m512 vv = _mm512_loadu_ps(vb + (size_t)(j + l) * 16);
#pragma GCC unroll 3
            for (int r = 0; r < NR; r++) acc[r][l] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * p_stride + j + l]), vv, acc[r][l]);
        }
#pragma GCC unroll 3
    for (int r = 0; r < NR; r++) _mm512_storeu_ps(out + r * out_stride, sum_8_lanes(acc[r]));
}

/* dim blocks outer: a block's V (n x 16 floats) is read from L2 by every group of rows */
static void attn_block_pv_avx512(int n, int dv, int nr, float *out, size_t out_stride, const float *v,
                                 size_t block_stride, const float *p, size_t p_stride) {
    for (int d = 0; d < dv; d += 16) {
        const float *vb = v + (size_t)(d / 16) * block_stride;
        for (int r = 0; r < nr; r += ROW_BLOCK) {
            const float *pr = p + r * p_stride;
            float *o = out + r * out_stride + d;
            switch (nr - r) {
            case 1: pv_rows(n, vb, pr, p_stride, o, out_stride, 1); break;
            case 2: pv_rows(n, vb, pr, p_stride, o, out_stride, 2); break;
            default: pv_rows(n, vb, pr, p_stride, o, out_stride, 3); break;
            }
        }
    }
}

void pg_fill_avx512_attn_block(pg_kernels *k) {
    k->attn_block_scores = attn_block_scores_avx512;
    k->attn_block_pv = attn_block_pv_avx512;
}
