# SIMD path selection and the type table, exposed to Python.

def system_info():
    """One line in llama.cpp's style: 'AVX = 1 | AVX2 = 1 | ... | SIMD = avx2'."""
    return pg_system_info().decode()


def simd_path():
    """The active SIMD path: 'scalar', 'avx2', 'avx512' or 'neon'."""
    return pg_simd_path().decode()


def best_simd_path():
    return pg_best_simd_path().decode()


def known_simd_paths():
    """Every path name the registry knows, parents first."""
    return pg_simd_paths_known().decode().split(",")


def built_simd_paths():
    """The paths this build has kernels for (available or not on this CPU), parents first."""
    return [p for p in known_simd_paths() if pg_simd_path_built(p.encode())]


def available_simd_paths():
    """The paths this CPU and build can run, parents first (always starts with 'scalar')."""
    return pg_simd_paths_available().decode().split(",")


def simd_path_dot_kernels(name):
    """For an available path: {type id: (vec_dot, vec_dot_tile, vec_dot_batch, vec_dot_gemv)} as
    opaque ids (0 = none), for tests of the registry's rules; None if unavailable."""
    cdef const pg_kernels *k = pg_simd_path_kernels(str(name).encode())
    if k == NULL:
        return None
    return {t: (<size_t>k.vec_dot[t], <size_t>k.vec_dot_tile[t], <size_t>k.vec_dot_batch[t],
                <size_t>k.vec_dot_gemv[t]) for t in range(PG_TYPE_COUNT)}


def set_simd_path(name):
    """Switch every kernel to the given path (a pointer swap to that path's filled table).
    Raises ValueError naming the path if it is unknown or this CPU/build lacks it."""
    cdef bytes raw = str(name).encode()
    cdef int rc = pg_set_simd_path(raw)
    if rc == -2:
        raise ValueError(f"unknown SIMD path {name!r}; expected one of {', '.join(known_simd_paths())}")
    if rc == -1:
        raise ValueError(f"SIMD path {name!r} is not available here: it needs {pg_simd_path_needs(raw).decode()} "
                         f"(available: {', '.join(available_simd_paths())})")


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
