"""ggml's tensor types: ids (as GGUF stores them), block sizes and bytes per block.

The numbers come from the C type-trait table (csrc/types.c), the single source of truth."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from . import _core


class GGMLType(enum.IntEnum):
    """ggml type ids. Append-only: GGUF files store these numbers."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    TQ1_0 = 34
    TQ2_0 = 35
    MXFP4 = 39


@dataclass(frozen=True)
class TypeTraits:
    type: GGMLType
    name: str            # ggml's lower-case name, e.g. "q4_K"
    block_size: int      # elements per block
    type_size: int       # bytes per block
    is_quantized: bool
    can_dequantize: bool  # pyggml has a to-float converter
    can_quantize: bool    # pyggml has a from-float converter
    vec_dot_type: GGMLType | None  # activation partner in mul_mat


def _load_table() -> dict[GGMLType, TypeTraits]:
    table = {}
    for t in GGMLType:
        row = _core.type_traits(int(t))
        if row is None:
            raise RuntimeError(f"type table of the C engine lacks {t.name} ({int(t)})")
        name, blck, size, quant, deq, q, vdt = row
        table[t] = TypeTraits(t, name, blck, size, quant, deq, q, GGMLType(vdt) if vdt >= 0 else None)
    return table


TYPE_TRAITS: dict[GGMLType, TypeTraits] = _load_table()


class UnsupportedTypeError(NotImplementedError):
    """Raised when asked to compute with a type pyggml knows but has no kernels for."""


def traits(t: int | GGMLType) -> TypeTraits:
    try:
        return TYPE_TRAITS[GGMLType(t)]
    except ValueError:
        raise ValueError(f"unknown ggml type id {int(t)}") from None


def row_size(t: int | GGMLType, ne0: int) -> int:
    """Bytes of one row of ne0 elements (ne0 must be a multiple of the block size)."""
    tr = traits(t)
    if ne0 % tr.block_size:
        raise ValueError(f"{tr.name}: row length {ne0} is not a multiple of the block size {tr.block_size}")
    return ne0 // tr.block_size * tr.type_size


def require_dequantize(t: int | GGMLType) -> TypeTraits:
    tr = traits(t)
    if not tr.can_dequantize:
        raise UnsupportedTypeError(f"pyggml cannot compute with type {tr.type.name} (id {int(tr.type)}) yet")
    return tr
