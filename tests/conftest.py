"""Shared fixtures: real model files (fetched through pyggml.models, never skipped) and the
llama.cpp reference outputs (tests/reference, or PYGGML_REFERENCE_DIR for another split)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REFERENCE_DIR = Path(os.environ.get("PYGGML_REFERENCE_DIR", Path(__file__).parent / "reference"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def model_path():
    """model_path("smollm2-135m-q4_1") -> Path of the GGUF file, fetched or derived if needed."""
    from pyggml.models import ensure_model

    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = ensure_model(name)
        return cache[name]

    return get


# ---- SIMD paths ------------------------------------------------------------------------------
# Every path this build has kernels for (csrc/cpu_features.c's registry), parents first. A path
# this CPU lacks is not dropped: its tests are skipped with a reason naming it, so a machine
# without AVX-512 says so in the test report instead of passing silently. (Paths with no kernels
# in this build, e.g. amx, are named once by tests/test_simd_paths.py.)
def _platform_simd_paths():
    import pyggml

    available = set(pyggml.available_simd_paths())
    before = pyggml.simd_path()   # the path PYGGML_SIMD chose (or the best): the tests' default
    params = []
    for name in pyggml._core.built_simd_paths():
        if name in available:
            params.append(pytest.param(name, id=name))
        else:
            try:
                pyggml.set_simd_path(name)
                reason = "unavailable"
            except ValueError as e:
                reason = str(e)
            params.append(pytest.param(name, id=name, marks=pytest.mark.skip(reason=f"SIMD path {name}: {reason}")))
    pyggml.set_simd_path(before)
    return params


SIMD_PATHS = _platform_simd_paths()


@pytest.fixture(params=SIMD_PATHS)
def simd_path(request):
    """Each SIMD path this platform knows, made active for the test (restored after)."""
    import pyggml

    before = pyggml.simd_path()
    pyggml.set_simd_path(request.param)
    yield request.param
    pyggml.set_simd_path(before)


def _no_hypothesis_deadline() -> None:
    """Property tests judge results, never wall time: a loaded machine must not fail them."""
    from hypothesis import settings

    settings.register_profile("pyggml", deadline=None)
    settings.load_profile("pyggml")


_no_hypothesis_deadline()
