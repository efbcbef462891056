# SIMD path selection and the type table, exposed to Python.

def system_info():
    """One line in llama.cpp's style: 'AVX = 1 | AVX2 = 1 | ... | SIMD = avx2'."""
    return pg_system_info().decode()


def simd_path():
    """The active SIMD path: 'scalar', 'avx2' or 'neon'."""
    return pg_simd_path().decode()


def best_simd_path():
    return pg_best_simd_path().decode()


def set_simd_path(name):
    """Switch every kernel to the given path. Raises ValueError if unknown or unsupported here."""
    cdef int rc = pg_set_simd_path(name.encode())
    if rc == -2:
        raise ValueError(f"unknown SIMD path {name!r}; expected 'scalar', 'avx2' or 'neon'")
    if rc == -1:
        raise ValueError(f"SIMD path {name!r} is not available on this CPU/build ({system_info()})")


def type_traits(int type_id):
    """(name, blck_size, type_size, is_quantized, can_dequantize, can_quantize, vec_dot_type)
    for a ggml type id, or None for an id ggml does not define."""
    if type_id < 0 or type_id >= PG_TYPE_COUNT or not pg_type_traits_table[type_id].known:
        return None
    cdef const pg_type_traits *t = &pg_type_traits_table[type_id]
    return (t.name.decode(), t.blck_size, t.type_size, bool(t.is_quantized),
            t.to_float_ref != NULL, t.from_float_ref != NULL, t.vec_dot_type)


def has_kernels(int type_id):
    """(vec_dot, from_float, to_float) present on the active path for this type."""
    if type_id < 0 or type_id >= PG_TYPE_COUNT or pg_active_kernels == NULL:
        return (False, False, False)
    return (pg_active_kernels.vec_dot[type_id] != NULL, pg_active_kernels.from_float[type_id] != NULL,
            pg_active_kernels.to_float[type_id] != NULL)
