/* NEON RoPE rotation (pg_kernels.vec_rope_f32), bit-identical to pg_vec_rope_f32_ref: the same
 * fused multiply-adds per pair (vfmaq), 4 pairs per step, scalar tail by the ref. */
#include <arm_neon.h>

#include "kernels.h"
#include "ops/vec_ref.h"

static void vec_rope_f32_neon(int n_dims, int neox, float *y, const float *x, const float *cache) {
    const int half = n_dims / 2;
    int i = 0;
    for (; i + 4 <= half; i += 4) {
        const float32x4x2_t cs = vld2q_f32(cache + 2 * i);      /* val[0] cos, val[1] sin */
        float32x4_t x0, x1;
        if (neox) {
            x0 = vld1q_f32(x + i);
            x1 = vld1q_f32(x + i + half);
        } else {
            const float32x4x2_t v = vld2q_f32(x + 2 * i);
            x0 = v.val[0];
            x1 = v.val[1];
        }
        const float32x4_t y0 = vfmaq_f32(vnegq_f32(vmulq_f32(x1, cs.val[1])), x0, cs.val[0]);
        const float32x4_t y1 = vfmaq_f32(vmulq_f32(x1, cs.val[0]), x0, cs.val[1]);
        if (neox) {
            vst1q_f32(y + i, y0);
            vst1q_f32(y + i + half, y1);
        } else {
            const float32x4x2_t out = {{y0, y1}};
            vst2q_f32(y + 2 * i, out);
        }
    }
    for (; i < half; i++) {
        const float c = cache[2 * i], s = cache[2 * i + 1];
        const int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float x0 = x[i0], x1 = x[i1];
        y[i0] = __builtin_fmaf(x0, c, -(x1 * s));
        y[i1] = __builtin_fmaf(x0, s, x1 * c);
    }
}

void pg_fill_neon_rope(pg_kernels *k) { k->vec_rope_f32 = vec_rope_f32_neon; }
