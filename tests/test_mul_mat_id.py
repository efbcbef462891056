"""mul_mat_id (the experts' matmul) and argsort_top_k (the router's choice) against numpy, on
every SIMD path, for every computable weight type, decode- and prompt-shaped batches, 1–3 threads.

Oracle as in test_matmul: numpy float64 on the dequantized weights and the dequantized quantized
activations (what the kernel multiplies), up to float reassociation. Experts no id names hold NaN,
so reading one anywhere shows up in the result."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops
from pyggml.quants import dequantize, quantize, quantize_row_activation
from pyggml.types import traits

WEIGHT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
PATHS = sorted({"scalar", pyggml._core.best_simd_path()})
N_EXPERT, N_OUT = 6, 37


@pytest.fixture(autouse=True)
def _restore_simd_path():
    before = pyggml.simd_path()
    yield
    pyggml.set_simd_path(before)


def _experts(wtype, k, rng, unused):
    """(raw bytes (n_expert, N, row_bytes), dequantized (n_expert, N, k)); unused experts NaN."""
    w = rng.standard_normal((N_EXPERT, N_OUT, k)).astype(np.float32)
    raw = quantize(w.reshape(-1, k), wtype) if wtype != T.F32 else w.view(np.uint8)
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(N_EXPERT, N_OUT, -1).copy()
    deq = dequantize(raw.reshape(N_EXPERT * N_OUT, -1), wtype).reshape(w.shape) if wtype != T.F32 else w
    nan = np.frombuffer(np.full(raw.shape[-1] // 2, 0x7E00, np.uint16).tobytes(), np.uint8)
    if wtype == T.F32:
        nan = np.full(k, np.nan, np.float32).view(np.uint8)
    for e in unused:
        raw[e] = nan      # every 16-bit field 0x7E00: F16 NaN (scales of the quants), BF16 ~1e38
    return raw, deq


def _run(raw, wtype, k, acts, ids, n_threads):
    ctx = pyggml.Context(64 << 20)
    w = ctx.new_tensor_3d(wtype, k, N_OUT, N_EXPERT).set_bytes(raw)
    b = ctx.new_tensor_3d(T.F32, k, acts.shape[1], acts.shape[0]).set(acts)
    i = ctx.new_tensor_2d(T.I32, ids.shape[1], ids.shape[0]).set(ids)
    out = ops.mul_mat_id(ctx, w, b, i)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    return out.numpy().copy()


def _ids(rng, n_tokens, n_used, allowed):
    return np.stack([rng.choice(allowed, n_used, replace=False) for _ in range(n_tokens)]).astype(np.int32)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("wtype", WEIGHT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_tokens,bcast", [(1, False), (1, True), (23, True), (23, False)])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_mul_mat_id_matches_numpy(path, wtype, n_tokens, bcast, n_threads):
    pyggml.set_simd_path(path)
    rng = np.random.default_rng(int(wtype) * 10 + n_tokens)
    k = 512 if traits(wtype).block_size == 256 else 96
    n_used, used = 2, [0, 2, 3, 5]                      # experts 1 and 4: NaN, never chosen
    raw, w = _experts(wtype, k, rng, unused=[1, 4])
    ids = _ids(rng, n_tokens, n_used, used)
    acts = rng.standard_normal((n_tokens, 1 if bcast else n_used, k)).astype(np.float32)
    got = _run(raw, wtype, k, acts, ids, n_threads)
    assert got.shape == (n_tokens, n_used, N_OUT)

    vdt = traits(wtype).vec_dot_type
    a_used = acts if vdt == T.F32 else np.stack([
        [dequantize(quantize_row_activation(row, vdt), vdt) for row in tok] for tok in acts])
    rel = 2e-3 if vdt == T.Q8_1 else 1e-5                # Q8_1's block sum is stored as f16
    for t in range(n_tokens):
        for s in range(n_used):
            x = a_used[t, s % acts.shape[1]].astype(np.float64)
            we = w[ids[t, s]].astype(np.float64)
            exact, scale = we @ x, np.abs(we) @ np.abs(x)
            assert np.all(np.abs(got[t, s] - exact) <= rel * scale + 1e-6), (t, s)


def test_mul_mat_id_decode_matches_mul_mat_bitwise():
    """A lone token through mul_mat_id gives exactly what mul_mat of its expert gives (both are
    vec_dot of each pair) on the F32-free paths, i.e. quantized types."""
    rng = np.random.default_rng(3)
    k = 256
    raw, _ = _experts(T.Q8_0, k, rng, unused=[])
    acts = rng.standard_normal((1, 1, k)).astype(np.float32)
    got = _run(raw, T.Q8_0, k, acts, np.array([[4, 1]], np.int32), 2)
    for s, e in enumerate((4, 1)):
        ctx = pyggml.Context(16 << 20)
        w = ctx.new_tensor_2d(T.Q8_0, k, N_OUT).set_bytes(raw[e])
        b = ctx.new_tensor_2d(T.F32, k, 1).set(acts[0])
        out = ops.mul_mat(ctx, w, b)
        pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=1)
        np.testing.assert_array_equal(got[0, s], out.numpy()[0])


@pytest.mark.parametrize("bad", [N_EXPERT, -1])
def test_mul_mat_id_bad_id_is_an_error(bad):
    rng = np.random.default_rng(0)
    raw, _ = _experts(T.Q8_0, 64, rng, unused=[])
    ids = np.array([[0, 1], [2, bad], [3, 4]], np.int32)
    with pytest.raises(IndexError, match="mul_mat_id.*out of range"):
        _run(raw, T.Q8_0, 64, rng.standard_normal((3, 1, 64)).astype(np.float32), ids, 2)


def test_mul_mat_id_shape_errors():
    ctx = pyggml.Context(1 << 20)
    w = ctx.new_tensor_3d(T.F32, 32, 8, 4)
    ids = ctx.new_tensor_2d(T.I32, 2, 5)
    with pytest.raises(ValueError, match="activations"):
        ops.mul_mat_id(ctx, w, ctx.new_tensor_3d(T.F32, 32, 3, 5), ids)
    with pytest.raises(ValueError, match="activations"):
        ops.mul_mat_id(ctx, w, ctx.new_tensor_3d(T.F32, 32, 1, 4), ids)
    with pytest.raises(ValueError, match="ids"):
        ops.mul_mat_id(ctx, w, ctx.new_tensor_3d(T.F32, 32, 1, 5), ctx.new_tensor_2d(T.F32, 2, 5))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_argsort_top_k(path, n_threads):
    pyggml.set_simd_path(path)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 16)).astype(np.float32)
    x[0, 0, [3, 9, 12]] = 5.0                       # a three-way tie for first: index order
    x[1, 2, :] = np.nan
    x[1, 2, [4, 7]] = [1.0, 2.0]                    # two real values, k = 4: -1 for the rest
    ctx = pyggml.Context(1 << 20)
    a = ctx.new_tensor_3d(T.F32, 16, 7, 3).set(x)
    out = ops.argsort_top_k(ctx, a, 4)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    got = out.numpy()
    key = np.where(np.isnan(x), np.inf, -x)            # stable ascending of -x = descending x
    want = np.argsort(key, axis=-1, kind="stable")[..., :4].astype(np.int32)
    want[1, 2, 2:] = -1
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="k=17"):
        ops.argsort_top_k(ctx, a, 17)
