/* flash_attn_ext: out = softmax(scale * q k^T [softcapped] + mask) v per query head, fused.
 *   src0 q    F32 (DK, n_head, n_q, ne3), any strides (e.g. a view of a fused QKV output)
 *   src1 k    F16/F32 (DK, n_head_kv, n_kv, ne3'), a strided view of the cache:
 *             nb1 = bytes per head, nb2 = bytes per position; rows contiguous
 *   src2 v    same layout and type rules as k, (DV, n_head_kv, n_kv)
 *   src3 mask F32 (>= n_kv, >= n_q, m2, m3) or NULL; row iq of plane (h % m2, i3 % m3)
 *   dst       F32 (DV, n_head, n_q, ne3), contiguous
 * GQA: query head h reads kv head h / (n_head / n_head_kv).
 * softcap [1] != 0: s = softcap * tanh(s / softcap), applied before the mask (as ggml).
 *
 * Numerics follow ggml's unfused attention (mul_mat K·q, soft_max_ext, mul_mat V·p), which is
 * what llama.cpp runs by default and so what its logits are made of: q is rounded to K's type
 * for the dot products, the softmax is exact over all n_kv positions (sum in double, then
 * scaled by 1/sum), and the probabilities are rounded to V's type (F16) before P·V.
 * P·V is summed in llama.cpp's order (its tinyBLAS matmul on AVX2, 8 lanes): position j feeds
 * lane j % 8 of each output element by FMA (vec_mad), and the 8 lanes are summed at the end
 * as hsum_f32x8 does. K·q goes through vec_dot[F16], which has the same one-accumulator form.
 * A single query (a decode step) is what llama.cpp runs through ggml's vec_dot instead (its GEMM
 * only takes batches): K·q by vec_dot_gemv[F16], and P·V with position j feeding lane j % 8 of
 * accumulator (j / 8) % 4, reduced as ggml's vec_dot_f16 does, positions past n_kv & ~31 added
 * afterwards in double.
 * Masked-out positions skip their dot product; a query whose every position is masked gets zeros.
 *
 * Work: queries strided across threads (balanced under the causal mask); per kv head, the
 * heads of its GQA group run back to back on the same K/V rows. One query over an F16 cache (a
 * decode step) is shared by all threads (one_query: keys, then heads, then output dims split,
 * with three barriers; the path's attn_scores_f16 / attn_pv_f16 where it has them). Otherwise,
 * with fewer queries than threads, the (query, head) pairs are split.
 * Per-thread scratch (cache-line padded): lanes[32][DV], scores[n_kv], q as F32 [DK] and as
 * F16 [DK] (K F16 is dotted with q converted to F16, by the dispatched F16 vec_dot). */
#include <math.h>

#include "ops/op_util.h"
#include "threadpool.h"

#define PV_LANES 8        /* batch: one 8-lane accumulator */
#define FA_KV_COPY_MAX (4u << 20)   /* bytes of one kv head's K and V as F32, per thread */
#define PV_LANES_ONE 32   /* single query: four 8-lane accumulators */
#define ONE_QUERY_KEY_CHUNK 256   /* single query: keys scored for every kv head in turn */

typedef struct {
    float *lanes, *scores, *q32;
    uint16_t *q16;
    uint16_t *p16;    /* probabilities rounded to F16 (they meet V in F16) [n_kv] */
    float *kv32;      /* batch with F16 K/V: K rows then V of one kv head as F32 (V blocked by 8
                       * dims, vec_pv8_f32's layout), or NULL */
    float *gscores;   /* with kv32: scores of one query for each head of a GQA group [group][n_kv] */
    float *gq;        /* with kv32: those heads' queries, rounded to F16, as F32 [group][dk] */
} fa_scratch;

/* A batch with F16 K and V converts each kv head's K and V to F32 once per thread (exact) and
 * dots/accumulates in F32: the same fused operations on the same values as the F16 kernels of
 * the path (vec_dot[F16] = vec_dot[F32] of the converted rows, vec_mad likewise), so the same
 * results, without converting every row again for every query and every head of a GQA group. */
static size_t kv_copy_bytes(const pg_tensor *dst) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    if (q->ne[2] == 1 || k->type != PG_TYPE_F16 || v->type != PG_TYPE_F16 || v->ne[0] % 8) return 0;
    const size_t n = (size_t)k->ne[2] * (size_t)(k->ne[0] + v->ne[0]) * sizeof(float);
    return n <= FA_KV_COPY_MAX ? n : 0;
}

