"""Single-query attention over an F16 cache (a decode step), the case where all threads share one
query (csrc/ops/attention.c: keys, then heads, then output dims split across threads), on every
SIMD path: against numpy's float64 attention (tests/test_ops.py's attention_ref, ggml's unfused
numerics), bit-identical whatever the thread count, and a query whose every key is masked gives
zeros. The kernels' bit-exactness against their refs is tests/c/test_attention_kernels.c."""
from __future__ import annotations

import math

import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops
from test_ops import attention_ref

CASES = {
    # name: (n_head, n_head_kv, n_kv, D, mask holes, softcap)
    "smollm2_shape": (9, 3, 1000, 64, False, 0.0),     # GQA 3, 1000 = 31 blocks of 32 + a tail of 8
    "masked_tail": (6, 2, 293, 64, True, 0.0),          # keys split unevenly over threads
    "wide_heads": (4, 1, 130, 128, True, 0.0),           # GQA 4, D 128
    "softcap_odd_dim": (2, 2, 77, 80, True, 30.0),        # D 80: no fused scores (dk % 32 != 0)
    "tiny": (2, 1, 3, 32, False, 0.0),                   # fewer keys than one block of 8
    "padded_cache": (9, 3, 600, 64, "pad", 0.0),         # the last 200 keys masked (KV_PAD slots): skipped
    "window": (4, 1, 700, 256, "window", 0.0),           # gemma-like: keys before the last 300 masked: skipped
    "finite_bias": (9, 3, 1000, 64, "bias", 0.0),        # a mask of finite biases (not zeros: not skipped)
}


def _attend(case, path, n_threads, seed=0, all_masked=False):
    n_head, n_head_kv, n_kv, D, holes, softcap = CASES[case]
    rng = np.random.default_rng(seed)
    n_ctx = n_kv + 7                                    # the cache is longer than the live part
    qv = rng.uniform(-1.5, 1.5, (1, n_head, D)).astype(np.float32)
    kv = [rng.uniform(-2, 2, (n_ctx, n_head_kv, D)).astype(np.float16) for _ in range(2)]
    mask = None
    if holes or all_masked:
        mask = np.zeros((1, n_kv + 5), np.float32)
        if holes == "bias":
            mask[0, :n_kv] = rng.uniform(-3, 0, n_kv).astype(np.float32)
        mask[0, rng.integers(0, n_kv, max(1, n_kv // 4))] = -np.inf
        mask[0, n_kv:] = -np.inf
        if holes == "pad":
            mask[0, n_kv - 200:] = -np.inf
        if holes == "window":
            mask[0, :n_kv - 300] = -np.inf
        if all_masked:
            mask[0, :] = -np.inf
    pyggml.set_simd_path(path)
    ctx = pyggml.Context(16 << 20)
    q = ctx.new_tensor(T.F32, (D, n_head, 1)).set(qv)
    caches = [ctx.new_tensor(T.F16, (D, n_head_kv, n_ctx)).set(c) for c in kv]
    k, v = [ops.view_3d(ctx, c, D, n_head_kv, n_kv, c.nb[1], c.nb[2], 0) for c in caches]
    m = ctx.new_tensor(T.F32, (n_kv + 5, 1)).set(mask) if mask is not None else None
    out = ops.flash_attn_ext(ctx, q, k, v, m, 1.0 / math.sqrt(D), softcap)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    got = out.numpy().reshape(1, n_head, D).copy()
    want = attention_ref(qv, kv[0][:n_kv].astype(np.float32), kv[1][:n_kv].astype(np.float32), mask,
                         1.0 / math.sqrt(D), softcap, True)
    return got, want


@pytest.fixture(autouse=True)
def _restore_simd_path():
    before = pyggml.simd_path()
    yield
    pyggml.set_simd_path(before)


@pytest.mark.parametrize("case", CASES)
def test_one_query_matches_numpy(case, simd_path):
    got, want = _attend(case, simd_path, 2)
    # probabilities meet V in F16: one may land an F16 ulp apart at a rounding boundary
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("case", CASES)
def test_one_query_same_bits_for_any_thread_count(case, simd_path):
    one, _ = _attend(case, simd_path, 1, seed=3)
    for n_threads in (2, 3, 5):
        got, _ = _attend(case, simd_path, n_threads, seed=3)
        assert np.array_equal(got.view(np.uint32), one.view(np.uint32)), (n_threads, np.abs(got - one).max())


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_one_query_all_keys_masked_gives_zeros(simd_path, n_threads):
    got, _ = _attend("masked_tail", simd_path, n_threads, all_masked=True)
    assert np.all(got == 0.0)
