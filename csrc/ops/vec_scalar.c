/* The scalar path's F32 vector primitives. Where the plain loop is already the best portable
 * code (add, mul, scale, mad_f32, max, sum_sq, soft_max, silu, gelu, swiglu, F32->F16) the
 * scalar path IS the reference (vec_ref.c). It differs for F16->F32: a 65536-entry table
 * indexed by the half's bits (ggml's trick), filled once from the exact converter. */
#include "kernels.h"
#include "ops/vec_ref.h"

static float fp16_table[1 << 16];
static int fp16_table_ready = 0;

static void fill_fp16_table(void) {
    if (fp16_table_ready) return;
    for (int h = 0; h < (1 << 16); h++) fp16_table[h] = pg_fp16_to_fp32((uint16_t)h);
    fp16_table_ready = 1;
}

static void vec_cvt_f16_f32_scalar(int n, float *y, const uint16_t *x) {
    for (int i = 0; i < n; i++) y[i] = fp16_table[x[i]];
}

static void vec_mad_f16_scalar(int n, float *y, const uint16_t *x, float v) {
    for (int i = 0; i < n; i++) y[i] += fp16_table[x[i]] * v;
}

void pg_fill_scalar_vec(pg_kernels *k) {
    fill_fp16_table();
    k->vec_add_f32 = pg_vec_add_f32_ref;
    k->vec_mul_f32 = pg_vec_mul_f32_ref;
    k->vec_scale_f32 = pg_vec_scale_f32_ref;
    k->vec_mad_f32 = pg_vec_mad_f32_ref;
    k->vec_mad_f16 = vec_mad_f16_scalar;
    k->vec_max_f32 = pg_vec_max_f32_ref;
    k->vec_sum_sq_f32 = pg_vec_sum_sq_f32_ref;
    k->vec_sum_sq_f32_x8 = NULL;   /* row by row */
    k->vec_soft_max_f32 = pg_vec_soft_max_f32_ref;
    k->vec_silu_f32 = pg_vec_silu_f32_ref;
    k->vec_swiglu_f32 = pg_vec_swiglu_f32_ref;
    k->vec_cvt_f32_f16 = pg_vec_cvt_f32_f16_ref;
    k->vec_cvt_f16_f32 = vec_cvt_f16_f32_scalar;
    k->vec_rope_f32 = pg_vec_rope_f32_ref;
    k->vec_pv8_f32 = pg_vec_pv8_f32_ref;
}