#define FA_PARTS 7
static size_t fa_part_bytes(int64_t dk, int64_t dv, int64_t n_kv, int64_t group, size_t kv_bytes,
                            size_t off[FA_PARTS]) {
    off[0] = pg_round_up_line((size_t)PV_LANES_ONE * (size_t)dv * sizeof(float));      /* scores */
    off[1] = off[0] + pg_round_up_line((size_t)n_kv * sizeof(float));                   /* q32 */
    off[2] = off[1] + pg_round_up_line((size_t)dk * sizeof(float));                     /* q16 */
    off[3] = off[2] + pg_round_up_line((size_t)dk * sizeof(uint16_t));                  /* p16 */
    off[4] = off[3] + pg_round_up_line((size_t)n_kv * sizeof(uint16_t));                /* kv32 */
    if (!kv_bytes) return off[4];
    off[5] = off[4] + pg_round_up_line(kv_bytes);                                       /* gscores */
    off[6] = off[5] + pg_round_up_line((size_t)(group * n_kv) * sizeof(float));         /* gq */
    return off[6] + pg_round_up_line((size_t)(group * dk) * sizeof(float));
}

static int64_t gqa_group(const pg_tensor *dst) { return dst->src[0]->ne[1] / dst->src[1]->ne[1]; }

/* One query over an F16 cache (a decode step) is shared by all threads: its keys, then its heads,
 * then its output dims are split across them (one_query below). Returns 0 where it does not apply. */
static int one_query_shared(const pg_tensor *dst) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    return q->ne[2] == 1 && q->ne[3] == 1 && k->type == PG_TYPE_F16 && v->type == PG_TYPE_F16 && dst->ne[0] % 8 == 0 &&
           k->nb[0] == sizeof(uint16_t) && v->nb[0] == sizeof(uint16_t) && k->nb[2] % sizeof(uint16_t) == 0 &&
           v->nb[2] % sizeof(uint16_t) == 0;
}

/* one_query's shared scratch after the per-thread parts: scores [n_head][n_kv] F32, then per
 * thread the queries rounded to F16 [n_head][dk] */
static size_t one_query_bytes(const pg_tensor *dst, int n_threads) {
    const pg_tensor *q = dst->src[0];
    return pg_round_up_line((size_t)(q->ne[1] * dst->src[1]->ne[2]) * sizeof(float)) +
           (size_t)n_threads * pg_round_up_line((size_t)(q->ne[1] * q->ne[0]) * sizeof(uint16_t));
}

size_t pg_flash_attn_work_size(const pg_tensor *dst, int n_threads) {
    size_t off[FA_PARTS];
    const size_t query_by_query = pg_scratch_size(fa_part_bytes(dst->src[0]->ne[0], dst->ne[0], dst->src[1]->ne[2],
                                                                gqa_group(dst), kv_copy_bytes(dst), off), n_threads) +
                                  (one_query_shared(dst) ? one_query_bytes(dst, n_threads) : 0);
    const size_t block = pg_attn_block_work_size(dst, n_threads, pg_active_kernels);
    return block > query_by_query ? block : query_by_query;
}

static fa_scratch thread_scratch(const pg_compute_params *p, const pg_tensor *dst) {
    size_t off[FA_PARTS];
    const size_t kv_bytes = kv_copy_bytes(dst);
    char *base = pg_thread_scratch(p, fa_part_bytes(dst->src[0]->ne[0], dst->ne[0], dst->src[1]->ne[2],
                                                     gqa_group(dst), kv_bytes, off));
    fa_scratch w = {(float *)base, (float *)(base + off[0]), (float *)(base + off[1]),
                    (uint16_t *)(base + off[2]), (uint16_t *)(base + off[3]), NULL, NULL, NULL};
    if (kv_bytes) {
        w.kv32 = (float *)(base + off[4]);
        w.gscores = (float *)(base + off[5]);
        w.gq = (float *)(base + off[6]);
    }
    return w;
}

/* kv head hk of batch i3 into w->kv32: K rows (dk floats each), then V as blocks of 8 dims
 * ([dv / 8][n_kv][8]: P·V streams each block); row is scratch of dv floats */
static void copy_kv_head(const pg_compute_params *p, const pg_tensor *k, const pg_tensor *v, int64_t hk,
                         int64_t i3, float *kv32, float *row) {
    const int64_t n_kv = k->ne[2], dk = k->ne[0], dv = v->ne[0];
    float *v32 = kv32 + n_kv * dk;
    for (int64_t j = 0; j < n_kv; j++) {
        p->k->vec_cvt_f16_f32((int)dk, kv32 + j * dk, (const uint16_t *)pg_row_ptr(k, hk, j, i3 % k->ne[3]));
        p->k->vec_cvt_f16_f32((int)dv, row, (const uint16_t *)pg_row_ptr(v, hk, j, i3 % v->ne[3]));
        for (int64_t b = 0; b < dv / 8; b++) memcpy(v32 + (b * n_kv + j) * 8, row + b * 8, 8 * sizeof(float));
    }
}

