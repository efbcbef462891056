"""mul_mat_glu (csrc/ops/mul_mat_glu.c): a gated FFN's gate and up projections and its gating in
one op must give, bit for bit, what the unfused graph gives — swiglu(mul_mat(gate, x),
mul_mat(up, x)) or mul(gelu(mul_mat(gate, x)), mul_mat(up, x)) — as F32, or those rows quantized
to the down projection's activation type exactly as mul_mat would quantize them; and the down
mul_mat over those quantized rows must equal the down mul_mat over the F32 rows. On every SIMD
path, with plain and repacked weights, 1-3 threads, activation counts across the op's chunks."""
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import _core, ops
from pyggml.quants import quantize, quantize_row_activation
from pyggml.types import traits

# weight types of the real families (and F32/F16), with a row count that is whole blocks of the
# activation type but not of the op's 128-row units (a partial unit)
CASES = [(T.F32, 96, 160), (T.F16, 96, 160), (T.BF16, 96, 160), (T.Q4_0, 96, 160), (T.Q4_1, 96, 160), (T.Q5_0, 96, 160),
         (T.Q8_0, 96, 160), (T.Q4_K, 256, 512), (T.Q5_K, 256, 256), (T.Q6_K, 256, 768)]


def _weight(ctx, wtype, k, n, rng, repacked):
    w = ctx.new_tensor_2d(wtype, k, n)
    raw = rng.standard_normal((n, k)).astype(np.float32)
    raw = raw if wtype == T.F32 else quantize(raw, wtype)
    w.set_bytes(np.ascontiguousarray(raw).view(np.uint8).reshape(-1))
    if repacked:
        packed = np.empty(w.nbytes, np.uint8)
        _core.repack_x8(int(wtype), w.data, w.nb[1], packed, n, k)
        w._c.set_repacked(packed)
    return w


def _compute(ctx, outs, n_threads):
    g = pyggml.Graph(ctx)
    for o in outs:
        g.build_forward_expand(o)
    g.compute(n_threads=n_threads)


def _raw(t):
    return np.frombuffer(t._raw(), dtype=np.uint8).copy()


@pytest.mark.parametrize("wtype,k,n", CASES, ids=lambda c: getattr(c, "name", str(c)))
@pytest.mark.parametrize("m", [1, 5, 70])
@pytest.mark.parametrize("activation", ["silu", "gelu"])
def test_glu_is_the_unfused_graph(simd_path, wtype, k, n, m, activation):
    rng = np.random.default_rng(int(wtype) * 1000 + m)
    repack = bool(_core.active_path_reads_repacked(int(wtype)))
    partner = traits(wtype).vec_dot_type
    for n_threads in (1, 2, 3):
        for repacked in {False, repack}:
            ctx = pyggml.Context(64 << 20)
            gate = _weight(ctx, wtype, k, n, rng, repacked)
            up = _weight(ctx, wtype, k, n, rng, repacked)
            down = _weight(ctx, wtype, n, k, rng, repacked and n % 8 == 0)
            x = ctx.new_tensor_2d(T.F32, k, m).set(rng.standard_normal((m, k)).astype(np.float32))
            g, u = ops.mul_mat(ctx, gate, x), ops.mul_mat(ctx, up, x)
            plain = ops.swiglu(ctx, g, u) if activation == "silu" else ops.mul(ctx, ops.gelu(ctx, g), u)
            fused = ops.mul_mat_glu(ctx, gate, up, x, activation)
            fused_q = ops.mul_mat_glu(ctx, gate, up, x, activation, partner)
            down_plain, down_fused = ops.mul_mat(ctx, down, plain), ops.mul_mat(ctx, down, fused_q)
            _compute(ctx, [plain, fused, fused_q, down_plain, down_fused], n_threads)
            what = f"{simd_path} {wtype.name} m={m} {activation} threads={n_threads} repacked={repacked}"
            assert np.array_equal(fused.numpy(), plain.numpy()), what
            if partner == T.F32:
                assert fused_q.type == T.F32
            else:
                want = np.concatenate([quantize_row_activation(row, partner).view(np.uint8).reshape(-1)
                                       for row in plain.numpy()])
                assert np.array_equal(_raw(fused_q), want), what
            assert np.array_equal(down_fused.numpy(), down_plain.numpy()), what


def test_glu_refuses_what_it_cannot_fuse():
    ctx = pyggml.Context(16 << 20)
    q4 = ctx.new_tensor_2d(T.Q4_0, 64, 64)
    q8 = ctx.new_tensor_2d(T.Q8_0, 64, 64)
    short = ctx.new_tensor_2d(T.Q4_0, 64, 32)
    odd = ctx.new_tensor_2d(T.Q4_K, 256, 160)
    x = ctx.new_tensor_2d(T.F32, 64, 3)
    x256 = ctx.new_tensor_2d(T.F32, 256, 3)
    with pytest.raises(ValueError, match="activation"):
        ops.mul_mat_glu(ctx, q4, q4, x, "relu")
    with pytest.raises(ValueError, match="one type and shape"):
        ops.mul_mat_glu(ctx, q4, q8, x)
    with pytest.raises(ValueError, match="one type and shape"):
        ops.mul_mat_glu(ctx, q4, short, x)
    with pytest.raises(ValueError, match="out_type"):
        ops.mul_mat_glu(ctx, q4, q4, x, "silu", T.Q4_0)
    with pytest.raises(ValueError, match="whole Q8_K blocks"):
        ops.mul_mat_glu(ctx, odd, odd, x256, "silu", T.Q8_K)
    with pytest.raises(ValueError, match="inner dims"):
        ops.mul_mat_glu(ctx, q4, q4, x256)


def test_mul_mat_takes_only_its_own_activation_type():
    ctx = pyggml.Context(16 << 20)
    q4k = ctx.new_tensor_2d(T.Q4_K, 256, 8)
    rows_q8_0 = ctx.new_tensor_2d(T.Q8_0, 256, 2)
    rows_q8_k = ctx.new_tensor_2d(T.Q8_K, 256, 2)
    assert ops.mul_mat(ctx, q4k, rows_q8_k).ne[:2] == (8, 2)
    with pytest.raises(ValueError, match="activation type Q8_K"):
        ops.mul_mat(ctx, q4k, rows_q8_0)


def test_llama_ffn_runs_fused(model_path):
    """The model graphs use the op (bias-free gated FFNs): the real files' logits tests then
    check it against llama.cpp."""
    from pyggml.runner import ModelRunner
    from pyggml.tensor import Op
    runner = ModelRunner(model_path("smollm2-135m-q4_0"), n_ctx=64, n_threads=2)
    try:
        built = runner._graph_for(4, 64, 1)
        ops_used = {node.op for node in built.graph.nodes}
        assert Op.MUL_MAT_GLU in ops_used and Op.SWIGLU not in ops_used
    finally:
        runner.close()
