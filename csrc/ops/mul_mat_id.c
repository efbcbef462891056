/* mul_mat_id: mul_mat with a weight matrix chosen per (slot, token) from a stack of experts
 * (ggml's mul_mat_id, the mixture-of-experts FFN's matmul).
 *   src0 experts     (K, N, n_as)  any type with a vec_dot kernel; expert e = plane e
 *   src1 activations (K, ne11, n_tokens) F32, rows contiguous; ne11 = n_used, or 1 (broadcast)
 *   src2 ids         (n_used, n_tokens) I32, any strides: the expert of each slot
 *   dst              (N, n_used, n_tokens) F32
 *   dst[t][s][i] = dot(src0 plane ids[t][s] row i, src1 row (s % ne11, t))
 *
 * Only the chosen experts' rows are read, and each once per call: the (slot, token) pairs are
 * grouped per expert (a counting sort, token order kept), so a prompt streams every chosen expert
 * once for all the tokens that chose it, with its weight rows reused across up to PG_MM_COLS of
 * them while they sit in cache.
 *
 * Step 1 (all threads): src1 quantized once into the weight's vec_dot partner type, by mul_mat's
 *   own step (pg_quantize_src1_rows); thread 0 meanwhile groups the pairs and numbers the chunks.
 *   An id outside [0, n_as) fails the node (PG_ERR_INDEX_RANGE) and nothing is computed.
 * Step 2: chunks of (weight rows × the expert's pairs) from the shared atomic counter, as in
 *   mul_mat. A chunk gathers its activation rows into per-thread scratch and runs them through
 *   pg_vec_dot_tile (every output = vec_dot of that pair, as ggml's mul_mat_id computes it).
 *   For F32/F16 the pairs go through vec_dot_gemv, the order of ggml's vec_dot (see kernels.h).
 *   A chunk of one activation row (decode) calls vec_dot row after row instead: the same values,
 *   and the weights read as one sequential stream, which out of cache measured ~1.9x faster
 *   than 8-row tiles on the AVX2 machine (single thread, Q8_0). */
#include "ops/op_util.h"
#include "threadpool.h"

#define PG_MM_ROWS 16
#define PG_MM_COLS 16

/* where each part of wdata starts */
typedef struct {
    char *act;              /* quantized src1 rows (NULL: src1 used in place) */
    int64_t *first;         /* [n_as + 1] start of each expert's pairs in pairs[] */
    int64_t *chunk_first;   /* [n_as + 1] first chunk number of each expert */
    int32_t *pairs;         /* [n_used * n_tokens] token * n_used + slot, grouped by expert */
    int64_t *chunk_rows;    /* [n_as] weight rows per chunk of each expert */
    char *scratch;          /* per-thread: PG_MM_COLS activation rows + a tile of outputs */
    size_t scratch_part;
} layout;

static size_t act_row_bytes(const pg_tensor *dst) {
    const int vdt = pg_type_traits_table[dst->src[0]->type].vec_dot_type;
    return pg_row_size(vdt, dst->src[1]->ne[0]);
}

static layout plan(const pg_tensor *dst, uintptr_t wdata) {
    const pg_tensor *src0 = dst->src[0], *src1 = dst->src[1], *ids = dst->src[2];
    const int vdt = pg_type_traits_table[src0->type].vec_dot_type;
    const int64_t n_as = src0->ne[2], n_pairs = ids->ne[0] * ids->ne[1];
    layout l = {0};
    uintptr_t at = (wdata + PG_CACHE_LINE - 1) & ~(uintptr_t)(PG_CACHE_LINE - 1);
    if (vdt != src1->type) {
        l.act = (char *)at;
        at += pg_round_up_line(act_row_bytes(dst) * (size_t)(src1->ne[1] * src1->ne[2]));
    }
    l.first = (int64_t *)at;          at += pg_round_up_line((size_t)(n_as + 1) * sizeof(int64_t));
    l.chunk_first = (int64_t *)at;    at += pg_round_up_line((size_t)(n_as + 1) * sizeof(int64_t));
    l.chunk_rows = (int64_t *)at;     at += pg_round_up_line((size_t)n_as * sizeof(int64_t));
    l.pairs = (int32_t *)at;          at += pg_round_up_line((size_t)n_pairs * sizeof(int32_t));
    l.scratch_part = pg_round_up_line(PG_MM_COLS * act_row_bytes(dst)) +
                     pg_round_up_line(PG_TILE_ROWS * PG_MM_COLS * sizeof(float));
    l.scratch = (char *)at;
    return l;
}

