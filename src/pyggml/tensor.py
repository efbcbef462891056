"""ggml's context and tensor, in Python over C headers.

A `Context` is an arena (`mem_size` bytes) that owns tensor headers and, unless `no_alloc`,
their data. A `Tensor` has ggml's fields: `type`, `ne` (element counts, ne[0] = contiguous dim =
numpy's last axis), `nb` (byte strides), `op`, `src`, `view_src`/`view_offs`, `name`.
A 3×4 row-major matrix has ne = (4, 3, 1, 1)."""
from __future__ import annotations

import enum

import numpy as np

from . import _core
from .types import GGMLType, traits

MAX_DIMS = 4


class Op(enum.IntEnum):
    """Graph ops; values mirror pg_op in csrc/pyggml.h (append-only)."""

    NONE = 0
    DUP = 1
    ADD = 2
    SUB = 3
    MUL = 4
    DIV = 5
    SCALE = 6
    MUL_MAT = 7
    RMS_NORM = 8
    NORM = 9
    SILU = 10
    GELU = 11
    RELU = 12
    SOFT_MAX = 13
    ROPE = 14
    DIAG_MASK_INF = 15
    CONCAT = 16
    SUM_ROWS = 17
    ARGMAX = 18
    GET_ROWS = 19
    CPY = 20
    CONT = 21
    VIEW = 22
    RESHAPE = 23
    PERMUTE = 24
    TRANSPOSE = 25
    SET_ROWS = 26
    FLASH_ATTN_EXT = 27
    TANH = 28
    SWIGLU = 29
    MUL_MAT_ID = 30
    ARGSORT_TOP_K = 31
    MUL_MAT_GLU = 32


# ops whose result shares its source's data (no compute, no buffer of their own)
VIEW_OPS = frozenset({Op.VIEW, Op.RESHAPE, Op.PERMUTE, Op.TRANSPOSE})

_NUMPY_DTYPES = {
    GGMLType.F32: np.float32, GGMLType.F16: np.float16, GGMLType.I32: np.int32,
    GGMLType.I8: np.int8, GGMLType.I16: np.int16, GGMLType.I64: np.int64, GGMLType.F64: np.float64,
}