/* scores[j] of kv positions t0 .. t0+n; returns their max (-INF if all masked) */
static float tile_scores(const pg_compute_params *p, const pg_tensor *k, int64_t hk, int64_t i3k,
                         int64_t t0, int n, const float *mask_row, const void *q, float scale,
                         float softcap, float *scores, int single_query,
                         const float *k32) {
    const int dk = (int)k->ne[0];
    pg_vec_dot_fn dot = single_query && p->k->vec_dot_gemv[k->type] ? p->k->vec_dot_gemv[k->type]
                                                                     : p->k->vec_dot[k32 ? PG_TYPE_F32 : k->type];
    float max = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float m = mask_row ? mask_row[t0 + j] : 0.0f;
        if (m == -INFINITY) { scores[j] = -INFINITY; continue; }
        float s;
        dot(dk, &s, k32 ? (const void *)(k32 + (t0 + j) * dk) : pg_row_ptr(k, hk, t0 + j, i3k), q);
        s *= scale;
        if (softcap != 0.0f) s = softcap * tanhf(s * (1.0f / softcap));
        s += m;
        scores[j] = s;
        if (s > max) max = s;
    }
    return max;
}

/* single query: out[d] from 32 lanes (4 accumulators of 8) as ggml's vec_dot_f16 reduces them:
 * (a0 + a2) + (a1 + a3), then lanes l + (l + 4), then (0 + 1) + (2 + 3); tail added in double */
static void sum_lanes_one(int dv, const float *lanes, const double *tail, float *out) {
    for (int d = 0; d < dv; d++) {
        float v[8];
        for (int l = 0; l < 8; l++)
            v[l] = (lanes[l * dv + d] + lanes[(16 + l) * dv + d]) + (lanes[(8 + l) * dv + d] + lanes[(24 + l) * dv + d]);
        const float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
        out[d] = (float)((double)((t0 + t1) + (t2 + t3)) + tail[d]);
    }
}

/* out[d] = the 8 lanes[l][d] summed as a tree: 8 -> 4, then (0+2) + (1+3) */
static void sum_lanes(int dv, const float *lanes, float *out) {
    for (int d = 0; d < dv; d++) {
        float t4[4];
        for (int l = 0; l < 4; l++) t4[l] = lanes[(l + 4) * dv + d] + lanes[l * dv + d];
        out[d] = (t4[0] + t4[2]) + (t4[1] + t4[3]);
    }
}

/* The scores of query iq against every key for the `group` heads of kv head hk, into
 * w->gscores[hh][j] (-INF where masked), from the F32 copy of K: one F32 tile call covers
 * PG_TILE_ROWS keys x up to PG_TILE_COLS heads, each score being exactly vec_dot[F32] of the pair (the tile contract),
 * i.e. what tile_scores computes. Only keys between the first and last visible one are dotted. */
