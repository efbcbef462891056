/* Small helpers shared by the op kernels in csrc/ops/: element and row addressing honouring
 * byte strides, row loading into floats, per-thread scratch. */
#ifndef PG_OP_UTIL_H
#define PG_OP_UTIL_H

#include "ops/ops.h"

/* Address of element (0, i1, i2, i3). */
static inline char *pg_row_ptr(const pg_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

/* Number of rows (ne1 * ne2 * ne3) and the coordinates of flat row ir. */
static inline int64_t pg_nrows(const pg_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }
static inline void pg_row_coords(const pg_tensor *t, int64_t ir, int64_t *i1, int64_t *i2, int64_t *i3) {
    *i1 = ir % t->ne[1];
    *i2 = (ir / t->ne[1]) % t->ne[2];
    *i3 = ir / (t->ne[1] * t->ne[2]);
}

/* An F32 row of n elements with element stride nb0 bytes copied into y (contiguous). */
static inline void pg_gather_f32(int64_t n, float *y, const char *x, size_t nb0) {
    if (nb0 == sizeof(float)) {
        if ((const char *)y != x) memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = *(const float *)(x + i * nb0);
}

/* One row of any type with a to_float converted into n floats. F32/F16/BF16 rows may be
 * strided (nb0 != type size); quantized rows are contiguous by construction. */
static inline void pg_load_row_as_f32(const pg_kernels *k, int type, int64_t n, float *y,
                                      const char *x, size_t nb0) {
    if (type == PG_TYPE_F32) { pg_gather_f32(n, y, x, nb0); return; }
    if (nb0 == pg_type_size(type) || pg_blck_size(type) > 1) { k->to_float[type](x, y, n); return; }
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, x + i * nb0, sizeof h);
        y[i] = type == PG_TYPE_F16 ? pg_fp16_to_fp32(h) : pg_bf16_to_fp32(h);
    }
}

/* Per-thread scratch: n_threads parts of part_bytes each rounded up to a cache line, the first
 * at the first cache-line boundary of wdata. Work-size functions reserve pg_scratch_size(). */
static inline size_t pg_round_up_line(size_t n) {
    return (n + PG_CACHE_LINE - 1) / PG_CACHE_LINE * PG_CACHE_LINE;
}
static inline size_t pg_scratch_size(size_t part_bytes, int n_threads) {
    return pg_round_up_line(part_bytes) * (size_t)n_threads + PG_CACHE_LINE;
}
static inline void *pg_thread_scratch(const pg_compute_params *p, size_t part_bytes) {
    uintptr_t base = ((uintptr_t)p->wdata + PG_CACHE_LINE - 1) & ~(uintptr_t)(PG_CACHE_LINE - 1);
    return (void *)(base + pg_round_up_line(part_bytes) * (size_t)p->ith);
}

#endif
