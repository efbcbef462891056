"""mul_mat of every computable weight type with F32 activations, on every SIMD path, for 1 and
several activation rows and 1–3 threads.

Two oracles: (1) exact — numpy float64 on the dequantized weights and the dequantized
*quantized activations* (what the kernel multiplies), which the result must match up to float
reassociation, plus the f16 rounding of Q8_1's stored block sum; (2) plain float — numpy on the
dequantized weights and the original activations, within the activation quantization error."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops
from pyggml.quants import dequantize, quantize, quantize_row_activation
from pyggml.types import traits

WEIGHT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
@pytest.fixture
def path(simd_path):
    """The SIMD path under test (tests/conftest.py: every path of this platform)."""
    return simd_path


def _weights(wtype, n_out, k, rng):
    w = rng.standard_normal((n_out, k)).astype(np.float32)
    raw = quantize(w, wtype) if wtype != T.F32 else w.view(np.uint8)
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(n_out, -1)
    return raw, dequantize(raw, wtype) if wtype != T.F32 else w


def _mul_mat(raw, wtype, k, n_out, acts, n_threads):
    ctx = pyggml.Context(64 << 20)
    w = ctx.new_tensor_2d(wtype, k, n_out)
    w.set_bytes(raw)
    a = ctx.new_tensor_2d(T.F32, k, acts.shape[0])
    a.set(acts)
    out = ops.mul_mat(ctx, w, a)
    g = pyggml.Graph(ctx).build_forward_expand(out)
    g.compute(n_threads=n_threads)
    return out.numpy().copy()


@pytest.mark.parametrize("wtype", WEIGHT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("m", [1, 5, 19])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_mul_mat_matches_numpy(path, wtype, m, n_threads):
    pyggml.set_simd_path(path)
    try:
        rng = np.random.default_rng(int(wtype) * 100 + m)
        k = 512 if traits(wtype).block_size == 256 else 96
        n_out = 37
        raw, w_deq = _weights(wtype, n_out, k, rng)
        acts = rng.standard_normal((m, k)).astype(np.float32) * 2.0
        got = _mul_mat(raw, wtype, k, n_out, acts, n_threads)
        assert got.shape == (m, n_out)

        vdt = traits(wtype).vec_dot_type
        a_used = np.stack([dequantize(quantize_row_activation(row, vdt), vdt) if vdt != T.F32 else row
                           for row in acts])
        exact = a_used.astype(np.float64) @ w_deq.astype(np.float64).T
        scale = np.abs(a_used).astype(np.float64) @ np.abs(w_deq).astype(np.float64).T
        rel = 2e-3 if vdt == T.Q8_1 else 1e-5      # Q8_1's block sum is stored as f16
        assert np.all(np.abs(got - exact) <= rel * scale + 1e-6), np.max(np.abs(got - exact) / scale)

        plain = acts.astype(np.float64) @ w_deq.astype(np.float64).T
        plain_scale = np.abs(acts).astype(np.float64) @ np.abs(w_deq).astype(np.float64).T
        tol = {T.F32: 1e-5, T.F16: 2e-3, T.BF16: 1e-2}.get(wtype, 2e-2)
        assert np.all(np.abs(got - plain) <= tol * plain_scale + 1e-6)
    finally:
        pyggml.set_simd_path(pyggml._core.best_simd_path())


def test_mul_mat_broadcasts_weight_batches():
    """src0 (K, N, 2) against src1 (K, M, 4): batch i uses weight batch i // 2."""
    rng = np.random.default_rng(7)
    ctx = pyggml.Context(16 << 20)
    W = rng.standard_normal((2, 8, 32)).astype(np.float32)
    A = rng.standard_normal((4, 3, 32)).astype(np.float32)
    w = ctx.new_tensor_3d(T.F32, 32, 8, 2)
    w.set(W)
    a = ctx.new_tensor_3d(T.F32, 32, 3, 4)
    a.set(A)
    out = ops.mul_mat(ctx, w, a)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=2)
    expected = np.stack([A[i] @ W[i // 2].T for i in range(4)])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
