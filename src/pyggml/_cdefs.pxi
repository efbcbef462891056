# C declarations of csrc/pyggml.h and csrc/kernels.h for the Cython bridge.
from libc.stdint cimport int64_t, int32_t, uint64_t, uint8_t, uint16_t

cdef extern from "pyggml.h":
    enum: PG_MAX_DIMS, PG_MAX_SRC, PG_MAX_OP_PARAMS, PG_MAX_NAME, PG_TYPE_COUNT, PG_OP_COUNT

    ctypedef struct pg_tensor:
        int32_t type
        int32_t op
        int64_t ne[4]
        size_t nb[4]
        int32_t op_params[16]
        pg_tensor *src[4]
        pg_tensor *view_src
        size_t view_offs
        void *data
        char name[64]
        const void *repacked

    ctypedef struct pg_context:
        pass
    pg_context *pg_context_new(size_t mem_size, bint no_alloc) nogil
    void pg_context_free(pg_context *ctx) nogil
    size_t pg_context_used(const pg_context *ctx) nogil
    pg_tensor *pg_new_tensor(pg_context *ctx, int type, int n_dims, const int64_t *ne) nogil
    pg_tensor *pg_new_tensor_header(pg_context *ctx, int type, const int64_t *ne, const size_t *nb) nogil

    int64_t pg_blck_size(int type) nogil
    size_t pg_type_size(int type) nogil
    const char *pg_type_name(int type) nogil
    bint pg_type_is_known(int type) nogil
    size_t pg_row_size(int type, int64_t ne0) nogil
    size_t pg_nbytes(const pg_tensor *t) nogil
    int pg_repack_x8(int type, const void *src, size_t row_bytes, void *dst, int64_t n_rows, int64_t k) nogil
    bint pg_repack_x8_supported(int type) nogil
    bint pg_is_contiguous(const pg_tensor *t) nogil

    ctypedef struct pg_threadpool:
        pass
    pg_threadpool *pg_threadpool_new(int n_threads) nogil
    void pg_threadpool_free(pg_threadpool *tp) nogil
    int pg_threadpool_n_threads(const pg_threadpool *tp) nogil
    size_t pg_graph_work_size(pg_tensor *const *nodes, int n_nodes, int n_threads) nogil
    ctypedef struct pg_profile:
        uint64_t ns[PG_OP_COUNT]
        uint64_t count[PG_OP_COUNT]
    int pg_graph_compute(pg_threadpool *tp, pg_tensor *const *nodes, int n_nodes, void *work,
                         size_t work_size, pg_profile *profile) nogil
    enum: PG_ERR_INDEX_RANGE
    int pg_graph_error_node(const pg_threadpool *tp) nogil

    const char *pg_system_info() nogil
    const char *pg_simd_path() nogil
    int pg_set_simd_path(const char *name) nogil

cdef extern from "kernels.h":
    enum: PG_TILE_ROWS
    ctypedef void (*pg_vec_dot_fn)(int n, float *s, const void *x, const void *y) noexcept nogil
    ctypedef void (*pg_vec_dot_tile_fn)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y,
                                       size_t by, int nr, int nc) noexcept nogil
    ctypedef void (*pg_from_float_fn)(const float *x, void *y, int64_t n) noexcept nogil
    ctypedef void (*pg_to_float_fn)(const void *x, float *y, int64_t n) noexcept nogil
    ctypedef struct pg_type_traits:
        const char *name
        int64_t blck_size
        size_t type_size
        bint is_quantized
        bint known
        pg_to_float_fn to_float_ref
        pg_from_float_fn from_float_ref
        int vec_dot_type
    const pg_type_traits pg_type_traits_table[]
    ctypedef struct pg_kernels:
        const char *path
        pg_vec_dot_fn vec_dot[40]
        pg_vec_dot_tile_fn vec_dot_tile[40]
        pg_vec_dot_tile_fn vec_dot_batch[40]
        pg_vec_dot_tile_fn vec_dot_tile_x8[40]
        pg_vec_dot_tile_fn vec_dot_gemv_x8[40]
        pg_vec_dot_fn vec_dot_gemv[40]
        uint8_t gemv_group[40]
        pg_from_float_fn from_float[40]
        pg_to_float_fn to_float[40]
    const pg_kernels *pg_active_kernels
    const char *pg_best_simd_path() nogil
    const char *pg_simd_paths_known() nogil
    const char *pg_simd_paths_available() nogil
    const char *pg_simd_path_needs(const char *name) nogil
    int pg_simd_path_built(const char *name) nogil
    const pg_kernels *pg_simd_path_kernels(const char *name) nogil
    void pg_vec_dot_tile(const pg_kernels *k, int type, int n, float *s, size_t bs, const void *x,
                         size_t bx, const void *y, size_t by, int nr, int nc) nogil

cdef extern from "quants/quants.h":
    void pg_vec_dot_f32_gemv_ref(int n, float *s, const void *x, const void *y) noexcept nogil
    void pg_vec_dot_f16_gemv_ref(int n, float *s, const void *x, const void *y) noexcept nogil
    void pg_vec_dot_q4_K_q8_K_gemv_ref(int n, float *s, const void *x, const void *y) noexcept nogil

# csrc/vocab_map.h: the tokenizer's bytes -> id map
from libc.stdint cimport uint32_t

cdef extern from "vocab_map.h":
    ctypedef struct pg_vocab_map:
        int32_t n
        int32_t n_distinct
    ctypedef enum pg_vocab_status:
        PG_VOCAB_OK, PG_VOCAB_TOO_MANY, PG_VOCAB_OFFSET_DECREASES, PG_VOCAB_OFFSET_PAST_END,
        PG_VOCAB_DUPLICATE, PG_VOCAB_NO_MEMORY, PG_VOCAB_COLLISIONS
    enum: PG_VOCAB_MAX_KEYS
    enum: PG_VOCAB_MAX_PROBE
    pg_vocab_status pg_vocab_map_build(pg_vocab_map *map, const uint8_t *blob, size_t blob_size,
                                       const uint32_t *offsets, int64_t n, bint keep_first, uint64_t seed,
                                       int64_t *bad, int64_t *first) nogil
    int32_t pg_vocab_map_find(const pg_vocab_map *map, const uint8_t *key, size_t len) nogil
    void pg_vocab_map_free(pg_vocab_map *map) nogil
