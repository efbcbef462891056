"""mul_mat computes its outputs in tiles (pg_vec_dot_tile, csrc/kernels.h); every output must be
bit-identical to the active path's vec_dot on that (weight row, quantized activation row) pair,
for tile edges of every size (rows and activation counts not multiples of the tile), 1-3 threads,
every SIMD path. Rows llama.cpp computes with its GEMV (a lone row; the last M % 4 of a repacked
type) use the single-row kernel vec_dot_gemv instead; Q6_K batches of 8+ rows on AVX2 take llama.cpp's
tiled order (test_q6k_batch_order.py). tests/c/test_tile_kernels.c checks the tile kernels exhaustively."""
import platform

import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import _core, ops
from pyggml.quants import quantize, quantize_row_activation
from pyggml.types import traits
from test_q6k_batch_order import tiled_order

WEIGHT_TYPES = [T.F32, T.F16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q6_K]
@pytest.fixture
def path(simd_path):
    """The SIMD path under test (tests/conftest.py: every path of this platform)."""
    return simd_path


def _mul_mat(raw, wtype, k, n_out, acts, n_threads):
    ctx = pyggml.Context(64 << 20)
    w = ctx.new_tensor_2d(wtype, k, n_out)
    w.set_bytes(raw)
    a = ctx.new_tensor_2d(T.F32, k, acts.shape[0])
    a.set(acts)
    out = ops.mul_mat(ctx, w, a)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    return out.numpy().copy()


@pytest.mark.parametrize("wtype", WEIGHT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_out,m", [(1, 1), (7, 1), (35, 1), (18, 3), (37, 6), (33, 19)])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_mul_mat_outputs_equal_vec_dot_bitwise(path, wtype, n_out, m, n_threads):
    pyggml.set_simd_path(path)
    try:
        rng = np.random.default_rng(int(wtype) * 1000 + n_out * 10 + m)
        k = 512 if traits(wtype).block_size == 256 else 160
        w = rng.standard_normal((n_out, k)).astype(np.float32) * rng.uniform(0.01, 3.0, size=(n_out, 1)).astype(np.float32)
        raw = w.view(np.uint8) if wtype == T.F32 else quantize(w, wtype)
        raw = np.ascontiguousarray(raw).view(np.uint8).reshape(n_out, -1)
        acts = rng.standard_normal((m, k)).astype(np.float32) * 2.0
        got = _mul_mat(raw, wtype, k, n_out, acts, n_threads)

        vdt = traits(wtype).vec_dot_type
        want = np.empty((m, n_out), dtype=np.float32)
        first_gemv = _core.gemv_first_row(int(wtype), m)
        for j, row in enumerate(acts):
            a_row = row.view(np.uint8) if vdt == T.F32 else quantize_row_activation(row, vdt)
            for i in range(n_out):
                want[j, i] = _core.vec_dot_active(int(wtype), raw[i], a_row, k, j >= first_gemv)
        if path in ("avx2", "avx512") and wtype == T.Q6_K and m >= 8:  # avx512 keeps avx2's batch kernel
            want = tiled_order(raw, acts)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), np.argwhere(got != want)[:5]
    finally:
        pyggml.set_simd_path(_core.best_simd_path())


@pytest.mark.parametrize("wtype", [T.F32, T.F16], ids=lambda t: t.name)
@pytest.mark.parametrize("k", [32, 64, 96, 576, 37, 100])
def test_single_row_kernel_matches_its_reference(wtype, k):
    """vec_dot_gemv (AVX2) equals the portable gemv reference bit for bit, tails included."""
    pyggml.set_simd_path(_core.best_simd_path())
    rng = np.random.default_rng(k)
    dtype = np.float32 if wtype == T.F32 else np.float16
    x = (rng.standard_normal(k) * 3).astype(dtype).view(np.uint8)
    y = (rng.standard_normal(k) * 3).astype(dtype).view(np.uint8)
    got = _core.vec_dot_active(int(wtype), x, y, k, True)
    want = _core.vec_dot_gemv_ref(int(wtype), x, y, k)
    assert np.float32(got).view(np.uint32) == np.float32(want).view(np.uint32)


