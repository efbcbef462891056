"""Hyperparameters read from GGUF `{arch}.*` keys into one frozen config."""
from __future__ import annotations

from dataclasses import dataclass


class ModelFormatError(ValueError):
    """The file's metadata or tensors do not describe a model pyggml can run."""


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int            # per-head size of Q and K
    head_dim_v: int            # per-head size of V
    n_rot: int                 # rotated dims per head
    rms_eps: float
    rope_freq_base: float
    rope_freq_scale: float
    rope_mode: int             # 0 normal (llama), 2 neox (gemma)
    # sliding-window attention (gemma3): window size and which layers use it
    n_swa: int = 0
    swa_layers: tuple[bool, ...] = ()
    rope_freq_base_swa: float = 10000.0
    rope_freq_scale_swa: float = 1.0

    @property
    def n_embd_k_gqa(self) -> int:
        return self.head_dim_k * self.n_head_kv

    @property
    def n_embd_v_gqa(self) -> int:
        return self.head_dim_v * self.n_head_kv


def require(metadata: dict, key: str, kind=int):
    if key not in metadata:
        raise ModelFormatError(f"missing metadata key {key!r}")
    value = metadata[key]
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"metadata {key!r} = {value!r} is not a {kind.__name__}") from None


def positive(name: str, value: int) -> int:
    if value <= 0:
        raise ModelFormatError(f"{name} must be > 0, got {value}")
    return value


def n_vocab_of(metadata: dict, arch: str) -> int:
    if f"{arch}.vocab_size" in metadata:
        return require(metadata, f"{arch}.vocab_size")
    tokens = metadata.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ModelFormatError(f"missing {arch}.vocab_size and tokenizer.ggml.tokens")
    return len(tokens)
