"""GGUF writer: metadata and tensors in the order added, tensor data aligned.

Layout written (see reader.py): header, key-values, tensor infos, zero padding to the
alignment, then each tensor's bytes followed by zero padding to the alignment. A file read by
GGUFReader and copied with `GGUFWriter.from_reader` comes out byte-identical when the source
used this layout (llama.cpp and gguf-py both do).
"""
from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np

from ..types import GGMLType, traits
from .reader import GGUFReader
from .strings import GGUFStringArray
from .values import (
    ALIGNMENT_KEY,
    DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    INTEGER_RANGES,
    MAX_ARRAY_DEPTH,
    MAX_TENSOR_DIMS,
    MAX_TENSOR_NAME_BYTES,
    NUMPY_DTYPES,
    STRUCT_FORMATS,
    SUPPORTED_VERSIONS,
    ArrayType,
    GGUFValueType,
    ValueType,
)

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_DTYPE_TO_VTYPE = {dt: vt for vt, dt in NUMPY_DTYPES.items()}


def _encode_string(s: str | bytes) -> bytes:
    raw = s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")
    return _U64.pack(len(raw)) + raw


def _infer_int_type(values: list[int]) -> GGUFValueType:
    lo, hi = min(values), max(values)
    for t in (GGUFValueType.INT32, GGUFValueType.INT64, GGUFValueType.UINT64):
        tmin, tmax = INTEGER_RANGES[t]
        if tmin <= lo and hi <= tmax:
            return t
    raise ValueError(f"integer {lo if lo < 0 else hi} does not fit any GGUF integer type")


def infer_value_type(value: Any) -> ValueType:
    """The GGUF type a Python value gets when no type is given: bool -> BOOL, int -> INT32
    (INT64/UINT64 if needed), float -> FLOAT32, str/bytes -> STRING, numpy scalars and arrays
    by dtype, lists by their items."""
    if isinstance(value, (bool, np.bool_)):
        return GGUFValueType.BOOL
    if isinstance(value, np.generic):
        return _vtype_of_dtype(value.dtype)
    if isinstance(value, int):
        return _infer_int_type([value])
    if isinstance(value, float):
        return GGUFValueType.FLOAT32
    if isinstance(value, (str, bytes)):
        return GGUFValueType.STRING
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"GGUF arrays are 1-D; got shape {value.shape}")
        return ArrayType(_vtype_of_dtype(value.dtype))
    if isinstance(value, GGUFStringArray):
        return ArrayType(GGUFValueType.STRING)
    if isinstance(value, (list, tuple)):
        return _infer_list_type(value)
    raise TypeError(f"no GGUF type for a value of type {type(value).__name__}")


def _vtype_of_dtype(dtype: np.dtype) -> GGUFValueType:
    try:
        return _DTYPE_TO_VTYPE[np.dtype(dtype).newbyteorder("<")]
    except KeyError:
        raise TypeError(f"no GGUF type for numpy dtype {dtype}") from None


def _infer_list_type(items: list | tuple) -> ArrayType:
    if not items:
        raise ValueError("cannot infer the element type of an empty array; pass vtype")
    if all(isinstance(v, (str, bytes)) for v in items):
        return ArrayType(GGUFValueType.STRING)
    if all(isinstance(v, (list, tuple, np.ndarray, GGUFStringArray)) for v in items):
        return ArrayType(GGUFValueType.ARRAY, tuple(infer_value_type(v) for v in items))
    if all(isinstance(v, (bool, np.bool_)) for v in items):
        return ArrayType(GGUFValueType.BOOL)
    if not any(isinstance(v, bool) for v in items):
        if all(isinstance(v, (int, np.integer)) for v in items):
            return ArrayType(_infer_int_type([int(v) for v in items]))
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in items):
            return ArrayType(GGUFValueType.FLOAT32)
    raise TypeError("array items must all be strings, numbers, bools or arrays")


