"""Every graph op of csrc/ops/ (all but mul_mat) against numpy, through one helper, check_op,
parametrised over SIMD path (scalar and the best this CPU has), thread count (1, 2, 3) and the
layout of the inputs: contiguous, "permuted" (ggml dims 1 and 2 swapped: rows stay contiguous,
nb1/nb2 do not follow) and "transposed" (dims 0 and 1 swapped: nb0 != element size)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import gguf
import numpy as np
import pytest

import pyggml
from pyggml import GGMLType as T
from pyggml import _core, ops

PATHS = sorted({"scalar", _core.best_simd_path()})
THREADS = (1, 2, 3)
LAYOUTS = ("contiguous", "permuted", "transposed")
SWAPPED_DIMS = {"permuted": (1, 2), "transposed": (0, 1)}
NP_DTYPE = {T.F32: np.float32, T.F16: np.float16, T.I32: np.int32}


@dataclass
class Input:
    """A leaf: values in numpy order. raw = the bytes of a quantized tensor (values are then
    what it dequantizes to). Only F32/F16 inputs with movable=True follow the layout."""
    values: np.ndarray
    type: T = T.F32
    raw: bytes | None = None
    movable: bool = True


def _leaf(ctx, inp: Input, layout: str):
    arr = inp.values
    ne = tuple(reversed(arr.shape))
    if inp.raw is not None:
        return ctx.new_tensor(inp.type, ne).set_bytes(inp.raw)
    if layout == "contiguous" or not inp.movable or inp.type not in (T.F32, T.F16):
        return ctx.new_tensor(inp.type, ne).set(arr.astype(NP_DTYPE[inp.type]))
    # store the array with two ggml dims swapped, then permute them back: same logical values,
    # non-contiguous strides
    arr4 = arr.reshape((1,) * (4 - arr.ndim) + arr.shape)
    a, b = SWAPPED_DIMS[layout]
    np_axes = [0, 1, 2, 3]
    np_axes[3 - a], np_axes[3 - b] = np_axes[3 - b], np_axes[3 - a]
    stored = np.ascontiguousarray(arr4.transpose(np_axes))
    base = ctx.new_tensor(inp.type, tuple(reversed(stored.shape))).set(stored.astype(NP_DTYPE[inp.type]))
    axes = [0, 1, 2, 3]
    axes[a], axes[b] = b, a
    view = ops.permute(ctx, base, *axes)
    np.testing.assert_array_equal(view.numpy().reshape(arr.shape), arr.astype(NP_DTYPE[inp.type]))
    return view


def check_op(build_fn, numpy_ref, inputs, tol, *, path, n_threads, layout="contiguous"):
    """Build build_fn(ctx, *leafs), compute it on `path` with n_threads, compare with
    numpy_ref(*values) within tol: one number for rtol and atol, or (rtol, atol).
    Returns the result array."""
    rtol, atol = tol if isinstance(tol, tuple) else (tol, tol)
    pyggml.set_simd_path(path)
    ctx = pyggml.Context(32 << 20)
    leafs = [_leaf(ctx, inp, layout) for inp in inputs]
    out = build_fn(ctx, *leafs)
    pyggml.Graph(ctx).build_forward_expand(out).compute(n_threads=n_threads)
    expected = np.asarray(numpy_ref(*[inp.values for inp in inputs]))
    got = out.numpy().reshape(expected.shape)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
    return got


@pytest.fixture(autouse=True)
def _restore_simd_path():
    before = pyggml.simd_path()
    yield
    pyggml.set_simd_path(before)


def grid(layouts=LAYOUTS):
    """Decorator: parametrise a test over path × threads × layout."""
    def wrap(fn):
        fn = pytest.mark.parametrize("layout", layouts)(fn)
        fn = pytest.mark.parametrize("n_threads", THREADS)(fn)
        return pytest.mark.parametrize("path", PATHS)(fn)
    return wrap


def rand(*shape, lo=-3.0, hi=3.0, seed=0):
    return np.random.default_rng(seed + sum(shape)).uniform(lo, hi, size=shape).astype(np.float32)


def tiled(b, shape):
    """ggml's broadcast: b repeated along every dim until it has `shape`."""
    b = b.reshape((1,) * (len(shape) - b.ndim) + b.shape)
    return np.tile(b, [s // t for s, t in zip(shape, b.shape)])


# ---- binary ----------------------------------------------------------------------------------

BINARY = {
    "add": (ops.add, np.add), "sub": (ops.sub, np.subtract),
    "mul": (ops.mul, np.multiply), "div": (ops.div, np.divide),
}
A_SHAPE = (2, 3, 10, 37)
B_SHAPES = [(2, 3, 10, 37), (1, 1, 1, 37), (2, 1, 5, 37), (1, 3, 10, 1), (1, 1, 2, 37)]


@pytest.mark.parametrize("b_shape", B_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("op", BINARY)
@grid()
def test_binary(op, b_shape, path, n_threads, layout):
    build, ref = BINARY[op]
    a = rand(*A_SHAPE)
    b = rand(*b_shape, seed=1)
    if op == "div":
        b = np.where(np.abs(b) < 0.5, 0.5, b).astype(np.float32)
    check_op(lambda ctx, x, y: build(ctx, x, y), lambda x, y: ref(x, tiled(y, x.shape)),
             [Input(a), Input(b)], 1e-6, path=path, n_threads=n_threads, layout=layout)


# ---- unary -----------------------------------------------------------------------------------

def gelu_ref(x):
    x = x.astype(np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_f16_table_ref(x):
    """ggml's CPU GELU: x rounded to F16, GELU of that rounded to F16; |x| >= 10 short-cuts."""
    g = gelu_ref(x.astype(np.float16)).astype(np.float16).astype(np.float64)
    return np.where(x <= -10, 0.0, np.where(x >= 10, x, g))


UNARY = {
    "scale": (lambda ctx, x: ops.scale(ctx, x, -0.625), lambda x: x * -0.625, 0),
    "silu": (ops.silu, lambda x: x / (1 + np.exp(-x.astype(np.float64))), 2e-6),
    "gelu": (ops.gelu, gelu_f16_table_ref, (1e-3, 1e-7)),   # one F16 ulp
    "relu": (ops.relu, lambda x: np.maximum(x, 0), 0),
    "tanh": (ops.tanh, lambda x: np.tanh(x.astype(np.float64)), 2e-6),
}


@pytest.mark.parametrize("op", UNARY)
@grid()
def test_unary(op, path, n_threads, layout):
    build, ref, tol = UNARY[op]
    x = rand(3, 7, 45, lo=-12, hi=12)
    x[0, 0, :6] = [0.0, -0.0, 30.0, -30.0, 1e-20, -90.0]
    check_op(build, ref, [Input(x)], tol, path=path, n_threads=n_threads, layout=layout)


# ---- norms -----------------------------------------------------------------------------------

def rms_norm_ref(x, eps):
    x = x.astype(np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def norm_ref(x, eps):
    x = x.astype(np.float64)
    d = x - x.mean(axis=-1, keepdims=True)
    return d / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + eps)


@pytest.mark.parametrize("kind", ["rms_norm", "norm"])
@pytest.mark.parametrize("eps", [1e-5, 1e-6])
@grid()
def test_norms(kind, eps, path, n_threads, layout):
    x = rand(2, 5, 67) + 0.5
    build = getattr(ops, kind)
    ref = rms_norm_ref if kind == "rms_norm" else norm_ref
    check_op(lambda ctx, t: build(ctx, t, eps), lambda v: ref(v, eps), [Input(x)], 2e-5,
             path=path, n_threads=n_threads, layout=layout)


# ---- softmax, diag_mask_inf ------------------------------------------------------------------

def soft_max_ref(x, mask, scale):
    z = x.astype(np.float64) * scale
    if mask is not None:
        z = z + tiled(mask[..., : x.shape[-2], :], x.shape)
    out = np.zeros_like(z)
    live = ~np.all(np.isneginf(z), axis=-1)
    zl = z[live]
    e = np.exp(zl - zl.max(axis=-1, keepdims=True))
    out[live] = e / e.sum(axis=-1, keepdims=True)
    return out


def causal_mask(rows, cols, n_past, dead_row=None):
    m = np.zeros((rows, cols), dtype=np.float32)
    for i in range(rows):
        m[i, n_past + i + 1:] = -np.inf
    if dead_row is not None:
        m[dead_row, :] = -np.inf
    return m


@pytest.mark.parametrize("mask_type", [None, T.F32, T.F16])
@grid()
def test_soft_max(mask_type, path, n_threads, layout):
    x = rand(3, 4, 37, lo=-8, hi=8)
    scale = 0.35
    if mask_type is None:
        check_op(lambda ctx, a: ops.soft_max_ext(ctx, a, None, scale), lambda a: soft_max_ref(a, None, scale),
                 [Input(x)], 1e-6, path=path, n_threads=n_threads, layout=layout)
        return
    mask = causal_mask(6, 37, n_past=30, dead_row=2)    # more rows than x; row 2 fully masked
    got = check_op(lambda ctx, a, m: ops.soft_max_ext(ctx, a, m, scale),
                   lambda a, m: soft_max_ref(a, m, scale),
                   [Input(x), Input(mask, mask_type, movable=False)], 1e-6,
                   path=path, n_threads=n_threads, layout=layout)
    assert np.all(got[:, 2, :] == 0.0)             # an all -inf row is written as zeros
    assert np.all(got[:, 0, 31:] == 0.0)           # masked entries are exact zeros


@pytest.mark.parametrize("n_past", [0, 2, -1])
@grid()
def test_diag_mask_inf(n_past, path, n_threads, layout):
    x = rand(2, 5, 9)
    def ref(a):
        out = a.copy()
        for i1 in range(a.shape[-2]):
            out[..., i1, max(0, n_past + i1 + 1):] = -np.inf
        return out
    check_op(lambda ctx, a: ops.diag_mask_inf(ctx, a, n_past), ref, [Input(x)], 0,
             path=path, n_threads=n_threads, layout=layout)


# ---- rope ------------------------------------------------------------------------------------

def rope_ref(x, pos, n_dims, mode, n_ctx_orig=0, base=10000.0, freq_scale=1.0, ext_factor=0.0,
             attn_factor=1.0, beta_fast=32.0, beta_slow=1.0, factors=None):
    """x (n_tokens, n_head, head_dim). ggml's numerics: theta is computed in float32 —
    theta_scale = powf(base, -2/n_dims), theta_{i+1} = theta_i * theta_scale, divided by
    factors[i] if given, and YaRN's interpolation/extrapolation mix; cos, sin and the rotation
    in double."""
    out = x.astype(np.float64).copy()
    theta_scale = np.float32(base) ** np.float32(-2.0 / n_dims)

    def corr_dim(n_rot):
        return n_dims * math.log(n_ctx_orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))
    low = max(0.0, math.floor(corr_dim(beta_fast))) if ext_factor else 0.0
    high = min(n_dims - 1.0, math.ceil(corr_dim(beta_slow))) if ext_factor else 0.0
    half = n_dims // 2
    for t, p in enumerate(pos):
        theta = np.float32(p)
        for i in range(half):
            f = np.float32
            extrap = theta if factors is None else f(theta / f(factors[i]))
            th = f(freq_scale) * extrap
            mscale = attn_factor
            if ext_factor:
                ramp = f(1) - min(f(1), max(f(0), (f(i) - f(low)) / max(f(0.001), f(high) - f(low))))
                mix = ramp * f(ext_factor)
                th = th * (f(1) - mix) + extrap * mix
                mscale *= 1 + 0.1 * math.log(1 / freq_scale)
            c, s = math.cos(float(th)) * mscale, math.sin(float(th)) * mscale
            a, b = (i, i + half) if mode == 2 else (2 * i, 2 * i + 1)
            x0, x1 = x[t, :, a].astype(np.float64), x[t, :, b].astype(np.float64)
            out[t, :, a] = x0 * c - x1 * s
            out[t, :, b] = x0 * s + x1 * c
            theta = np.float32(theta * theta_scale)
    return out


ROPE_CASES = {
    "normal": dict(n_dims=32, mode=0),
    "neox": dict(n_dims=32, mode=2),
    "partial_normal": dict(n_dims=16, mode=0, base=500000.0),
    "partial_neox": dict(n_dims=8, mode=2, freq_scale=0.5),
    "yarn": dict(n_dims=32, mode=2, n_ctx_orig=512, freq_scale=0.25, ext_factor=1.0,
                 attn_factor=0.9, beta_fast=32.0, beta_slow=1.0),
}


@pytest.mark.parametrize("case", ROPE_CASES)
@grid()
def test_rope(case, path, n_threads, layout):
    kw = ROPE_CASES[case]
    x = rand(5, 3, 32)                                  # (n_tokens, n_head, head_dim)
    pos = np.array([0, 3, 7, 100, 2047], dtype=np.int32)
    params = {k: v for k, v in kw.items() if k not in ("base",)}
    if "base" in kw:
        params["freq_base"] = kw["base"]
    check_op(lambda ctx, a, p: ops.rope_ext(ctx, a, p, **params),
             lambda a, p: rope_ref(a, p, **kw),
             [Input(x), Input(pos, T.I32)], 2e-5, path=path, n_threads=n_threads, layout=layout)


@pytest.mark.parametrize("mode, n_dims, ext_factor", [(0, 32, 0.0), (2, 24, 0.0), (2, 32, 1.0)])
@grid()
def test_rope_frequency_factors(mode, n_dims, ext_factor, path, n_threads, layout):
    """Per-pair divisors of the angle (Llama 3.1 rope_freqs, Phi-3 LongRoPE), also under YaRN."""
    x = rand(5, 3, 32)
    pos = np.array([0, 3, 7, 100, 2047], dtype=np.int32)
    factors = np.random.default_rng(5).uniform(1.0, 8.0, n_dims // 2).astype(np.float32)
    kw = dict(n_dims=n_dims, mode=mode, n_ctx_orig=512, freq_scale=0.5, ext_factor=ext_factor, attn_factor=1.19)
    check_op(lambda ctx, a, p, ff: ops.rope_ext(ctx, a, p, freq_factors=ff, **kw),
             lambda a, p, ff: rope_ref(a, p, factors=ff, **kw),
             [Input(x), Input(pos, T.I32), Input(factors, movable=False)], 2e-5, path=path, n_threads=n_threads, layout=layout)


def test_rope_frequency_factors_must_cover_the_rotated_pairs():
    ctx = pyggml.Context(1 << 20)
    x = ctx.new_tensor_3d(T.F32, 32, 2, 4)
    pos = ctx.new_tensor_1d(T.I32, 4)
    with pytest.raises(ValueError, match="freq_factors"):
        ops.rope_ext(ctx, x, pos, n_dims=32, freq_factors=ctx.new_tensor_1d(T.F32, 8))


# ---- get_rows, set_rows ------------------------------------------------------------------------

def quantized_input(values, type_):
    """values quantized by gguf-py; Q4_K (which gguf-py cannot quantize) as random blocks of the
    same shape with sane F16 scales (d, dmin lead each 144-byte block)."""
    qt = gguf.GGMLQuantizationType(int(type_))
    if type_ == T.Q4_K:
        n_blocks = values.size // 256
        raw = np.random.default_rng(11).integers(0, 256, size=(n_blocks, 144), dtype=np.uint8)
        raw[:, 0:4] = np.array([0.01, 0.002], np.float16).view(np.uint8)
        raw = raw.reshape(values.shape[:-1] + (values.shape[-1] // 256 * 144,))
    else:
        raw = gguf.quants.quantize(values, qt)
    return Input(gguf.quants.dequantize(raw, qt).astype(np.float32), type_, raw=raw.tobytes())


@pytest.mark.parametrize("table_type", [T.F32, T.F16, T.Q8_0, T.Q4_0, T.Q4_K])
@grid()
def test_get_rows(table_type, path, n_threads, layout):
    values = rand(2, 7, 256)                            # 2 batches of a 7-row table
    if table_type in (T.F32, T.F16):
        table = Input(values.astype(NP_DTYPE[table_type]).astype(np.float32), table_type)
    else:
        table = quantized_input(values, table_type)
    ids = np.array([[6, 0, 3, 3], [1, 9, -1, 5]], dtype=np.int32)   # 9, -1 are out of range

    def ref(tab, idx):
        out = np.zeros(idx.shape + tab.shape[-1:], np.float32)
        for b in range(idx.shape[0]):
            for j, r in enumerate(idx[b]):
                if 0 <= r < tab.shape[1]:
                    out[b, j] = tab[b, r]
        return out
    check_op(ops.get_rows, ref, [table, Input(ids, T.I32)], 0, path=path, n_threads=n_threads, layout=layout)


@pytest.mark.parametrize("cache_type", [T.F32, T.F16, T.Q8_0])
@grid()
def test_set_rows(cache_type, path, n_threads, layout):
    rows = rand(3, 64)
    idx = np.array([7, 0, 12], dtype=np.int32)          # 12 is past the 10 rows: skipped
    initial = rand(10, 64, seed=5)
    if cache_type == T.Q8_0:
        cache = quantized_input(initial, cache_type)
    else:
        cache = Input(initial.astype(NP_DTYPE[cache_type]).astype(np.float32), cache_type, movable=False)

    def ref(src, ix, dst):
        out = dst.copy()
        for i, r in enumerate(ix):
            if 0 <= r < dst.shape[0]:
                out[r] = src[i]
        if cache_type == T.F16:
            return out.astype(np.float16)
        if cache_type == T.Q8_0:
            qt = gguf.GGMLQuantizationType.Q8_0
            return gguf.quants.dequantize(gguf.quants.quantize(out[[7, 0]], qt), qt)
        return out

    if cache_type == T.Q8_0:
        def build(ctx, src, ix, dst):
            out = ops.set_rows(ctx, dst, src, ix)
            return ops.get_rows(ctx, out, ctx.new_tensor(T.I32, (2,)).set(np.array([7, 0], np.int32)))
    else:
        def build(ctx, src, ix, dst):
            return ops.set_rows(ctx, dst, src, ix)
    check_op(build, ref, [Input(rows), Input(idx, T.I32), cache], 0,
             path=path, n_threads=n_threads, layout=layout)


# ---- cpy / cont / dup -------------------------------------------------------------------------

def _cpy_into(type_, ne):
    def build(ctx, a):
        return ops.cpy(ctx, a, ctx.new_tensor(type_, ne))
    return build


CPY_CASES = {
    # name: (src type, dst type, dst ne or None = same shape, tolerance)
    "f32_f16": (T.F32, T.F16, None),
    "f32_bf16": (T.F32, T.BF16, None),
    "f16_f32": (T.F16, T.F32, None),
    "f32_f32_reshaped": (T.F32, T.F32, (40, 21)),
    "f16_f16_reshaped": (T.F16, T.F16, (20, 42)),
    "f32_f16_reshaped": (T.F32, T.F16, (840,)),
}


def to_f16(x):
    with np.errstate(over="ignore"):     # beyond 65504 rounds to inf, as in C
        return x.astype(np.float16)


def bf16_round(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("case", CPY_CASES)
@grid()
def test_cpy(case, path, n_threads, layout):
    src_type, dst_type, dst_ne = CPY_CASES[case]
    x = rand(4, 5, 42, lo=-70000, hi=70000)             # beyond F16's range too
    x[0, 0, :4] = [0.0, -0.0, 65504.0, 1e-6]
    if src_type == T.F16:
        x = np.clip(x, -65504, 65504).astype(np.float16).astype(np.float32)
    ne = dst_ne or tuple(reversed(x.shape))
    if dst_type == T.BF16:
        def build(ctx, a):
            out = ops.cpy(ctx, a, ctx.new_tensor(T.BF16, ne))
            return ops.cpy(ctx, out, ctx.new_tensor(T.F32, ne))   # read back through F32
        ref = bf16_round
    else:
        build = _cpy_into(dst_type, ne)
        ref = to_f16 if dst_type == T.F16 else (lambda a: a)
    expected_shape = tuple(reversed(ne))
    check_op(build, lambda a: ref(a).reshape(expected_shape), [Input(x, src_type)], 0,
             path=path, n_threads=n_threads, layout=layout)


@pytest.mark.parametrize("qtype", [T.Q8_0, T.Q4_0])
@grid()
def test_cpy_to_quantized(qtype, path, n_threads, layout):
    x = rand(3, 4, 64)
    qt = gguf.GGMLQuantizationType(int(qtype))

    def build(ctx, a):
        q = ops.cpy(ctx, a, ctx.new_tensor(qtype, (64, 4, 3)))
        return ops.cpy(ctx, q, ctx.new_tensor(T.F32, (64, 4, 3)))   # dequantized by the flat path
    check_op(build, lambda a: gguf.quants.dequantize(gguf.quants.quantize(a, qt), qt), [Input(x)], 0,
             path=path, n_threads=n_threads, layout=layout)


@pytest.mark.parametrize("fn", ["cont", "dup"])
@grid(layouts=("permuted", "transposed"))
def test_cont(fn, path, n_threads, layout):
    x = rand(3, 6, 17)
    check_op(getattr(ops, fn), lambda a: a, [Input(x)], 0, path=path, n_threads=n_threads, layout=layout)


# ---- concat, reductions -----------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, 2, 3])
@grid()
def test_concat(dim, path, n_threads, layout):
    shape_a = [2, 3, 4, 5]
    shape_b = list(shape_a)
    shape_b[3 - dim] = 2
    a, b = rand(*shape_a), rand(*shape_b, seed=3)
    check_op(lambda ctx, x, y: ops.concat(ctx, x, y, dim), lambda x, y: np.concatenate([x, y], axis=3 - dim),
             [Input(a), Input(b)], 0, path=path, n_threads=n_threads, layout=layout)


@grid()
def test_sum_rows(path, n_threads, layout):
    x = rand(2, 3, 101)
    check_op(ops.sum_rows, lambda a: a.astype(np.float64).sum(axis=-1, keepdims=True), [Input(x)], 1e-5,
             path=path, n_threads=n_threads, layout=layout)


@grid()
def test_argmax(path, n_threads, layout):
    x = rand(9, 50)
    x[3, [10, 20]] = 7.0                                # tie: the first index wins
    x[5, :] = -np.inf
    x[6, 4] = np.nan                                    # NaN is ignored
    got = check_op(ops.argmax, lambda a: np.array([10 if i == 3 else 0 if i == 5 else
                                                   int(np.nanargmax(r)) for i, r in enumerate(a)]),
                   [Input(x)], 0, path=path, n_threads=n_threads, layout=layout)
    assert got[3] == 10


# ---- flash attention ---------------------------------------------------------------------------

def attention_ref(q, k, v, mask, scale, softcap, kv_f16):
    """q (n_q, n_head, D); k, v (n_kv, n_head_kv, D). ggml's unfused numerics: with F16 K/V, q
    is rounded to F16 before q·k and the probabilities to F16 before p·v; a query whose every
    position is masked gives zeros."""
    n_q, n_head, _ = q.shape
    group = n_head // k.shape[1]
    qq = q.astype(np.float16).astype(np.float64) if kv_f16 else q.astype(np.float64)
    out = np.zeros((n_q, n_head, v.shape[2]))
    for h in range(n_head):
        s = qq[:, h, :] @ k[:, h // group, :].astype(np.float64).T * scale
        if softcap:
            s = softcap * np.tanh(s / softcap)
        if mask is not None:
            s = s + mask[:n_q, : k.shape[0]]
        for i in range(n_q):
            if np.all(np.isneginf(s[i])):
                continue
            e = np.exp(s[i] - s[i].max())
            p = e / e.sum()
            if kv_f16:
                p = p.astype(np.float16).astype(np.float64)
            out[i, h] = p @ v[:, h // group, :].astype(np.float64)
    return out


FA_CASES = {
    # name: (n_q, n_head, n_head_kv, n_kv, D, kv type, masked, softcap)
    "decode_f16": (1, 9, 3, 150, 64, T.F16, False, 0.0),
    "prompt_f16_mask": (5, 4, 2, 70, 64, T.F16, True, 0.0),
    "prompt_f32_mask": (5, 4, 4, 70, 32, T.F32, True, 0.0),
    "softcap_f16": (3, 2, 1, 33, 64, T.F16, True, 30.0),
}


@pytest.mark.parametrize("case", FA_CASES)
@grid()
def test_flash_attn_ext(case, path, n_threads, layout):
    n_q, n_head, n_head_kv, n_kv, D, kv_type, masked, softcap = FA_CASES[case]
    n_ctx = n_kv + 10                                   # the cache is longer than the live part
    q = rand(n_q, n_head, D, lo=-1.5, hi=1.5)
    dt = NP_DTYPE[kv_type]
    k_cache = rand(n_ctx, n_head_kv, D, seed=7).astype(dt).astype(np.float32)
    v_cache = rand(n_ctx, n_head_kv, D, seed=8).astype(dt).astype(np.float32)
    scale = 1.0 / math.sqrt(D)
    inputs = [Input(q), Input(k_cache, kv_type, movable=False), Input(v_cache, kv_type, movable=False)]
    if masked:
        mask = causal_mask(n_q + 3, n_kv + 6, n_past=n_kv - n_q, dead_row=1)
        inputs.append(Input(mask, movable=False))

    def build(ctx, qt, kc, vc, m=None):
        kv = [ops.view_3d(ctx, c, D, n_head_kv, n_kv, c.nb[1], c.nb[2], 0) for c in (kc, vc)]
        return ops.flash_attn_ext(ctx, qt, kv[0], kv[1], m, scale, softcap)

    def ref(qv, kc, vc, m=None):
        return attention_ref(qv, kc[:n_kv], vc[:n_kv], m, scale, softcap, kv_type == T.F16)
    # F16: a probability may land one F16 ulp apart at a rounding boundary
    tol = 1e-4 if kv_type == T.F16 else 2e-5
    got = check_op(build, ref, inputs, tol, path=path, n_threads=n_threads, layout=layout)
    if masked:
        assert np.all(got[1] == 0.0)


# ---- in place ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_elementwise_chain_in_place(path):
    """The allocator runs element-wise ops over their dying source: same results."""
    pyggml.set_simd_path(path)
    x, y = rand(4, 33), rand(4, 33, seed=2)
    ctx = pyggml.Context(4 << 20)
    a = ctx.new_tensor(T.F32, (33, 4)).set(x)
    b = ctx.new_tensor(T.F32, (33, 4)).set(y)
    t = ops.add(ctx, a, b)
    for fn in (ops.silu, ops.relu, ops.tanh):
        t = fn(ctx, t)
    out = ops.div(ctx, ops.mul(ctx, ops.scale(ctx, t, 3.0), b), ops.add(ctx, b, a))
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    assert gf.allocate().n_inplace > 0
    gf.compute(n_threads=2)
    z = (x + y).astype(np.float64)
    z = np.tanh(np.maximum(z / (1 + np.exp(-z)), 0)) * 3.0 * y / (y + x)
    np.testing.assert_allclose(out.numpy(), z, rtol=1e-5, atol=1e-5)
