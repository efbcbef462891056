/* Reference P·V of one attention query (the contract of pg_kernels.vec_pv8_f32). */
#include <math.h>

#include "kernels.h"
#include "ops/vec_ref.h"

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
