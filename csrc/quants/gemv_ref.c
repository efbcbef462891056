/* Single-row F32/F16 dot products in ggml's vec_dot order (what llama.cpp uses for a batch of
 * one token): elements i go to lane i % 8 of accumulator (i / 8) % 4, each updated by a fused
 * multiply-add, for the first n & ~31 elements; the accumulators reduce as (a0 + a2) + (a1 + a3),
 * its 8 lanes as ((l0+l4) + (l1+l5)) + ((l2+l6) + (l3+l7)); the rest is added afterwards
 * (in double for F16, in float for F32). Portable C, bit-identical to arch/x86/gemv_avx2.c. */
#include <math.h>

#include "kernels.h"
#include "quants/k_layout.h"
#include "quants/quants.h"

float pg_elem_f32(const void *p, size_t i) { return ((const float *)p)[i]; }
float pg_elem_f16(const void *p, size_t i) { return pg_fp16_to_fp32(((const uint16_t *)p)[i]); }

float pg_gemv_lanes(int np, const void *x, size_t x_stride, pg_elem_fn x_elem, const void *y, pg_elem_fn y_elem) {
    float acc[4][8] = {{0}};
    for (int i = 0; i < np; i++) {
        float *a = &acc[(i / 8) % 4][i % 8];
        *a = fmaf(x_elem(x, (size_t)i * x_stride), y_elem(y, (size_t)i), *a);
    }
    float v[8], t[4];
    for (int l = 0; l < 8; l++) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    for (int l = 0; l < 4; l++) t[l] = v[l] + v[l + 4];
    return (t[0] + t[1]) + (t[2] + t[3]);
}

void pg_vec_dot_f32_gemv_ref(int n, float *s, const void *x, const void *y) {
    const int np = n & ~31;
    float sum = pg_gemv_lanes(np, x, 1, pg_elem_f32, y, pg_elem_f32);
    for (int i = np; i < n; i++) sum += pg_elem_f32(x, i) * pg_elem_f32(y, i);
    *s = sum;
}

void pg_vec_dot_f16_gemv_ref(int n, float *s, const void *x, const void *y) {
    const int np = n & ~31;
    double sum = pg_gemv_lanes(np, x, 1, pg_elem_f16, y, pg_elem_f16);
    for (int i = np; i < n; i++) sum += (double)(pg_elem_f16(x, i) * pg_elem_f16(y, i));
    *s = (float)sum;
}

/* Q4_K x Q8_K in llama.cpp's GEMV order (its repacked Q4_K GEMV, the rows its GEMM leaves):
 * per super-block the exact integers isum = sum_g scale[g] * (codes . activations of group g)
 * and mins = sum_g min[g] * (activation sum of group g), then acc = fma(isum, yd * d, acc) and
 * acc_min = fma(mins, yd * dmin, acc_min); the result is acc - acc_min. Portable C, element by
 * element from the layout: the ground truth of arch/x86/gemv_q4_K_avx2.c. */
void pg_vec_dot_q4_K_q8_K_gemv_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        uint8_t code[QK_K];
        int scale[8], min[8];
        unpack_q4_K_codes(x[ib].qs, code);
        unpack_k_scale_min(x[ib].scales, scale, min);
        int32_t isum = 0, mins = 0;
        for (int g = 0; g < 8; g++) {
            int32_t dot = 0, act_sum = 0;
            for (int i = 32 * g; i < 32 * g + 32; i++) {
                dot += code[i] * y[ib].qs[i];
                act_sum += y[ib].qs[i];
            }
            isum += scale[g] * dot;
            mins += min[g] * act_sum;
        }
        const float yd = y[ib].d;
        acc = fmaf((float)isum, yd * pg_fp16_to_fp32(x[ib].d), acc);
        acc_min = fmaf((float)mins, yd * pg_fp16_to_fp32(x[ib].dmin), acc_min);
    }
    *s = acc - acc_min;
}
