"""Model architectures: one file each, built over the graph API.

An architecture module provides `load_config(metadata) -> ModelConfig`,
`tensors(config, file_names) -> (required, optional)` GGUF tensor names, and
`build(ctx, config, weights, batch, kv) -> Tensor` (the logits of the requested rows).
docs/new-architecture.md walks through adding one."""
from __future__ import annotations

from types import ModuleType

from . import gemma2, gemma3, gpt2, llama, phi3, qwen2, qwen3
from .config import ModelConfig, ModelFormatError

ARCHITECTURES: dict[str, ModuleType] = {
    "llama": llama, "qwen2": qwen2, "qwen3": qwen3, "phi3": phi3, "gemma2": gemma2, "gemma3": gemma3, "gpt2": gpt2,
}


def get_arch(metadata: dict) -> ModuleType:
    name = metadata.get("general.architecture")
    if name is None:
        raise ModelFormatError("missing metadata key 'general.architecture'")
    if name not in ARCHITECTURES:
        raise ModelFormatError(f"unsupported architecture {name!r}; pyggml runs: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]


__all__ = ["ARCHITECTURES", "ModelConfig", "ModelFormatError", "get_arch"]