size_t pg_mul_mat_id_work_size(const pg_tensor *dst, int n_threads) {
    layout l = plan(dst, 0);   /* offsets from 0; the real base is aligned up by < one line */
    return (size_t)(uintptr_t)l.scratch + l.scratch_part * (size_t)n_threads + PG_CACHE_LINE;
}

/* thread 0: counting sort of the pairs by expert, chunk numbering; 0, or -1 on a bad id */
static int group_pairs(const pg_tensor *dst, const layout *l, int nth) {
    const pg_tensor *src0 = dst->src[0], *ids = dst->src[2];
    const int64_t n_as = src0->ne[2], n_used = ids->ne[0], n_tok = ids->ne[1], N = src0->ne[1];
    memset(l->first, 0, (size_t)(n_as + 1) * sizeof(int64_t));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t s = 0; s < n_used; s++) {
            const int32_t e = *(const int32_t *)((const char *)ids->data + t * ids->nb[1] + s * ids->nb[0]);
            if (e < 0 || e >= n_as) return -1;
            l->first[e + 1]++;
        }
    for (int64_t e = 0; e < n_as; e++) l->first[e + 1] += l->first[e];
    int64_t *fill = l->chunk_first;   /* borrowed as the fill cursor, renumbered below */
    memcpy(fill, l->first, (size_t)n_as * sizeof(int64_t));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t s = 0; s < n_used; s++) {
            const int32_t e = *(const int32_t *)((const char *)ids->data + t * ids->nb[1] + s * ids->nb[0]);
            l->pairs[fill[e]++] = (int32_t)(t * n_used + s);
        }
    /* chunks: an expert with few pairs (decode) gets its rows in a few long runs per thread,
     * so each thread streams weights sequentially; otherwise PG_MM_ROWS × PG_MM_COLS tiles */
    l->chunk_first[0] = 0;
    for (int64_t e = 0; e < n_as; e++) {
        const int64_t m = l->first[e + 1] - l->first[e];
        int64_t rows = PG_MM_ROWS;
        if (m <= PG_TILE_COLS) {
            const int64_t runs = 4 * (int64_t)nth;
            rows = ((N + runs - 1) / runs + PG_MM_ROWS - 1) / PG_MM_ROWS * PG_MM_ROWS;
        }
        l->chunk_rows[e] = rows;
        const int64_t n_chunks = m ? ((N + rows - 1) / rows) * ((m + PG_MM_COLS - 1) / PG_MM_COLS) : 0;
        l->chunk_first[e + 1] = l->chunk_first[e] + n_chunks;
    }
    return 0;
}

