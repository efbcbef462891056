"""pyggml.quants against gguf-py (the oracle for block layouts and the reference quantizers),
against ggml's reference K-quant quantizer (its measured RMSE), and the dot kernels of every
SIMD path against float dots of the dequantized operands.

Tolerances (derived, see dot_tolerance / active_dequant_tolerance):
  u = 2^-24 (f32 unit roundoff). A dot kernel sums exact integer block sums, scales each with
  two f32 products, and accumulates nb block terms in f32: its error is at most
  (nb + 8) * u * S, where S = sum_i (|w_i| + 2 |off_i|) * |a_i| bounds the magnitudes of both the
  scale and the offset ("min") parts of every term (|off_i| read from the block's min fields).
  Q4_1/Q5_1 · Q8_1: the Q8_1 format defines each activation block's sum as its s field
  (f16(d * sum q)), so the expected value uses s for the min term (expected_dot).
"""
from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT
from gguf import GGUFReader
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import Q4_K as GgufQ4K
from gguf.quants import quantize as gguf_quantize

import pyggml
from pyggml import _core
from pyggml import quants as pq
from pyggml.types import GGMLType as G
from pyggml.types import UnsupportedTypeError, traits

U = 2.0 ** -24
EXACT_QUANT = [G.F32, G.F16, G.BF16, G.Q4_0, G.Q4_1, G.Q5_0, G.Q5_1, G.Q8_0]
K_WEIGHTS = [G.Q2_K, G.Q3_K, G.Q4_K, G.Q5_K, G.Q6_K]
WEIGHTS = EXACT_QUANT + K_WEIGHTS
ALL_TYPES = WEIGHTS + [G.Q8_1, G.Q8_K]
ACTIVATIONS = [G.F32, G.F16, G.BF16, G.Q8_0, G.Q8_1, G.Q8_K]


def bs(t):
    return traits(t).block_size


def ts(t):
    return traits(t).type_size


def gguf_bytes(x, t):
    """gguf-py's quantization as bytes (it returns float arrays for F32/F16)."""
    return np.ascontiguousarray(gguf_quantize(x, GT(int(t)))).view(np.uint8)


