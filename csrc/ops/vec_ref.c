/* Reference F32 vector primitives: straight loops, the ground truth (see vec_ref.h). */
#include <math.h>

#include "kernels.h"
#include "ops/vec_ref.h"

void pg_vec_add_f32_ref(int n, float *z, const float *x, const float *y) {
    for (int i = 0; i < n; i++) z[i] = x[i] + y[i];
}

void pg_vec_mul_f32_ref(int n, float *z, const float *x, const float *y) {
    for (int i = 0; i < n; i++) z[i] = x[i] * y[i];
}

void pg_vec_scale_f32_ref(int n, float *y, float v) {
    for (int i = 0; i < n; i++) y[i] *= v;
}

void pg_vec_mad_f32_ref(int n, float *y, const float *x, float v) {
    for (int i = 0; i < n; i++) y[i] += x[i] * v;
}

void pg_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float v) {
    for (int i = 0; i < n; i++) y[i] += pg_fp16_to_fp32(x[i]) * v;
}

float pg_vec_max_f32_ref(int n, const float *x) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

/* llama.cpp's rms_norm sum: each square rounded to float, then added in order in double */
double pg_vec_sum_sq_f32_ref(int n, const float *x) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

double pg_vec_soft_max_f32_ref(int n, float *y, const float *x, float max) {
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        y[i] = expf(x[i] - max);
        s += y[i];
    }
    return s;
}

void pg_vec_silu_f32_ref(int n, float *y, const float *x) {
    for (int i = 0; i < n; i++) y[i] = pg_silu_ref(x[i]);
}

void pg_vec_swiglu_f32_ref(int n, float *y, const float *x, const float *g) {
    for (int i = 0; i < n; i++) y[i] = pg_silu_ref(x[i]) * g[i];
}

void pg_vec_cvt_f32_f16_ref(int n, uint16_t *y, const float *x) {
    for (int i = 0; i < n; i++) y[i] = pg_fp32_to_fp16(x[i]);
}

void pg_vec_cvt_f16_f32_ref(int n, float *y, const uint16_t *x) {
    for (int i = 0; i < n; i++) y[i] = pg_fp16_to_fp32(x[i]);
}
