/* Forward kernels of the graph ops, one family per file in csrc/ops/.
 *
 * Threading idiom (ggml's): every thread of the pool calls the op with its own ith in [0, nth);
 * the op splits its output rows: dr = (nr + nth - 1) / nth, ir0 = dr * ith, ir1 = min(ir0 + dr, nr).
 * An op that needs a preparation step (e.g. mul_mat quantizing activations into p->wdata) does it
 * split across threads, then calls pg_barrier(p) before using it.
 * wdata is shared scratch of the size pg_op_work_size() asked for; per-thread parts are
 * cache-line padded (PG_CACHE_LINE).
 *
 * op_params layouts (int32 slots, floats bit-cast; see src/pyggml/ops.py for shape rules):
 *   SCALE           [0] f32 s
 *   RMS_NORM, NORM  [0] f32 eps
 *   SOFT_MAX        [0] f32 scale, [1] f32 max_bias (must be 0: ALiBi unsupported); src1 = mask or NULL
 *   ROPE            [0] n_dims, [1] mode (0 normal, 2 neox), [2] n_ctx_orig, [3] f32 freq_base,
 *                   [4] f32 freq_scale, [5] f32 ext_factor, [6] f32 attn_factor,
 *                   [7] f32 beta_fast, [8] f32 beta_slow; src1 = I32 positions (ne0 = x->ne[2])
 *   DIAG_MASK_INF   [0] n_past
 *   CONCAT          [0] dim
 *   FLASH_ATTN_EXT  [0] f32 scale, [1] f32 softcap (0 = off)
 *   ARGSORT_TOP_K   [0] k
 *   MUL_MAT_GLU     [0] gate activation: 0 silu, 1 gelu; src2 = up weights
 */
#ifndef PG_OPS_H
#define PG_OPS_H

#include <string.h>

#include "kernels.h"

#define PG_CACHE_LINE 64

typedef struct pg_compute_params {
    int ith, nth;               /* this thread, number of threads */
    void *wdata;                /* shared scratch for this node */
    size_t wsize;
    const pg_kernels *k;        /* the active dispatch table */
    struct pg_threadpool *tp;   /* for pg_barrier */
} pg_compute_params;

/* All threads wait here until every thread arrived. */
void pg_barrier(const pg_compute_params *p);

static inline float pg_get_op_param_f32(const pg_tensor *t, int i) {
    float v; memcpy(&v, &t->op_params[i], sizeof v); return v;
}
static inline void pg_thread_rows(int64_t nr, int ith, int nth, int64_t *ir0, int64_t *ir1) {
    int64_t dr = (nr + nth - 1) / nth;
    *ir0 = dr * ith;
    *ir1 = *ir0 + dr < nr ? *ir0 + dr : nr;
    if (*ir0 > nr) *ir0 = nr;
}

/* Scratch bytes an op needs for n_threads (0 for most). */
size_t pg_op_work_size(const pg_tensor *node, int n_threads);

