/* pyggml public C API: tensors, ops, graph compute.
 *
 * Worked example (what the Python layer does for `mul_mat(A, B)`):
 *
 *   pg_context *ctx = pg_context_new(16 << 20, false);
 *   pg_tensor *a = pg_new_tensor(ctx, PG_TYPE_F32, 2, (int64_t[]){4, 2, 1, 1});  // 2 rows of 4
 *   pg_tensor *b = pg_new_tensor(ctx, PG_TYPE_F32, 2, (int64_t[]){4, 3, 1, 1});  // 3 rows of 4
 *   pg_tensor *c = pg_new_tensor(ctx, PG_TYPE_F32, 2, (int64_t[]){2, 3, 1, 1});  // ne (2, 3): C = B·Aᵀ, numpy (3, 2)
 *   c->op = PG_OP_MUL_MAT; c->src[0] = a; c->src[1] = b;
 *   pg_threadpool *tp = pg_threadpool_new(2);
 *   pg_graph_compute(tp, &c, 1, work, work_size, NULL);
 *
 * Shapes are in ggml order: ne[0] is the contiguous dimension (numpy's last axis), nb[i] are
 * byte strides (nb[0] = type size, nb[1] = bytes of one row including blocks).
 * Shape inference and validation live in Python (src/pyggml/ops.py); C trusts its inputs.
 */
#ifndef PYGGML_H
#define PYGGML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PG_MAX_DIMS 4
#define PG_MAX_SRC 4
#define PG_MAX_OP_PARAMS 16 /* int32 slots; floats are stored bit-cast */
#define PG_MAX_NAME 64

/* Type ids are ggml's ids (GGUF stores them): append-only, never renumber. */
typedef enum {
    PG_TYPE_F32 = 0,
    PG_TYPE_F16 = 1,
    PG_TYPE_Q4_0 = 2,
    PG_TYPE_Q4_1 = 3,
    PG_TYPE_Q5_0 = 6,
    PG_TYPE_Q5_1 = 7,
    PG_TYPE_Q8_0 = 8,
    PG_TYPE_Q8_1 = 9,
    PG_TYPE_Q2_K = 10,
    PG_TYPE_Q3_K = 11,
    PG_TYPE_Q4_K = 12,
    PG_TYPE_Q5_K = 13,
    PG_TYPE_Q6_K = 14,
    PG_TYPE_Q8_K = 15,
    PG_TYPE_IQ2_XXS = 16,
    PG_TYPE_IQ2_XS = 17,
    PG_TYPE_IQ3_XXS = 18,
    PG_TYPE_IQ1_S = 19,
    PG_TYPE_IQ4_NL = 20,
    PG_TYPE_IQ3_S = 21,
    PG_TYPE_IQ2_S = 22,
    PG_TYPE_IQ4_XS = 23,
    PG_TYPE_I8 = 24,
    PG_TYPE_I16 = 25,
    PG_TYPE_I32 = 26,
    PG_TYPE_I64 = 27,
    PG_TYPE_F64 = 28,
    PG_TYPE_IQ1_M = 29,
    PG_TYPE_BF16 = 30,
    PG_TYPE_TQ1_0 = 34,
    PG_TYPE_TQ2_0 = 35,
    PG_TYPE_MXFP4 = 39,
    PG_TYPE_COUNT = 40,
} pg_type;

/* Ops: append-only. The meaning of each op's src[] and op_params is documented in
 * src/pyggml/ops.py next to the builder function of the same name. */
typedef enum {
    PG_OP_NONE = 0,
    PG_OP_DUP,
    PG_OP_ADD,
    PG_OP_SUB,
    PG_OP_MUL,
    PG_OP_DIV,
    PG_OP_SCALE,
    PG_OP_MUL_MAT,
    PG_OP_RMS_NORM,
    PG_OP_NORM,
    PG_OP_SILU,
    PG_OP_GELU,
    PG_OP_RELU,
    PG_OP_SOFT_MAX,
    PG_OP_ROPE,
    PG_OP_DIAG_MASK_INF,
    PG_OP_CONCAT,
    PG_OP_SUM_ROWS,
    PG_OP_ARGMAX,
    PG_OP_GET_ROWS,
    PG_OP_CPY,
    PG_OP_CONT,
    PG_OP_VIEW,
    PG_OP_RESHAPE,
    PG_OP_PERMUTE,
    PG_OP_TRANSPOSE,
    PG_OP_SET_ROWS,
    PG_OP_FLASH_ATTN_EXT,
    PG_OP_TANH,
    PG_OP_SWIGLU,
    PG_OP_MUL_MAT_ID,
    PG_OP_ARGSORT_TOP_K,
    PG_OP_MUL_MAT_GLU,
    PG_OP_COUNT,
} pg_op;

