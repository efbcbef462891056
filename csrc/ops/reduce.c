/* Row reductions over ne0, F32 input with any strides:
 *   sum_rows: dst F32 (1, ne1, ne2, ne3), sum accumulated in double
 *   argmax:   dst I32 (ne1 * ne2 * ne3), index of the first maximum of each row; NaN entries
 *             are ignored (an all-NaN row gives 0)
 * Rows are split across threads. */
#include <math.h>

#include "ops/op_util.h"

void pg_forward_sum_rows(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const size_t nb0 = src0->nb[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src0, i1, i2, i3);
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += *(const float *)(x + i * nb0);
        *(float *)pg_row_ptr(dst, i1, i2, i3) = (float)sum;
    }
}

void pg_forward_argmax(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const size_t nb0 = src0->nb[0];
    int32_t *out = dst->data;
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src0, i1, i2, i3);
        float best = -INFINITY;
        int32_t best_i = 0;
        for (int64_t i = 0; i < n; i++) {
            const float v = *(const float *)(x + i * nb0);
            if (v > best) { best = v; best_i = (int32_t)i; }
        }
        out[ir] = best_i;
    }
}
