/* flash_attn_ext over a prompt batch a block of rows at a time, with the path's attn_block_*
 * kernels (csrc/kernels.h). A row is one (query, head) pair; a block is BLOCK_ROWS / group
 * consecutive queries x the heads of one GQA group, so every K / V vector a kernel loads serves
 * several rows (query by query, attention.c's path, each serves one query's group).
 *
 * Per kv head (and batch plane): all threads convert its K and V to F32 once, into a buffer they
 * share (K transposed in blocks of 16 keys, V in blocks of 16 dims: the kernels' layouts); after a
 * barrier each thread takes query blocks b = ith, ith + nth, ... (causal rows grow with the query:
 * striding balances the threads). Two buffers alternate between kv heads, so one barrier per head
 * is enough: a thread converting head h + 2 has passed the barrier after head h + 1's conversion,
 * which every thread reaches only after finishing head h.
 *
 * Per block, the values of attention.c's query-by-query path (group_scores + attend_one), bit
 * for bit:
 *   1. the rows' queries rounded to F16 (K's type), as F32;
 *   2. scores of every row against the 16-key blocks from the block's first visible key to its
 *      last one: each score is vec_dot_tile[F32]'s value of the pair (the kernel's contract);
 *   3. per row over its own range (its visible keys widened to blocks of 8 from 0): scaled and
 *      masked (by the kernel, unless softcapped: scale, softcap, then mask here), -INF outside
 *      its visible keys, softmax, rounded to F16;
 *   4. P·V of all rows over the block's range, a row's probabilities 0 outside its own range:
 *      the range starts on a multiple of 8, so every key keeps its lane (j % 8), and a zero
 *      probability adds an exact zero to a lane (V is finite), so the lanes are those of P·V over
 *      the row's own range. */
#include <math.h>

#include "ops/op_util.h"

#define BLOCK_ROWS 12   /* rows per block: 4 queries of a GQA group of 3, 3 of a group of 4 */
#define KV_BLOCK 16     /* keys per K block, dims per V block */
#define BLOCK_KV_MAX (64u << 20)   /* bytes of the shared F32 K/V buffers: past it, query by query */

typedef struct {
    int64_t n_kv, n_pad, dk, dv, group, queries, rows, n_buf;
    size_t head_bytes, part_bytes, shared_bytes;
} block_shape;

static block_shape shape_of(const pg_tensor *dst) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    block_shape s;
    s.n_kv = k->ne[2];
    s.n_pad = (s.n_kv + KV_BLOCK - 1) / KV_BLOCK * KV_BLOCK;
    s.dk = k->ne[0];
    s.dv = v->ne[0];
    s.group = q->ne[1] / k->ne[1];
    s.queries = s.group >= BLOCK_ROWS ? 1 : BLOCK_ROWS / s.group;
    if (s.queries > q->ne[2]) s.queries = q->ne[2];
    s.rows = s.queries * s.group;
    const int64_t heads = k->ne[1] * q->ne[3];
    s.n_buf = heads < 2 ? heads : 2;
    s.head_bytes = pg_round_up_line((size_t)(s.n_pad * (s.dk + s.dv)) * sizeof(float));
    /* per thread: probabilities [rows][n_pad], queries [rows][dk], out [rows][dv], a converted
     * row [dk + dv], the F16 rounding's scratch [max(n_pad, dk)] */
    s.part_bytes = pg_round_up_line((size_t)(s.rows * s.n_pad) * sizeof(float)) +
                   pg_round_up_line((size_t)(s.rows * s.dk) * sizeof(float)) +
                   pg_round_up_line((size_t)(s.rows * s.dv) * sizeof(float)) +
                   pg_round_up_line((size_t)(s.dk + s.dv) * sizeof(float)) +
                   pg_round_up_line((size_t)(s.n_pad > s.dk ? s.n_pad : s.dk) * sizeof(uint16_t));
    s.shared_bytes = (size_t)s.n_buf * s.head_bytes;
    return s;
}