def raw_bytes(a):
    """The bytes of an array (quantize gives float32/float16 arrays for F32/F16, uint8 rows otherwise)."""
    return np.ascontiguousarray(a).view(np.uint8)


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def realistic_rows(rng, rows, n):
    """Rows with per-block varying scales, some outliers, an all-zero block."""
    x = rng.standard_normal((rows, n)).astype(np.float32)
    x *= np.exp(rng.uniform(-4, 4, size=(rows, n // 32, 1))).repeat(32, axis=2).reshape(rows, n).astype(np.float32)
    x[rng.random((rows, n)) < 0.01] *= 40
    x[0, :32] = 0
    return x


def random_blocks(rng, t, n_blocks):
    """Random bytes with finite, moderate f16 scales at the type's scale offsets (float types:
    random finite values)."""
    if t in (G.F32, G.F16, G.BF16):
        x = rng.standard_normal(n_blocks).astype(np.float32)
        return x.view(np.uint8) if t == G.F32 else pq.quantize(x, t).view(np.uint8)
    raw = rng.integers(0, 256, size=(n_blocks, ts(t)), dtype=np.uint8)
    scale_offsets = {G.Q4_0: [0], G.Q4_1: [0, 2], G.Q5_0: [0], G.Q5_1: [0, 2], G.Q8_0: [0], G.Q8_1: [0, 2],
                     G.Q2_K: [80, 82], G.Q3_K: [108], G.Q4_K: [0, 2], G.Q5_K: [0, 2], G.Q6_K: [208]}
    for off in scale_offsets.get(t, []):
        raw[:, off:off + 2] = rng.normal(0, 0.05, n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    if t == G.Q8_K:
        raw[:, 0:4] = rng.normal(0, 0.05, n_blocks).astype(np.float32).view(np.uint8).reshape(-1, 4)
    return raw.reshape(-1)


# ---------------- independent numpy decoders for the two types gguf-py lacks ----------------

def numpy_dequantize_q8_1(raw):
    b = raw.reshape(-1, 36)
    return (b[:, 0:2].copy().view(np.float16).astype(np.float32) * b[:, 4:].view(np.int8).astype(np.float32)).reshape(-1)


def numpy_dequantize_q8_K(raw):
    b = raw.reshape(-1, 292)
    return (b[:, 0:4].copy().view(np.float32) * b[:, 4:260].view(np.int8).astype(np.float32)).reshape(-1)


def oracle_dequantize(raw, t):
    if t == G.Q8_1:
        return numpy_dequantize_q8_1(raw)
    if t == G.Q8_K:
        return numpy_dequantize_q8_K(raw)
    return gguf_dequantize(raw, GT(int(t)))


# ---------------- dequantize: bit-exact with gguf-py ----------------

@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.name)
def test_dequantize_random_blocks_bit_exact(t):
    rng = np.random.default_rng(int(t))
    n_blocks = 7 * 3 * (1 if bs(t) == 256 else 8)
    raw = random_blocks(rng, t, n_blocks).reshape(7, 3, -1)  # odd row counts, 3-D
    ours = pq.dequantize(raw, t)
    assert ours.shape == (7, 3, raw.shape[-1] // ts(t) * bs(t)) and ours.dtype == np.float32
    assert same_bits(ours, np.asarray(oracle_dequantize(raw, t), dtype=np.float32).reshape(ours.shape))


@pytest.mark.parametrize("t", [t for t in ALL_TYPES if t not in (G.Q8_1, G.Q8_K)], ids=lambda t: t.name)
def test_dequantize_arbitrary_bytes_bit_exact(t):
    """Every bit pattern, including inf/NaN/subnormal scales: same bits as gguf-py (quiet NaNs
    compare by bits; pyggml quiets signalling NaNs, so those compare as 'is NaN')."""
    rng = np.random.default_rng(100 + int(t))
    raw = rng.integers(0, 256, size=(5, 4 * ts(t) * (1 if bs(t) == 256 else 8)), dtype=np.uint8)
    with np.errstate(all="ignore"):
        want = np.asarray(gguf_dequantize(raw, GT(int(t))), dtype=np.float32)
    ours = pq.dequantize(raw, t)
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(ours))
    assert np.array_equal(ours[~nan].view(np.uint32), want[~nan].view(np.uint32))


@pytest.mark.parametrize("t", [G.F16, G.BF16], ids=lambda t: t.name)
def test_dequantize_16_bit_floats_all_bit_patterns(t):
    raw = np.arange(65536, dtype=np.uint16).view(np.uint8)
    ours = pq.dequantize(raw, t)
    want = np.asarray(gguf_dequantize(raw, GT(int(t))), dtype=np.float32)
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(ours))
    assert np.array_equal(ours[~nan].view(np.uint32), want[~nan].view(np.uint32))


# ---------------- quantize: bit-exact with gguf-py where required ----------------

@pytest.mark.parametrize("t", EXACT_QUANT, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", [(1, 32), (5, 96), (3, 7, 64)])
def test_quantize_bit_exact(t, shape):
    rng = np.random.default_rng(sum(shape) + int(t))
    x = realistic_rows(rng, int(np.prod(shape[:-1])), shape[-1]).reshape(shape)
    ours = pq.quantize(x, t)
    with np.errstate(over="ignore"):
        want = gguf_quantize(x, GT(int(t)))
    assert ours.dtype == want.dtype and ours.shape == want.shape   # float32/float16 for F32/F16
    if t not in (G.F32, G.F16):
        assert ours.dtype == np.uint8 and ours.shape == (*shape[:-1], shape[-1] // bs(t) * ts(t))
    assert np.array_equal(np.ascontiguousarray(ours).view(np.uint8), gguf_bytes(x, t))


def extreme_blocks():
    """32-value blocks at the edges: f16 limits, subnormals, ties, equal-magnitude extremes."""
    f16_max, tiny = 65504.0, 2.0 ** -24
    blocks = [
        np.full(32, 65504.0), np.full(32, -65504.0), np.zeros(32), np.full(32, -0.0),
        np.linspace(-f16_max, f16_max, 32), np.linspace(-65519.0, 65520.0, 32),
        np.array([tiny * k / 4 for k in range(32)]),           # f16 subnormal rounding ties
        np.array([1e-40 * (k - 16) for k in range(32)]),        # f32 denormals
        np.array([3.0, -3.0] * 16), np.array([-3.0, 3.0] * 16),  # equal-magnitude extremes
        np.geomspace(1e-30, 1e30, 32),                           # huge dynamic range
        np.array([1.0 + k * 2.0 ** -11 for k in range(32)]),     # f16 half-ulp ties
        np.array([1.0 + k * 2.0 ** -8 for k in range(32)]),      # bf16 half-ulp ties
        np.arange(32) / 31.0 * 15.0, np.arange(32) - 16.0,       # codes landing on .5 boundaries
    ]
    return np.stack(blocks).astype(np.float32)


@pytest.mark.parametrize("t", EXACT_QUANT, ids=lambda t: t.name)
def test_quantize_extremes_bit_exact(t):
    x = extreme_blocks()
    with np.errstate(all="ignore"):
        assert np.array_equal(raw_bytes(pq.quantize(x, t)), gguf_bytes(x, t))


def test_quantize_f16_edges_bit_exact():
    vals = np.array([65504, 65519.99, 65520, -65520, 1e9, np.inf, -np.inf, 2.0 ** -25, 2.0 ** -25 * 3,
                     2.0 ** -14 * (1 - 2.0 ** -11), 6e-8, -6e-8, 1e-45], dtype=np.float32)
    with np.errstate(over="ignore"):
        ours = pq.quantize(vals, G.F16)
        assert ours.dtype == np.float16 and ours.shape == vals.shape
        assert np.array_equal(ours.view(np.uint16), vals.astype(np.float16).view(np.uint16))


@pytest.mark.parametrize("t", [G.Q4_1, G.Q8_0, G.Q5_0, G.Q4_0, G.Q5_1, G.BF16], ids=lambda t: t.name)
def test_quantize_accepts_any_layout(t):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((64, 6)).astype(np.float64)
    x = base.T  # transposed float64 view: copied and cast, like gguf-py does
    assert np.array_equal(raw_bytes(pq.quantize(x, t)), gguf_bytes(np.ascontiguousarray(x, dtype=np.float32), t))


# ---------------- activation formats Q8_1 / Q8_K (oracles written from ggml's definitions) ----------------

def test_quantize_q8_1_matches_activation_rounding_plus_sum():
    rng = np.random.default_rng(5)
    x = realistic_rows(rng, 3, 128)
    ours = pq.quantize(x, G.Q8_1).reshape(-1, 36)
    d, q = activation_q8_oracle(x)
    assert np.array_equal(ours[:, 0:2].copy().view(np.float16)[:, 0], d.astype(np.float16))
    assert np.array_equal(ours[:, 4:].view(np.int8), q)
    qsum = ours[:, 4:].view(np.int8).astype(np.int32).sum(axis=1)
    assert np.array_equal(ours[:, 2:4].copy().view(np.float16).reshape(-1), (qsum.astype(np.float32) * d).astype(np.float16))


def activation_q8_oracle(x):
    """llama.cpp's x86 activation quantizer for Q8_0/Q8_1 blocks: d = amax / 127 (stored f16),
    codes = x * (127 / amax) rounded half to even. Returns (d f32, codes int8) per block."""
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1)
    d = amax / np.float32(127)
    inv = np.divide(np.float32(127), amax, out=np.zeros_like(amax), where=amax != 0)
    return d, np.clip(np.rint(b * inv[:, None]), -127, 127).astype(np.int8)


def test_activation_q8_rounds_like_llama_cpp(simd_path):
    """Ties round to even and the scale is 127 / amax (the weight quantizer uses 1 / d and
    rounds halves away): rows built so both rules matter."""
    rng = np.random.default_rng(9)
    x = realistic_rows(rng, 1, 256)[0]
    x[:32] = np.arange(32, dtype=np.float32) - np.float32(15.5)      # halves: ties at scale 1
    x[0] = 127                                                          # amax 127: 127 / amax = 1
    x[32:64] = np.float32(127) / np.arange(1, 33, dtype=np.float32)   # amax 127: codes 127 / k
    d, q = activation_q8_oracle(x)
    q8_0 = pq.quantize_row_activation(x, G.Q8_0).reshape(-1, 34)
    assert np.array_equal(q8_0[:, 2:].view(np.int8), q)
    assert np.array_equal(q8_0[:, :2].copy().view(np.float16)[:, 0], d.astype(np.float16))
    q8_1 = pq.quantize_row_activation(x, G.Q8_1).reshape(-1, 36)
    assert np.array_equal(q8_1[:, 4:].view(np.int8), q)
    s = (q.astype(np.int32).sum(axis=1).astype(np.float32) * d).astype(np.float16)
    assert np.array_equal(q8_1[:, 2:4].copy().view(np.float16)[:, 0], s)
    # the weight quantizer (gguf-py's) differs on these rows
    assert not np.array_equal(pq.quantize(x, G.Q8_0).reshape(-1, 34)[:, 2:].view(np.int8), q)


def test_quantize_q8_K_matches_definition():
    rng = np.random.default_rng(6)
    x = realistic_rows(rng, 2, 512)
    x[1, 256:] = 0
    ours = pq.quantize(x, G.Q8_K).reshape(-1, 292)
    for b, blk in zip(ours, x.reshape(-1, 256)):
        amax_i = int(np.argmax(np.abs(blk)))
        if blk[amax_i] == 0:
            assert not b.any()
            continue
        iscale = np.float32(-127) / blk[amax_i]
        q = np.minimum(127, np.rint(iscale * blk)).astype(np.int8)   # round half to even
        assert np.array_equal(b[4:260].view(np.int8), q)
        assert b[0:4].copy().view(np.float32)[0] == np.float32(1) / iscale
        assert np.array_equal(b[260:].copy().view(np.int16), q.astype(np.int16).reshape(16, 16).sum(axis=1))


# ---------------- K-quant quantizers: RMSE no worse than ggml's reference quantizer ----------------

# RMSE of ggml's quantize_row_<t>_ref (llama.cpp's libggml-base, ggml 0.25.3) round trip, measured
# by the script in docs/quants.md on default_rng(1).standard_normal(256 * 2048) and on gemma3's
# blk.0.ffn_gate.weight dequantized to f32.
GGML_REF_RMSE = {
    "gaussian": {G.Q2_K: 0.296477, G.Q3_K: 0.150884, G.Q4_K: 0.0713485, G.Q5_K: 0.0361259, G.Q6_K: 0.0177423},
    "gemma_ffn_gate": {G.Q2_K: 0.0120233, G.Q3_K: 0.00628862, G.Q4_K: 0.00287726, G.Q5_K: 0.00127236,
                       G.Q6_K: 0.000427314},
}


def round_trip_rmse(x, t):
    y = pq.dequantize(pq.quantize(x, t), t)
    return float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2)))


