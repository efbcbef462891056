"""GGUF constants and metadata value types (ids as the GGUF format stores them).

A metadata value's type is either a scalar `GGUFValueType` or an `ArrayType`. Arrays of
arrays may mix element types per inner array, so a nested `ArrayType` carries one type per
item: that is what the writer needs to reproduce a file exactly.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
ALIGNMENT_KEY = "general.alignment"
MAX_TENSOR_DIMS = 4
MAX_ARRAY_DEPTH = 8          # arrays nested deeper than this are rejected
MAX_TENSOR_NAME_BYTES = 63   # ggml's GGML_MAX_NAME (64) minus the terminating NUL
INT63_LIMIT = 1 << 63        # element counts and byte sizes must stay below this


class GGUFValueType(enum.IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12

    def __str__(self) -> str:
        return self.name


# Fixed-size value types -> little-endian numpy dtype (bool is one byte, 0 or 1).
NUMPY_DTYPES: dict[GGUFValueType, np.dtype] = {
    GGUFValueType.UINT8: np.dtype("<u1"),
    GGUFValueType.INT8: np.dtype("<i1"),
    GGUFValueType.UINT16: np.dtype("<u2"),
    GGUFValueType.INT16: np.dtype("<i2"),
    GGUFValueType.UINT32: np.dtype("<u4"),
    GGUFValueType.INT32: np.dtype("<i4"),
    GGUFValueType.FLOAT32: np.dtype("<f4"),
    GGUFValueType.BOOL: np.dtype("?"),
    GGUFValueType.UINT64: np.dtype("<u8"),
    GGUFValueType.INT64: np.dtype("<i8"),
    GGUFValueType.FLOAT64: np.dtype("<f8"),
}

# Fixed-size value types -> struct format of one value.
STRUCT_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}

INTEGER_RANGES: dict[GGUFValueType, tuple[int, int]] = {
    t: (int(np.iinfo(NUMPY_DTYPES[t]).min), int(np.iinfo(NUMPY_DTYPES[t]).max))
    for t in NUMPY_DTYPES
    if NUMPY_DTYPES[t].kind in "iu"
}


@dataclass(frozen=True)
class ArrayType:
    """Type of an array value: `element` for every item; for arrays of arrays, `items` holds
    the type of each inner array (they may differ)."""

    element: GGUFValueType
    items: tuple[ArrayType, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "element", GGUFValueType(self.element))
        if (self.element == GGUFValueType.ARRAY) != (self.items is not None):
            raise ValueError("ArrayType: `items` is required exactly when element is ARRAY")

    def __str__(self) -> str:
        if self.items is None:
            return f"ARRAY[{self.element.name}]"
        return "ARRAY[" + ", ".join(str(t) for t in self.items) + "]"


ValueType = GGUFValueType | ArrayType