static int shape_applies(const pg_tensor *dst, const pg_kernels *kern) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2], *mask = dst->src[3];
    if (!kern->attn_block_scores || !kern->attn_block_pv) return 0;
    if (k->type != PG_TYPE_F16 || v->type != PG_TYPE_F16 || k->nb[0] != sizeof(uint16_t) || v->nb[0] != sizeof(uint16_t))
        return 0;
    if (k->ne[0] % 8 || v->ne[0] % KV_BLOCK || q->ne[1] % k->ne[1] || (mask && mask->ne[2] != 1)) return 0;
    return shape_of(dst).shared_bytes <= BLOCK_KV_MAX;
}

size_t pg_attn_block_work_size(const pg_tensor *dst, int n_threads, const pg_kernels *kern) {
    if (!shape_applies(dst, kern)) return 0;
    const block_shape s = shape_of(dst);
    return pg_scratch_size(s.part_bytes, n_threads) + s.shared_bytes + PG_CACHE_LINE;
}

int pg_attn_block_applies(const pg_compute_params *p, const pg_tensor *dst) {
    return shape_applies(dst, p->k) && pg_attn_block_work_size(dst, p->nth, p->k) <= p->wsize;
}

typedef struct {
    float *probs, *q, *out, *row;
    uint16_t *p16;
} block_scratch;

/* kv head hk of plane i3 into buf: K as [n_pad / 16][dk][16], then V as [dv / 16][n_pad][16];
 * this thread's share of the 16-key blocks; keys past n_kv are zeros */
static void convert_head(const pg_compute_params *p, const pg_tensor *dst, const block_shape *s, int64_t hk,
                         int64_t i3, float *buf, float *row) {
    const pg_tensor *k = dst->src[1], *v = dst->src[2];
    const pg_kernels *kern = p->k;
    float *kt = buf, *v32 = buf + s->n_pad * s->dk;
    const size_t v_block = (size_t)s->n_pad * KV_BLOCK;
    int64_t b0, b1;
    pg_thread_rows(s->n_pad / KV_BLOCK, p->ith, p->nth, &b0, &b1);
    for (int64_t j = b0 * KV_BLOCK; j < b1 * KV_BLOCK; j++) {
        float *kb = kt + (j / KV_BLOCK) * s->dk * KV_BLOCK + j % KV_BLOCK;
        if (j < s->n_kv) {
            kern->vec_cvt_f16_f32((int)s->dk, row, (const uint16_t *)pg_row_ptr(k, hk, j, i3 % k->ne[3]));
            kern->vec_cvt_f16_f32((int)s->dv, row + s->dk, (const uint16_t *)pg_row_ptr(v, hk, j, i3 % v->ne[3]));
        } else {
            memset(row, 0, (size_t)(s->dk + s->dv) * sizeof(float));
        }
        for (int64_t d = 0; d < s->dk; d++) kb[d * KV_BLOCK] = row[d];
        for (int64_t b = 0; b < s->dv / KV_BLOCK; b++)
            memcpy(v32 + b * v_block + j * KV_BLOCK, row + s->dk + b * KV_BLOCK, KV_BLOCK * sizeof(float));
    }
}

#define SCAN_CHUNK 64   /* masked keys are skipped a chunk at a time while the chunk's max is -INF */

/* the visible keys [lo, hi] of a query (lo > hi: none), from its mask row */
static void visible_keys(const pg_kernels *kern, const float *mask_row, int64_t n_kv, int64_t *lo, int64_t *hi) {
    *lo = 0;
    *hi = n_kv - 1;
    if (!mask_row) return;
    while (*lo + SCAN_CHUNK <= n_kv && kern->vec_max_f32(SCAN_CHUNK, mask_row + *lo) == -INFINITY) *lo += SCAN_CHUNK;
    while (*lo < n_kv && mask_row[*lo] == -INFINITY) (*lo)++;
    while (*hi + 1 - SCAN_CHUNK > *lo && kern->vec_max_f32(SCAN_CHUNK, mask_row + *hi + 1 - SCAN_CHUNK) == -INFINITY)
        *hi -= SCAN_CHUNK;
    while (*hi >= *lo && mask_row[*hi] == -INFINITY) (*hi)--;
}