void pg_forward_mul_mat_id(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0], *src1 = dst->src[1];
    const int64_t K = src0->ne[0], N = src0->ne[1], n_as = src0->ne[2];
    const int64_t n_used = dst->ne[1], ne11 = src1->ne[1];
    const int vdt = pg_type_traits_table[src0->type].vec_dot_type;
    const layout l = plan(dst, (uintptr_t)p->wdata);
    atomic_llong *chunk_next = pg_threadpool_chunk_counter(p->tp);

    if (l.act) pg_quantize_src1_rows(p, src1, vdt, l.act, pg_row_size(vdt, src1->ne[0]), 0);
    if (p->ith == 0) {
        if (group_pairs(dst, &l, p->nth) != 0) {
            pg_compute_error(p, dst, PG_ERR_INDEX_RANGE);
            memset(l.chunk_first, 0, (size_t)(n_as + 1) * sizeof(int64_t));   /* no chunks */
        }
        atomic_store(chunk_next, p->nth);
    }
    pg_barrier(p);

    const size_t row = act_row_bytes(dst);
    char *gathered = l.scratch + l.scratch_part * (size_t)p->ith;       /* PG_MM_COLS rows */
    float *tile = (float *)(gathered + pg_round_up_line(PG_MM_COLS * row));   /* [PG_MM_COLS][PG_TILE_ROWS] */
    /* ggml's mul_mat_id takes every pair through its vec_dot; where a path keeps that order
     * apart from its tiles' (vec_dot_gemv outside a repacked group: F32, F16) use it throughout */
    const pg_vec_dot_fn ggml_order = p->k->gemv_group[src0->type] ? NULL : p->k->vec_dot_gemv[src0->type];
    const pg_vec_dot_fn vec_dot = ggml_order ? ggml_order : p->k->vec_dot[src0->type];
    const int64_t n_chunks = l.chunk_first[n_as];
    int64_t e = 0;
    for (int64_t c = p->ith; c < n_chunks; c = atomic_fetch_add(chunk_next, 1)) {
        while (l.chunk_first[e + 1] <= c) e++;          /* c only grows for a thread */
        const int64_t m = l.first[e + 1] - l.first[e];
        const int64_t n_col_chunks = (m + PG_MM_COLS - 1) / PG_MM_COLS, in_e = c - l.chunk_first[e];
        const int64_t ir0 = (in_e / n_col_chunks) * l.chunk_rows[e];
        const int64_t ic0 = (in_e % n_col_chunks) * PG_MM_COLS;
        const int64_t ir1 = ir0 + l.chunk_rows[e] < N ? ir0 + l.chunk_rows[e] : N;
        const int nc = (int)(m - ic0 < PG_MM_COLS ? m - ic0 : PG_MM_COLS);
        const int32_t *pair = l.pairs + l.first[e] + ic0;
        for (int j = 0; j < nc; j++) {
            const int64_t t = pair[j] / n_used, s = pair[j] % n_used;
            const char *a = l.act ? l.act + (t * ne11 + s % ne11) * row
                                  : (const char *)src1->data + t * src1->nb[2] + (s % ne11) * src1->nb[1];
            memcpy(gathered + j * row, a, row);
        }
        const char *w = (const char *)src0->data + e * src0->nb[2];
        if (nc == 1) {   /* one activation row (decode): the rows in order, one stream */
            const int64_t t = pair[0] / n_used, s = pair[0] % n_used;
            float *out = (float *)((char *)dst->data + t * dst->nb[2] + s * dst->nb[1]);
            for (int64_t ir = ir0; ir < ir1; ir++) vec_dot((int)K, out + ir, w + ir * src0->nb[1], gathered);
            continue;
        }
        for (int64_t ir = ir0; ir < ir1; ir += PG_TILE_ROWS) {
            const int nr = (int)(ir1 - ir < PG_TILE_ROWS ? ir1 - ir : PG_TILE_ROWS);
            for (int jc = 0; jc < nc; jc += PG_TILE_COLS) {
                const int ncc = nc - jc < PG_TILE_COLS ? nc - jc : PG_TILE_COLS;
                if (ggml_order) {
                    for (int j = jc; j < jc + ncc; j++)
                        for (int r = 0; r < nr; r++)
                            vec_dot((int)K, tile + j * PG_TILE_ROWS + r, w + (ir + r) * src0->nb[1], gathered + j * row);
                    continue;
                }
                pg_vec_dot_tile(p->k, src0->type, (int)K, tile + jc * PG_TILE_ROWS, PG_TILE_ROWS * sizeof(float),
                                w + ir * src0->nb[1], src0->nb[1], gathered + jc * row, row, nr, ncc);
            }
            for (int j = 0; j < nc; j++) {
                const int64_t t = pair[j] / n_used, s = pair[j] % n_used;
                memcpy((char *)dst->data + t * dst->nb[2] + s * dst->nb[1] + ir * sizeof(float),
                       tile + j * PG_TILE_ROWS, (size_t)nr * sizeof(float));
            }
        }
    }
}
