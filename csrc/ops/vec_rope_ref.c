/* Reference RoPE rotation of one contiguous head (the contract of pg_kernels.vec_rope_f32). */
#include <math.h>

#include "kernels.h"
#include "ops/vec_ref.h"

void pg_vec_rope_f32_ref(int n_dims, int neox, float *y, const float *x, const float *cache) {
    const int half = n_dims / 2;
    for (int i = 0; i < half; i++) {
        const float c = cache[2 * i], s = cache[2 * i + 1];
        const int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float x0 = x[i0], x1 = x[i1];
        y[i0] = fmaf(x0, c, -(x1 * s));
        y[i1] = fmaf(x0, s, x1 * c);
    }
}
