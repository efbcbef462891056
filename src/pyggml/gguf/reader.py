"""GGUF reader: parses the header of an untrusted file, maps the tensor data zero-copy.

File layout (all little-endian):
    "GGUF" | version u32 | n_tensors u64 | n_kv u64
    n_kv x (key: string, value type u32, value)
    n_tensors x (name: string, n_dims u32, ne u64[n_dims], ggml type u32, offset u64)
    zero padding up to `alignment` -> data section; tensor offsets are relative to it
A string is a u64 byte length then the bytes; an array is element type u32, count u64, items.

Only the header is read with file reads (in chunks, on demand); tensor bytes are reached
through one read-only mmap, so opening a file costs the header, not the weights.

Every inconsistency raises GGUFError naming the file, the problem and the byte offset; lengths
are checked against the bytes left in the file before anything is allocated. Bools must be 0
or 1. Keys and tensor names must be valid UTF-8; value strings that are not (llama.cpp treats
strings as bytes) decode with errors="surrogateescape": nothing is lost, and the writer
reproduces the same bytes. String arrays are GGUFStringArray (one bytes block, items decoded
when read), not lists of str: a vocabulary costs its bytes, not 262k Python objects. The last
tensor's trailing padding may be missing.
"""
from __future__ import annotations

import mmap
import os
import struct
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._core import gguf_copy_strings