@pytest.mark.parametrize("t", K_WEIGHTS, ids=lambda t: t.name)
def test_k_quant_rmse_gaussian_no_worse_than_ggml(t):
    x = np.random.default_rng(1).standard_normal(256 * 2048).astype(np.float32).reshape(-1, 1024)
    assert round_trip_rmse(x, t) <= GGML_REF_RMSE["gaussian"][t]


@pytest.fixture(scope="module")
def gemma(model_path):
    reader = GGUFReader(model_path("gemma3-270m-q4_k_m"))
    return {t.name: t for t in reader.tensors}


@pytest.mark.parametrize("t", K_WEIGHTS, ids=lambda t: t.name)
def test_k_quant_rmse_real_weights_no_worse_than_ggml(t, gemma):
    src = gemma["blk.0.ffn_gate.weight"]
    x = gguf_dequantize(np.asarray(src.data), src.tensor_type).reshape(-1, 256)  # rows of 640
    assert round_trip_rmse(x, t) <= GGML_REF_RMSE["gemma_ffn_gate"][t]


@pytest.mark.parametrize("t", K_WEIGHTS, ids=lambda t: t.name)
def test_k_quant_requantize_is_near_fixed_point(t):
    """Data already representable in the format must come back with far less error than the
    first quantization made."""
    x = realistic_rows(np.random.default_rng(int(t)), 4, 512)
    y = pq.dequantize(pq.quantize(x, t), t)
    again = pq.dequantize(pq.quantize(y, t), t)
    assert np.sqrt(np.mean((again - y) ** 2)) <= 0.5 * np.sqrt(np.mean((y - x) ** 2))


