/* Reference converters and dot products of the float types: F32 (copy), F16, BF16. */
#include "quants/fp_exact.h"

#include <string.h>

#include "kernels.h"
#include "quants/quants.h"

void pg_to_float_f32_ref(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
void pg_from_float_f32_ref(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

void pg_dequantize_row_f16_ref(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = pg_fp16_to_fp32(h[i]);
}
void pg_quantize_row_f16_ref(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = pg_fp32_to_fp16(x[i]);
}
void pg_dequantize_row_bf16_ref(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = pg_bf16_to_fp32(h[i]);
}
void pg_quantize_row_bf16_ref(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = pg_fp32_to_bf16(x[i]);
}

/* Float dot products accumulate in double, as ggml's reference does (each product is rounded
 * to f32 first). */
void pg_vec_dot_f32_f32_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}
void pg_vec_dot_f16_f16_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(pg_fp16_to_fp32(x[i]) * pg_fp16_to_fp32(y[i]));
    *s = (float)sum;
}
void pg_vec_dot_bf16_bf16_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(pg_bf16_to_fp32(x[i]) * pg_bf16_to_fp32(y[i]));
    *s = (float)sum;
}
