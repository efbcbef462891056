"""Compute memory: in-place reuse of either source, one buffer shared by a runner's graphs, and a
bound on that buffer derived from the model's shapes (issue #7; RSS itself is too noisy to test,
tools/measure_memory.py measures it)."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import alloc, ops
from pyggml.runner import ModelRunner

F32 = 4


def _silu(x):
    return x / (1.0 + np.exp(-x))


BINARY = {
    "sub": (ops.sub, lambda a, b: a - b),
    "div": (ops.div, lambda a, b: a / b),
    "add": (ops.add, lambda a, b: a + b),
    "mul": (ops.mul, lambda a, b: a * b),
    "swiglu": (ops.swiglu, lambda a, b: _silu(a) * b),
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_result_may_take_its_second_source_memory(name):
    """c = op(a, b) with a still needed later and b dying at c: c is written over b."""
    op, ref = BINARY[name]
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    x = ctx.new_tensor_2d(T.F32, 64, 8, name="x").set_input()
    y = ctx.new_tensor_2d(T.F32, 64, 8, name="y").set_input()
    a = ops.scale(ctx, x, 2.0)
    b = ops.scale(ctx, y, 0.5)
    c = op(ctx, a, b)
    out = ops.add(ctx, c, a)                     # a outlives c, so only b can be reused
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    plan = gf.allocate()
    assert plan.offsets[id(c)] == plan.offsets[id(b)]
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((8, 64)).astype(np.float32)
    ys = rng.uniform(0.5, 2.0, (8, 64)).astype(np.float32)
    x.set(xs)
    y.set(ys)
    gf.compute(n_threads=2)
    a_ref, b_ref = xs * np.float32(2.0), ys * np.float32(0.5)
    np.testing.assert_allclose(out.numpy(), ref(a_ref, b_ref) + a_ref, rtol=1e-5, atol=1e-6)


def test_broadcast_second_source_is_never_overwritten():
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    x = ctx.new_tensor_2d(T.F32, 64, 8, name="x").set_input()
    w = ctx.new_tensor_1d(T.F32, 64, name="w").set_input()
    row = ops.scale(ctx, w, 1.0)                 # (64,) repeated over the 8 rows of x
    out = ops.mul(ctx, ops.scale(ctx, x, 1.0), row)
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    plan = gf.allocate()
    assert plan.offsets[id(out)] != plan.offsets[id(row)]


def _mlp(ctx, x, n_layers):
    h = x
    for _ in range(n_layers):
        h = ops.silu(ctx, ops.add(ctx, ops.scale(ctx, h, 0.5), h))
    return h


def test_graphs_sharing_memory_are_rebound_when_it_grows():
    shared = alloc.SharedMemory()
    graphs = []
    for n in (4, 64):                            # the second graph needs a larger buffer
        ctx = pyggml.Context(1 << 20, no_alloc=True)
        x = ctx.new_tensor_2d(T.F32, 32, n, name="x").set_input()
        out = _mlp(ctx, x, 3)
        gf = pyggml.Graph(ctx).build_forward_expand(out)
        gf.allocate(shared=shared)
        graphs.append((gf, x, out, n))
    assert shared.size == max(gf.plan.size for gf, *_ in graphs)
    lo = shared.buffer.ctypes.data
    rng = np.random.default_rng(3)
    for gf, x, out, n in graphs + graphs[:1]:
        assert lo <= out.data < lo + shared.buffer.nbytes      # every graph lives in the one buffer
        xs = rng.standard_normal((n, 32)).astype(np.float32)
        x.set(xs)
        gf.compute(n_threads=2)
        ref = xs
        for _ in range(3):
            ref = _silu(ref * np.float32(0.5) + ref)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def _compute_bound(cfg, n_tokens: int, n_kv: int, n_out: int, n_masks: int) -> int:
    """Most bytes the batch's activations may need at once: at the widest point the residual
    stream, its normed copy and the two FFN inputs (or Q and its roped copy), plus the masks and
    the logits; 1/16 slack for alignment and the small inputs."""
    width = max(cfg.n_embd, cfg.n_head * cfg.head_dim_k)
    live = n_tokens * F32 * (2 * width + 2 * max(cfg.n_ff, width) + n_masks * n_kv)
    live += n_out * cfg.n_vocab * F32
    return live + live // 16 + 64 * 1024


@pytest.mark.parametrize("name", ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
def test_runner_graphs_share_one_bounded_compute_buffer(model_path, name):
    n_ctx, n_prompt = 300, 200
    runner = ModelRunner(model_path(name), n_ctx=n_ctx, n_threads=2)
    try:
        rng = np.random.default_rng(11)
        short = rng.integers(100, 10000, size=40)
        long = rng.integers(100, 10000, size=n_prompt)
        first = runner.eval(short)
        runner.reset()
        runner.eval(long)                        # grows the shared buffer: the short graph moves
        token = 1
        for _ in range(n_ctx - n_prompt):        # decoding crosses a KV block: a second decode graph
            token = int(np.argmax(runner.eval([token])[-1]))
        runner.reset()
        again = runner.eval(short)
        np.testing.assert_array_equal(first, again)

        graphs = runner._graphs
        assert len(graphs) >= 4                  # short and long prompts, decode at n_kv 256 and 300
        base = runner._memory.buffer.ctypes.data
        for key, built in graphs.items():
            assert base <= built.logits.data < base + runner._memory.buffer.nbytes, key
        assert runner.compute_buffer_size == max(b.graph.plan.size for b in graphs.values())
        cfg = runner.config
        bound = _compute_bound(cfg, n_prompt, 256, 1, len(set(cfg.layer_windows)))
        assert runner.compute_buffer_size <= bound, (runner.compute_buffer_size, bound)
    finally:
        runner.close()
