"""pyggml: a ggml-style LLM inference engine for Python."""
from __future__ import annotations

import os as _os

from . import _core

__version__ = "0.1.0"


def _select_simd_path() -> None:
    wanted = _os.environ.get("PYGGML_SIMD", "").strip().lower()
    _core.set_simd_path(wanted or _core.best_simd_path())


_select_simd_path()

from .types import GGMLType, TypeTraits, TYPE_TRAITS, UnsupportedTypeError  # noqa: E402


def system_info() -> str:
    """CPU features and the active SIMD path, one line in llama.cpp's style."""
    return _core.system_info()


def simd_path() -> str:
    return _core.simd_path()


def set_simd_path(name: str) -> None:
    """Force a SIMD path ('scalar', 'avx2', 'neon') for every later computation."""
    _core.set_simd_path(name)
