"""The qwen2 architecture (Qwen2, Qwen2.5): llama's block with biases on the Q/K/V projections
and NeoX RoPE; output weight tied or separate, optional output bias."""
from __future__ import annotations

import math

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, check_keys, read_common
from .layers import (BatchInputs, LayerCache, Rope, ffn_gated, last_layer_rows, model_tensor_names,
                     rms_norm_weighted, self_attention)
from .llama import qkv_names

BIASES = ("attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_qkv.bias")


def load_config(md: dict) -> ModelConfig:
    check_keys(md, "qwen2", known=("attention.layer_norm_rms_epsilon",))
    return ModelConfig(**read_common(md, "qwen2", rope_mode=ops.ROPE_TYPE_NEOX))


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    layer = ("attn_norm", *qkv_names(file_names), "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
    return (model_tensor_names(cfg.n_layer, layer),
            ["output.weight", "output.bias"] + model_tensor_names(cfg.n_layer, BIASES)[2:])


def build(ctx: Context, cfg: ModelConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    rope = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_orig)
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope, kq_scale=1.0 / math.sqrt(cfg.head_dim_k))
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        x = ops.add(ctx, ffn_gated(ctx, cur, w, ops.silu), x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    logits = ops.mul_mat(ctx, weights.output(), x)
    bias = weights.get("output.bias")
    return logits if bias is None else ops.add(ctx, logits, bias)