static void group_scores(const pg_compute_params *p, const pg_tensor *dst, int64_t hk, int64_t iq, int64_t i3,
                         const fa_scratch *w, float scale, float softcap, int64_t range[2]) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *mask = dst->src[3];
    const pg_kernels *kern = p->k;
    const int dk = (int)q->ne[0];
    const int64_t n_kv = k->ne[2], group = gqa_group(dst);
    for (int64_t hh = 0; hh < group; hh++) {
        pg_gather_f32(dk, w->q32, pg_row_ptr(q, hk * group + hh, iq, i3), q->nb[0]);
        kern->vec_cvt_f32_f16(dk, w->q16, w->q32);
        kern->vec_cvt_f16_f32(dk, w->gq + hh * dk, w->q16);
    }
    const float *mask_row = mask ? (const float *)pg_row_ptr(mask, iq, 0, i3 % mask->ne[3]) : NULL;
    int64_t lo = 0, hi = n_kv - 1;
    if (mask_row) {
        while (lo < n_kv && mask_row[lo] == -INFINITY) lo++;
        while (hi >= lo && mask_row[hi] == -INFINITY) hi--;
    }
    for (int64_t j = lo; j <= hi; j += PG_TILE_ROWS) {
        const int nr = (int)(hi + 1 - j < PG_TILE_ROWS ? hi + 1 - j : PG_TILE_ROWS);
        for (int64_t h0 = 0; h0 < group; h0 += PG_TILE_COLS) {
            const int nc = (int)(group - h0 < PG_TILE_COLS ? group - h0 : PG_TILE_COLS);
            pg_vec_dot_tile(kern, PG_TYPE_F32, dk, w->gscores + h0 * n_kv + j, (size_t)n_kv * sizeof(float),
                            w->kv32 + j * dk, (size_t)dk * sizeof(float), w->gq + h0 * dk,
                            (size_t)dk * sizeof(float), nr, nc);
        }
    }
    /* the rest of the work only looks at [range[0], range[1]): the visible keys widened to whole
     * blocks of 8 from 0, so sums and lanes group exactly as over all n_kv (outside: zeros) */
    range[0] = lo <= hi ? lo & ~(int64_t)7 : 0;
    range[1] = lo <= hi ? ((hi + 8) & ~(int64_t)7) : 0;
    if (range[1] > n_kv) range[1] = n_kv;
    for (int64_t hh = 0; hh < group; hh++) {
        float *sc = w->gscores + hh * n_kv;
        for (int64_t j = range[0]; j < range[1] && j < lo; j++) sc[j] = -INFINITY;
        for (int64_t j = hi + 1 > range[0] ? hi + 1 : range[0]; j < range[1]; j++) sc[j] = -INFINITY;
        if (lo > hi) continue;
        if (softcap != 0.0f)
            for (int64_t j = lo; j <= hi; j++) sc[j] = softcap * tanhf(sc[j] * scale * (1.0f / softcap));
        else
            for (int64_t j = lo; j <= hi; j++) sc[j] *= scale;
        if (mask_row)   /* branch-free: vectorizes */
            for (int64_t j = lo; j <= hi; j++) sc[j] = mask_row[j] == -INFINITY ? -INFINITY : sc[j] + mask_row[j];
    }
}

/* p[0..n) rounded to F16 and back (p meets V in F16), through the path's row converters */
static void round_to_f16(const pg_kernels *kern, int n, float *p, uint16_t *p16) {
    kern->vec_cvt_f32_f16(n, p16, p);
    kern->vec_cvt_f16_f32(n, p, p16);
}

static void attend_one(const pg_compute_params *p, pg_tensor *dst, int64_t h, int64_t iq, int64_t i3,
                       const fa_scratch *w, float scale, float softcap, const float *kv32, float *pre,
                       const int64_t *range) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2], *mask = dst->src[3];
    const pg_kernels *kern = p->k;
    const int dk = (int)q->ne[0], dv = (int)v->ne[0];
    const int64_t n_kv = k->ne[2];
    const int64_t hk = h / (q->ne[1] / k->ne[1]);
    const int64_t i3k = i3 % k->ne[3], i3v = i3 % v->ne[3];

    float *out = (float *)pg_row_ptr(dst, h, iq, i3);
    if (pre) {   /* scores given for keys [range[0], range[1]) (group_scores); -INF elsewhere */
        const int64_t j0 = range[0], n = range[1] - range[0];
        float *sc = pre + j0;
        const float max = kern->vec_max_f32((int)n, sc);
        if (max == -INFINITY) {
            memset(out, 0, (size_t)dv * sizeof(float));
            return;
        }
        const double sum = kern->vec_soft_max_f32((int)n, sc, sc, max);
        kern->vec_scale_f32((int)n, sc, (float)(1.0 / sum));
        round_to_f16(kern, (int)n, sc, w->p16);
        kern->vec_pv8_f32((int)n, dv, out, kv32 + n_kv * dk + j0 * 8, (size_t)n_kv * 8, sc);
        return;
    }
    pg_gather_f32(dk, w->q32, pg_row_ptr(q, h, iq, i3), q->nb[0]);
    const void *qv = w->q32;
    if (k->type == PG_TYPE_F16) {
        kern->vec_cvt_f32_f16(dk, w->q16, w->q32);
        qv = w->q16;
        if (kv32) {                       /* F32 dots against converted K: q rounded to F16 */
            kern->vec_cvt_f16_f32(dk, w->q32, w->q16);
            qv = w->q32;
        }
    }
    const float *v32 = kv32 ? kv32 + n_kv * dk : NULL;
    const float *mask_row = mask ? (const float *)pg_row_ptr(mask, iq, h % mask->ne[2], i3 % mask->ne[3]) : NULL;

    const int single = q->ne[2] == 1 && q->ne[3] == 1;
    float *scores = w->scores;
    const float max = tile_scores(p, k, hk, i3k, 0, (int)n_kv, mask_row, qv, scale, softcap, scores, single, kv32);
    if (max == -INFINITY) {
        memset(out, 0, (size_t)dv * sizeof(float));
        return;
    }
    const double sum = kern->vec_soft_max_f32((int)n_kv, scores, scores, max);
    kern->vec_scale_f32((int)n_kv, scores, (float)(1.0 / sum));
    if (v32) {                                       /* batch, V as F32 (blocked): the P·V kernel */
        round_to_f16(kern, (int)n_kv, scores, w->p16);
        kern->vec_pv8_f32((int)n_kv, dv, out, v32, (size_t)n_kv * 8, scores);
        return;
    }
    const int n_lanes = single ? PV_LANES_ONE : PV_LANES;
    const int64_t n_laned = single ? (n_kv & ~(int64_t)31) : n_kv;   /* the rest: the double tail */
    double tail[dv];
    memset(tail, 0, sizeof tail);
    memset(w->lanes, 0, (size_t)n_lanes * (size_t)dv * sizeof(float));
    if (v->type == PG_TYPE_F16) round_to_f16(kern, (int)n_kv, scores, w->p16);   /* p meets V in V's precision */
    for (int64_t j = 0; j < n_kv; j++) {
        const float pj = scores[j];
        if (pj == 0.0f) continue;                      /* adds nothing to its lane */
        const char *vrow = pg_row_ptr(v, hk, j, i3v);
        if (j >= n_laned) {
            for (int d = 0; d < dv; d++) {
                const float vd = v->type == PG_TYPE_F16 ? pg_fp16_to_fp32(((const uint16_t *)vrow)[d]) : ((const float *)vrow)[d];
                tail[d] += (double)(vd * pj);
            }
            continue;
        }
        float *lane = w->lanes + (j % n_lanes) * dv;
        if (v->type == PG_TYPE_F16) kern->vec_mad_f16(dv, lane, (const uint16_t *)vrow, pj);
        else kern->vec_mad_f32(dv, lane, (const float *)vrow, pj);
    }
    if (single) sum_lanes_one(dv, w->lanes, tail, out);
    else sum_lanes(dv, w->lanes, out);
}

