"""Q6_K mul_mat on the AVX2 path follows llama.cpp's float order bit for bit: its Q6_K vec_dot
order for matrices of fewer than 8 activation rows, its "tiled" order from 8 rows on
(docs/fidelity.md, found by probing libggml-cpu.so with tools/probe_ggml.py).

The tiled order, emulated here in numpy from the block layout (no pyggml kernel involved):
per output, over super-blocks b in order,
    isum_b = sum_g scale_g * sum over group g of (code - 32) * q8        (exact integer)
    acc    = fma(yd_b, d_b * float32(isum_b), acc)                       (acc starts at 0)
The activations are the Q8_K blocks of the path's own quantizer (quantize_row_activation),
which the probe showed to be the ones llama.cpp uses."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops
from pyggml.quants import quantize, quantize_row_activation, vec_dot

pytestmark = pytest.mark.skipif("avx2" not in pyggml.available_simd_paths(),
                                reason="llama.cpp's orders are followed by the AVX2 path only")

Q6_K_BYTES, Q8_K_BYTES, QK = 210, 292, 256


@pytest.fixture(autouse=True)
def avx2_path():
    pyggml.set_simd_path("avx2")
    yield
    pyggml.set_simd_path(pyggml._core.best_simd_path())


def unpack_q6_K(raw: np.ndarray):
    """(N, nb * 210) bytes -> values code - 32 (N, nb, 16, 16), scales (N, nb, 16), d (N, nb) f32.
    Block: ql[128] low nibbles, qh[64] high 2 bits, int8 scales[16], f16 d. In half h (128
    elements), element 32j + l takes nibble j // 2 of ql[64h + 32 (j % 2) + l] and bits 2j, 2j+1
    of qh[32h + l]."""
    n = raw.shape[0]
    b = raw.reshape(n, -1, Q6_K_BYTES)
    codes = np.empty(b.shape[:2] + (QK,), np.int64)
    for h in range(2):
        ql = b[..., 64 * h:64 * h + 64].astype(np.int64)
        qh = b[..., 128 + 32 * h:160 + 32 * h].astype(np.int64)
        for j in range(4):
            nib = (ql[..., 32 * (j % 2):32 * (j % 2) + 32] >> (4 * (j // 2))) & 15
            codes[..., 128 * h + 32 * j:128 * h + 32 * j + 32] = nib | (((qh >> (2 * j)) & 3) << 4)
    scales = b[..., 192:208].copy().view(np.int8).astype(np.int64)
    d = b[..., 208:210].copy().view(np.float16)[..., 0].astype(np.float32)
    return (codes - 32).reshape(n, -1, 16, 16), scales, d


def quantize_q8_K(acts: np.ndarray):
    """(M, K) floats -> q8 (M, nb, 16, 16) int, yd (M, nb) f32 (block: f32 d, int8 qs[256], bsums)."""
    raw = np.stack([quantize_row_activation(row, T.Q8_K) for row in acts]).reshape(len(acts), -1, Q8_K_BYTES)
    yd = raw[..., 0:4].copy().view(np.float32)[..., 0]
    q8 = raw[..., 4:260].copy().view(np.int8).astype(np.int64)
    return q8.reshape(len(acts), -1, 16, 16), yd


def fma_f32(a, b, c):
    """Correctly rounded float32 a * b + c (the product is exact in float64; the float64 sum's
    error is recovered by two-sum, and a sum landing exactly on a float32 midpoint is nudged
    towards the true value before the final rounding)."""
    a, b, c = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    p = a * b
    t = p + c
    tb = t - p
    err = (p - (t - tb)) + (c - tb)
    r = t.astype(np.float32).astype(np.float64)
    up = np.nextafter(t.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    down = np.nextafter(t.astype(np.float32), np.float32(-np.inf)).astype(np.float64)
    on_midpoint = (t == (r + up) / 2) | (t == (r + down) / 2)
    t = np.where(on_midpoint & (err != 0), np.nextafter(t, np.where(err > 0, np.inf, -np.inf)), t)
    return t.astype(np.float32)


def tiled_order(w_raw: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """(M, N) float32: llama.cpp's Q6_K x Q8_K result for a batch of >= 8 activation rows."""
    vals, scales, d = unpack_q6_K(w_raw)
    q8, yd = quantize_q8_K(acts)
    isum = np.einsum("nbgk,mbgk->mnbg", vals, q8)
    isum = np.einsum("mnbg,nbg->mnb", isum, scales)
    assert np.abs(isum).max() < 2 ** 31  # the kernel's int32 holds it
    acc = np.zeros((len(acts), w_raw.shape[0]), np.float32)
    for b in range(vals.shape[1]):
        acc = fma_f32(yd[:, None, b], d[None, :, b] * isum[:, :, b].astype(np.float32), acc)
    return acc