@pytest.mark.parametrize("t", K_WEIGHTS, ids=lambda t: t.name)
def test_k_quant_zero_and_constant_blocks(t):
    x = np.zeros((3, 256), dtype=np.float32)
    x[1] = 0.75
    x[2] = -2.5
    y = pq.dequantize(pq.quantize(x, t), t)
    assert np.array_equal(y[0], np.zeros(256, np.float32))
    assert np.allclose(y[1:], x[1:], rtol=2 ** -6, atol=0)


# ---------------- NaN / inf policy (docs/quants.md) ----------------

@pytest.mark.parametrize("t", [G.F16, G.BF16], ids=lambda t: t.name)
def test_nan_and_inf_kept_by_float_types(t):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 1.0, 0.0, -0.0, 2.0], dtype=np.float32)
    assert np.array_equal(raw_bytes(pq.quantize(x, t)), gguf_bytes(x, t))
    y = pq.dequantize(pq.quantize(x, t), t)
    assert np.isnan(y[:2]).all() and np.array_equal(y[2:], x[2:])


@pytest.mark.parametrize("t", [G.Q4_0, G.Q4_1, G.Q5_0, G.Q5_1, G.Q8_0, G.Q8_1] + K_WEIGHTS + [G.Q8_K],
                         ids=lambda t: t.name)
