# Quant-format converters (reference and active-path) and the active dot kernel, raw calls.
# Argument checks with messages live in pyggml/quants.py; the checks here only keep C in bounds.

cdef int _check_type(int type_id) except -1:
    if type_id < 0 or type_id >= PG_TYPE_COUNT or not pg_type_traits_table[type_id].known:
        raise ValueError(f"unknown ggml type id {type_id}")
    return 0


cdef int _check_sizes(int type_id, int64_t n, Py_ssize_t n_bytes) except -1:
    cdef const pg_type_traits *t = &pg_type_traits_table[type_id]
    if n < 0 or n % t.blck_size or n_bytes != n // t.blck_size * <int64_t>t.type_size:
        raise ValueError(f"{t.name.decode()}: {n} elements do not fill {n_bytes} bytes of whole blocks")
    return 0


cdef int _run_to_float(pg_to_float_fn fn, int type_id, const uint8_t[::1] raw, float[::1] out) except -1:
    _check_type(type_id)
    if fn == NULL:
        raise ValueError(f"no to-float converter for {pg_type_traits_table[type_id].name.decode()}")
    _check_sizes(type_id, out.shape[0], raw.shape[0])
    if out.shape[0] == 0:
        return 0
    with nogil:
        fn(&raw[0], &out[0], out.shape[0])
    return 0


cdef int _run_from_float(pg_from_float_fn fn, int type_id, const float[::1] x, uint8_t[::1] out) except -1:
    _check_type(type_id)
    if fn == NULL:
        raise ValueError(f"no from-float converter for {pg_type_traits_table[type_id].name.decode()}")
    _check_sizes(type_id, x.shape[0], out.shape[0])
    if x.shape[0] == 0:
        return 0
    with nogil:
        fn(&x[0], &out[0], x.shape[0])
    return 0


def dequantize_ref(int type_id, const uint8_t[::1] raw, float[::1] out):
    """out[:] = reference dequantization of raw (whole blocks, any number of rows)."""
    _check_type(type_id)
    _run_to_float(pg_type_traits_table[type_id].to_float_ref, type_id, raw, out)


def quantize_ref(int type_id, const float[::1] x, uint8_t[::1] out):
    """out[:] = reference quantization of x (whole blocks, any number of rows)."""
    _check_type(type_id)
    _run_from_float(pg_type_traits_table[type_id].from_float_ref, type_id, x, out)


def dequantize_active(int type_id, const uint8_t[::1] raw, float[::1] out):
    """Like dequantize_ref with the active SIMD path's to_float kernel."""
    _check_type(type_id)
    _run_to_float(pg_active_kernels.to_float[type_id], type_id, raw, out)


def quantize_active(int type_id, const float[::1] x, uint8_t[::1] out):
    """Like quantize_ref with the active SIMD path's from_float kernel."""
    _check_type(type_id)
    _run_from_float(pg_active_kernels.from_float[type_id], type_id, x, out)


def vec_dot_active(int wtype, const uint8_t[::1] w, const uint8_t[::1] a, int64_t n, bint single_row=False):
    """The active path's dot of one weight row (wtype) with one activation row (its partner).
    single_row: the kernel mul_mat uses for a single activation row (vec_dot_gemv where set)."""
    _check_type(wtype)
    cdef pg_vec_dot_fn fn = pg_active_kernels.vec_dot[wtype]
    if single_row and pg_active_kernels.vec_dot_gemv[wtype] != NULL:
        fn = pg_active_kernels.vec_dot_gemv[wtype]
    cdef int atype = pg_type_traits_table[wtype].vec_dot_type
    if fn == NULL or atype < 0:
        raise ValueError(f"no dot kernel for {pg_type_traits_table[wtype].name.decode()}")
    if n > 0x7fffffff:
        raise ValueError(f"row length {n} exceeds the kernel's int range")
    _check_sizes(wtype, n, w.shape[0])
    _check_sizes(atype, n, a.shape[0])
    cdef float s = 0.0
    if n == 0:
        return 0.0
    with nogil:
        fn(<int>n, &s, &w[0], &a[0])
    return s


def vec_dot_gemv_ref(int wtype, const uint8_t[::1] w, const uint8_t[::1] a, int64_t n):
    """The portable single-row dot in llama.cpp's order (F32/F16: ggml's vec_dot; Q4_K: its
    repacked GEMV, activations as Q8_K): ground truth of vec_dot_gemv."""
    cdef pg_vec_dot_fn fn
    if wtype == 0:
        fn = pg_vec_dot_f32_gemv_ref
    elif wtype == 1:
        fn = pg_vec_dot_f16_gemv_ref
    elif wtype == 12:
        fn = pg_vec_dot_q4_K_q8_K_gemv_ref
    else:
        raise ValueError("single-row reference kernels exist for F32, F16 and Q4_K only")
    _check_sizes(wtype, n, w.shape[0])
    _check_sizes(pg_type_traits_table[wtype].vec_dot_type, n, a.shape[0])
    cdef float s = 0.0
    with nogil:
        fn(<int>n, &s, &w[0], &a[0])
    return s


def gemv_first_row(int wtype, int64_t m):
    """mul_mat of m activation rows on the active path: rows from this index on go through the
    single-row kernel (vec_dot_gemv), the rows before it through the tiles (csrc/ops/matmul.c)."""
    _check_type(wtype)
    if pg_active_kernels.vec_dot_gemv[wtype] == NULL:
        return m
    cdef int group = pg_active_kernels.gemv_group[wtype]
    if group:
        return m - m % group
    return 0 if m == 1 else m
