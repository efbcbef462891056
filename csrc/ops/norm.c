/* rms_norm and norm over ne0, F32, as ggml computes them (sums in double):
 *   rms_norm: y = x / sqrt(mean(x^2) + eps)
 *   norm:     y = (x - mean) / sqrt(var + eps), var = mean((x - mean)^2)
 *   src0 any shape, any strides; dst same shape, contiguous (may be src0: in place).
 * Rows are split across threads; each row is copied into dst's row and normalised there. */
#include <math.h>

#include "ops/op_util.h"

void pg_forward_rms_norm(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const float eps = pg_get_op_param_f32(dst, 0);
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        float *y = (float *)pg_row_ptr(dst, i1, i2, i3);
        pg_gather_f32(n, y, pg_row_ptr(src0, i1, i2, i3), src0->nb[0]);
        const float mean = (float)(p->k->vec_sum_sq_f32((int)n, y) / (double)n);
        p->k->vec_scale_f32((int)n, y, 1.0f / sqrtf(mean + eps));
    }
}

void pg_forward_norm(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const float eps = pg_get_op_param_f32(dst, 0);
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        float *y = (float *)pg_row_ptr(dst, i1, i2, i3);
        pg_gather_f32(n, y, pg_row_ptr(src0, i1, i2, i3), src0->nb[0]);
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += y[i];
        const float mean = (float)(sum / (double)n);
        for (int64_t i = 0; i < n; i++) y[i] -= mean;
        const float variance = (float)(p->k->vec_sum_sq_f32((int)n, y) / (double)n);
        p->k->vec_scale_f32((int)n, y, 1.0f / sqrtf(variance + eps));
    }
}