def test_nan_poisons_only_its_block(t):
    x = realistic_rows(np.random.default_rng(9), 1, 2 * bs(t))[0]
    x[0] = 0  # the zero block of realistic_rows must not hide the NaN
    x[bs(t) // 2 + 1] = np.nan
    y = pq.dequantize(pq.quantize(x, t), t)
    assert np.isnan(y[:bs(t)]).all()
    assert np.isfinite(y[bs(t):]).all()


# ---------------- bad input ----------------

@pytest.mark.parametrize("t", [G.IQ2_XXS, G.IQ4_NL, G.TQ1_0, G.TQ2_0, G.MXFP4, G.I32], ids=lambda t: t.name)
def test_unsupported_types_name_the_type(t):
    with pytest.raises(UnsupportedTypeError, match=t.name):
        pq.dequantize(np.zeros((2, ts(t)), np.uint8), t)
    with pytest.raises(UnsupportedTypeError, match=t.name):
        pq.quantize(np.zeros((2, bs(t)), np.float32), t)


def test_bad_shapes_name_both_numbers():
    with pytest.raises(ValueError, match=r"37.*18"):
        pq.dequantize(np.zeros((2, 37), np.uint8), G.Q4_0)
    with pytest.raises(ValueError, match=r"100.*256"):
        pq.quantize(np.zeros((3, 100), np.float32), G.Q4_K)
    with pytest.raises(ValueError, match="scalar"):
        pq.quantize(np.float32(1.0), G.F16)
    with pytest.raises(ValueError, match="unknown ggml type id 5"):
        pq.dequantize(np.zeros(18, np.uint8), 5)


def test_vec_dot_rejects_mismatched_rows():
    w = pq.quantize(np.ones(64, np.float32), G.Q4_0)
    a = pq.quantize(np.ones(64, np.float32), G.Q8_0)
    with pytest.raises(ValueError, match="act_raw_row has 68 bytes; 96 elements"):
        pq.vec_dot(G.Q4_0, np.concatenate([w, w[:18]]), a, 96)
    with pytest.raises(ValueError, match="w_raw_row has 36 bytes; 64 elements of Q4_1"):
        pq.vec_dot(G.Q4_1, w, a, 64)
    with pytest.raises(ValueError, match="n = 50"):
        pq.vec_dot(G.Q4_0, w, a, 50)
    with pytest.raises(UnsupportedTypeError, match="Q8_K"):
        pq.vec_dot(G.Q8_K, np.zeros(292, np.uint8), np.zeros(292, np.uint8), 256)


# ---------------- the dispatched kernels of every path ----------------

def offset_bound(raw, t):
    """Per-element |offset| ('min' part) of a weight row, read from its block fields (the K-quant
    6-bit mins unpacked by gguf-py's own helper)."""
    b = raw.reshape(-1, ts(t))

    def f16_at(off):
        return np.abs(b[:, off:off + 2].copy().view(np.float16).astype(np.float64))

    if t in (G.Q4_1, G.Q5_1):
        return np.repeat(f16_at(2)[:, 0], 32)
    if t == G.Q2_K:
        return (f16_at(82) * (b[:, :16] >> 4)).repeat(16, axis=1).reshape(-1)
    if t in (G.Q4_K, G.Q5_K):
        _, mins = GgufQ4K.get_scale_min(b[:, 4:16])
        return (f16_at(2) * mins).repeat(32, axis=1).reshape(-1)
    return np.zeros(b.shape[0] * bs(t))


def dot_tolerance(wt, w_raw, w, a, n):
    off = offset_bound(w_raw, wt)
    s = float(np.sum((np.abs(w) + 2 * off) * np.abs(a)))
    return (n // bs(wt) + 8) * U * s


def expected_dot(wt, w_raw, w, a, a_raw):
    """Float dot of the dequantized operands. With Q8_1 the format defines each activation
    block's sum as its s field (f16(d * sum q)), which the min term of Q4_1/Q5_1 uses."""
    want = float(np.dot(w, a))
    if traits(wt).vec_dot_type == G.Q8_1:
        m = w_raw.reshape(-1, ts(wt))[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        s = a_raw.reshape(-1, 36)[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        want += float(np.sum(m * (s - a.reshape(-1, 32).sum(axis=1))))
    return want


def check_vec_dot(wt, w_raw, x_act, n):
    at = traits(wt).vec_dot_type
    a_raw = pq.quantize_row_activation(x_act, at)
    w = pq.dequantize(w_raw, wt).astype(np.float64)
    a = pq.dequantize(a_raw, at).astype(np.float64)
    got = pq.vec_dot(wt, w_raw, a_raw, n)
    want = expected_dot(wt, w_raw, w, a, a_raw)
    assert abs(got - want) <= dot_tolerance(wt, w_raw, w, a, n), (got, want)


@pytest.mark.parametrize("wt", WEIGHTS, ids=lambda t: t.name)
@pytest.mark.parametrize("n_blocks", [1, 3, 7])
def test_vec_dot_random(simd_path, wt, n_blocks):
    n = n_blocks * bs(wt) if bs(wt) > 1 else n_blocks * 32 + 5  # float rows: odd lengths
    rng = np.random.default_rng(n + int(wt))
    x = realistic_rows(rng, 1, n)[0] if n % 32 == 0 else rng.standard_normal(n).astype(np.float32)
    w_raw = raw_bytes(pq.quantize(x, wt))
    check_vec_dot(wt, w_raw, rng.standard_normal(n).astype(np.float32), n)


@pytest.mark.parametrize("wt", [t for t in WEIGHTS if t not in (G.F32, G.F16, G.BF16)], ids=lambda t: t.name)
def test_vec_dot_random_bytes(simd_path, wt):
    """Weight rows of arbitrary codes (every code value, every scale/min field) with finite scales."""
    rng = np.random.default_rng(50 + int(wt))
    n = 4 * 256
    check_vec_dot(wt, random_blocks(rng, wt, n // bs(wt)), rng.standard_normal(n).astype(np.float32) * 3, n)


@pytest.mark.parametrize("at", ACTIVATIONS, ids=lambda t: t.name)
def test_quantize_row_activation(simd_path, at):
    rng = np.random.default_rng(int(at))
    x = realistic_rows(rng, 1, 1024)[0]
    got = pq.quantize_row_activation(x, at)
    if at in (G.Q8_0, G.Q8_1):  # every path: llama.cpp's activation rounding, bit for bit
        d, q = activation_q8_oracle(x)
        blocks = got.reshape(-1, ts(at))
        assert np.array_equal(blocks[:, ts(at) - 32:].view(np.int8), q)
        assert np.array_equal(blocks[:, :2].copy().view(np.float16)[:, 0], d.astype(np.float16))
        return
    ref = raw_bytes(pq.quantize(x, at))
    if simd_path == "scalar" or at in (G.F32, G.F16, G.BF16):
        assert np.array_equal(got, ref)  # the scalar path is the reference; float casts are exact RNE
        return
    # ISA paths may round ties differently: the result must still be a correct quantization
    y = pq.dequantize(got, at).astype(np.float64)
    amax = np.repeat(np.abs(x.reshape(-1, bs(at))).max(axis=1).astype(np.float64), bs(at))
    d = amax / 127
    slack = 127 * 2.0 ** -11 if at != G.Q8_K else 0.0  # f16-rounded d
    assert np.all(np.abs(y - x) <= d * (0.5 + slack + 300 * U) + U * np.abs(x))
    if at == G.Q8_1:  # s = d * sum(q): within two f16 roundings of the dequantized block sums
        s = got.reshape(-1, 36)[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        assert np.allclose(s, y.reshape(-1, 32).sum(axis=1), rtol=2.0 ** -9, atol=1e-3 * d[::32].max())


def active_dequant_tolerance(raw, t, ref):
    return 2 * U * (np.abs(ref).astype(np.float64) + 2 * offset_bound(raw, t))


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.name)
def test_dequantize_row_active(simd_path, t):
    rng = np.random.default_rng(70 + int(t))
    raw = random_blocks(rng, t, 2048 // bs(t) if bs(t) > 1 else 37)
    ref = pq.dequantize(raw, t)
    got = pq.dequantize_row_active(raw, t)
    if simd_path == "scalar":
        assert same_bits(got, ref)
    else:
        assert np.all(np.abs(got - ref) <= active_dequant_tolerance(raw, t, ref))


# ---------------- real model tensors ----------------

@pytest.fixture(scope="module")
def smollm(model_path):
    reader = GGUFReader(model_path("smollm2-135m-q4_1"))
    return {t.name: t for t in reader.tensors}


def test_smollm2_tensors_dequantize_like_gguf(smollm):
    seen = set()
    for name, t in smollm.items():
        if t.tensor_type.name == "F32":
            continue
        raw = np.asarray(t.data)
        seen.add(t.tensor_type.name)
        assert same_bits(pq.dequantize(raw, int(t.tensor_type)), gguf_dequantize(raw, t.tensor_type)), name
    assert seen == {"Q4_1", "Q8_0"}


GEMMA_TENSORS = ["blk.0.attn_k.weight", "blk.0.attn_output.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight",
                 "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.7.ffn_down.weight", "blk.11.attn_output.weight"]


def test_gemma3_tensors_dequantize_like_gguf(gemma):
    seen = set()
    for name in GEMMA_TENSORS + [f"blk.{i}.ffn_down.weight" for i in range(18)]:
        t = gemma[name]
        raw = np.asarray(t.data)
        seen.add(t.tensor_type.name)
        assert same_bits(pq.dequantize(raw, int(t.tensor_type)), gguf_dequantize(raw, t.tensor_type)), name
    emb = gemma["token_embd.weight"]
    rows = np.asarray(emb.data[:4096])
    assert same_bits(pq.dequantize(rows, int(emb.tensor_type)), gguf_dequantize(rows, emb.tensor_type))
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0"} <= seen


def test_real_weights_requantize_like_gguf(smollm, gemma):
    """Real weight distributions through the exact quantizers (gguf-py bit for bit)."""
    src = [smollm["blk.3.ffn_up.weight"], gemma["blk.0.ffn_gate.weight"], gemma["blk.0.attn_v.weight"]]
    for tensor in src:
        x = gguf_dequantize(np.asarray(tensor.data), tensor.tensor_type)
        for t in EXACT_QUANT:
            assert np.array_equal(raw_bytes(pq.quantize(x, t)), gguf_bytes(x, t)), (tensor.name, t.name)


def test_vec_dot_real_rows(simd_path, smollm, gemma):
    rng = np.random.default_rng(11)
    rows = [smollm["blk.0.ffn_down.weight"], smollm["blk.0.attn_q.weight"], gemma["blk.0.attn_output.weight"],
            gemma["blk.0.ffn_down.weight"], gemma["blk.0.attn_k.weight"], gemma["blk.0.attn_v.weight"]]
    for tensor in rows:
        wt = G(int(tensor.tensor_type))
        for r in (0, 17):
            w_raw = np.ascontiguousarray(np.asarray(tensor.data)[r])
            n = w_raw.size // ts(wt) * bs(wt)
            check_vec_dot(wt, w_raw, rng.standard_normal(n).astype(np.float32), n)


# ---------------- gguf-py's result dtypes and shapes, every type both support ----------------

def _gguf_supports(fn, t):
    try:
        fn(np.zeros((1, bs(t)), np.float32) if fn is gguf_quantize else np.zeros((1, ts(t)), np.uint8), GT(int(t)))
        return True
    except (NotImplementedError, KeyError, ValueError):
        return False


@pytest.mark.parametrize("t", [t for t in G if t.name in GT.__members__], ids=lambda t: t.name)
@pytest.mark.parametrize("shape_rows", [(2,), (2, 3), ()])
def test_results_have_gguf_py_dtype_and_shape(t, shape_rows):
    rng = np.random.default_rng(int(t))
    tr = traits(t)
    if tr.can_quantize and _gguf_supports(gguf_quantize, t):
        x = rng.standard_normal((*shape_rows, 2 * bs(t))).astype(np.float32)
        ours, want = pq.quantize(x, t), gguf_quantize(x, GT(int(t)))
        assert (ours.dtype, ours.shape) == (want.dtype, want.shape)
        assert np.array_equal(raw_bytes(ours), raw_bytes(want)) or t not in EXACT_QUANT
    if tr.can_dequantize and _gguf_supports(gguf_dequantize, t):
        raw = raw_bytes(pq.quantize(rng.standard_normal((*shape_rows, 2 * bs(t))).astype(np.float32), t)) \
            if tr.can_quantize else rng.integers(0, 256, (*shape_rows, 2 * ts(t)), dtype=np.uint8)
        raw = raw.reshape(*shape_rows, -1)
        with np.errstate(all="ignore"):
            ours, want = pq.dequantize(raw, t), gguf_dequantize(raw, GT(int(t)))
        assert (ours.dtype, ours.shape) == (want.dtype, want.shape)