/* binary.c: dst = src0 (op) src1, src1 broadcast (its ne[i] divides src0's); F32 */
void pg_forward_add(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_sub(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_mul(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_div(const pg_compute_params *p, pg_tensor *dst);
/* unary.c: elementwise on F32 */
void pg_forward_scale(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_silu(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_gelu(const pg_compute_params *p, pg_tensor *dst);
/* y = gelu(x) over n floats as the gelu op computes it (x may equal y) */
void pg_gelu_row(const pg_kernels *k, int n, float *y, const float *x);
void pg_forward_relu(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_tanh(const pg_compute_params *p, pg_tensor *dst);
/* binary.c: dst = silu(src0) * src1, same shapes, rows contiguous (the gated FFN's step) */
void pg_forward_swiglu(const pg_compute_params *p, pg_tensor *dst);
/* norm.c: over ne0 */
void pg_forward_rms_norm(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_norm(const pg_compute_params *p, pg_tensor *dst);
/* softmax.c */
void pg_forward_soft_max(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_diag_mask_inf(const pg_compute_params *p, pg_tensor *dst);
/* rope.c */
void pg_forward_rope(const pg_compute_params *p, pg_tensor *dst);
size_t pg_rope_work_size(const pg_tensor *dst, int n_threads);
/* copy.c: CPY/CONT/DUP convert src0 into dst's type honouring strides; GET_ROWS, SET_ROWS */
void pg_forward_cpy(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_get_rows(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_set_rows(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_concat(const pg_compute_params *p, pg_tensor *dst);
size_t pg_cpy_work_size(const pg_tensor *dst, int n_threads);
size_t pg_set_rows_work_size(const pg_tensor *dst, int n_threads);
/* reduce.c */
void pg_forward_sum_rows(const pg_compute_params *p, pg_tensor *dst);
void pg_forward_argmax(const pg_compute_params *p, pg_tensor *dst);
/* matmul.c */
void pg_forward_mul_mat(const pg_compute_params *p, pg_tensor *dst);
size_t pg_mul_mat_work_size(const pg_tensor *dst, int n_threads);
/* How mul_mat runs src0 against src1's rows on a path (shared with mul_mat_glu.c). */
typedef struct {
    const pg_tensor *src0;
    int K;
    int prepared, act_sums;           /* step 1 writes the rows into wdata (with x8 block sums) */
    size_t act_row;                   /* bytes between activation rows as the kernels read them */
    pg_vec_dot_tile_fn x8_tile, x16_tile, batch_tile, gemv_x8;
    pg_vec_dot_fn gemv;
    int64_t M_tiled;                  /* rows [0, M_tiled) through tiles, the rest through gemv */
    size_t x8_group;                  /* bytes per repacked group of 8 rows */
} pg_mm_plan;
pg_mm_plan pg_mul_mat_plan(const pg_compute_params *p, const pg_tensor *src0, const pg_tensor *src1);
/* bytes step 1 needs in wdata for src0 x src1 on kernels k (0: src1 read in place) */
size_t pg_mul_mat_act_bytes(const pg_kernels *k, const pg_tensor *src0, const pg_tensor *src1);
/* step 1 (all threads; the caller barriers after): *act = the rows the kernels read */
void pg_mul_mat_prepare(const pg_compute_params *p, const pg_mm_plan *m, const pg_tensor *src1, char **act);
/* outputs of weight rows [ir0, ir1) (w: row 0, repacked: its x8 copy) x activation rows [ic0, ic1)
 * (a: row 0) as F32, output (ir, ic) at out + (ic - ic0) * out_col bytes + (ir - ir0) floats */
void pg_mul_mat_block(const pg_kernels *k, const pg_mm_plan *m, const char *w, const void *repacked, const char *a,
                      int64_t ir0, int64_t ir1, int64_t ic0, int64_t ic1, char *out, size_t out_col);
/* mul_mat's step 1, shared with mul_mat_id: every F32 row of src1 (i11 fastest, then i12, i13)
 * into q as the partner type vdt, rows split across threads; the caller barriers after */
/* src1's rows quantized to vdt, row_bytes apart (>= pg_row_size); x8_sums: each row followed by
 * its blocks' sums as vec_dot_tile_x8 takes them (pg_x8_activation_sums) */
void pg_quantize_src1_rows(const pg_compute_params *p, const pg_tensor *src1, int vdt, char *q, size_t row_bytes,
                           int x8_sums);
/* mul_mat_glu.c: a gated FFN's gate and up projections and gate in one op (see the file) */
void pg_forward_mul_mat_glu(const pg_compute_params *p, pg_tensor *dst);
size_t pg_mul_mat_glu_work_size(const pg_tensor *dst, int n_threads);
/* mul_mat_id.c: expert-selecting mul_mat (see the file) */
void pg_forward_mul_mat_id(const pg_compute_params *p, pg_tensor *dst);
size_t pg_mul_mat_id_work_size(const pg_tensor *dst, int n_threads);
/* top_k.c: I32 indices of each row's k largest, largest first */
void pg_forward_argsort_top_k(const pg_compute_params *p, pg_tensor *dst);
/* attention.c: fused softmax(scale * q k^T + mask) v per head, F16 or F32 K/V */
void pg_forward_flash_attn_ext(const pg_compute_params *p, pg_tensor *dst);
size_t pg_flash_attn_work_size(const pg_tensor *dst, int n_threads);
/* a decode step's KV cache (this thread's share, bounded) prefetched into L2 ahead of the op */
void pg_flash_attn_prefetch(const pg_compute_params *p, const pg_tensor *dst);
/* flash_attn_ext of a prompt batch, a block of rows at a time (csrc/ops/attention_block.c) */
int pg_attn_block_applies(const pg_compute_params *p, const pg_tensor *dst);
void pg_attn_block(const pg_compute_params *p, pg_tensor *dst, float scale, float softcap);
size_t pg_attn_block_work_size(const pg_tensor *dst, int n_threads, const pg_kernels *kern);

#endif