def _paths_with_q4_K_gemv():
    """The paths whose lone Q4_K row takes a single-row kernel (x86: avx2 and what builds on it)."""
    found = []
    for name in pyggml.available_simd_paths():
        pyggml.set_simd_path(name)
        if _core.gemv_first_row(int(T.Q4_K), 1) == 0:
            found.append(name)
    pyggml.set_simd_path(_core.best_simd_path())
    return found


@pytest.mark.parametrize("k", [256, 512, 2048])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q4_K_single_row_kernel_matches_llamacpps_gemv_order(k, seed):
    """Every path with a Q4_K single-row kernel (llama.cpp's repacked GEMV order; x86 has one)
    equals the portable element-by-element reference of that order bit for bit. Activations
    include the extreme code -128, weights a group with the extreme 6-bit scale."""
    paths = _paths_with_q4_K_gemv()
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "avx2" in paths, paths
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((1, k)).astype(np.float32) * rng.uniform(0.01, 4.0, size=(1, k)).astype(np.float32)
    w[0, :32] += 50.0                      # one group far off the others: scale 63, min 0
    raw = np.ascontiguousarray(quantize(w, T.Q4_K)).view(np.uint8).reshape(-1)
    x = rng.standard_normal(k).astype(np.float32)
    x[::37] = -np.abs(x).max() * 1.0001    # codes at -128 where the minimum sets the scale
    act = quantize_row_activation(x, T.Q8_K)
    want = _core.vec_dot_gemv_ref(int(T.Q4_K), raw, act, k)
    try:
        for name in paths:
            pyggml.set_simd_path(name)
            got = _core.vec_dot_active(int(T.Q4_K), raw, act, k, True)
            assert np.float32(got).view(np.uint32) == np.float32(want).view(np.uint32), (name, got, want)
    finally:
        pyggml.set_simd_path(_core.best_simd_path())


@pytest.mark.parametrize("n_out,m", [(8, 1), (24, 3), (40, 8), (136, 19), (64, 70)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_repacked_q4_0_outputs_equal_vec_dot_bitwise(path, n_out, m, n_threads):
    """Weights repacked by 8 rows (the x8 tile, and the avx512 path's x16 tile over two groups:
    16-row chunks, an 8-row tail where n_out % 16 == 8, 1..8 activation rows per tile). A path
    without repacked kernels reads the file's rows: the same values."""
    pyggml.set_simd_path(path)
    try:
        rng = np.random.default_rng(n_out * 100 + m)
        k = 160
        w = rng.standard_normal((n_out, k)).astype(np.float32) * rng.uniform(0.01, 3.0, size=(n_out, 1)).astype(np.float32)
        raw = np.ascontiguousarray(quantize(w, T.Q4_0)).view(np.uint8).reshape(n_out, -1)
        acts = rng.standard_normal((m, k)).astype(np.float32) * 2.0
        ctx = pyggml.Context(16 << 20)
        wt = ctx.new_tensor_2d(T.Q4_0, k, n_out)
        wt.set_bytes(raw)
        packed = np.empty(wt.nbytes, np.uint8)
        _core.repack_x8(int(T.Q4_0), wt.data, wt.nb[1], packed, n_out, k)
        wt._c.set_repacked(packed)
        a = ctx.new_tensor_2d(T.F32, k, m)
        a.set(acts)
        out = ops.mul_mat(ctx, wt, a)
        pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
        got = out.numpy().copy()
        want = np.empty((m, n_out), dtype=np.float32)
        first_gemv = _core.gemv_first_row(int(T.Q4_0), m)
        for j, row in enumerate(acts):
            a_row = quantize_row_activation(row, T.Q8_0)
            for i in range(n_out):
                want[j, i] = _core.vec_dot_active(int(T.Q4_0), raw[i], a_row, k, j >= first_gemv)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), np.argwhere(got != want)[:5]
    finally:
        pyggml.set_simd_path(_core.best_simd_path())
