"""The qwen3 architecture: qwen2's block without projection biases, plus a per-head RMS norm of
Q and K before RoPE (attn_q_norm / attn_k_norm, head_dim long; layers.self_attention applies it
when the layer has it); key_length may differ from n_embd / n_head. The graph is qwen2's."""
from __future__ import annotations

from .. import ops
from .config import ModelConfig, check_keys, read_common
from .layers import model_tensor_names
from .llama import qkv_names
from .qwen2 import build  # noqa: F401  (the same graph: QK-norm comes with the tensors)


def load_config(md: dict) -> ModelConfig:
    check_keys(md, "qwen3", known=("attention.layer_norm_rms_epsilon",))
    return ModelConfig(**read_common(md, "qwen3", rope_mode=ops.ROPE_TYPE_NEOX))


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    layer = ("attn_norm", *qkv_names(file_names), "attn_q_norm", "attn_k_norm", "attn_output", "ffn_norm",
             "ffn_gate", "ffn_up", "ffn_down")
    return model_tensor_names(cfg.n_layer, layer), ["output.weight"]
