"""A GGUF string array kept compact: every item's bytes in one block, decoded only when read.

A vocabulary is 50k-260k strings; as Python str objects that is 8-22 MiB held for as long as the
metadata lives, most of it never looked at by a model runner. Here it is the bytes themselves
plus one offset per item. Items read as str decoded with errors="surrogateescape" (GGUF strings
are bytes: nothing is lost, and encoding back with the same handler gives the stored bytes);
`raw(i)` / `iter_raw()` give the bytes without the detour through str.
"""
from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator, Sequence

import numpy as np

_U64 = struct.Struct("<Q")


def _offset_array(ends: array, n_bytes: int) -> array:
    """(n + 1,) item starts then the total: 4-byte entries when the block allows."""
    code, dtype = ("I", np.uint32) if n_bytes < 1 << 32 else ("Q", np.uint64)
    offsets = array(code, [0])
    offsets.frombytes(np.frombuffer(ends, np.uint64).astype(dtype).tobytes())
    return offsets


class GGUFStringArray(Sequence):
    """Immutable sequence of str (item i: data[offsets[i]:offsets[i + 1]] decoded). Compares
    equal to a list / tuple with the same strings."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, data: bytes, ends: array):
        """data: the items' bytes back to back; ends: (n,) end offset of each item in data."""
        self._data = data
        self._offsets = _offset_array(ends, len(data))

    @classmethod
    def from_strings(cls, items: Sequence[str | bytes]) -> GGUFStringArray:
        raws = [s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape") for s in items]
        ends, end = array("Q"), 0
        for raw in raws:
            end += len(raw)
            ends.append(end)
        return cls(b"".join(raws), ends)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def raw(self, index: int) -> bytes:
        """Item `index` as stored (bytes)."""
        n = len(self._offsets) - 1
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"string array index {index} out of range for {n} items")
        return self._data[self._offsets[index]:self._offsets[index + 1]]

    def block(self) -> tuple[bytes, array]:
        """The storage itself, shared (read-only by contract): every item's bytes back to back
        and the (n + 1,) offsets of the items in them."""
        return self._data, self._offsets

    def iter_raw(self) -> Iterator[bytes]:
        data, offsets = self._data, self._offsets
        for i in range(len(offsets) - 1):
            yield data[offsets[i]:offsets[i + 1]]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.raw(i).decode("utf-8", "surrogateescape") for i in range(*index.indices(len(self)))]
        return self.raw(index.__index__()).decode("utf-8", "surrogateescape")

    def __iter__(self) -> Iterator[str]:
        for raw in self.iter_raw():
            yield raw.decode("utf-8", "surrogateescape")

    def gguf_bytes(self) -> bytes:
        """The items as a GGUF file stores them: each a u64 byte length then the bytes (the
        array's element type and count not included)."""
        pack = _U64.pack
        return b"".join(part for raw in self.iter_raw() for part in (pack(len(raw)), raw))

    def __eq__(self, other) -> bool:
        if isinstance(other, GGUFStringArray):
            return self._data == other._data and self._offsets == other._offsets
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # equal to lists, which are unhashable

    def __repr__(self) -> str:
        shown = ", ".join(repr(s) for s in self[:3])
        more = f", ... ({len(self)} items)" if len(self) > 3 else ""
        return f"GGUFStringArray([{shown}{more}])"
