/* Elementwise F32 ops: scale, silu, gelu (tanh form), relu, tanh.
 * GELU follows ggml's CPU numerics, which llama.cpp's logits are made of: x is rounded to F16
 * and looked up in a 65536-entry table of F16 GELU values (|x| >= 10 short-cuts to 0 or x).
 *   src0 any shape, any strides; dst same shape, contiguous (may be src0 itself: in place).
 * Rows of ne0 are split across threads; a strided row is first gathered into dst's row, then
 * transformed there, so contiguous and permuted inputs take the same arithmetic. */
#include <math.h>

#include <pthread.h>

#include "ops/op_util.h"
#include "ops/vec_ref.h"

static uint16_t gelu_f16_table[1 << 16];   /* F16 bits of x -> F16 bits of gelu(x) */
static pthread_once_t gelu_table_once = PTHREAD_ONCE_INIT;

static void gelu_table_init(void) {
    for (int i = 0; i < (1 << 16); i++) {
        const float x = pg_fp16_to_fp32((uint16_t)i);
        gelu_f16_table[i] = pg_fp32_to_fp16(pg_gelu_ref(x));
    }
}

#define GELU_CHUNK 256

/* in chunks: x to F16 and back through the path's row converters (same rounding as
 * pg_fp32_to_fp16), the table in between; x may equal y */
static void gelu_row(const pg_kernels *k, int n, float *y, const float *x) {
    uint16_t h[GELU_CHUNK];
    float g[GELU_CHUNK];
    for (int i0 = 0; i0 < n; i0 += GELU_CHUNK) {
        const int m = n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK;
        k->vec_cvt_f32_f16(m, h, x + i0);
        for (int i = 0; i < m; i++) h[i] = gelu_f16_table[h[i]];
        k->vec_cvt_f16_f32(m, g, h);
        for (int i = 0; i < m; i++) {
            const float v = x[i0 + i];
            y[i0 + i] = v <= -10.0f ? 0.0f : v >= 10.0f ? v : g[i];
        }
    }
}

typedef enum { UN_SCALE, UN_SILU, UN_GELU, UN_RELU, UN_TANH } unary_op;

/* y = f(x) over n contiguous floats; x may equal y */
static void apply_row(const pg_kernels *k, unary_op op, float s, int n, float *y, const float *x) {
    switch (op) {
    case UN_SCALE:
        if (x != y) memcpy(y, x, (size_t)n * sizeof(float));
        k->vec_scale_f32(n, y, s);
        return;
    case UN_SILU: k->vec_silu_f32(n, y, x); return;
    case UN_GELU: gelu_row(k, n, y, x); return;
    case UN_RELU: for (int i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; return;
    case UN_TANH: for (int i = 0; i < n; i++) y[i] = tanhf(x[i]); return;
    }
}

static void forward_unary(const pg_compute_params *p, pg_tensor *dst, unary_op op) {
    const pg_tensor *src0 = dst->src[0];
    const int64_t n = src0->ne[0];
    const float s = op == UN_SCALE ? pg_get_op_param_f32(dst, 0) : 0.0f;
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src0, i1, i2, i3);
        float *y = (float *)pg_row_ptr(dst, i1, i2, i3);
        if (src0->nb[0] != sizeof(float)) {
            pg_gather_f32(n, y, x, src0->nb[0]);
            x = (const char *)y;
        }
        apply_row(p->k, op, s, (int)n, y, (const float *)x);
    }
}

void pg_forward_scale(const pg_compute_params *p, pg_tensor *dst) { forward_unary(p, dst, UN_SCALE); }
void pg_forward_silu(const pg_compute_params *p, pg_tensor *dst) { forward_unary(p, dst, UN_SILU); }
void pg_gelu_row(const pg_kernels *k, int n, float *y, const float *x) {
    pthread_once(&gelu_table_once, gelu_table_init);
    gelu_row(k, n, y, x);
}

void pg_forward_gelu(const pg_compute_params *p, pg_tensor *dst) {
    pthread_once(&gelu_table_once, gelu_table_init);
    forward_unary(p, dst, UN_GELU);
}
void pg_forward_relu(const pg_compute_params *p, pg_tensor *dst) { forward_unary(p, dst, UN_RELU); }
void pg_forward_tanh(const pg_compute_params *p, pg_tensor *dst) { forward_unary(p, dst, UN_TANH); }
