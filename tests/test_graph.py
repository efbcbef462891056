"""Graph structure, allocator and execution of the Python graph API."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import ops


def simple_ctx_example(n_threads=1):
    """ggml's simple-ctx example: A (4×2) and B (3×2); mul_mat(A, B) = B·Aᵀ in numpy terms."""
    ctx = pyggml.Context(mem_size=16 * 1024 * 1024)
    a = ctx.new_tensor_2d(T.F32, 2, 4)          # 4 rows of 2
    b = ctx.new_tensor_2d(T.F32, 2, 3)          # 3 rows of 2
    A = np.array([[2, 8], [5, 1], [4, 2], [8, 6]], dtype=np.float32)
    B = np.array([[10, 5], [9, 9], [5, 4]], dtype=np.float32)
    a.set(A)
    b.set(B)
    result = pyggml.mul_mat(ctx, a, b)
    gf = pyggml.Graph(ctx)
    gf.build_forward_expand(result)
    gf.compute(n_threads=n_threads)
    return gf, result, A, B


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_simple_ctx_example(n_threads):
    gf, result, A, B = simple_ctx_example(n_threads)
    assert gf.n_nodes == 1 and gf.n_leafs == 2
    assert result.ne[:2] == (4, 3)
    np.testing.assert_array_equal(result.numpy(), B @ A.T)
    assert result.numpy()[0].tolist() == [60.0, 55.0, 50.0, 110.0]


def test_post_order_and_shared_source_visited_once():
    ctx = pyggml.Context(1 << 20)
    x = ctx.new_tensor_1d(T.F32, 8, name="x")
    y = ctx.new_tensor_1d(T.F32, 8, name="y")
    s = ops.add(ctx, x, y)
    s.name = "s"
    m = ops.mul(ctx, s, s)       # s used twice
    m.name = "m"
    out = ops.scale(ctx, ops.add(ctx, m, s), 2.0)
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    assert [t.name for t in gf.leafs] == ["x", "y"]
    assert gf.n_nodes == 4
    names = [t.op.name for t in gf.nodes]
    assert names == ["ADD", "MUL", "ADD", "SCALE"]
    x.set(np.arange(8, dtype=np.float32))
    y.set(np.ones(8, dtype=np.float32))
    gf.compute(n_threads=2)
    xs = np.arange(8, dtype=np.float32) + 1
    np.testing.assert_allclose(out.numpy(), 2 * (xs * xs + xs))
    assert "SCALE" in str(gf) and "digraph" in gf.to_dot()


def test_build_time_shape_errors_name_both_shapes():
    ctx = pyggml.Context(1 << 20)
    a = ctx.new_tensor_2d(T.F32, 4, 3, name="a")
    b = ctx.new_tensor_2d(T.F32, 5, 3, name="b")
    with pytest.raises(ValueError, match=r"a F32.*b F32|b F32.*a F32"):
        ops.add(ctx, a, b)
    with pytest.raises(ValueError, match="inner dims"):
        ops.mul_mat(ctx, a, b)
    with pytest.raises(ValueError, match="element count"):
        ops.reshape_2d(ctx, a, 5, 2)


def test_unsupported_weight_type_is_named():
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    w = ctx.new_tensor_2d(T.IQ2_XXS, 256, 4)
    x = ctx.new_tensor_2d(T.F32, 256, 1)
    with pytest.raises(pyggml.UnsupportedTypeError, match="IQ2_XXS"):
        ops.mul_mat(ctx, w, x)


def _mlp_graph(ctx, n_layers=8, n=64, m=16):
    """A transformer-like chain: every layer's intermediates die after the next op."""
    rng = np.random.default_rng(0)
    x = ctx.new_tensor_2d(T.F32, n, m, name="x")
    wctx = pyggml.Context(1 << 24)
    weights = []
    for i in range(n_layers):
        w = wctx.new_tensor_2d(T.F32, n, n, name=f"w{i}")
        w.set(rng.standard_normal((n, n)).astype(np.float32) / np.sqrt(n))
        weights.append(w)
    h = x
    for w in weights:
        h = ops.add(ctx, ops.silu(ctx, ops.mul_mat(ctx, w, ops.rms_norm(ctx, h, 1e-5))), h)
    return x, h, weights, wctx


def test_allocator_reuses_memory_and_keeps_results():
    results = []
    for reuse in (True, False):
        ctx = pyggml.Context(1 << 20, no_alloc=True)
        x, out, weights, wctx = _mlp_graph(ctx)
        gf = pyggml.Graph(ctx).build_forward_expand(out)
        plan = gf.allocate(reuse=reuse)
        x.set(np.random.default_rng(1).standard_normal((16, 64)).astype(np.float32))
        gf.compute(n_threads=2)
        results.append((plan, out.numpy().copy()))
    (reused, r1), (naive, r2) = results
    assert reused.size < naive.size / 3, (reused.size, naive.size)
    assert reused.n_inplace > 0
    np.testing.assert_array_equal(r1, r2)


def test_graph_recompute_with_new_inputs():
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    x, out, weights, wctx = _mlp_graph(ctx, n_layers=2)
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    gf.allocate()
    outs = []
    for seed in (1, 2, 1):
        x.set(np.random.default_rng(seed).standard_normal((16, 64)).astype(np.float32))
        gf.compute(n_threads=2)
        outs.append(out.numpy().copy())
    np.testing.assert_array_equal(outs[0], outs[2])
    assert not np.array_equal(outs[0], outs[1])


def test_profile_reports_ops():
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    x, out, weights, wctx = _mlp_graph(ctx, n_layers=2)
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    gf.allocate()
    x.set(np.zeros((16, 64), dtype=np.float32))
    prof = gf.compute(n_threads=2, profile=True)
    assert prof["MUL_MAT"][1] == 2 and prof["RMS_NORM"][1] == 2


def test_two_threadpools_in_one_process():
    p1, p2 = pyggml.ThreadPool(2), pyggml.ThreadPool(3)
    gf, result, A, B = simple_ctx_example()
    gf.compute(pool=p1)
    gf.compute(pool=p2)
    np.testing.assert_array_equal(result.numpy(), B @ A.T)
    p1.close()
    p2.close()
    with pytest.raises(ValueError, match="closed"):
        gf.compute(pool=p1)


@pytest.mark.parametrize("n_threads", [1, 3])
def test_swiglu_equals_silu_then_mul_bitwise(simd_path, n_threads):
    """The fused gated-FFN op gives exactly mul(silu(x), g); odd row length exercises the tail."""
    try:
        rng = np.random.default_rng(5)
        ctx = pyggml.Context(1 << 22)
        x = ctx.new_tensor_2d(T.F32, 37, 9).set(rng.standard_normal((9, 37)).astype(np.float32) * 4)
        g = ctx.new_tensor_2d(T.F32, 37, 9).set(rng.standard_normal((9, 37)).astype(np.float32))
        fused = ops.swiglu(ctx, x, g)
        split = ops.mul(ctx, ops.silu(ctx, x), g)
        gf = pyggml.Graph(ctx)
        gf.build_forward_expand(fused)
        gf.build_forward_expand(split)
        gf.compute(n_threads=n_threads)
        assert np.array_equal(fused.numpy().view(np.uint32), split.numpy().view(np.uint32))
        xs = x.numpy().astype(np.float64)
        np.testing.assert_allclose(fused.numpy(), xs / (1 + np.exp(-xs)) * g.numpy(), rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match="shapes differ"):
            ops.swiglu(ctx, x, ctx.new_tensor_2d(T.F32, 36, 9))
    finally:
        pyggml.set_simd_path(pyggml._core.best_simd_path())
