/* AVX2 P·V of one attention query (pg_kernels.vec_pv8_f32), bit-identical to the ref: per block
 * of 8 output dims, the 8 position lanes live in 8 registers (no loads/stores of partial sums),
 * each updated by FMA in position order, then reduced in the ref's order. */
#include <immintrin.h>

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

void pg_fill_avx2_pv(pg_kernels *k) { k->vec_pv8_f32 = vec_pv8_f32_avx2; }
