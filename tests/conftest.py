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


def _no_hypothesis_deadline() -> None:
    """Property tests judge results, never wall time: a loaded machine must not fail them."""
    from hypothesis import settings

    settings.register_profile("pyggml", deadline=None)
    settings.load_profile("pyggml")


_no_hypothesis_deadline()