/* whether x[0..n) are all +-0 (a bit scan: vectorizes on any x86 / ARM baseline) */
static int all_zero(const float *x, int64_t n) {
    uint32_t bits = 0;
    for (int64_t j = 0; j < n; j++) {
        uint32_t b;
        memcpy(&b, x + j, 4);
        bits |= b << 1;   /* the sign bit dropped */
    }
    return bits == 0;
}

/* scores [j0, j1) of kv head hk's group of query heads (q16: their queries as F16), scaled,
 * softcapped and masked as tile_scores */
static void one_query_scores(const pg_compute_params *p, const pg_tensor *dst, int64_t hk, int64_t j0, int64_t j1,
                             const uint16_t *q16, float *scores, float scale, float softcap) {
    const pg_tensor *k = dst->src[1], *mask = dst->src[3];
    const pg_kernels *kern = p->k;
    const int dk = (int)k->ne[0];
    const int64_t n_kv = k->ne[2], group = gqa_group(dst), n = j1 - j0;
    const uint16_t *krow = (const uint16_t *)pg_row_ptr(k, hk, j0, 0);
    const size_t k_stride = k->nb[2] / sizeof(uint16_t);
    if (kern->attn_scores_f16 && dk % 32 == 0) {
        kern->attn_scores_f16((int)n, dk, (int)group, scores + hk * group * n_kv + j0, (size_t)n_kv, krow, k_stride, q16);
    } else {
        const pg_vec_dot_fn dot = kern->vec_dot_gemv[PG_TYPE_F16] ? kern->vec_dot_gemv[PG_TYPE_F16] : kern->vec_dot[PG_TYPE_F16];
        for (int64_t hh = 0; hh < group; hh++)
            for (int64_t j = 0; j < n; j++)
                dot(dk, scores + (hk * group + hh) * n_kv + j0 + j, krow + j * k_stride, q16 + hh * dk);
    }
    const float *zero_row = NULL;   /* the last mask row found all zeros over [j0, j1) */
    for (int64_t hh = 0; hh < group; hh++) {
        const int64_t h = hk * group + hh;
        float *sc = scores + h * n_kv;
        const float *mask_row = mask ? (const float *)pg_row_ptr(mask, 0, h % mask->ne[2], 0) : NULL;
        if (softcap != 0.0f)
            for (int64_t j = j0; j < j1; j++) sc[j] = softcap * tanhf(sc[j] * scale * (1.0f / softcap));
        else
            kern->vec_scale_f32((int)n, sc + j0, scale);   /* sc[j] *= scale, the path's vectors */
        /* a decode step's causal mask is zeros over every key it sees: adding it changes nothing
         * the softmax can tell (only -0 -> +0), so it is skipped */
        if (mask_row && mask_row != zero_row) {
            if (all_zero(mask_row + j0, n)) zero_row = mask_row;
            else
                for (int64_t j = j0; j < j1; j++) sc[j] = mask_row[j] == -INFINITY ? -INFINITY : sc[j] + mask_row[j];
        }
    }
}

