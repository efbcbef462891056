"""pyggml: a ggml-style LLM inference engine for Python."""
from __future__ import annotations

import os as _os

from . import _core

__version__ = "0.1.0"


def _select_simd_path() -> None:
    wanted = _os.environ.get("PYGGML_SIMD", "").strip().lower()
    try:
        _core.set_simd_path(wanted or _core.best_simd_path())
    except ValueError as e:
        raise ImportError(f"PYGGML_SIMD={wanted}: {e}") from None


_select_simd_path()

from .types import GGMLType, TypeTraits, TYPE_TRAITS, UnsupportedTypeError  # noqa: E402


def system_info() -> str:
    """CPU features and the active SIMD path, one line in llama.cpp's style."""
    return _core.system_info()


def simd_path() -> str:
    return _core.simd_path()


def set_simd_path(name: str) -> None:
    """Force a SIMD path ('scalar', 'avx2', 'avx512', 'neon') for every later computation."""
    _core.set_simd_path(name)


def available_simd_paths() -> list[str]:
    """The SIMD paths this CPU and build can run, parents first ('scalar' first)."""
    return _core.available_simd_paths()

from .tensor import Context, Tensor, Op  # noqa: E402
from .graph import Graph  # noqa: E402
from ._core import ThreadPool  # noqa: E402
from . import ops  # noqa: E402
from .ops import (  # noqa: E402,F401
    add, sub, mul, div, scale, mul_mat, rms_norm, norm, silu, gelu, relu, tanh, soft_max,
    soft_max_ext, rope_ext, diag_mask_inf, concat, sum_rows, argmax, get_rows, set_rows, cpy,
    cont, dup, view_1d, view_2d, view_3d, view_4d, reshape, reshape_1d, reshape_2d, reshape_3d,
    reshape_4d, permute, transpose, flash_attn_ext, swiglu, mul_mat_glu, mul_mat_id, argsort_top_k,
)
from .llama import Llama  # noqa: E402,F401
from .grammar import LlamaGrammar  # noqa: E402,F401  (llguidance is imported on first use)
from .sampling import LogitsProcessorList, StoppingCriteriaList  # noqa: E402,F401
from .state import LlamaCache, LlamaRAMCache, LlamaState  # noqa: E402,F401
from .guard import ClosedError, StreamInvalidatedError  # noqa: E402,F401
