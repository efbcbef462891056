"""The compute-memory planner: gives every intermediate an offset in one buffer, reusing the
space of tensors whose last consumer has run (liveness), and running element-wise ops in place
over a source that dies at that node (src[0], or a same-shape src[1] when it sits lower). Weights
and tensors that already have data are never touched; views get their base's address plus their
offset. Graphs that never run at the same time can share one buffer (SharedMemory)."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from .tensor import Op, Tensor

ALIGN = 64
# ops whose kernel may write its result over src[0] (same shape, read-before-write per element)
INPLACE_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.SCALE, Op.SILU, Op.GELU, Op.RELU, Op.TANH,
                         Op.SWIGLU})
# element-wise binary ops that may also write over src[1] when it has dst's shape
INPLACE_SRC1_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.SWIGLU})


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _FreeList:
    """Best-fit allocator over one growing address range; adjacent free blocks merge."""

    def __init__(self) -> None:
        self.free: list[tuple[int, int]] = []  # (offset, size), sorted by offset
        self.top = 0                           # high-water mark

    def alloc(self, size: int) -> int:
        size = _aligned(size)
        best = None
        for i, (off, sz) in enumerate(self.free):
            if sz >= size and (best is None or sz < self.free[best][1]):
                best = i
        if best is not None:
            off, sz = self.free.pop(best)
            if sz > size:
                self.free.insert(best, (off + size, sz - size))
            return off
        if self.free and self.free[-1][0] + self.free[-1][1] == self.top:
            off, _ = self.free.pop()   # extend the free tail block
        else:
            off = self.top
        self.top = off + size
        return off

    def release(self, off: int, size: int) -> None:
        size = _aligned(size)
        self.free.append((off, size))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for o, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        self.free = merged


@dataclass
class AllocPlan:
    offsets: dict[int, int] = field(default_factory=dict)  # id(tensor) -> offset
    size: int = 0                                          # bytes of the compute buffer
    naive_size: int = 0                                    # sum of all planned tensors
    n_inplace: int = 0


def _base(t: Tensor) -> Tensor:
    return t.view_src if t.view_src is not None else t


def plan(nodes: list[Tensor], leafs: list[Tensor], keep: set[int], reuse: bool = True) -> AllocPlan:
    """Offsets for every tensor of the graph without data. keep: ids never freed (outputs)."""
    needs = lambda t: t.view_src is None and not t.data  # noqa: E731
    last_use: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for s in node.src:
            if s is not None:
                last_use[id(_base(s))] = i
    fl = _FreeList()
    p = AllocPlan()
    sizes: dict[int, int] = {}
    for t in leafs:  # graph inputs without data: allocated for the whole run
        if needs(t) and id(t) not in p.offsets:
            p.offsets[id(t)] = fl.alloc(t.nbytes)
            p.naive_size += _aligned(t.nbytes)

    def reusable(src: Tensor | None, i: int, node: Tensor) -> bool:
        """src dies at node i and node may take its memory."""
        return (src is not None and src.view_src is None and id(src) in sizes and last_use.get(id(src)) == i
                and id(src) not in keep and src.nbytes == node.nbytes and src.ne == node.ne
                and src.is_contiguous() and node.is_contiguous())

    for i, node in enumerate(nodes):
        if needs(node) and id(node) not in p.offsets:
            p.naive_size += _aligned(node.nbytes)
            candidates = []
            if reuse and node.op in INPLACE_OPS and reusable(node.src[0] if node.src else None, i, node):
                candidates.append(node.src[0])
            if reuse and node.op in INPLACE_SRC1_OPS and len(node.src) > 1 and reusable(node.src[1], i, node):
                candidates.append(node.src[1])
            if candidates:
                # the lower one: keeps the free space at the top of the buffer in one piece
                src = min(candidates, key=lambda t: p.offsets[id(t)])
                p.offsets[id(node)] = p.offsets[id(src)]
                sizes[id(node)] = sizes.pop(id(src))
                p.n_inplace += 1
            else:
                p.offsets[id(node)] = fl.alloc(node.nbytes)
                sizes[id(node)] = node.nbytes
        if not reuse:
            continue
        for s in {id(_base(s)): _base(s) for s in node.src if s is not None}.values():
            if last_use.get(id(s)) == i and id(s) in sizes and id(s) not in keep:
                fl.release(p.offsets[id(s)], sizes.pop(id(s)))
        if id(node) in sizes and id(node) not in last_use and id(node) not in keep:
            fl.release(p.offsets[id(node)], sizes.pop(id(node)))  # result nobody reads
    p.size = fl.top
    return p


def _new_buffer(size: int) -> np.ndarray:
    """Zeroed bytes with room for ALIGN-aligning the base (np.zeros: pages are committed only
    when first written)."""
    return np.zeros(size + ALIGN, dtype=np.uint8)


def bind(nodes: list[Tensor], leafs: list[Tensor], p: AllocPlan, raw: np.ndarray) -> None:
    """Point every planned tensor at raw + its offset, and every view at its base + view_offs."""
    if raw.nbytes < p.size + ALIGN:
        raise ValueError(f"compute buffer of {raw.nbytes} bytes is smaller than the plan's {p.size} + {ALIGN}")
    base = raw.ctypes.data
    base_aligned = (base + ALIGN - 1) // ALIGN * ALIGN
    by_id = {id(t): t for t in list(leafs) + list(nodes)}
    for tid, off in p.offsets.items():
        by_id[tid].set_data_address(base_aligned + off, raw)
    for t in list(leafs) + list(nodes):
        if t.view_src is not None and (not t.data or id(_base(t)) in p.offsets):
            if not t.view_src.data:
                raise ValueError(f"view {t.name!r} of {t.view_src.name!r}: the base has no data")
            t.set_data_address(t.view_src.data + t.view_offs, t.view_src)


def allocate(nodes: list[Tensor], leafs: list[Tensor], keep: set[int], reuse: bool = True):
    """Plan, allocate one buffer, point every planned tensor and every view at it.
    Returns (buffer, plan); the buffer must stay alive as long as the graph."""
    p = plan(nodes, leafs, keep, reuse)
    raw = _new_buffer(p.size)
    bind(nodes, leafs, p, raw)
    return raw, p


class SharedMemory:
    """One compute buffer and one work buffer for graphs that never run at the same time (a
    runner's graphs of different batch shapes): each is as large as the largest graph bound so
    far needs. When the compute buffer grows, every graph bound to it is re-pointed at the new
    one, so the old one is freed instead of each graph keeping its own."""

    def __init__(self) -> None:
        self.buffer = _new_buffer(0)
        self.work = np.zeros(0, dtype=np.uint8)
        self._work_address, self._work_bytes = self.work.ctypes.data, 0
        self._users: weakref.WeakSet = weakref.WeakSet()   # objects with rebind(raw)
        self.generation = 0   # counts buffer replacements: views of the old one are stale

    @property
    def size(self) -> int:
        """Usable bytes of the compute buffer."""
        return self.buffer.nbytes - ALIGN

    def attach(self, user, size: int) -> np.ndarray:
        """Reserve size bytes for user (rebind(raw) is called if the buffer is replaced later);
        returns the buffer to bind to now."""
        if size > self.size:
            self.buffer = _new_buffer(size)
            self.generation += 1
            for other in list(self._users):
                other.rebind(self.buffer)
        self._users.add(user)
        return self.buffer

    def work_buffer(self, size: int) -> tuple[int, int]:
        """(address, bytes) of a work buffer of at least size bytes."""
        if self._work_bytes < size:
            self.work = np.zeros(size, dtype=np.uint8)
            self._work_address, self._work_bytes = self.work.ctypes.data, self.work.nbytes
        return self._work_address, self._work_bytes