/* Keys one query has to look at, [*first, returned end): all n_kv, or with a mask, from its first
 * visible key (over its head planes) rounded down to a multiple of 32 (a sliding window masks a
 * prefix) to its last visible one rounded up to 32 when that is before the last block of 32.
 * The keys outside are masked (probability 0): they add nothing to any lane or to the softmax's
 * sum, the range starts on a multiple of 32 so every key keeps its lane and accumulator, and none
 * of the skipped keys falls in the double tail (which starts at n_kv & ~31): the same bits. */
static int64_t live_keys(const pg_tensor *dst, int64_t *first) {
    const pg_tensor *mask = dst->src[3];
    const int64_t n_kv = dst->src[1]->ne[2];
    *first = 0;
    if (!mask) return n_kv;
    int64_t lo = n_kv, last = -1;
    for (int64_t m2 = 0; m2 < mask->ne[2]; m2++) {
        const float *row = (const float *)pg_row_ptr(mask, 0, m2, 0);
        int64_t j = n_kv - 1;
        while (j > last && row[j] == -INFINITY) j--;
        if (j > last) last = j;
        for (j = 0; j < lo && row[j] == -INFINITY; j++) {}
        if (j < lo) lo = j;
    }
    if (last < 0) return 0;   /* every key masked */
    *first = lo & ~(int64_t)31;
    const int64_t live = (last + 1 + 31) & ~(int64_t)31;
    return live <= (n_kv & ~(int64_t)31) ? live : n_kv;
}

/* One query, all threads on it (bit-identical to attend_one's single-query order):
 *   1. keys in chunks taken from a shared counter: every head's scores of a chunk's keys (each K
 *      row read once per GQA group, its heads back to back), the chunk's V prefetched for step 3;
 *   2. heads split: softmax over all keys, probabilities rounded to F16 (zeros if all masked);
 *   3. output dims split (blocks of 8): P·V of every head over all keys. */
