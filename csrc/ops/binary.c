/* add, sub, mul, div: dst = src0 (op) src1, F32.
 *   src0 (ne00, ne01, ne02, ne03), any strides;  dst same shape, contiguous
 *   src1 (ne10, ne11, ne12, ne13), any strides; each ne1i divides ne0i and src1 repeats along it
 * Rows of ne00 are split across threads. Contiguous rows use the dispatched vec_add/vec_mul. */
#include "ops/op_util.h"

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } binary_op;

static inline float apply(binary_op op, float a, float b) {
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    }
    return 0.0f;
}

/* z = x (op) y over n contiguous elements */
static void apply_contiguous(const pg_kernels *k, binary_op op, int n, float *z, const float *x,
                             const float *y) {
    switch (op) {
    case BIN_ADD: k->vec_add_f32(n, z, x, y); return;
    case BIN_MUL: k->vec_mul_f32(n, z, x, y); return;
    case BIN_SUB: for (int i = 0; i < n; i++) z[i] = x[i] - y[i]; return;
    case BIN_DIV: for (int i = 0; i < n; i++) z[i] = x[i] / y[i]; return;
    }
}

/* z = x (op) b over n contiguous elements */
static void apply_scalar_rhs(binary_op op, int64_t n, float *z, const float *x, float b) {
    switch (op) {
    case BIN_ADD: for (int64_t i = 0; i < n; i++) z[i] = x[i] + b; return;
    case BIN_SUB: for (int64_t i = 0; i < n; i++) z[i] = x[i] - b; return;
    case BIN_MUL: for (int64_t i = 0; i < n; i++) z[i] = x[i] * b; return;
    case BIN_DIV: for (int64_t i = 0; i < n; i++) z[i] = x[i] / b; return;
    }
}

static void forward_binary(const pg_compute_params *p, pg_tensor *dst, binary_op op) {
    const pg_tensor *src0 = dst->src[0], *src1 = dst->src[1];
    const int64_t ne00 = src0->ne[0], ne10 = src1->ne[0];
    const size_t nb00 = src0->nb[0], nb10 = src1->nb[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src0, i1, i2, i3);
        const char *y = pg_row_ptr(src1, i1 % src1->ne[1], i2 % src1->ne[2], i3 % src1->ne[3]);
        float *z = (float *)pg_row_ptr(dst, i1, i2, i3);
        if (nb00 == sizeof(float) && ne10 == 1) {
            apply_scalar_rhs(op, ne00, z, (const float *)x, *(const float *)y);
        } else if (nb00 == sizeof(float) && nb10 == sizeof(float)) {
            for (int64_t r = 0; r < ne00; r += ne10)
                apply_contiguous(p->k, op, (int)ne10, z + r, (const float *)x + r, (const float *)y);
        } else {
            for (int64_t i = 0; i < ne00; i++)
                z[i] = apply(op, *(const float *)(x + i * nb00), *(const float *)(y + (i % ne10) * nb10));
        }
    }
}

void pg_forward_add(const pg_compute_params *p, pg_tensor *dst) { forward_binary(p, dst, BIN_ADD); }
void pg_forward_sub(const pg_compute_params *p, pg_tensor *dst) { forward_binary(p, dst, BIN_SUB); }
void pg_forward_mul(const pg_compute_params *p, pg_tensor *dst) { forward_binary(p, dst, BIN_MUL); }
void pg_forward_div(const pg_compute_params *p, pg_tensor *dst) { forward_binary(p, dst, BIN_DIV); }

void pg_forward_swiglu(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *x = dst->src[0], *g = dst->src[1];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(x), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(x, ir, &i1, &i2, &i3);
        p->k->vec_swiglu_f32((int)x->ne[0], (float *)pg_row_ptr(dst, i1, i2, i3),
                             (const float *)pg_row_ptr(x, i1, i2, i3), (const float *)pg_row_ptr(g, i1, i2, i3));
    }
}
