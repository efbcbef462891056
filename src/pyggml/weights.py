"""Model weights as graph leafs pointing straight into the mmapped GGUF file (no copies)."""
from __future__ import annotations

from .errors import ModelFormatError
from .gguf import GGUFReader
from .tensor import Context, Tensor
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
