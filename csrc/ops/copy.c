/* Copies with type conversion: cpy/cont/dup, get_rows, set_rows, concat.
 *
 * cpy (also CONT, DUP): dst gets src0's elements, converted to dst's type (F32, F16, BF16 or a
 * type with a from_float), src0 read in logical index order, dst written in its logical order.
 * Three cases, fastest first:
 *   both contiguous   flat: element ranges, CPY_CHUNK at a time (shapes may differ)
 *   same shape        row by row, honouring both tensors' strides
 *   otherwise         element by element (F32/F16/BF16 only: Python rejects the rest)
 * get_rows: src0 table (row_len, n_rows, ne02, ne03) any type with to_float, src1 I32 ids
 *   (n, ne11, ne12) -> dst F32 (row_len, n, ne11, ne12); row (i10, i11, i12) = table row
 *   ids[i10, i11, i12] of plane (i11 % ne02, i12 % ne03). An out-of-range id (Python validates
 *   token ids; C must still not crash) gives a zero row.
 * set_rows: dst = a view of the destination (row_len, n_rows_total, ne2, ne3), src0 F32 rows
 *   (row_len, n, ne2, ne3), src1 I32 indices (n, ne11, ne12): dst row idx[i01] of plane
 *   (i02, i03) = convert(src0 row i01). Out-of-range indices are skipped.
 * concat [0] = dim: F32, dst = src0 followed by src1 along dim. */
#include "ops/op_util.h"

#define CPY_CHUNK 4096   /* elements per flat chunk; a multiple of every block size (32, 256) */

