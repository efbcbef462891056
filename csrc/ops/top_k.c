/* argsort_top_k: the indices of each row's k largest values, largest first (ggml_argsort_top_k:
 * a descending argsort cut to k columns); equal values keep index order, NaN never ranks.
 *   src0 F32 (n, ne1, ne2, ne3), any strides;  dst I32 (k, ne1, ne2, ne3) contiguous, k <= n
 * A row with fewer than k non-NaN values gets -1 in the rest (mul_mat_id then refuses it).
 * Rows split across threads; per row an insertion into the k best so far (k is small: the
 * experts a token uses). */
#include "ops/op_util.h"

void pg_forward_argsort_top_k(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0], k = dst->ne[0];
    const size_t nb0 = src0->nb[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src0, i1, i2, i3);
        int32_t *best = (int32_t *)pg_row_ptr(dst, i1, i2, i3);
        int64_t filled = 0;
        for (int64_t i = 0; i < n; i++) {
            const float v = *(const float *)(x + i * nb0);
            if (v != v) continue;
            /* position of v among the kept ones: after every kept value >= v */
            int64_t at = filled;
            while (at > 0 && *(const float *)(x + best[at - 1] * nb0) < v) at--;
            if (at >= k) continue;
            for (int64_t j = (filled < k ? filled : k - 1); j > at; j--) best[j] = best[j - 1];
            best[at] = (int32_t)i;
            if (filled < k) filled++;
        }
        for (int64_t j = filled; j < k; j++) best[j] = -1;   /* fewer than k non-NaN values */
    }
}