static void one_query(const pg_compute_params *p, pg_tensor *dst, float scale, float softcap, const fa_scratch *w) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const pg_kernels *kern = p->k;
    const int64_t n_head = q->ne[1], n_head_kv = k->ne[1], group = n_head / n_head_kv, n_kv_all = k->ne[2];
    const int dk = (int)q->ne[0], dv = (int)v->ne[0];
    int64_t first;
    const int64_t n_kv = live_keys(dst, &first);   /* keys [first, n_kv); rows of scores keep n_kv_all */
    size_t off[FA_PARTS];
    const size_t part = pg_round_up_line(fa_part_bytes(dk, dv, n_kv_all, group, 0, off));
    char *shared = (char *)(((uintptr_t)p->wdata + PG_CACHE_LINE - 1) & ~(uintptr_t)(PG_CACHE_LINE - 1)) +
                   part * (size_t)p->nth;
    float *scores = (float *)shared;
    uint16_t *q16 = (uint16_t *)(shared + pg_round_up_line((size_t)(n_head * n_kv_all) * sizeof(float)) +
                                 (size_t)p->ith * pg_round_up_line((size_t)(n_head * dk) * sizeof(uint16_t)));

    /* chunks of keys taken from the pool's counter (reset by thread 0 before the barrier): a
     * thread slowed by its memory or its core takes fewer */
    atomic_llong *chunk_next = pg_threadpool_chunk_counter(p->tp);
    if (p->ith == 0) atomic_store(chunk_next, p->nth);
    for (int64_t h = 0; h < n_head; h++) {
        pg_gather_f32(dk, w->q32, pg_row_ptr(q, h, 0, 0), q->nb[0]);
        kern->vec_cvt_f32_f16(dk, q16 + h * dk, w->q32);
    }
    pg_barrier(p);
    /* at least 4 chunks per thread (a short cache is still split), at most ONE_QUERY_KEY_CHUNK keys */
    int64_t chunk = (n_kv - first + 4 * p->nth - 1) / (4 * p->nth);
    chunk = chunk < 32 ? 32 : chunk > ONE_QUERY_KEY_CHUNK ? ONE_QUERY_KEY_CHUNK : (chunk + 31) & ~(int64_t)31;
    const int64_t n_chunks = (n_kv - first + chunk - 1) / chunk;
    const size_t k_row_bytes = (size_t)(n_head_kv * dk) * sizeof(uint16_t);   /* a position's heads */
    const size_t v_row_bytes = (size_t)(n_head_kv * dv) * sizeof(uint16_t);
    const int k_rows = k->nb[1] == (size_t)dk * sizeof(uint16_t), v_rows = v->nb[1] == (size_t)dv * sizeof(uint16_t);
    for (int64_t c = p->ith; c < n_chunks; c = atomic_fetch_add(chunk_next, 1)) {
        const int64_t c0 = first + c * chunk;
        const int64_t c1 = c0 + chunk < n_kv ? c0 + chunk : n_kv;
        /* into L2: K of the chunk this thread likely takes next (and of this one if it is the
         * thread's first), and V of this one (read by P·V after the barrier, by whichever thread
         * has its dims: from this L2 or the L3) */
        const int64_t n0 = c0 + (int64_t)p->nth * chunk;
        if (k_rows)
            for (int pass = c == p->ith ? 0 : 1; pass < 2; pass++) {   /* a thread's first chunk: had none ahead */
                const int64_t f0 = pass ? n0 : c0, f1 = pass ? n0 + chunk : c1;
                for (int64_t j = f0; j < f1 && j < n_kv; j++)
                    for (size_t b = 0; b < k_row_bytes; b += PG_CACHE_LINE) __builtin_prefetch(pg_row_ptr(k, 0, j, 0) + b, 0, 2);
            }
        if (v_rows)
            for (int64_t j = c0; j < c1; j++)
                for (size_t b = 0; b < v_row_bytes; b += PG_CACHE_LINE) __builtin_prefetch(pg_row_ptr(v, 0, j, 0) + b, 0, 2);
        for (int64_t hk = 0; hk < n_head_kv; hk++)   /* every kv head of the chunk: the cache's rows in order */
            one_query_scores(p, dst, hk, c0, c1, q16 + hk * group * dk, scores, scale, softcap);
    }
    pg_barrier(p);

    int64_t h0, h1;
    pg_thread_rows(n_head, p->ith, p->nth, &h0, &h1);
    for (int64_t h = h0; h < h1; h++) {
        float *sc = scores + h * n_kv_all + first;
        const int n = (int)(n_kv - first);
        const float max = kern->vec_max_f32(n, sc);
        if (max == -INFINITY) {   /* every key masked: zeros out */
            memset(sc, 0, (size_t)n * sizeof(float));
            continue;
        }
        const double sum = kern->vec_soft_max_f32(n, sc, sc, max);
        kern->vec_scale_f32(n, sc, (float)(1.0 / sum));
        round_to_f16(kern, n, sc, w->p16);
    }
    pg_barrier(p);

    int64_t d0, d1;
    pg_thread_rows(dv / 8, p->ith, p->nth, &d0, &d1);
    d0 *= 8;
    d1 *= 8;
    if (d0 >= d1) return;
    const size_t v_stride = v->nb[2] / sizeof(uint16_t), out_stride = dst->nb[1] / sizeof(float);
    for (int64_t hk = 0; hk < n_head_kv; hk++) {
        const uint16_t *vrow = (const uint16_t *)pg_row_ptr(v, hk, 0, 0) + d0;   /* key 0's row */
        float *out = (float *)pg_row_ptr(dst, hk * group, 0, 0) + d0;
        const float *ph = scores + hk * group * n_kv_all;
        if (kern->attn_pv_f16) {
            kern->attn_pv_f16((int)(n_kv - first), (int)(d1 - d0), (int)group, out, out_stride, vrow + first * v_stride,
                              v_stride, ph + first, (size_t)n_kv_all);
            continue;
        }
        /* the lanes as attend_one keeps them, on this thread's dims */
        const int nd = (int)(d1 - d0);
        const int64_t np = n_kv & ~(int64_t)31;
        for (int64_t hh = 0; hh < group; hh++) {
            float *lanes = w->lanes;   /* [32][nd] */
            memset(lanes, 0, (size_t)PV_LANES_ONE * (size_t)nd * sizeof(float));
            for (int64_t j = first; j < np; j++)
                kern->vec_mad_f16(nd, lanes + (j % PV_LANES_ONE) * nd, vrow + j * v_stride, ph[hh * n_kv_all + j]);
            float *o = out + hh * out_stride;
            for (int d = 0; d < nd; d++) {
                float l8[8];
                for (int l = 0; l < 8; l++)
                    l8[l] = (lanes[l * nd + d] + lanes[(16 + l) * nd + d]) + (lanes[(8 + l) * nd + d] + lanes[(24 + l) * nd + d]);
                const float t0 = l8[0] + l8[4], t1 = l8[1] + l8[5], t2 = l8[2] + l8[6], t3 = l8[3] + l8[7];
                double sum = (double)((t0 + t1) + (t2 + t3));
                for (int64_t j = np; j < n_kv; j++)
                    sum += (double)(pg_fp16_to_fp32(vrow[j * v_stride + d]) * ph[hh * n_kv_all + j]);
                o[d] = (float)sum;
            }
        }
    }
}

