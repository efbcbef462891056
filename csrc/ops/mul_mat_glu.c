/* mul_mat_glu: a gated FFN's two projections and its gate in one op, so that neither (N, M) F32
 * projection output exists:
 *   src0 gate (K, N)  any type with a vec_dot kernel, 2-D
 *   src1 x    (K, M)  F32, rows contiguous, 2-D
 *   src2 up   (K, N)  gate's type and shape
 *   dst       (N, M)  F32, or the partner type the down projection reads (Q8_0 / Q8_1 / Q8_K /
 *                     F16 / BF16; N a multiple of its block): mul_mat then uses the rows as they are
 *   op_params[0]: 0 = silu(gate) * up (the swiglu op), 1 = gelu(gate) * up (the gelu and mul ops)
 * Every value is the unfused graph's: each projection output through mul_mat's own kernels and
 * plan (pg_mul_mat_block), the gate through the same row functions as the swiglu / gelu and mul
 * ops, the rows quantized by from_float as mul_mat's step 1 would have.
 * Work: units of glu_rows() weight rows (whole blocks of dst's type) x glu_cols() activation
 * rows from the shared counter, unit-major (a unit's gate and up rows stay in L2 while its
 * activation chunks pass them); per thread, scratch for the unit's gate and up outputs. */
#include "ops/op_util.h"
#include "threadpool.h"

#define GLU_COLS 64

/* weight rows per unit, whole blocks of dst's type: 128 (Q8_K: 256) for a batch; with few
 * activation rows (decode) a few long runs per thread, as mul_mat streams them (short runs
 * alternating between gate and up defeat the prefetchers: 1B Q4_0 decode ~6 % slower) */
static int64_t glu_rows(const pg_tensor *dst, int nth) {
    const int64_t blk = pg_blck_size(dst->type) > 16 ? pg_blck_size(dst->type) : 16;
    const int64_t N = dst->ne[0];
    int64_t rows = 128;
    if (dst->ne[1] <= PG_TILE_COLS) rows = (N + 4 * nth - 1) / (4 * nth);
    return (rows + blk - 1) / blk * blk;
}

/* activation rows per unit */
static int64_t glu_cols(const pg_tensor *dst) { return dst->ne[1] < GLU_COLS ? dst->ne[1] : GLU_COLS; }

/* a thread's scratch: gate and up outputs of one unit, [cols][rows] each */
static size_t glu_part(const pg_tensor *dst, int nth) {
    return pg_round_up_line(2 * (size_t)(glu_rows(dst, nth) * glu_cols(dst)) * sizeof(float));
}

/* the activations mul_mat's step 1 makes go after the threads' scratch */
size_t pg_mul_mat_glu_work_size(const pg_tensor *dst, int n_threads) {
    return PG_CACHE_LINE + glu_part(dst, n_threads) * (size_t)n_threads + PG_CACHE_LINE +
           pg_mul_mat_act_bytes(pg_active_kernels, dst->src[0], dst->src[1]);
}

void pg_forward_mul_mat_glu(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *gate = dst->src[0], *x = dst->src[1], *up = dst->src[2];
    const pg_kernels *k = p->k;
    const int64_t N = gate->ne[1], M = x->ne[1], rows = glu_rows(dst, p->nth), cols = glu_cols(dst);
    const int gelu = dst->op_params[0] == 1;
    const size_t part = glu_part(dst, p->nth);
    char *base = (char *)(((uintptr_t)p->wdata + PG_CACHE_LINE - 1) & ~(uintptr_t)(PG_CACHE_LINE - 1));
    float *g = (float *)(base + part * (size_t)p->ith);   /* [cols][rows] */
    float *u = g + rows * cols;
    pg_compute_params act_p = *p;   /* step 1 writes after the scratch */
    act_p.wdata = base + part * (size_t)p->nth;
    act_p.wsize = p->wsize - (size_t)((char *)act_p.wdata - (char *)p->wdata);
    pg_mm_plan mg = pg_mul_mat_plan(&act_p, gate, x);
    if (mg.x8_tile && !up->repacked) {   /* only the gate repacked: both read their rows */
        mg.x8_tile = mg.x16_tile = mg.gemv_x8 = NULL;
        mg.act_sums = 0;
        mg.act_row = pg_row_size(pg_type_traits_table[gate->type].vec_dot_type, gate->ne[0]);
    }
    pg_mm_plan mu = mg;   /* the same kernels and activation rows (x8 only where both are repacked) */
    mu.src0 = up;
    char *act;
    pg_mul_mat_prepare(&act_p, &mg, x, &act);
    atomic_llong *next = pg_threadpool_chunk_counter(p->tp);
    if (p->ith == 0) atomic_store(next, p->nth);
    pg_barrier(p);

    const int64_t n_units = (N + rows - 1) / rows, n_cols = (M + cols - 1) / cols;
    const int64_t blk = pg_blck_size(dst->type);
    const size_t bsize = pg_type_size(dst->type);
    for (int64_t c = p->ith; c < n_units * n_cols; c = atomic_fetch_add(next, 1)) {
        const int64_t r0 = (c / n_cols) * rows, t0 = (c % n_cols) * cols;
        const int64_t r1 = r0 + rows < N ? r0 + rows : N, t1 = t0 + cols < M ? t0 + cols : M;
        const int nr = (int)(r1 - r0);
        pg_mul_mat_block(k, &mg, gate->data, gate->repacked, act, r0, r1, t0, t1, (char *)g, (size_t)nr * sizeof(float));
        pg_mul_mat_block(k, &mu, up->data, up->repacked, act, r0, r1, t0, t1, (char *)u, (size_t)nr * sizeof(float));
        for (int64_t t = t0; t < t1; t++) {
            float *gt = g + (t - t0) * nr;
            const float *ut = u + (t - t0) * nr;
            if (gelu) {
                pg_gelu_row(k, nr, gt, gt);
                k->vec_mul_f32(nr, gt, gt, ut);
            } else {
                k->vec_swiglu_f32(nr, gt, gt, ut);
            }
            char *row = (char *)dst->data + t * dst->nb[1];
            if (dst->type == PG_TYPE_F32) memcpy(row + r0 * sizeof(float), gt, (size_t)nr * sizeof(float));
            else k->from_float[dst->type](gt, row + (size_t)(r0 / blk) * bsize, nr);
        }
    }
}
