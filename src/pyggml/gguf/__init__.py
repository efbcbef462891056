"""GGUF files: reader (untrusted input, zero-copy tensor data), writer, dump."""
from .reader import GGUFError, GGUFReader, GGUFTensorInfo
from .strings import GGUFStringArray
from .values import ArrayType, GGUFValueType, ValueType
from .writer import GGUFWriter, copy_metadata

__all__ = [
    "ArrayType", "GGUFError", "GGUFReader", "GGUFStringArray", "GGUFTensorInfo", "GGUFValueType",
    "GGUFWriter", "ValueType", "copy_metadata",
]
