"""Write a derived variant of a model (manifest "derived"): every tensor converted to the
recipe's type, all metadata copied in the source's order with general.file_type replaced, same
tensor order and alignment. This is how gguf-py's GGUFWriter lays the file out, so the result
is byte-identical to the manifest's gguf_sha256_if_written_like_gguf_py, which is checked."""
from __future__ import annotations

from pathlib import Path

from ..gguf import GGUFReader, GGUFValueType, GGUFWriter, copy_metadata
from ..quants import dequantize, quantize
from ..types import GGMLType
from .cache import ModelChecksumError, atomic_output, verify_file
from .manifest import DerivedModel
from .progress import Progress

FILE_TYPE_KEY = "general.file_type"


def write_derived(model: DerivedModel, source: Path, dest: Path) -> None:
    """Convert `source` by the recipe of `model` into `dest` (not verified here)."""
    with GGUFReader(source) as reader:
        writer = GGUFWriter(dest, alignment=reader.alignment, version=reader.version)
        copy_metadata(reader, writer)
        writer.set_kv(FILE_TYPE_KEY, model.file_type, GGUFValueType.UINT32)
        progress = Progress(f"deriving {model.name} from {source.name}", len(reader.tensors), unit="tensors")
        for i, tensor in enumerate(reader.tensors):
            target = model.tensor_type(tensor.name, len(tensor.ne))
            if tensor.type == target:
                data = tensor.data
            else:
                # (ne1.., ne0) rows of raw bytes -> float32 rows -> rows of the target type
                rows = tensor.data.reshape(*tensor.shape[:-1], -1)
                values = rows.view("<f4") if tensor.type == GGMLType.F32 else dequantize(rows, tensor.type)
                data = values if target == GGMLType.F32 else quantize(values, target)
            writer.add_tensor(tensor.name, data, target, tensor.ne)
            progress.update(i + 1)
        writer.write()
        progress.done()


def derive_model(model: DerivedModel, source: Path, dest: Path) -> None:
    """Write, verify against the manifest's sha256 (a mismatch removes the file), store at dest."""
    with atomic_output(dest) as tmp:
        write_derived(model, source, tmp)
        try:
            verify_file(tmp, model.gguf_sha256)
        except ModelChecksumError as e:
            raise ModelChecksumError(f"derived model {model.name} is not byte-identical to the file gguf-py "
                                     f"writes for the same recipe: {e}") from None
