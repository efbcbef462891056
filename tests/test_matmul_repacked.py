"""mul_mat over a weight's repacked copy (groups of 8 rows, kernels.h's vec_dot_tile_x8 /
vec_dot_tile_x16 / vec_dot_gemv_x8) must give, bit for bit, what it gives over the file's rows
(which test_matmul_tiles.py ties to vec_dot): on every SIMD path, for row counts that end a
16-row tile early or fill it, activation counts on both sides of the tile, GEMV and chunk edges,
1-3 threads. (A path without repacked kernels for a type reads the file's rows: the same bits.)"""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import _core, ops
from pyggml.quants import quantize

REPACKABLE = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q4_K]


def _mul_mat(raw, wtype, k, n, acts, n_threads, repacked):
    ctx = pyggml.Context(64 << 20)
    w = ctx.new_tensor_2d(wtype, k, n)
    w.set_bytes(raw.reshape(-1))
    if repacked:
        packed = np.empty(w.nbytes, np.uint8)
        _core.repack_x8(int(wtype), w.data, w.nb[1], packed, n, k)
        w._c.set_repacked(packed)
    a = ctx.new_tensor_2d(T.F32, k, acts.shape[0]).set(acts)
    out = ops.mul_mat(ctx, w, a)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    return out.numpy().copy()


@pytest.mark.parametrize("wtype", REPACKABLE, ids=lambda t: t.name)
@pytest.mark.parametrize("n", [8, 16, 24, 56, 136])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 8, 9, 17, 40])
def test_repacked_rows_give_the_plain_rows_bits(simd_path, wtype, n, m):
    rng = np.random.default_rng(int(wtype) * 10000 + n * 100 + m)
    k = 512 if wtype == T.Q4_K else 192
    w = rng.standard_normal((n, k)).astype(np.float32) * rng.uniform(0.01, 3.0, size=(n, 1)).astype(np.float32)
    raw = np.ascontiguousarray(quantize(w, wtype)).view(np.uint8).reshape(n, -1)
    acts = rng.standard_normal((m, k)).astype(np.float32) * 2.0
    for n_threads in (1, 2, 3):
        plain = _mul_mat(raw, wtype, k, n, acts, n_threads, repacked=False)
        packed = _mul_mat(raw, wtype, k, n, acts, n_threads, repacked=True)
        bad = np.argwhere(plain.view(np.uint32) != packed.view(np.uint32))
        assert bad.size == 0, f"{simd_path} {wtype.name} n={n} m={m} threads={n_threads}: (row, out) {bad[:5].tolist()}"