def contiguous_strides(type_: GGMLType, ne) -> tuple[int, int, int, int]:
    tr = traits(type_)
    nb0 = tr.type_size
    nb1 = nb0 * (ne[0] // tr.block_size)
    nb2 = nb1 * ne[1]
    nb3 = nb2 * ne[2]
    return (nb0, nb1, nb2, nb3)


class Context:
    """An arena owning tensor headers (and their data unless no_alloc)."""

    def __init__(self, mem_size: int = 16 * 1024 * 1024, no_alloc: bool = False):
        if mem_size <= 0:
            raise ValueError(f"mem_size must be > 0, got {mem_size}")
        self._c = _core.CContext(int(mem_size), bool(no_alloc))

    @property
    def mem_size(self) -> int:
        return self._c.mem_size

    @property
    def no_alloc(self) -> bool:
        return self._c.no_alloc

    @property
    def used(self) -> int:
        return self._c.used

    def new_tensor(self, type_: int | GGMLType, ne, name: str = "") -> Tensor:
        type_ = GGMLType(type_)
        ne = tuple(int(n) for n in ne)
        if not 1 <= len(ne) <= MAX_DIMS:
            raise ValueError(f"a tensor has 1 to 4 dims, got ne={ne}")
        if any(n <= 0 for n in ne):
            raise ValueError(f"every ne must be > 0, got ne={ne}")
        tr = traits(type_)
        if ne[0] % tr.block_size:
            raise ValueError(f"{tr.name}: ne0={ne[0]} is not a multiple of the block size {tr.block_size}")
        ne4 = ne + (1,) * (MAX_DIMS - len(ne))
        c = _core.new_tensor(self._c, int(type_), ne4, contiguous_strides(type_, ne4), not self.no_alloc)
        t = Tensor._wrap(c, self, len(ne))
        if name:
            t.name = name
        return t

    def new_tensor_1d(self, type_, ne0, name=""):
        return self.new_tensor(type_, (ne0,), name)

    def new_tensor_2d(self, type_, ne0, ne1, name=""):
        return self.new_tensor(type_, (ne0, ne1), name)

    def new_tensor_3d(self, type_, ne0, ne1, ne2, name=""):
        return self.new_tensor(type_, (ne0, ne1, ne2), name)

    def new_tensor_4d(self, type_, ne0, ne1, ne2, ne3, name=""):
        return self.new_tensor(type_, (ne0, ne1, ne2, ne3), name)

    def _new_result(self, type_: GGMLType, ne, nb=None, n_dims: int | None = None) -> Tensor:
        """A header for an op's result; its data is planned by the allocator (or a view's)."""
        ne4 = tuple(ne) + (1,) * (MAX_DIMS - len(ne))
        nb4 = tuple(nb) if nb is not None else contiguous_strides(type_, ne4)
        c = _core.new_tensor(self._c, int(type_), ne4, nb4, False)
        return Tensor._wrap(c, self, n_dims or len(ne))


class Tensor:
    """ggml's tensor. Build results with the functions of pyggml.ops; read with .numpy()."""

    __slots__ = ("_c", "ctx", "n_dims", "src", "view_src", "is_input", "is_output", "__weakref__")

    @classmethod
    def _wrap(cls, c, ctx: Context, n_dims: int) -> Tensor:
        t = cls.__new__(cls)
        t._c = c
        t.ctx = ctx
        t.n_dims = n_dims
        t.src = ()
        t.view_src = None
        t.is_input = False
        t.is_output = False
        return t

    # ggml's fields
    @property
    def type(self) -> GGMLType:
        return GGMLType(self._c.type)

    @property
    def ne(self) -> tuple[int, int, int, int]:
        return self._c.ne

    @property
    def nb(self) -> tuple[int, int, int, int]:
        return self._c.nb

    @property
    def op(self) -> Op:
        return Op(self._c.op)

    @property
    def view_offs(self) -> int:
        return self._c.view_offs

    @property
    def name(self) -> str:
        return self._c.get_name()

    @name.setter
    def name(self, value: str) -> None:
        self._c.set_name(value)

    @property
    def data(self) -> int:
        """Address of the first element (0 until allocated)."""
        return self._c.data

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy order (reversed ne, n_dims long)."""
        return tuple(reversed(self.ne[: self.n_dims]))

    @property
    def n_elements(self) -> int:
        n = 1
        for x in self.ne:
            n *= x
        return n

    @property
    def nbytes(self) -> int:
        return self._c.nbytes

    def is_contiguous(self) -> bool:
        return self._c.is_contiguous

    def set_input(self) -> Tensor:
        self.is_input = True
        return self

    def set_output(self) -> Tensor:
        self.is_output = True
        return self

    def set_data_address(self, address: int, keepalive) -> None:
        """Point this tensor at existing memory (e.g. an mmapped GGUF weight), no copy."""
        self._c.set_data(int(address), keepalive)

    def numpy(self) -> np.ndarray:
        """Zero-copy numpy view (F32/F16/I32… only), numpy order, honouring strides."""
        dtype = _NUMPY_DTYPES.get(self.type)
        if dtype is None:
            raise TypeError(f"tensor {self.name!r}: no numpy view for type {self.type.name}; dequantize it")
        if not self.data:
            raise ValueError(f"tensor {self.name!r} has no data yet (allocate or compute its graph)")
        shape = tuple(reversed(self.ne[: self.n_dims]))
        strides = tuple(reversed(self.nb[: self.n_dims]))
        return np.ndarray(shape, dtype, buffer=self._raw(), strides=strides)

    def _raw(self) -> _core.RawMemory:
        return _core.RawMemory(self.data, self.nbytes, self)

    def set(self, array) -> Tensor:
        """Copy array (numpy order, same shape) into this tensor's data."""
        arr = np.asarray(array)
        view = self.numpy()
        if arr.shape != view.shape:
            raise ValueError(f"tensor {self.name!r}: shape {arr.shape} does not match {view.shape} (ne={self.ne})")
        view[...] = arr
        return self

    def set_bytes(self, raw) -> Tensor:
        """Copy raw bytes (any type, incl. quantized) into this contiguous tensor."""
        raw = np.frombuffer(memoryview(raw).cast("B"), dtype=np.uint8)
        if not self.is_contiguous() or raw.nbytes != self.nbytes:
            raise ValueError(f"tensor {self.name!r}: {raw.nbytes} bytes given, {self.nbytes} expected (contiguous)")
        if not self.data:
            raise ValueError(f"tensor {self.name!r} has no data yet")
        np.frombuffer(self._raw(), dtype=np.uint8)[:] = raw
        return self

    def __repr__(self) -> str:
        ne = ", ".join(str(n) for n in self.ne[: self.n_dims])
        return f"Tensor({self.name or '?'}, {self.type.name}, ne=({ne}), op={self.op.name})"