/* Bytes of K and of V one thread prefetches ahead: within L2 beside the weights streamed
 * meanwhile; a longer cache gets its first part warmed (the rest by the op's own prefetching). */
#define FA_PREFETCH_MAX (192u << 10)

void pg_flash_attn_prefetch(const pg_compute_params *p, const pg_tensor *dst) {
    /* ahead of its turn, every operand is allocated (the graph's plan) but maybe not computed:
     * a mask made by the graph may hold anything yet (only the prefetched range depends on it) */
    if (!one_query_shared(dst) || !dst->src[1]->data || !dst->src[2]->data || (dst->src[3] && !dst->src[3]->data))
        return;
    const pg_tensor *kv[2] = {dst->src[1], dst->src[2]};
    int64_t first;
    const int64_t n_kv = live_keys(dst, &first);
    int64_t j0, j1;
    pg_thread_rows(n_kv - first, p->ith, p->nth, &j0, &j1);
    for (int t = 0; t < 2; t++) {
        const pg_tensor *x = kv[t];
        const size_t row_bytes = (size_t)(x->ne[0] * x->ne[1]) * sizeof(uint16_t);   /* a position's heads */
        if (x->nb[1] != (size_t)x->ne[0] * sizeof(uint16_t)) continue;             /* heads not packed */
        size_t budget = FA_PREFETCH_MAX;
        for (int64_t j = first + j0; j < first + j1 && budget >= row_bytes; j++, budget -= row_bytes)
            for (size_t b = 0; b < row_bytes; b += PG_CACHE_LINE) __builtin_prefetch(pg_row_ptr(x, 0, j, 0) + b, 0, 2);
    }
}

void pg_forward_flash_attn_ext(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    const float scale = pg_get_op_param_f32(dst, 0), softcap = pg_get_op_param_f32(dst, 1);
    const fa_scratch w = thread_scratch(p, dst);
    const int64_t n_head = q->ne[1], n_q = q->ne[2], n_head_kv = k->ne[1], group = n_head / n_head_kv;
    if (one_query_shared(dst)) {
        one_query(p, dst, scale, softcap, &w);
        return;
    }
    if (n_q < p->nth) {
        /* fewer queries than threads (decode): split the (query, head) pairs evenly */
        int64_t ir0, ir1;
        pg_thread_rows(n_head * n_q * q->ne[3], p->ith, p->nth, &ir0, &ir1);
        for (int64_t ir = ir0; ir < ir1; ir++)
            attend_one(p, dst, ir % n_head, (ir / n_head) % n_q, ir / (n_head * n_q), &w, scale, softcap, NULL, NULL, NULL);
        return;
    }
    if (pg_attn_block_applies(p, dst)) {
        pg_attn_block(p, dst, scale, softcap);
        return;
    }
    /* thread ith takes the queries iq = ith, ith + nth, ... (causal rows grow with iq: striding
     * balances the threads), for every kv head in turn (converted once) and every head of its
     * GQA group */
    for (int64_t i3 = 0; i3 < q->ne[3]; i3++)
        for (int64_t hk = 0; hk < n_head_kv; hk++) {
            if (w.kv32) copy_kv_head(p, k, v, hk, i3, w.kv32, w.lanes);
            for (int64_t iq = p->ith; iq < n_q; iq += p->nth)
            {
                const int grouped = w.kv32 && (!dst->src[3] || dst->src[3]->ne[2] == 1) && dst->ne[0] % 8 == 0;
                int64_t range[2] = {0, 0};
                if (grouped) group_scores(p, dst, hk, iq, i3, &w, scale, softcap, range);
                for (int64_t hh = 0; hh < group; hh++)
                    attend_one(p, dst, hk * group + hh, iq, i3, &w, scale, softcap, w.kv32,
                               grouped ? w.gscores + hh * k->ne[2] : NULL, range);
            }
        }
}
