"""Attention over a prompt batch (csrc/ops/attention.c's query-by-query path, and
csrc/ops/attention_block.c's blocks of rows on paths with attn_block kernels), on every SIMD path
and thread count: within numpy's float64 attention (ggml's unfused numerics), and on the x86
paths the same bits as the avx2 path's query-by-query order (llama.cpp's AVX2 numerics: the
reference tests) — GQA groups of 1..16, head dims 40..256, key counts off the 16-key blocks,
causal, sliding-window and multi-sequence masks, rows with every key masked, softcap."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops
from test_ops import attention_ref

CASES = {
    # name: (n_q, n_head, n_head_kv, n_kv, D, mask kind, softcap)
    "causal_gqa3": (37, 9, 3, 301, 64, "causal", 0.0),
    "causal_gqa4_wide": (13, 4, 1, 150, 256, "causal", 0.0),
    "window": (20, 4, 1, 333, 128, "window", 0.0),
    "sequences": (24, 6, 2, 90, 64, "sequences", 0.0),       # two sequences' tokens interleaved
    "mha_dead_rows": (9, 2, 2, 45, 32, "dead", 0.0),          # some queries see no key at all
    "gqa5_no_mask": (7, 10, 2, 23, 64, None, 0.0),
    "gqa16": (3, 16, 1, 50, 64, "causal", 0.0),               # a group wider than a block of rows
    "softcap": (11, 8, 4, 70, 64, "causal", 50.0),
    "odd_dim": (6, 2, 1, 40, 40, "causal", 0.0),               # dv % 16 != 0: query by query
}


def _mask(kind, n_q, n_kv, rng):
    if kind is None:
        return None
    m = np.zeros((n_q + 3, n_kv + 5), np.float32)               # padded like the engine's masks
    m[:, n_kv:] = -np.inf
    past = n_kv - n_q
    for i in range(n_q):
        m[i, past + i + 1:n_kv] = -np.inf                        # causal
        if kind == "window":
            m[i, :max(0, past + i - 100)] = -np.inf
        if kind == "sequences":
            seq = i % 2
            m[i, [j for j in range(n_kv) if j % 2 != seq]] = -np.inf
        if kind == "dead" and i % 4 == 1:
            m[i, :] = -np.inf
    return m


def _attend(case, path, n_threads, seed=0):
    n_q, n_head, n_head_kv, n_kv, D, kind, softcap = CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()) + seed)
    n_ctx = n_kv + 9
    qv = rng.uniform(-1.5, 1.5, (n_q, n_head, D)).astype(np.float32)
    kv = [rng.uniform(-2, 2, (n_ctx, n_head_kv, D)).astype(np.float16) for _ in range(2)]
    mask = _mask(kind, n_q, n_kv, rng)
    pyggml.set_simd_path(path)
    ctx = pyggml.Context(32 << 20)
    q = ctx.new_tensor(T.F32, (D, n_head, n_q)).set(qv)
    caches = [ctx.new_tensor(T.F16, (D, n_head_kv, n_ctx)).set(c) for c in kv]
    k, v = [ops.view_3d(ctx, c, D, n_head_kv, n_kv, c.nb[1], c.nb[2], 0) for c in caches]
    m = ctx.new_tensor(T.F32, mask.shape[::-1]).set(mask) if mask is not None else None
    out = ops.flash_attn_ext(ctx, q, k, v, m, 1.0 / math.sqrt(D), softcap)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    got = out.numpy().copy()
    want = attention_ref(qv, kv[0][:n_kv].astype(np.float32), kv[1][:n_kv].astype(np.float32), mask,
                         1.0 / math.sqrt(D), softcap, True)
    return got, want, mask


@pytest.fixture(autouse=True)
def _restore_simd_path():
    before = pyggml.simd_path()
    yield
    pyggml.set_simd_path(before)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("case", CASES)
def test_batch_attention(case, simd_path, n_threads):
    got, want, mask = _attend(case, simd_path, n_threads)
    # each probability may land one F16 ulp (2^-11 relative) apart at a rounding boundary: with
    # |v| <= 2 the output moves by at most sum_j 2^-11 p_j |v_j| <= 2^-10
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=0, atol=2.0**-10)
    if mask is not None:                                          # a query that sees no key: zeros
        dead = np.isneginf(mask[: got.shape[0], : CASES[case][3]]).all(axis=1)
        assert np.all(got[dead] == 0.0)
    if simd_path in ("avx2", "avx512"):
        exact, _, _ = _attend(case, "avx2", 1)
        np.testing.assert_array_equal(got.view(np.uint32), exact.view(np.uint32))