/* the end of a range whose last visible key is hi: the next multiple of 8, at most n_kv */
static int64_t range_end(int64_t hi, int64_t n_kv) {
    const int64_t end = (hi + 8) & ~(int64_t)7;
    return end < n_kv ? end : n_kv;
}

/* row r's scores over [r0, r1) (its visible keys [lo, hi] widened to blocks of 8), already scaled
 * and masked by the kernel unless softcapped, into rounded probabilities, zeros over the rest of
 * [u0, u1); returns 0 if every key is masked */
static int row_probabilities(const pg_kernels *kern, float *sc, const float *mask_row, int64_t lo, int64_t hi,
                             int64_t n_kv, int64_t u0, int64_t u1, float scale, float softcap, uint16_t *p16) {
    const int64_t r0 = lo & ~(int64_t)7, r1 = range_end(hi, n_kv);
    if (softcap != 0.0f) {   /* raw dots from the kernel */
        for (int64_t j = r0; j < lo; j++) sc[j] = -INFINITY;
        for (int64_t j = hi + 1; j < r1; j++) sc[j] = -INFINITY;
        for (int64_t j = lo; j <= hi; j++) sc[j] = softcap * tanhf(sc[j] * scale * (1.0f / softcap));
        /* scores are finite (F16 operands), so s + mask is -INF exactly where the mask is */
        if (mask_row) kern->vec_add_f32((int)(hi + 1 - lo), sc + lo, sc + lo, mask_row + lo);
    }
    /* else: outside [lo, hi] the mask is -INF (that is what lo and hi are), and so the scores */
    for (int64_t j = u0; j < r0; j++) sc[j] = 0.0f;
    for (int64_t j = r1; j < u1; j++) sc[j] = 0.0f;
    const int n = (int)(r1 - r0);
    const float max = kern->vec_max_f32(n, sc + r0);
    if (max == -INFINITY) {
        memset(sc + r0, 0, (size_t)n * sizeof(float));
        return 0;
    }
    const double sum = kern->vec_soft_max_f32(n, sc + r0, sc + r0, max);
    kern->vec_scale_f32(n, sc + r0, (float)(1.0 / sum));
    kern->vec_cvt_f32_f16(n, p16, sc + r0);   /* p meets V in F16 */
    kern->vec_cvt_f16_f32(n, sc + r0, p16);
    return 1;
}

