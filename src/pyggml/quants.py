"""Quantize / dequantize GGUF tensor data, backed by the C reference converters.

`dequantize` and `quantize` take and return the same shapes and dtypes as gguf-py's
`gguf.quants.dequantize` / `gguf.quants.quantize`: raw data is uint8 whose last axis holds the
bytes of one row (any other dtype is viewed as bytes); floats have the row's elements on the
last axis. As in gguf-py, `quantize` to F32 / F16 gives a float32 / float16 array of the input's
shape (its bytes are the tensor's data); every other type gives uint8 rows of bytes.

`vec_dot`, `quantize_row_activation` and `dequantize_row_active` run the kernels of the ACTIVE
SIMD path (`pyggml.set_simd_path`), so tests can check every path against the reference.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .types import GGMLType, TypeTraits, UnsupportedTypeError, traits

__all__ = ["dequantize", "quantize", "vec_dot", "quantize_row_activation", "dequantize_row_active"]


def _traits_for(qtype: int | GGMLType, *, to_float: bool) -> TypeTraits:
    tr = traits(qtype)
    if not (tr.can_dequantize if to_float else tr.can_quantize):
        verb = "dequantize" if to_float else "quantize to"
        raise UnsupportedTypeError(f"pyggml cannot {verb} type {tr.type.name} (id {int(tr.type)})")
    return tr


def _as_bytes(raw: np.ndarray, tr: TypeTraits) -> np.ndarray:
    raw = np.asarray(raw)
    if raw.ndim == 0:
        raise ValueError(f"{tr.type.name}: raw data must have at least one axis, got a scalar")
    raw = np.ascontiguousarray(raw)
    if raw.dtype != np.uint8:
        raw = raw.view(np.uint8)
    if raw.shape[-1] % tr.type_size:
        raise ValueError(
            f"{tr.type.name}: last axis of {raw.shape[-1]} bytes is not a multiple of the "
            f"{tr.type_size}-byte block size")
    return raw


def _as_floats(x: np.ndarray, tr: TypeTraits) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{tr.type.name}: data must have at least one axis, got a scalar")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % tr.block_size:
        raise ValueError(
            f"{tr.type.name}: last axis of {x.shape[-1]} elements is not a multiple of the "
            f"block size {tr.block_size}")
    return x


def dequantize(raw: np.ndarray, qtype: int | GGMLType) -> np.ndarray:
    """Raw bytes (..., n_bytes) -> float32 (..., n_elements), bit-exact with gguf-py."""
    tr = _traits_for(qtype, to_float=True)
    raw = _as_bytes(raw, tr)
    out = np.empty((*raw.shape[:-1], raw.shape[-1] // tr.type_size * tr.block_size), dtype=np.float32)
    _core.dequantize_ref(int(tr.type), raw.reshape(-1), out.reshape(-1))
    return out


def quantize(x: np.ndarray, qtype: int | GGMLType) -> np.ndarray:
    """float (..., n_elements) -> raw bytes uint8 (..., n_bytes); F32 -> float32 and F16 ->
    float16 of x's shape, as gguf-py returns them. Bit-exact with gguf-py for F32, F16, BF16,
    Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; the K-quants use pyggml's own least-squares quantizer (see
    docs/quants.md)."""
    tr = _traits_for(qtype, to_float=False)
    x = _as_floats(x, tr)
    if tr.type == GGMLType.F32:
        return x
    out = np.empty((*x.shape[:-1], x.shape[-1] // tr.block_size * tr.type_size), dtype=np.uint8)
    _core.quantize_ref(int(tr.type), x.reshape(-1), out.reshape(-1))
    if tr.type == GGMLType.F16:
        return out.view(np.float16)
    return out


def _row_bytes(raw: np.ndarray, what: str) -> np.ndarray:
    raw = np.ascontiguousarray(np.asarray(raw))
    if raw.ndim != 1:
        raise ValueError(f"{what} must be one row (1-D), got shape {raw.shape}")
    return raw.view(np.uint8)


def vec_dot(wtype: int | GGMLType, w_raw_row: np.ndarray, act_raw_row: np.ndarray, n: int) -> float:
    """Dot product of one weight row (wtype bytes) with one activation row (bytes of wtype's
    partner type, e.g. Q8_0 for Q4_0), n elements, by the active SIMD path's kernel."""
    tr = _traits_for(wtype, to_float=True)
    if tr.vec_dot_type is None:
        raise UnsupportedTypeError(f"{tr.type.name} is not a weight type: it has no dot kernel")
    partner = traits(tr.vec_dot_type)
    w = _row_bytes(w_raw_row, "w_raw_row")
    a = _row_bytes(act_raw_row, "act_raw_row")
    if n < 0 or n % tr.block_size:
        raise ValueError(f"{tr.type.name}: n = {n} is not a multiple of the block size {tr.block_size}")
    if w.size != n // tr.block_size * tr.type_size:
        raise ValueError(f"w_raw_row has {w.size} bytes; {n} elements of {tr.type.name} take "
                         f"{n // tr.block_size * tr.type_size}")
    if a.size != n // partner.block_size * partner.type_size:
        raise ValueError(f"act_raw_row has {a.size} bytes; {n} elements of {partner.type.name} take "
                         f"{n // partner.block_size * partner.type_size}")
    return _core.vec_dot_active(int(tr.type), w, a, n)


def quantize_row_activation(x: np.ndarray, qtype: int | GGMLType) -> np.ndarray:
    """One float row -> bytes of qtype by the active path's from_float kernel (what mul_mat
    does to its activations: Q8_0, Q8_1, Q8_K, F16, BF16, F32)."""
    tr = _traits_for(qtype, to_float=False)
    x = _as_floats(x, tr)
    if x.ndim != 1:
        raise ValueError(f"x must be one row (1-D), got shape {x.shape}")
    out = np.empty(x.size // tr.block_size * tr.type_size, dtype=np.uint8)
    _core.quantize_active(int(tr.type), x, out)
    return out


def dequantize_row_active(raw_row: np.ndarray, qtype: int | GGMLType) -> np.ndarray:
    """One row of bytes -> float32 by the active path's to_float kernel."""
    tr = _traits_for(qtype, to_float=True)
    raw = _as_bytes(_row_bytes(raw_row, "raw_row"), tr)
    out = np.empty(raw.size // tr.type_size * tr.block_size, dtype=np.float32)
    _core.dequantize_active(int(tr.type), raw, out)
    return out