from ..types import GGMLType, traits
from .heap import release_free_heap
from .strings import GGUFStringArray
from .values import (
    ALIGNMENT_KEY,
    DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    INT63_LIMIT,
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
_SCALAR_STRUCTS = {t: struct.Struct(f) for t, f in STRUCT_FORMATS.items()}
_READ_CHUNK = 1 << 20   # header bytes pulled from the file per read
# Smallest encodings, used to bound counts by the bytes left before allocating anything.
_MIN_KV_BYTES = 8 + 1 + 4 + 1          # key length, 1-byte key, value type, 1-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8
_MIN_ARRAY_BYTES = 4 + 8               # element type + count of an inner array
_MIN_STRING_BYTES = 8


class GGUFError(ValueError):
    """A malformed or unsupported GGUF file. `.path` and `.offset` locate the problem."""

    def __init__(self, path: str, offset: int | None, message: str):
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}: {message}{where}")
        self.path = path
        self.offset = offset


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor of a GGUF file. `ne` is in ggml order (ne[0] contiguous), `shape` in numpy
    order; `offset` is absolute in the file; `data` is a read-only uint8 view of the bytes."""

    name: str
    type: GGMLType
    ne: tuple[int, ...]
    offset: int
    nbytes: int
    _reader: GGUFReader = field(repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.ne:
            n *= d
        return n

    @property
    def data(self) -> np.ndarray:
        return self._reader._tensor_bytes(self)


@dataclass(frozen=True)
class _RawTensorInfo:
    """A tensor info as parsed, before its data offset is checked."""

    name: str
    type: GGMLType
    ne: tuple[int, ...]
    rel_offset: int        # relative to the data section
    nbytes: int
    offset_field_at: int   # file offset of the offset field, for error messages


class _HeaderCursor:
    """Sequential little-endian reads from the start of the file; bytes are read from disk
    only when a read reaches them, so parsing the header never pulls in tensor data."""

    def __init__(self, file, path: str, file_size: int):
        self.file = file
        self.path = path
        self.file_size = file_size
        self.buf = b""   # file bytes [0, len(buf)); bytes slice and decode faster than bytearray
        self.pos = 0

    def error(self, message: str, offset: int | None = None) -> GGUFError:
        return GGUFError(self.path, self.pos if offset is None else offset, message)

    def remaining(self) -> int:
        return self.file_size - self.pos

    def _fill(self, end: int, what: str) -> None:
        """Make buf hold bytes [0, end) or raise: `what` at self.pos is truncated."""
        if end > self.file_size:
            raise self.error(f"truncated file: {what} needs {end - self.pos} bytes, "
                             f"{self.file_size - self.pos} left")
        want = min(max(end, len(self.buf) + _READ_CHUNK), self.file_size) - len(self.buf)
        chunks = [self.buf]
        while want > 0:
            chunk = self.file.read(want)
            if not chunk:
                raise self.error(f"file shrank while reading {what}")
            chunks.append(chunk)
            want -= len(chunk)
        self.buf = b"".join(chunks)

    def take(self, n: int, what: str) -> int:
        """Advance over n bytes; returns where they start in buf."""
        start = self.pos
        if start + n > len(self.buf):
            self._fill(start + n, what)
        self.pos = start + n
        return start

    def u32(self, what: str) -> int:
        at = self.take(4, what)  # take() may replace buf: read it after
        return _U32.unpack_from(self.buf, at)[0]

    def u64(self, what: str) -> int:
        at = self.take(8, what)
        return _U64.unpack_from(self.buf, at)[0]

    def count(self, what: str, min_item_bytes: int) -> int:
        """A u64 item count, bounded by what the rest of the file can hold."""
        at = self.pos
        n = self.u64(what)
        if n * min_item_bytes > self.remaining():
            raise self.error(f"{what} {n} cannot fit in the {self.remaining()} bytes left", at)
        return n

    def raw_string(self, what: str) -> tuple[int, int]:
        """A length-prefixed string; returns (start, end) of its bytes in buf."""
        at = self.pos
        n = self.u64(f"{what} length")
        if n > self.remaining():
            raise self.error(f"{what} length {n} exceeds the {self.remaining()} bytes left", at)
        start = self.take(n, what)
        return start, start + n

    def name_string(self, what: str) -> str:
        """A key or tensor name: non-empty, strict UTF-8."""
        at = self.pos
        start, end = self.raw_string(what)
        if start == end:
            raise self.error(f"empty {what}", at)
        try:
            return self.buf[start:end].decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.error(f"{what} is not valid UTF-8 ({e.reason} at byte {e.start})", at) from None

    def value_string(self) -> str:
        start, end = self.raw_string("string")
        return self.buf[start:end].decode("utf-8", "surrogateescape")

    def string_array(self, n: int) -> GGUFStringArray:
        """n value strings, every length checked now, kept as one bytes block (decoded when
        read). The strings wholly inside the bytes read so far are copied in C; a string that
        reaches past them is checked against the file size, then read."""
        ends = array("Q", bytes(8 * n))
        pieces: list[bytearray] = []
        done = written = 0
        while True:
            out = bytearray(len(self.buf) - self.pos)
            copied, pos = gguf_copy_strings(self.buf, self.pos, n - done, out, ends, done, written)
            if copied:
                piece_end = ends[done + copied - 1] - written
                pieces.append(out[:piece_end] if piece_end < len(out) else out)
                written += piece_end
                done += copied
            self.pos = pos
            if done == n:
                break
            self._fill(pos + 8, "string length")
            (length,) = _U64.unpack_from(self.buf, pos)
            if pos + 8 + length > self.file_size:
                raise self.error(f"string length {length} exceeds the "
                                 f"{self.file_size - pos - 8} bytes left")
            self.pos = pos + 8
            self._fill(pos + 8 + length, "string")
            self.pos = pos
        return GGUFStringArray(b"".join(pieces), ends)

    def numeric_array(self, vtype: GGUFValueType, n: int) -> np.ndarray:
        dtype = NUMPY_DTYPES[vtype]
        at = self.pos
        start = self.take(n * dtype.itemsize, f"{vtype.name} array of {n} items")
        if vtype == GGUFValueType.BOOL:
            raw = np.frombuffer(self.buf, np.uint8, n, start)
            bad = np.flatnonzero(raw > 1)
            if bad.size:
                raise self.error(f"bool array item {bad[0]} is {raw[bad[0]]}, not 0 or 1", at + int(bad[0]))
        # copy: a view would keep the whole header buffer alive
        return np.frombuffer(self.buf, dtype, n, start).copy()


def _scalar(cur: _HeaderCursor, vtype: GGUFValueType) -> Any:
    if vtype == GGUFValueType.STRING:
        return cur.value_string()
    if vtype == GGUFValueType.BOOL:
        at = cur.take(1, "bool")
        byte = cur.buf[at]
        if byte > 1:
            raise cur.error(f"bool value is {byte}, not 0 or 1", at)
        return bool(byte)
    s = _SCALAR_STRUCTS[vtype]
    at = cur.take(s.size, vtype.name)
    return s.unpack_from(cur.buf, at)[0]


def _value_type(cur: _HeaderCursor, what: str) -> GGUFValueType:
    at = cur.pos
    raw = cur.u32(what)
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise cur.error(f"unknown {what} {raw}", at) from None


def _array(cur: _HeaderCursor, depth: int) -> tuple[Any, ArrayType]:
    at = cur.pos
    if depth > MAX_ARRAY_DEPTH:
        raise cur.error(f"arrays nested deeper than {MAX_ARRAY_DEPTH} levels", at)
    element = _value_type(cur, "array element type")
    if element == GGUFValueType.STRING:
        return cur.string_array(cur.count("string array length", _MIN_STRING_BYTES)), ArrayType(element)
    if element == GGUFValueType.ARRAY:
        n = cur.count("nested array length", _MIN_ARRAY_BYTES)
        items = [_array(cur, depth + 1) for _ in range(n)]
        return [v for v, _ in items], ArrayType(element, tuple(t for _, t in items))
    n = cur.count(f"{element.name} array length", NUMPY_DTYPES[element].itemsize)
    return cur.numeric_array(element, n), ArrayType(element)


def _value(cur: _HeaderCursor, vtype: GGUFValueType) -> tuple[Any, ValueType]:
    if vtype == GGUFValueType.ARRAY:
        return _array(cur, 1)
    return _scalar(cur, vtype), vtype


def _check_alignment(cur: _HeaderCursor, value: Any, vtype: ValueType, at: int) -> int:
    if vtype != GGUFValueType.UINT32:
        raise cur.error(f"{ALIGNMENT_KEY} must be UINT32, not {vtype}", at)
    if value == 0 or value & (value - 1):
        raise cur.error(f"{ALIGNMENT_KEY} = {value} is not a power of two", at)
    return value


class GGUFReader:
    """Parse a GGUF file (versions 2 and 3, little-endian). Use as a context manager or call
    close(); tensor `.data` views stay valid after close while referenced."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.version = 0
        self.alignment = DEFAULT_ALIGNMENT
        self.metadata: dict[str, Any] = {}
        self.metadata_types: dict[str, ValueType] = {}
        self.tensors: list[GGUFTensorInfo] = []
        self.data_offset = 0
        self._mmap: mmap.mmap | None = None
        self._by_name: dict[str, GGUFTensorInfo] = {}
        with open(self.path, "rb", buffering=0) as f:
            file_size = os.fstat(f.fileno()).st_size
            cur = _HeaderCursor(f, self.path, file_size)
            self._parse(cur)
            del cur  # the header buffer
            release_free_heap()
            if self.tensors:
                self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    # --- parsing -------------------------------------------------------------------------

    def _parse(self, cur: _HeaderCursor) -> None:
        cur.take(4, "magic")
        magic = cur.buf[:4]
        if magic != GGUF_MAGIC:
            raise cur.error(f"not a GGUF file: magic is {magic!r}, expected {GGUF_MAGIC!r}", 0)
        self.version = version = cur.u32("version")
        if version not in SUPPORTED_VERSIONS:
            swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
            if swapped in SUPPORTED_VERSIONS:
                raise cur.error("big-endian GGUF file: only little-endian is supported", 4)
            raise cur.error(f"unsupported GGUF version {version} (supported: 2, 3)", 4)
        n_tensors = cur.count("tensor count", _MIN_TENSOR_INFO_BYTES)
        n_kv = cur.count("key-value count", _MIN_KV_BYTES)
        for _ in range(n_kv):
            self._parse_kv(cur)
        seen: set[str] = set()
        raw = [self._parse_tensor_info(cur, seen) for _ in range(n_tensors)]
        self.data_offset = -(-cur.pos // self.alignment) * self.alignment
        self._place_tensors(cur, raw)

    def _parse_kv(self, cur: _HeaderCursor) -> None:
        at = cur.pos
        key = cur.name_string("key")
        if key in self.metadata:
            raise cur.error(f"duplicate key {key!r}", at)
        vtype = _value_type(cur, f"value type of key {key!r}")
        value, full_type = _value(cur, vtype)
        if key == ALIGNMENT_KEY:
            self.alignment = _check_alignment(cur, value, full_type, at)
        self.metadata[key] = value
        self.metadata_types[key] = full_type

    def _parse_tensor_info(self, cur: _HeaderCursor, seen: set[str]) -> _RawTensorInfo:
        at = cur.pos
        name = cur.name_string("tensor name")
        if len(name.encode()) > MAX_TENSOR_NAME_BYTES:
            raise cur.error(f"tensor name {name!r} is longer than {MAX_TENSOR_NAME_BYTES} bytes", at)
        if name in seen:
            raise cur.error(f"duplicate tensor name {name!r}", at)
        seen.add(name)
        dims_at = cur.pos
        n_dims = cur.u32(f"n_dims of tensor {name!r}")
        if not 1 <= n_dims <= MAX_TENSOR_DIMS:
            raise cur.error(f"tensor {name!r} has n_dims {n_dims}, expected 1..{MAX_TENSOR_DIMS}", dims_at)
        ne = []
        n_elements = 1
        for i in range(n_dims):
            ne_at = cur.pos
            d = cur.u64(f"ne[{i}] of tensor {name!r}")
            if d == 0 or d >= INT63_LIMIT:
                shown = d if d < INT63_LIMIT else d - (1 << 64)
                raise cur.error(f"tensor {name!r} has ne[{i}] = {shown}, must be > 0", ne_at)
            n_elements *= d
            if n_elements >= INT63_LIMIT:
                raise cur.error(f"tensor {name!r}: element count overflows 63 bits", ne_at)
            ne.append(d)
        type_at = cur.pos
        type_id = cur.u32(f"type of tensor {name!r}")
        try:
            tr = traits(type_id)
        except ValueError:
            raise cur.error(f"tensor {name!r} has unknown ggml type id {type_id}", type_at) from None
        if ne[0] % tr.block_size:
            raise cur.error(f"tensor {name!r}: ne[0] = {ne[0]} is not a multiple of the "
                            f"{tr.name} block size {tr.block_size}", dims_at)
        nbytes = n_elements // tr.block_size * tr.type_size
        if nbytes >= INT63_LIMIT:
            raise cur.error(f"tensor {name!r}: byte size overflows 63 bits", dims_at)
        offset_at = cur.pos
        rel_offset = cur.u64(f"data offset of tensor {name!r}")
        return _RawTensorInfo(name, tr.type, tuple(ne), rel_offset, nbytes, offset_at)

    def _place_tensors(self, cur: _HeaderCursor, raw: list[_RawTensorInfo]) -> None:
        """Check each tensor's data offset (aligned, inside the file, no overlap) and make it
        absolute."""
        for r in raw:
            if r.rel_offset % self.alignment:
                raise cur.error(f"tensor {r.name!r}: data offset {r.rel_offset} is not a multiple "
                                f"of the alignment {self.alignment}", r.offset_field_at)
            end = self.data_offset + r.rel_offset + r.nbytes
            if end > cur.file_size:
                raise cur.error(f"tensor {r.name!r}: data ends at {end}, past the end of the "
                                f"file ({cur.file_size} bytes)", r.offset_field_at)
        by_start = sorted(raw, key=lambda r: r.rel_offset)
        for prev, r in zip(by_start, by_start[1:]):
            if r.rel_offset < prev.rel_offset + prev.nbytes:
                raise cur.error(f"tensor {r.name!r} (data offset {r.rel_offset}) overlaps "
                                f"{prev.name!r} (data [{prev.rel_offset}, "
                                f"{prev.rel_offset + prev.nbytes}))", r.offset_field_at)
        for r in raw:
            info = GGUFTensorInfo(r.name, r.type, r.ne, self.data_offset + r.rel_offset, r.nbytes, self)
            self.tensors.append(info)
            self._by_name[r.name] = info

    # --- access ----------------------------------------------------------------------------

    def tensor(self, name: str) -> GGUFTensorInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def _tensor_bytes(self, t: GGUFTensorInfo) -> np.ndarray:
        if self._mmap is None:
            raise ValueError(f"{self.path}: reader is closed")
        return np.frombuffer(self._mmap, np.uint8, t.nbytes, t.offset)

    def release_pages(self, t: GGUFTensorInfo) -> None:
        """Drop this process's resident pages of tensor t's data (the whole pages inside it):
        they leave the RSS and fault back in from the page cache if read again."""
        if self._mmap is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        page = mmap.PAGESIZE
        start = (t.offset + page - 1) // page * page
        end = (t.offset + t.nbytes) // page * page
        if end > start:
            # no huge-page mapping over these pages: reading a neighbour in the same 2 MiB of page
            # cache would map the whole huge folio back (on kernels that map file folios by PMD)
            if hasattr(mmap, "MADV_NOHUGEPAGE"):
                self._mmap.madvise(mmap.MADV_NOHUGEPAGE, start, end - start)
            self._mmap.madvise(mmap.MADV_DONTNEED, start, end - start)

    def close(self) -> None:
        """Unmap the file; views handed out earlier keep the mapping alive until dropped."""
        m, self._mmap = self._mmap, None
        if m is not None:
            try:
                m.close()
            except BufferError:
                pass  # exported views still use it; it unmaps when the last one goes

    def __enter__(self) -> GGUFReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"GGUFReader({self.path!r}, version={self.version}, "
                f"{len(self.metadata)} keys, {len(self.tensors)} tensors)")
