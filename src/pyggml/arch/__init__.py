"""Model architectures: one file each, built over the graph API.

An architecture module provides `load_config(metadata) -> ModelConfig` and
`build(ctx, config, weights, batch, kv) -> Tensor` (the logits of the requested rows)."""
from __future__ import annotations

from types import ModuleType

from . import gemma3, llama, qwen3moe
from .config import ModelConfig, ModelFormatError

ARCHITECTURES: dict[str, ModuleType] = {"llama": llama, "gemma3": gemma3, "qwen3moe": qwen3moe}


def get_arch(metadata: dict) -> ModuleType:
    name = metadata.get("general.architecture")
    if name is None:
        raise ModelFormatError("missing metadata key 'general.architecture'")
    if name not in ARCHITECTURES:
        raise ModelFormatError(f"unsupported architecture {name!r}; pyggml runs: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]


__all__ = ["ARCHITECTURES", "ModelConfig", "ModelFormatError", "get_arch"]