typedef struct pg_tensor {
    int32_t type;                      /* pg_type */
    int32_t op;                        /* pg_op */
    int64_t ne[PG_MAX_DIMS];           /* elements per dim, ggml order */
    size_t nb[PG_MAX_DIMS];            /* byte strides */
    int32_t op_params[PG_MAX_OP_PARAMS];
    struct pg_tensor *src[PG_MAX_SRC];
    struct pg_tensor *view_src;        /* tensor whose data this one views, or NULL */
    size_t view_offs;                  /* byte offset into view_src->data */
    void *data;                        /* NULL until allocated */
    char name[PG_MAX_NAME];
    /* a copy of data laid out for the paths' repacked mul_mat kernels (pg_repack_x8), or
     * NULL; data stays valid (other ops and paths read it) */
    const void *repacked;
} pg_tensor;

/* ---- context: an arena owning tensor structs (and their data unless no_alloc) ---- */
typedef struct pg_context pg_context;
pg_context *pg_context_new(size_t mem_size, bool no_alloc);
void pg_context_free(pg_context *ctx);
size_t pg_context_used(const pg_context *ctx);
/* Returns NULL when the arena is full. ne has n_dims entries; the rest are 1. */
pg_tensor *pg_new_tensor(pg_context *ctx, int type, int n_dims, const int64_t *ne);
/* A tensor struct with no data of its own (views, ops whose data the allocator sets). */
pg_tensor *pg_new_tensor_header(pg_context *ctx, int type, const int64_t *ne, const size_t *nb);

/* ---- type traits ---- */
int64_t pg_blck_size(int type);
size_t pg_type_size(int type);
const char *pg_type_name(int type);
bool pg_type_is_known(int type);
size_t pg_row_size(int type, int64_t ne0);
size_t pg_nbytes(const pg_tensor *t);
/* Weight rows of a type pg_repack_x8_supported (Q4_0, Q4_1, Q5_0, Q4_K; n_rows % 8 == 0, k a
 * multiple of the block size, row_bytes apart) repacked in groups of 8 rows (csrc/quants/repack.c: the layouts
 * of kernels.h's vec_dot_tile_x8), the same n_rows * row size bytes into dst; returns 0, or -1 if
 * the type or shape does not allow it. */
int pg_repack_x8(int type, const void *src, size_t row_bytes, void *dst, int64_t n_rows, int64_t k);
bool pg_repack_x8_supported(int type);
/* An activation row for vec_dot_tile_x8[Q4_0]: after its k / 32 Q8_0 blocks (at row), the
 * blocks' int32 8 * (sum of codes); returns the row's bytes (pg_x8_activation_row_bytes). */
size_t pg_x8_activation_row_bytes(int64_t k);
void pg_x8_activation_sums(void *row, int64_t k);
bool pg_is_contiguous(const pg_tensor *t);

/* ---- threadpool + graph compute ---- */
typedef struct pg_threadpool pg_threadpool;
pg_threadpool *pg_threadpool_new(int n_threads);
void pg_threadpool_free(pg_threadpool *tp);
int pg_threadpool_n_threads(const pg_threadpool *tp);

/* Scratch bytes the nodes need (e.g. activations quantized for mul_mat), for n_threads. */
size_t pg_graph_work_size(pg_tensor *const *nodes, int n_nodes, int n_threads);

/* Per-op profile: accumulated nanoseconds and counts, indexed by pg_op. */
typedef struct {
    uint64_t ns[PG_OP_COUNT];
    uint64_t count[PG_OP_COUNT];
} pg_profile;

/* Runs nodes in order; 0 on success. profile may be NULL. A node whose inputs are invalid at run
 * time (e.g. an expert id out of range) stops the run: the result is its PG_ERR_* code and
 * pg_graph_error_node() gives its index in nodes. -1: no kernels. */
int pg_graph_compute(pg_threadpool *tp, pg_tensor *const *nodes, int n_nodes, void *work,
                     size_t work_size, pg_profile *profile);
enum { PG_ERR_INDEX_RANGE = 1 };   /* an index tensor holds a value outside its table */
int pg_graph_error_node(const pg_threadpool *tp);

/* ---- SIMD path ---- */
const char *pg_system_info(void);   /* "AVX = 1 | AVX2 = 1 | ... | SIMD = avx2" */
const char *pg_simd_path(void);     /* "scalar", "avx2", "avx512" or "neon" */
/* Select a path by name; returns 0, or -1 if the CPU lacks it, -2 if the name is unknown. */
int pg_set_simd_path(const char *name);

#ifdef __cplusplus
}
#endif
#endif
