/* rms_norm and norm over ne0, F32, as ggml computes them (sums in double):
 *   rms_norm: y = x / sqrt(mean(x^2) + eps)
 *   norm:     y = (x - mean) / sqrt(var + eps), var = mean((x - mean)^2), the mean in float
 *             from a double sum, var summed as ggml's AVX2 build does (center_and_sum_sq)
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
    for (int64_t ir = ir0; ir < ir1;) {
        /* 8 rows at a time where the path sums 8 side by side, else one */
        const int rows = p->k->vec_sum_sq_f32_x8 && ir1 - ir >= 8 ? 8 : 1;
        float *y[8];
        for (int r = 0; r < rows; r++) {
            int64_t i1, i2, i3;
            pg_row_coords(src0, ir + r, &i1, &i2, &i3);
            y[r] = (float *)pg_row_ptr(dst, i1, i2, i3);
            pg_gather_f32(n, y[r], pg_row_ptr(src0, i1, i2, i3), src0->nb[0]);
        }
        double sum_sq[8];
        if (rows == 8) p->k->vec_sum_sq_f32_x8((int)n, sum_sq, (const float *const *)y);
        else sum_sq[0] = p->k->vec_sum_sq_f32((int)n, y[0]);
        for (int r = 0; r < rows; r++) {
            const float mean = (float)(sum_sq[r] / (double)n);
            p->k->vec_scale_f32((int)n, y[r], 1.0f / sqrtf(mean + eps));
        }
        ir += rows;
    }
}

/* y -= mean; returns sum(y^2) in the order of ggml's ggml_vec_cvar_f32 as the AVX2 reference
 * build runs it: 8 squares at a time reduced in float as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)),
 * each group added to a double, then the tail element by element in double. */
static double center_and_sum_sq(int64_t n, float *y, float mean) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 7 < n; i += 8) {
        float l[8];
        for (int j = 0; j < 8; j++) {
            y[i + j] -= mean;
            l[j] = y[i + j] * y[i + j];
        }
        sum += (double)(((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])));
    }
    for (; i < n; i++) {
        y[i] -= mean;
        sum += (double)(y[i] * y[i]);
    }
    return sum;
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
        const float mean = (float)sum / (float)n;
        const float variance = (float)(center_and_sum_sq(n, y, mean) / (double)n);
        p->k->vec_scale_f32((int)n, y, 1.0f / sqrtf(variance + eps));
    }
}
