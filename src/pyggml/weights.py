"""Model weights as graph leafs pointing straight into the mmapped GGUF file (no copies)."""
from __future__ import annotations

import numpy as np

from .errors import ModelFormatError
from .gguf import GGUFReader
from .tensor import Context, Tensor
from .types import GGMLType, traits

_HEADER_BYTES = 512   # generous bound on one tensor header in the arena


_HUGE_PAGE = 2 << 20


class WeightStore:
    """name -> Tensor for every tensor of a GGUF file; data = the file's mapped bytes."""

    def __init__(self, reader: GGUFReader):
        self.reader = reader
        self.ctx = Context(mem_size=_HEADER_BYTES * (len(reader.tensors) + 1), no_alloc=True)
        self._tensors: dict[str, Tensor] = {}
        for info in reader.tensors:
            t = self.ctx.new_tensor(info.type, info.ne, name=info.name[:63])
            raw = info.data                       # read-only uint8 view of the mapping
            if raw.nbytes != t.nbytes:
                raise ModelFormatError(f"{reader.path}: tensor {info.name!r}: {raw.nbytes} bytes in file, "
                                       f"{t.nbytes} expected for {traits(info.type).name} {info.ne}")
            t.set_data_address(raw.ctypes.data, raw)
            self._tensors[info.name] = t
        self._layers: dict[int, dict[str, Tensor]] = {}

    def repack(self, n_threads: int = 1) -> int:
        """Give every 2-D weight of a repackable type (Q4_0, Q4_1, Q5_0, Q4_K; whole groups of 8 rows) a copy
        repacked by 8 rows, which the x86 paths' mul_mat streams as one run per group
        (csrc/quants/repack.c; the same values), where the active SIMD path reads such copies of
        that type; the file's pages behind each copy are released (other readers, e.g. get_rows
        or a path without the kernels, fault them back in). Tensors are repacked n_threads at a
        time (the C loop runs without the GIL). Returns the bytes repacked."""
        from concurrent.futures import ThreadPoolExecutor

        from . import _core

        # a type the path does not read repacked keeps its rows: copies would go unread, the
        # file's pages read again (twice the memory)
        types = {t for t in (GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q4_K)
                 if _core.active_path_reads_repacked(int(t))}
        todo = [info for info in self.reader.tensors
                if info.type in types and len(info.ne) == 2 and info.ne[1] % 8 == 0
                and info.ne[0] % traits(info.type).block_size == 0]

        # one arena for all copies, back to back (64-byte aligned), starting at a 2 MiB boundary:
        # numpy asks for transparent huge pages on large arrays, and copies allocated one by one
        # started mid-page, so a third of their bytes were read through 4 KiB pages (TLB misses
        # on the decode's weight streams)
        offsets, total = {}, 0
        for info in todo:
            offsets[info.name] = total
            total += -(-info.nbytes // 64) * 64
        arena = np.empty(total + _HUGE_PAGE, np.uint8)
        skip = -arena.ctypes.data % _HUGE_PAGE

        def one(info) -> int:
            t = self._tensors[info.name]
            start = skip + offsets[info.name]
            packed = arena[start:start + info.nbytes]
            _core.repack_x8(int(info.type), t.data, t.nb[1], packed, info.ne[1], info.ne[0])
            t._c.set_repacked(packed)
            self.reader.release_pages(info)
            return info.nbytes

        if n_threads <= 1 or len(todo) < 2:
            return sum(one(info) for info in todo)
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            return sum(pool.map(one, todo))

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def __getitem__(self, name: str) -> Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise ModelFormatError(f"{self.reader.path}: missing tensor {name!r}") from None

    def get(self, name: str) -> Tensor | None:
        return self._tensors.get(name)

    @property
    def names(self) -> set[str]:
        return set(self._tensors)

    def require(self, names: list[str], allowed: list[str] = ()) -> None:
        """Every name in `names` must be in the file, and every tensor of the file must be in
        `names` or `allowed` (a tensor the architecture would ignore is refused, not skipped)."""
        missing = [n for n in names if n not in self._tensors]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ModelFormatError(f"{self.reader.path}: missing tensor {missing[0]!r}{more}")
        known = set(names) | set(allowed)
        unknown = [n for n in self._tensors if n not in known]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise ModelFormatError(f"{self.reader.path}: tensor {unknown[0]!r}{more} is not used by this "
                                   f"architecture (pyggml does not implement it)")

    def layer(self, il: int) -> "LayerWeights":
        """blk.{il}.* tensors keyed by their short name ('attn_q', 'attn_q.bias', 'ffn_norm', …)."""
        if il not in self._layers:
            prefix = f"blk.{il}."
            self._layers[il] = LayerWeights(il, {name[len(prefix):].removesuffix(".weight"): t
                                                 for name, t in self._tensors.items() if name.startswith(prefix)})
        return self._layers[il]

    def output(self) -> Tensor:
        """The LM head: output.weight, or the tied token embedding."""
        return self._tensors.get("output.weight") or self["token_embd.weight"]


class LayerWeights(dict):
    """One block's tensors by short name; a missing one is a ModelFormatError naming it."""

    def __init__(self, il: int, tensors: dict[str, Tensor]):
        super().__init__(tensors)
        self.il = il

    def __missing__(self, name: str):
        full = name if "." in name else name + ".weight"
        raise ModelFormatError(f"missing tensor 'blk.{self.il}.{full}'")
