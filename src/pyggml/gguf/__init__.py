"""GGUF files: reader (untrusted input, zero-copy tensor data), writer, dump."""
from .reader import GGUFError, GGUFReader, GGUFTensorInfo
from .values import ArrayType, GGUFValueType, ValueType
from .writer import GGUFWriter, copy_metadata

__all__ = [
    "ArrayType", "GGUFError", "GGUFReader", "GGUFTensorInfo", "GGUFValueType", "GGUFWriter",
    "ValueType", "copy_metadata",
]
