/* Reference P·V of one attention query (the contract of pg_kernels.vec_pv8_f32), and the
 * single-query F16 kernels (attn_scores_f16, attn_pv_f16): plain loops in ggml's vec_dot order. */
#include <math.h>

#include "kernels.h"
#include "ops/vec_ref.h"
#include "quants/quants.h"

void pg_vec_pv8_f32_ref(int n, int dv, float *out, const float *v, size_t block_stride, const float *p) {
    for (int d = 0; d < dv; d++) {
        const float *vd = v + (size_t)(d / 8) * block_stride + d % 8;
        float lane[8] = {0};
        for (int j = 0; j < n; j++)
            lane[j % 8] = fmaf(vd[(size_t)j * 8], p[j], lane[j % 8]);
        const float t0 = lane[0] + lane[4], t1 = lane[1] + lane[5], t2 = lane[2] + lane[6], t3 = lane[3] + lane[7];
        out[d] = (t0 + t2) + (t1 + t3);
    }
}

void pg_attn_scores_f16_ref(int n, int dk, int nq, float *s, size_t s_stride, const uint16_t *k, size_t k_stride,
                            const uint16_t *q) {
    for (int c = 0; c < nq; c++)
        for (int j = 0; j < n; j++) pg_vec_dot_f16_gemv_ref(dk, s + c * s_stride + j, k + j * k_stride, q + c * dk);
}

void pg_attn_pv_f16_ref(int n, int nd, int nh, float *out, size_t out_stride, const uint16_t *v, size_t v_stride,
                        const float *p, size_t p_stride) {
    const int np = n & ~31;
    for (int h = 0; h < nh; h++)
        for (int d = 0; d < nd; d++) {
            const float *ph = p + h * p_stride;
            double sum = pg_gemv_lanes(np, v + d, v_stride, pg_elem_f16, ph, pg_elem_f32);
            for (int j = np; j < n; j++) sum += (double)(pg_fp16_to_fp32(v[j * v_stride + d]) * ph[j]);
            out[h * out_stride + d] = (float)sum;
        }
}

/* ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)): tinyBLAS's hsum, vec_pv8_f32's reduction */
static float sum_8_lanes(const float lane[8]) {
    const float t0 = lane[0] + lane[4], t1 = lane[1] + lane[5], t2 = lane[2] + lane[6], t3 = lane[3] + lane[7];
    return (t0 + t2) + (t1 + t3);
}

void pg_attn_block_scores_ref(int dk, int nb, int nr, float *s, size_t s_stride, const float *q, const float *kt,
                              float scale, const float *const *mask, int n_valid) {
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < 16 * nb; j++) {
            if (j >= n_valid) {
                s[r * s_stride + j] = -INFINITY;
                continue;
            }
            const float *kb = kt + (size_t)(j / 16) * (size_t)dk * 16 + j % 16;
            float lane[8] = {0};
            for (int i = 0; i < dk; i++) lane[i % 8] = fmaf(q[r * dk + i], kb[(size_t)i * 16], lane[i % 8]);
            const float scaled = sum_8_lanes(lane) * scale;
            s[r * s_stride + j] = mask && mask[r] ? scaled + mask[r][j] : scaled;
        }
}

void pg_attn_block_pv_ref(int n, int dv, int nr, float *out, size_t out_stride, const float *v, size_t block_stride,
                          const float *p, size_t p_stride) {
    for (int r = 0; r < nr; r++)
        for (int d = 0; d < dv; d++) {
            const float *vd = v + (size_t)(d / 16) * block_stride + d % 16;
            float lane[8] = {0};
            for (int j = 0; j < n; j++) lane[j % 8] = fmaf(vd[(size_t)j * 16], p[r * p_stride + j], lane[j % 8]);
            out[r * out_stride + d] = sum_8_lanes(lane);
        }
}
