# Timing loops for tools/bench_simd.py: whole kernel loops run in C (no Python per call) on the
# ACTIVE SIMD path, timed with a monotonic clock. Each returns the best time of one pass over
# the data across repetitions that last at least min_seconds in total.
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC


cdef double _monotonic_seconds() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def bench_gemv(int wtype, const uint8_t[::1] weights, int64_t rows, int64_t cols,
               const uint8_t[::1] activation, float[::1] out, double min_seconds):
    """Best seconds of one GEMV as mul_mat runs it for one activation row: out[r] = dot(cols,
    weights row r, activation) through the path's single-row kernel (vec_dot_gemv) where it has
    one, else through its tiles of PG_TILE_ROWS weight rows (vec_dot loop where it has no tile).
    weights: rows x row bytes of wtype; activation: one row of its partner type."""
    _check_type(wtype)
    cdef pg_vec_dot_fn fn = pg_active_kernels.vec_dot[wtype]
    cdef pg_vec_dot_fn gemv = pg_active_kernels.vec_dot_gemv[wtype]
    cdef int atype = pg_type_traits_table[wtype].vec_dot_type
    if fn == NULL or atype < 0:
        raise ValueError(f"no vec_dot kernel for type {wtype} on path {simd_path()}")
    if rows <= 0 or cols <= 0 or cols > 2**31 - 1:
        raise ValueError(f"rows ({rows}) and cols ({cols}) must be positive, cols < 2**31")
    cdef size_t row_bytes = pg_row_size(wtype, cols)
    if cols % pg_blck_size(wtype) or <size_t>weights.shape[0] != row_bytes * rows:
        raise ValueError(f"weights: {weights.shape[0]} bytes, expected {rows} rows of {row_bytes}")
    if <size_t>activation.shape[0] != pg_row_size(atype, cols) or out.shape[0] != rows:
        raise ValueError("activation or out has the wrong size")
    cdef const uint8_t *w = &weights[0]
    cdef const uint8_t *a = &activation[0]
    cdef float *y = &out[0]
    cdef double best = 1e300, total = 0.0, t0, dt
    cdef int64_t r
    cdef int reps = 0
    with nogil:
        while total < min_seconds or reps < 3:
            t0 = _monotonic_seconds()
            if gemv != NULL:
                for r in range(rows):
                    gemv(<int>cols, &y[r], w + r * row_bytes, a)
            else:
                r = 0
                while r < rows:
                    pg_vec_dot_tile(pg_active_kernels, wtype, <int>cols, &y[r], 0, w + r * row_bytes,
                                    row_bytes, a, 0, <int>(rows - r if rows - r < PG_TILE_ROWS else PG_TILE_ROWS), 1)
                    r += PG_TILE_ROWS
            dt = _monotonic_seconds() - t0
            best = dt if dt < best else best
            total += dt
            reps += 1
    return best


def bench_from_float(int type_id, const float[::1] x, uint8_t[::1] out, int64_t row_len,
                     double min_seconds):
    """Best seconds to convert all of x (rows of row_len floats) with the active from_float."""
    _check_type(type_id)
    cdef pg_from_float_fn fn = pg_active_kernels.from_float[type_id]
    if fn == NULL:
        raise ValueError(f"no from_float kernel for type {type_id} on path {simd_path()}")
    cdef int64_t n = x.shape[0]
    if n == 0 or row_len <= 0 or n % row_len or row_len % pg_blck_size(type_id):
        raise ValueError(f"{n} floats do not split into rows of {row_len}")
    cdef size_t row_bytes = pg_row_size(type_id, row_len)
    if <size_t>out.shape[0] != row_bytes * <size_t>(n // row_len):
        raise ValueError("out has the wrong size")
    cdef const float *src = &x[0]
    cdef uint8_t *dst = &out[0]
    cdef double best = 1e300, total = 0.0, t0, dt
    cdef int64_t r
    cdef int reps = 0
    with nogil:
        while total < min_seconds or reps < 3:
            t0 = _monotonic_seconds()
            for r in range(n // row_len):
                fn(src + r * row_len, dst + r * row_bytes, row_len)
            dt = _monotonic_seconds() - t0
            best = dt if dt < best else best
            total += dt
            reps += 1
    return best