def mul_mat(w_raw: np.ndarray, acts: np.ndarray, n_threads: int) -> np.ndarray:
    """pyggml's mul_mat; acts (M, K) or (B, M, K) -> (…, M, N)."""
    k, n = acts.shape[-1], w_raw.shape[0]
    ctx = pyggml.Context(128 << 20)
    w = ctx.new_tensor_2d(T.Q6_K, k, n)
    w.set_bytes(w_raw)
    a = ctx.new_tensor_3d(T.F32, k, acts.shape[-2], acts.shape[0]) if acts.ndim == 3 \
        else ctx.new_tensor_2d(T.F32, k, acts.shape[0])
    a.set(acts)
    out = ops.mul_mat(ctx, w, a)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    return out.numpy().copy()


def random_case(k: int, n: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    w_raw = quantize(rng.standard_normal((n, k)).astype(np.float32), T.Q6_K).reshape(n, -1)
    return w_raw, rng.standard_normal((m, k)).astype(np.float32)


@pytest.mark.parametrize("k,n,m,n_threads", [
    (2048, 640, 8, 1),     # Gemma's ffn_down, the smallest batch taking the tiled order
    (2048, 640, 19, 2),
    (2048, 24, 512, 2),
    (256, 37, 9, 1),
    (512, 33, 13, 3),
    (768, 17, 8, 1),
    (256, 1, 11, 2),
])
def test_batches_of_8_rows_or_more_follow_llama_cpp_tiled_order(k, n, m, n_threads):
    w_raw, acts = random_case(k, n, m, seed=k + n + m)
    got = mul_mat(w_raw, acts, n_threads)
    want = tiled_order(w_raw, acts)
    np.testing.assert_array_equal(got, want)


def test_super_block_sum_is_converted_to_float_once():
    """Weights and activations of one sign and large magnitude: super-block sums far above 2^24,
    where float(isum) rounds, so a float sum over groups would give other bits."""
    rng = np.random.default_rng(5)
    k, n, m = 512, 32, 8
    w = -rng.integers(100, 128, (n, k)).astype(np.float32)
    w_raw = quantize(w, T.Q6_K).reshape(n, -1)
    acts = -rng.integers(100, 128, (m, k)).astype(np.float32)
    vals, scales, _ = unpack_q6_K(w_raw)
    q8, _ = quantize_q8_K(acts)
    isum = np.einsum("mnbg,nbg->mnb", np.einsum("nbgk,mbgk->mnbg", vals, q8), scales)
    assert np.abs(isum).max() > 2 ** 24
    np.testing.assert_array_equal(mul_mat(w_raw, acts, 2), tiled_order(w_raw, acts))


def test_the_order_applies_per_matrix_of_a_3d_batch():
    w_raw, acts = random_case(512, 40, 16, seed=9)
    acts = acts.reshape(2, 8, 512)
    got = mul_mat(w_raw, acts, 2)
    for i in range(2):
        np.testing.assert_array_equal(got[i], tiled_order(w_raw, acts[i]))


@pytest.mark.parametrize("shape", [(7,), (2, 4)], ids=["7 rows", "2 x 4 rows"])
def test_fewer_than_8_rows_per_matrix_keep_the_vec_dot_order(shape):
    """Below 8 rows per matrix llama.cpp runs its Q6_K vec_dot (pyggml's vec_dot[Q6_K]),
    also when the batch dims hold 8 rows or more in all."""
    k, n = 1024, 24
    w_raw, acts = random_case(k, n, int(np.prod(shape)), seed=11)
    acts = acts.reshape(*shape, k)
    got = mul_mat(w_raw, acts, 2).reshape(-1, n)
    rows = acts.reshape(-1, k)
    want = np.array([[vec_dot(T.Q6_K, w_raw[j], quantize_row_activation(row, T.Q8_K), k) for j in range(n)]
                     for row in rows], np.float32)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, tiled_order(w_raw, rows))  # the two orders are told apart here
