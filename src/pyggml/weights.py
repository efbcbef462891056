"""Model weights as graph leafs pointing straight into the mmapped GGUF file (no copies)."""
from __future__ import annotations

from .gguf import GGUFReader
from .tensor import Context, Tensor
from .arch.config import ModelFormatError
from .types import traits

_HEADER_BYTES = 512   # generous bound on one tensor header in the arena


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

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def __getitem__(self, name: str) -> Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise ModelFormatError(f"{self.reader.path}: missing tensor {name!r}") from None

    def require(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self._tensors]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ModelFormatError(f"{self.reader.path}: missing tensor {missing[0]!r}{more}")

    def layer(self, il: int) -> dict[str, Tensor]:
        """blk.{il}.* tensors keyed by their short name ('attn_q', 'ffn_norm', …)."""
        if il not in self._layers:
            prefix = f"blk.{il}."
            self._layers[il] = {name[len(prefix):].removesuffix(".weight"): t
                                for name, t in self._tensors.items() if name.startswith(prefix)}
        return self._layers[il]

    def output(self) -> Tensor:
        """The LM head: output.weight, or the tied token embedding."""
        return self._tensors.get("output.weight") or self["token_embd.weight"]
