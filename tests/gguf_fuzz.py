"""Small GGUF files for the reader/writer tests and the fuzzer.

`assemble_sample()` builds a sample byte by byte from the format description, independently of
pyggml's writer, and records where every u64 count/length field lands (the fuzzer aims huge
values there). `write_sample()` writes the same content with GGUFWriter; a test checks that
both give identical bytes.
"""
from __future__ import annotations

import struct

import numpy as np

from pyggml.gguf import ArrayType, GGUFValueType as V, GGUFWriter
from pyggml.types import GGMLType

# (key, type, value) of the sample, one per value type plus arrays of strings, numbers, arrays.
SAMPLE_KVS = [
    ("general.architecture", V.STRING, "tiny"),
    ("general.alignment", V.UINT32, 32),
    ("test.uint8", V.UINT8, 200),
    ("test.int8", V.INT8, -5),
    ("test.uint16", V.UINT16, 65535),
    ("test.int16", V.INT16, -32768),
    ("test.uint32", V.UINT32, 4_000_000_000),
    ("test.int32", V.INT32, -2_000_000_000),
    ("test.float32", V.FLOAT32, 1.5),
    ("test.bool", V.BOOL, True),
    ("test.uint64", V.UINT64, 2**64 - 1),
    ("test.int64", V.INT64, -(2**63)),
    ("test.float64", V.FLOAT64, -0.1),
    ("test.string", V.STRING, "héllo"),
    ("test.strings", ArrayType(V.STRING), ["a", "bc", ""]),
    ("test.floats", ArrayType(V.FLOAT32), np.array([1.0, -2.5, 3.25], np.float32)),
    ("test.bools", ArrayType(V.BOOL), np.array([True, False], bool)),
    ("test.nested", ArrayType(V.ARRAY, (ArrayType(V.INT32), ArrayType(V.STRING))),
     [np.array([1, -2], np.int32), ["x"]]),
]
# (name, type, ne, raw bytes)
SAMPLE_TENSORS = [
    ("tensor_f32", GGMLType.F32, (4, 2), np.arange(8, dtype=np.float32).tobytes()),
    ("tensor_q8_0", GGMLType.Q8_0, (32,), bytes(range(34))),
]
ALIGNMENT = 32


class Assembler:
    """Appends little-endian fields; remembers the offsets of u64 counts and lengths."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.length_fields: list[int] = []

    def u32(self, v: int) -> None:
        self.out += struct.pack("<I", v)

    def length(self, n: int) -> None:
        self.length_fields.append(len(self.out))
        self.out += struct.pack("<Q", n)

    def string(self, s: str | bytes) -> None:
        raw = s if isinstance(s, bytes) else s.encode()
        self.length(len(raw))
        self.out += raw

    def value(self, vtype, value) -> None:
        if isinstance(vtype, ArrayType):
            self.u32(vtype.element)
            self.length(len(value))
            if vtype.element == V.STRING:
                for s in value:
                    self.string(s)
            elif vtype.element == V.ARRAY:
                for item, item_type in zip(value, vtype.items):
                    self.value(item_type, item)
            else:
                self.out += np.asarray(value).tobytes()
        elif vtype == V.STRING:
            self.string(value)
        else:
            fmt = {V.UINT8: "<B", V.INT8: "<b", V.UINT16: "<H", V.INT16: "<h", V.UINT32: "<I",
                   V.INT32: "<i", V.FLOAT32: "<f", V.BOOL: "<?", V.UINT64: "<Q", V.INT64: "<q",
                   V.FLOAT64: "<d"}[vtype]
            self.out += struct.pack(fmt, value)

    def pad(self) -> None:
        self.out += bytes(-len(self.out) % ALIGNMENT)


def assemble(kvs, tensors) -> tuple[bytes, list[int]]:
    """A GGUF v3 file of (key, type, value) and (name, type, ne, raw bytes), keys and names as
    str or bytes (so invalid ones can be built); returns the bytes and the offsets of the u64
    count/length fields."""
    a = Assembler()
    a.out += b"GGUF"
    a.u32(3)
    a.length(len(tensors))
    a.length(len(kvs))
    for key, vtype, value in kvs:
        a.string(key)
        a.u32(V.ARRAY if isinstance(vtype, ArrayType) else vtype)
        a.value(vtype, value)
    offset = 0
    for name, ggml_type, ne, raw in tensors:
        a.string(name)
        a.u32(len(ne))
        for d in ne:
            a.length(d)
        a.u32(ggml_type)
        a.out += struct.pack("<Q", offset)
        offset += len(raw) + (-len(raw) % ALIGNMENT)
    a.pad()
    for *_, raw in tensors:
        a.out += raw
        a.pad()
    return bytes(a.out), a.length_fields


def assemble_sample() -> tuple[bytes, list[int]]:
    return assemble(SAMPLE_KVS, SAMPLE_TENSORS)


def write_sample(path) -> bytes:
    """Write the sample with GGUFWriter; returns the file's bytes."""
    w = GGUFWriter(path)
    for key, vtype, value in SAMPLE_KVS:
        w.add_kv(key, value, vtype)
    for name, ggml_type, ne, raw in SAMPLE_TENSORS:
        w.add_tensor(name, raw, ggml_type, ne)
    w.write()
    with open(path, "rb") as f:
        return f.read()
