/* soft_max (with scale and an optional additive mask) and diag_mask_inf, over ne0, F32.
 *   src0 (ne0, ne1, ne2, ne3) any strides; dst same shape, contiguous (may be src0: in place)
 *   soft_max mask src1: F32 or F16 (ne0, >= ne1, m2, m3), row i1 of plane (i2 % m2, i3 % m3)
 *   is added to row i1; -INF entries give exactly 0.
 * A row whose entries are all -INF (everything masked) has no softmax: it is written as zeros.
 * Rows are split across threads. */
#include <math.h>

#include "ops/op_util.h"

void pg_forward_soft_max(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0], *mask = dst->src[1];
    const pg_kernels *k = p->k;
    const int n = (int)src0->ne[0];
    const float scale = pg_get_op_param_f32(dst, 0);
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        float *y = (float *)pg_row_ptr(dst, i1, i2, i3);
        pg_gather_f32(n, y, pg_row_ptr(src0, i1, i2, i3), src0->nb[0]);
        if (scale != 1.0f) k->vec_scale_f32(n, y, scale);
        if (mask) {
            const char *m = pg_row_ptr(mask, i1, i2 % mask->ne[2], i3 % mask->ne[3]);
            if (mask->type == PG_TYPE_F16) k->vec_mad_f16(n, y, (const uint16_t *)m, 1.0f);
            else k->vec_add_f32(n, y, y, (const float *)m);
        }
        const float max = k->vec_max_f32(n, y);
        if (max == -INFINITY) {
            memset(y, 0, (size_t)n * sizeof(float));
            continue;
        }
        const double sum = k->vec_soft_max_f32(n, y, y, max);
        k->vec_scale_f32(n, y, (float)(1.0 / sum));
    }
}

void pg_forward_diag_mask_inf(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const int64_t n_past = dst->op_params[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        float *y = (float *)pg_row_ptr(dst, i1, i2, i3);
        pg_gather_f32(n, y, pg_row_ptr(src0, i1, i2, i3), src0->nb[0]);
        const int64_t first_masked = n_past + i1 + 1 > 0 ? n_past + i1 + 1 : 0;
        for (int64_t i0 = first_masked; i0 < n; i0++) y[i0] = -INFINITY;
    }
}
