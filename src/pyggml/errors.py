"""Errors shared across the package's layers (the weight store, the architectures, the runner)."""
from __future__ import annotations


class ModelFormatError(ValueError):
    """The file's metadata or tensors do not describe a model pyggml can run."""