static int same_shape(const pg_tensor *a, const pg_tensor *b) {
    for (int i = 0; i < PG_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

static int64_t n_elements(const pg_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

/* byte offset of flat element e of a contiguous tensor (e at a block boundary) */
static size_t flat_offset(const pg_tensor *t, int64_t e) {
    return (size_t)(e / pg_blck_size(t->type)) * pg_type_size(t->type);
}

/* n floats into one row of any type with a from_float; F32/F16/BF16 rows may be strided */
static void store_row_from_f32(const pg_kernels *k, int type, int64_t n, char *y, const float *x,
                               size_t nb0) {
    if (nb0 == pg_type_size(type) || pg_blck_size(type) > 1) { k->from_float[type](x, y, n); return; }
    for (int64_t i = 0; i < n; i++) {
        if (type == PG_TYPE_F32) { memcpy(y + i * nb0, &x[i], sizeof(float)); continue; }
        uint16_t h = type == PG_TYPE_F16 ? pg_fp32_to_fp16(x[i]) : pg_fp32_to_bf16(x[i]);
        memcpy(y + i * nb0, &h, sizeof h);
    }
}

static float load_element(int type, const char *x) {
    if (type == PG_TYPE_F32) { float v; memcpy(&v, x, sizeof v); return v; }
    uint16_t h;
    memcpy(&h, x, sizeof h);
    return type == PG_TYPE_F16 ? pg_fp16_to_fp32(h) : pg_bf16_to_fp32(h);
}

static void store_element(int type, char *y, float v) {
    if (type == PG_TYPE_F32) { memcpy(y, &v, sizeof v); return; }
    uint16_t h = type == PG_TYPE_F16 ? pg_fp32_to_fp16(v) : pg_fp32_to_bf16(v);
    memcpy(y, &h, sizeof h);
}

size_t pg_cpy_work_size(const pg_tensor *dst, int n_threads) {
    const int64_t ne0 = dst->src[0]->ne[0];
    return pg_scratch_size((size_t)(ne0 > CPY_CHUNK ? ne0 : CPY_CHUNK) * sizeof(float), n_threads);
}

static void cpy_flat(const pg_compute_params *p, const pg_tensor *src, pg_tensor *dst, float *scratch) {
    const pg_kernels *k = p->k;
    if (src->type == dst->type) {
        const int64_t bytes = (int64_t)pg_nbytes(src);
        int64_t b0, b1;
        pg_thread_rows((bytes + PG_CACHE_LINE - 1) / PG_CACHE_LINE, p->ith, p->nth, &b0, &b1);
        b0 *= PG_CACHE_LINE;
        b1 = b1 * PG_CACHE_LINE < bytes ? b1 * PG_CACHE_LINE : bytes;
        if (b1 > b0) memcpy((char *)dst->data + b0, (const char *)src->data + b0, (size_t)(b1 - b0));
        return;
    }
    const int64_t n = n_elements(src);
    int64_t c0, c1;
    pg_thread_rows((n + CPY_CHUNK - 1) / CPY_CHUNK, p->ith, p->nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        const int64_t e = c * CPY_CHUNK, m = n - e < CPY_CHUNK ? n - e : CPY_CHUNK;
        const char *x = (const char *)src->data + flat_offset(src, e);
        char *y = (char *)dst->data + flat_offset(dst, e);
        if (src->type == PG_TYPE_F32) {
            k->from_float[dst->type]((const float *)x, y, m);
        } else if (dst->type == PG_TYPE_F32) {
            k->to_float[src->type](x, (float *)y, m);
        } else {
            k->to_float[src->type](x, scratch, m);
            k->from_float[dst->type](scratch, y, m);
        }
    }
}

static void cpy_rows(const pg_compute_params *p, const pg_tensor *src, pg_tensor *dst, float *scratch) {
    const pg_kernels *k = p->k;
    const int64_t n = src->ne[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src, ir, &i1, &i2, &i3);
        const char *x = pg_row_ptr(src, i1, i2, i3);
        char *y = pg_row_ptr(dst, i1, i2, i3);
        if (dst->type == PG_TYPE_F32 && dst->nb[0] == sizeof(float)) {
            pg_load_row_as_f32(k, src->type, n, (float *)y, x, src->nb[0]);
            continue;
        }
        const float *f = (const float *)x;
        if (src->type != PG_TYPE_F32 || src->nb[0] != sizeof(float)) {
            pg_load_row_as_f32(k, src->type, n, scratch, x, src->nb[0]);
            f = scratch;
        }
        store_row_from_f32(k, dst->type, n, y, f, dst->nb[0]);
    }
}

/* element e of t in logical order: its byte offset */
static size_t element_offset(const pg_tensor *t, int64_t e) {
    size_t off = 0;
    for (int d = 0; d < PG_MAX_DIMS; d++) {
        off += (size_t)(e % t->ne[d]) * t->nb[d];
        e /= t->ne[d];
    }
    return off;
}

static void cpy_elements(const pg_compute_params *p, const pg_tensor *src, pg_tensor *dst) {
    if (pg_blck_size(src->type) > 1 || pg_blck_size(dst->type) > 1) return;
    int64_t e0, e1;
    pg_thread_rows(n_elements(src), p->ith, p->nth, &e0, &e1);
    for (int64_t e = e0; e < e1; e++)
        store_element(dst->type, (char *)dst->data + element_offset(dst, e),
                      load_element(src->type, (const char *)src->data + element_offset(src, e)));
}

void pg_forward_cpy(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src = dst->src[0];
    const int64_t ne0 = src->ne[0];
    float *scratch = pg_thread_scratch(p, (size_t)(ne0 > CPY_CHUNK ? ne0 : CPY_CHUNK) * sizeof(float));
    if (pg_is_contiguous(src) && pg_is_contiguous(dst)) cpy_flat(p, src, dst, scratch);
    else if (same_shape(src, dst)) cpy_rows(p, src, dst, scratch);
    else cpy_elements(p, src, dst);
}

void pg_forward_get_rows(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *table = dst->src[0], *ids = dst->src[1];
    const int64_t n = ids->ne[0], ne11 = ids->ne[1];
    int64_t ir0, ir1;
    pg_thread_rows(n * ne11 * ids->ne[2], p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        const int64_t i10 = ir % n, i11 = (ir / n) % ne11, i12 = ir / (n * ne11);
        const int32_t id = *(const int32_t *)((const char *)ids->data + i10 * ids->nb[0] +
                                              i11 * ids->nb[1] + i12 * ids->nb[2]);
        float *y = (float *)pg_row_ptr(dst, i10, i11, i12);
        if (id < 0 || id >= table->ne[1]) {
            memset(y, 0, (size_t)table->ne[0] * sizeof(float));
            continue;
        }
        pg_load_row_as_f32(p->k, table->type, table->ne[0], y,
                           pg_row_ptr(table, id, i11 % table->ne[2], i12 % table->ne[3]), table->nb[0]);
    }
}

size_t pg_set_rows_work_size(const pg_tensor *dst, int n_threads) {
    return pg_scratch_size((size_t)dst->src[0]->ne[0] * sizeof(float), n_threads);
}

void pg_forward_set_rows(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src = dst->src[0], *idx = dst->src[1];
    const int64_t n = src->ne[0];
    float *scratch = pg_thread_scratch(p, (size_t)n * sizeof(float));
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src, ir, &i1, &i2, &i3);
        const int32_t row = *(const int32_t *)((const char *)idx->data + i1 * idx->nb[0] +
                                               (i2 % idx->ne[1]) * idx->nb[1] + (i3 % idx->ne[2]) * idx->nb[2]);
        if (row < 0 || row >= dst->ne[1] || i2 >= dst->ne[2] || i3 >= dst->ne[3]) continue;
        const float *x = (const float *)pg_row_ptr(src, i1, i2, i3);
        if (src->nb[0] != sizeof(float)) {
            pg_gather_f32(n, scratch, (const char *)x, src->nb[0]);
            x = scratch;
        }
        store_row_from_f32(p->k, dst->type, n, pg_row_ptr(dst, row, i2, i3), x, dst->nb[0]);
    }
}

void pg_forward_concat(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *a = dst->src[0], *b = dst->src[1];
    const int dim = dst->op_params[0];
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(dst), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i[PG_MAX_DIMS] = {0};
        pg_row_coords(dst, ir, &i[1], &i[2], &i[3]);
        float *y = (float *)pg_row_ptr(dst, i[1], i[2], i[3]);
        if (dim == 0) {
            pg_gather_f32(a->ne[0], y, pg_row_ptr(a, i[1], i[2], i[3]), a->nb[0]);
            pg_gather_f32(b->ne[0], y + a->ne[0], pg_row_ptr(b, i[1], i[2], i[3]), b->nb[0]);
            continue;
        }
        const pg_tensor *s = a;
        if (i[dim] >= a->ne[dim]) {
            i[dim] -= a->ne[dim];
            s = b;
        }
        pg_gather_f32(s->ne[0], y, pg_row_ptr(s, i[1], i[2], i[3]), s->nb[0]);
    }
}