/* queries [iq0, iq0 + nq) x the heads of kv head hk's group: rows r = qi * group + hh */
static void attend_block(const pg_compute_params *p, pg_tensor *dst, const block_shape *s, int64_t hk, int64_t i3,
                         int64_t iq0, int64_t nq, const float *buf, const block_scratch *w, float scale,
                         float softcap) {
    const pg_tensor *q = dst->src[0], *mask = dst->src[3];
    const pg_kernels *kern = p->k;
    const int64_t group = s->group, rows = nq * group, n_kv = s->n_kv;
    int64_t lo[BLOCK_ROWS], hi[BLOCK_ROWS], u_lo = n_kv, u_hi = -1;
    const float *mask_rows[BLOCK_ROWS];
    for (int64_t qi = 0; qi < nq; qi++) {
        mask_rows[qi] = mask ? (const float *)pg_row_ptr(mask, iq0 + qi, 0, i3 % mask->ne[3]) : NULL;
        visible_keys(kern, mask_rows[qi], n_kv, &lo[qi], &hi[qi]);
        if (lo[qi] <= hi[qi]) {
            if (lo[qi] < u_lo) u_lo = lo[qi];
            if (hi[qi] > u_hi) u_hi = hi[qi];
        }
        for (int64_t hh = 0; hh < group; hh++) {
            float *qr = w->q + (qi * group + hh) * s->dk;
            pg_gather_f32(s->dk, qr, pg_row_ptr(q, hk * group + hh, iq0 + qi, i3), q->nb[0]);
            kern->vec_cvt_f32_f16((int)s->dk, w->p16, qr);   /* q meets K in F16 */
            kern->vec_cvt_f16_f32((int)s->dk, qr, w->p16);
        }
    }
    int live[rows];   /* the row has a visible key */
    memset(live, 0, sizeof live);
    if (u_lo <= u_hi) {
        const int64_t kb0 = u_lo / KV_BLOCK, kb1 = u_hi / KV_BLOCK + 1;
        const float *row_masks[rows];   /* each row's mask from key kb0 * 16 */
        for (int64_t r = 0; r < rows; r++) row_masks[r] = mask_rows[r / group] ? mask_rows[r / group] + kb0 * KV_BLOCK : NULL;
        const int raw = softcap != 0.0f;   /* softcap comes between the scale and the mask */
        kern->attn_block_scores((int)s->dk, (int)(kb1 - kb0), (int)rows, w->probs + kb0 * KV_BLOCK, (size_t)s->n_pad,
                                w->q, buf + kb0 * s->dk * KV_BLOCK, raw ? 1.0f : scale, raw || !mask ? NULL : row_masks,
                                (int)(n_kv - kb0 * KV_BLOCK));
        const int64_t u0 = u_lo & ~(int64_t)7, u1 = range_end(u_hi, n_kv);
        for (int64_t r = 0; r < rows; r++) {
            const int64_t qi = r / group;
            float *sc = w->probs + r * s->n_pad;
            if (lo[qi] <= hi[qi])
                live[r] = row_probabilities(kern, sc, mask_rows[qi], lo[qi], hi[qi], n_kv, u0, u1, scale, softcap, w->p16);
            if (!live[r]) memset(sc + u0, 0, (size_t)(u1 - u0) * sizeof(float));
        }
        kern->attn_block_pv((int)(u1 - u0), (int)s->dv, (int)rows, w->out, (size_t)s->dv,
                            buf + s->n_pad * s->dk + u0 * KV_BLOCK, (size_t)s->n_pad * KV_BLOCK, w->probs + u0,
                            (size_t)s->n_pad);
    }
    for (int64_t r = 0; r < rows; r++) {
        float *out = (float *)pg_row_ptr(dst, hk * group + r % group, iq0 + r / group, i3);
        if (live[r]) memcpy(out, w->out + r * s->dv, (size_t)s->dv * sizeof(float));
        else memset(out, 0, (size_t)s->dv * sizeof(float));   /* every key masked: zeros */
    }
}

void pg_attn_block(const pg_compute_params *p, pg_tensor *dst, float scale, float softcap) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1];
    const block_shape s = shape_of(dst);
    char *part = pg_thread_scratch(p, s.part_bytes);
    block_scratch w;
    w.probs = (float *)part;
    w.q = (float *)(part + pg_round_up_line((size_t)(s.rows * s.n_pad) * sizeof(float)));
    w.out = w.q + pg_round_up_line((size_t)(s.rows * s.dk) * sizeof(float)) / sizeof(float);
    w.row = w.out + pg_round_up_line((size_t)(s.rows * s.dv) * sizeof(float)) / sizeof(float);
    w.p16 = (uint16_t *)(w.row + pg_round_up_line((size_t)(s.dk + s.dv) * sizeof(float)) / sizeof(float));
    char *shared = (char *)(((uintptr_t)p->wdata + PG_CACHE_LINE - 1) & ~(uintptr_t)(PG_CACHE_LINE - 1)) +
                   pg_round_up_line(s.part_bytes) * (size_t)p->nth;
    const int64_t n_q = q->ne[2], n_blocks = (n_q + s.queries - 1) / s.queries;
    int64_t head = 0;
    for (int64_t i3 = 0; i3 < q->ne[3]; i3++)
        for (int64_t hk = 0; hk < k->ne[1]; hk++, head++) {
            float *buf = (float *)(shared + (size_t)(head % s.n_buf) * s.head_bytes);
            convert_head(p, dst, &s, hk, i3, buf, w.row);
            pg_barrier(p);
            for (int64_t b = p->ith; b < n_blocks; b += p->nth) {
                const int64_t iq0 = b * s.queries;
                attend_block(p, dst, &s, hk, i3, iq0, n_q - iq0 < s.queries ? n_q - iq0 : s.queries, buf, &w, scale,
                             softcap);
            }
        }
}
