"""The gpt2 architecture: learned position embeddings (position_embd, one row per position up to
the training context), LayerNorm with bias before attention and MLP, one fused biased attn_qkv,
biased output projection, GELU MLP (up, GELU, down, both biased), no RoPE."""
from __future__ import annotations

import math

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, ModelFormatError, check_keys, read_common
from .layers import (BatchInputs, LayerCache, ffn_sequential, last_layer_rows, layer_norm, model_tensor_names,
                     self_attention)

LAYER_TENSORS = ("attn_norm", "attn_norm.bias", "attn_qkv", "attn_qkv.bias", "attn_output", "attn_output.bias",
                 "ffn_norm", "ffn_norm.bias", "ffn_up", "ffn_up.bias", "ffn_down", "ffn_down.bias")


def load_config(md: dict) -> ModelConfig:
    check_keys(md, "gpt2", known=("attention.layer_norm_epsilon",))
    common = read_common(md, "gpt2", rope_mode=ops.ROPE_TYPE_NORMAL, eps_key="attention.layer_norm_epsilon")
    return ModelConfig(**common)


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    top = ("position_embd.weight", "output_norm.bias")
    return model_tensor_names(cfg.n_layer, LAYER_TENSORS, top), ["output.weight"]


def _norm(ctx: Context, x: Tensor, w: dict, name: str, eps: float) -> Tensor:
    return layer_norm(ctx, x, w[name], w[name + ".bias"], eps)


def build(ctx: Context, cfg: ModelConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    positions = weights["position_embd.weight"]                             # (n_embd, n_ctx_train)
    if positions.ne[1] < cfg.n_ctx_train:
        raise ModelFormatError(f"tensor 'position_embd.weight' has {positions.ne[1]} rows, "
                               f"fewer than gpt2.context_length = {cfg.n_ctx_train}")
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    x = ops.add(ctx, x, ops.get_rows(ctx, positions, batch.positions))
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        cur = _norm(ctx, x, w, "attn_norm", cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=None, kq_scale=1.0 / math.sqrt(cfg.head_dim_k))
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = _norm(ctx, x, w, "ffn_norm", cfg.norm_eps)
        x = ops.add(ctx, ffn_sequential(ctx, cur, w, ops.gelu), x)
    x = layer_norm(ctx, x, weights["output_norm.weight"], weights["output_norm.bias"], cfg.norm_eps)
    return ops.mul_mat(ctx, weights.output(), x)