def _encode_scalar(value: Any, vtype: GGUFValueType) -> bytes:
    if vtype == GGUFValueType.STRING:
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"STRING value must be str or bytes, not {type(value).__name__}")
        return _encode_string(value)
    if vtype == GGUFValueType.BOOL:
        if value not in (0, 1):
            raise ValueError(f"BOOL value must be True/False, not {value!r}")
        return b"\x01" if value else b"\x00"
    if vtype in INTEGER_RANGES:
        if isinstance(value, (float, np.floating)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{vtype.name} value must be an integer, not {value!r}")
        lo, hi = INTEGER_RANGES[vtype]
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range for {vtype.name}")
        return struct.pack(STRUCT_FORMATS[vtype], int(value))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{vtype.name} value must be a number, not {value!r}")
    return struct.pack(STRUCT_FORMATS[vtype], float(value))


def _encode_array(value: Any, atype: ArrayType, depth: int) -> bytes:
    if depth > MAX_ARRAY_DEPTH:
        raise ValueError(f"arrays nested deeper than {MAX_ARRAY_DEPTH} levels")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{atype} value must be a list or array, not {type(value).__name__}")
    head = _U32.pack(atype.element) + _U64.pack(len(value))
    if atype.element == GGUFValueType.STRING:
        if isinstance(value, GGUFStringArray):
            return head + value.gguf_bytes()
        for v in value:
            if not isinstance(v, (str, bytes)):
                raise TypeError(f"STRING array item must be str or bytes, not {type(v).__name__}")
        return head + b"".join(map(_encode_string, value))
    if atype.element == GGUFValueType.ARRAY:
        if len(atype.items) != len(value):
            raise ValueError(f"{atype} has {len(atype.items)} item types for {len(value)} items")
        return head + b"".join(_encode_array(v, t, depth + 1) for v, t in zip(value, atype.items))
    return head + _numeric_array_bytes(value, atype.element)


def _numeric_array_bytes(value: Any, element: GGUFValueType) -> bytes:
    dtype = NUMPY_DTYPES[element]
    source = np.asarray(value)
    if source.ndim != 1:
        raise ValueError(f"GGUF arrays are 1-D; got shape {source.shape}")
    if source.size and dtype.kind in "iub" and source.dtype.kind not in "iub":
        raise TypeError(f"{element.name} array needs integer or bool items, got {source.dtype}")
    converted = source.astype(dtype)
    if dtype.kind in "iub" and not np.array_equal(converted, source):
        raise ValueError(f"array values do not fit {element.name}")
    return converted.tobytes()


def encode_value(value: Any, vtype: ValueType) -> bytes:
    """Value type id (u32) and the value's bytes, as stored after a key."""
    if isinstance(vtype, ArrayType):
        return _U32.pack(GGUFValueType.ARRAY) + _encode_array(value, vtype, 1)
    vtype = GGUFValueType(vtype)
    if vtype == GGUFValueType.ARRAY:
        return encode_value(value, infer_value_type(value))
    return _U32.pack(vtype) + _encode_scalar(value, vtype)


def _padding(n: int, alignment: int) -> int:
    return -n % alignment


class GGUFWriter:
    """Collect key-values and tensors, then write() the file in one go.

    `vtype` of add_kv may be a GGUFValueType (ARRAY alone infers the element type) or an
    ArrayType; without it the type is inferred (see infer_value_type). Adding the key
    `general.alignment` (UINT32) sets the data alignment; an alignment other than 32 given to
    the constructor is recorded under that key at write time if it was not added."""

    def __init__(self, path: str | os.PathLike, alignment: int = DEFAULT_ALIGNMENT, version: int = 3):
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f"GGUF version must be one of {SUPPORTED_VERSIONS}, not {version}")
        self.path = os.fspath(path)
        self.version = version
        self.alignment = self._checked_alignment(alignment)
        self._kv: dict[str, bytes] = {}          # key -> encoded type + value
        self._tensors: dict[str, tuple[GGMLType, tuple[int, ...], memoryview]] = {}

    @staticmethod
    def _checked_alignment(alignment: Any) -> int:
        if not isinstance(alignment, (int, np.integer)) or alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"alignment must be a power of two, not {alignment!r}")
        if alignment > INTEGER_RANGES[GGUFValueType.UINT32][1]:
            raise ValueError(f"alignment {alignment} does not fit UINT32")
        return int(alignment)

    @classmethod
    def from_reader(cls, reader: GGUFReader, path: str | os.PathLike) -> GGUFWriter:
        """A writer holding everything `reader` has: metadata with its types and order,
        tensors (zero-copy views of the source) in file order, same alignment and version."""
        writer = cls(path, alignment=reader.alignment, version=reader.version)
        copy_metadata(reader, writer)
        for t in reader.tensors:
            writer.add_tensor(t.name, t.data, t.type, t.ne)
        return writer

    def add_kv(self, key: str, value: Any, vtype: ValueType | None = None) -> None:
        if key in self._kv:
            raise ValueError(f"duplicate key {key!r}")
        self.set_kv(key, value, vtype)

    def set_kv(self, key: str, value: Any, vtype: ValueType | None = None) -> None:
        """Like add_kv, but an existing key keeps its position and gets the new value."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, not {key!r}")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"key {key!r} is not valid UTF-8") from None
        if vtype is None:
            vtype = GGUFValueType.UINT32 if key == ALIGNMENT_KEY else infer_value_type(value)
        encoded = encode_value(value, vtype)
        if key == ALIGNMENT_KEY:
            if vtype != GGUFValueType.UINT32:
                raise ValueError(f"{ALIGNMENT_KEY} must be UINT32, not {vtype}")
            self.alignment = self._checked_alignment(value)
        self._kv[key] = encoded

    def add_tensor(self, name: str, data: np.ndarray | bytes, type: GGMLType | int,
                   ne: tuple[int, ...] | None = None) -> None:
        """`data` holds the raw bytes of `type` (any dtype, C-contiguous); `ne` in ggml order,
        taken from data.shape (reversed) for non-quantized types when omitted."""
        tr = traits(type)
        raw_name = name.encode("utf-8") if isinstance(name, str) else b""
        if not raw_name or len(raw_name) > MAX_TENSOR_NAME_BYTES:
            raise ValueError(f"tensor name must be 1..{MAX_TENSOR_NAME_BYTES} UTF-8 bytes: {name!r}")
        if name in self._tensors:
            raise ValueError(f"duplicate tensor name {name!r}")
        if ne is None:
            if tr.block_size != 1 or not isinstance(data, np.ndarray):
                raise ValueError(f"tensor {name!r}: ne is required for {tr.name} / raw bytes")
            ne = tuple(reversed(data.shape))
        ne = tuple(int(d) for d in ne)
        if not 1 <= len(ne) <= MAX_TENSOR_DIMS or any(d <= 0 for d in ne):
            raise ValueError(f"tensor {name!r}: ne {ne} must have 1..{MAX_TENSOR_DIMS} positive sizes")
        if ne[0] % tr.block_size:
            raise ValueError(f"tensor {name!r}: ne[0] = {ne[0]} is not a multiple of the "
                             f"{tr.name} block size {tr.block_size}")
        n_elements = int(np.prod(ne, dtype=object))
        expected = n_elements // tr.block_size * tr.type_size
        raw = memoryview(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).cast("B")
        if raw.nbytes != expected:
            raise ValueError(f"tensor {name!r}: {raw.nbytes} bytes given, {tr.name} with ne "
                             f"{ne} needs {expected}")
        self._tensors[name] = (tr.type, ne, raw)

    def _header_bytes(self) -> bytes:
        kv = dict(self._kv)
        if self.alignment != DEFAULT_ALIGNMENT and ALIGNMENT_KEY not in kv:
            kv[ALIGNMENT_KEY] = encode_value(self.alignment, GGUFValueType.UINT32)
        parts = [GGUF_MAGIC, _U32.pack(self.version), _U64.pack(len(self._tensors)), _U64.pack(len(kv))]
        for key, encoded in kv.items():
            parts += [_encode_string(key), encoded]
        offset = 0
        for name, (ggml_type, ne, raw) in self._tensors.items():
            parts += [_encode_string(name), _U32.pack(len(ne)), *map(_U64.pack, ne),
                      _U32.pack(ggml_type), _U64.pack(offset)]
            offset += raw.nbytes + _padding(raw.nbytes, self.alignment)
        header = b"".join(parts)
        return header + bytes(_padding(len(header), self.alignment))

    def write(self) -> None:
        header = self._header_bytes()
        with open(self.path, "wb") as f:
            f.write(header)
            for _, _, raw in self._tensors.values():
                f.write(raw)
                f.write(bytes(_padding(raw.nbytes, self.alignment)))


def copy_metadata(reader: GGUFReader, writer: GGUFWriter, skip: tuple[str, ...] = ()) -> None:
    """Add every key-value of `reader` (except `skip`) to `writer` with its exact type."""
    for key, value in reader.metadata.items():
        if key not in skip:
            writer.add_kv(key, value, reader.metadata_types[key])
