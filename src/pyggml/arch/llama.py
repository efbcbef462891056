"""The llama architecture (Llama 2/3/3.1/3.2, TinyLlama, Mistral-style, SmolLM2): pre-norm
blocks with RMS norm, GQA attention with RoPE (normal layout), SwiGLU FFN; output weight tied or
separate. Optional, as llama.cpp loads them: a fused attn_qkv, biases on the projections,
per-pair RoPE frequency factors (rope_freqs, Llama 3.1+), linear RoPE scaling, attention.scale."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, check_keys, optional, read_common
from .layers import (BatchInputs, LayerCache, Rope, ffn_gated, last_layer_rows, model_tensor_names,
                     rms_norm_weighted, self_attention)

BIASES = ("attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_qkv.bias", "attn_output.bias",
          "ffn_gate.bias", "ffn_up.bias", "ffn_down.bias")


def qkv_names(file_names) -> tuple[str, ...]:
    """The fused projection if block 0 has one, else the separate ones (llama.cpp's rule)."""
    return ("attn_qkv",) if "blk.0.attn_qkv.weight" in file_names else ("attn_q", "attn_k", "attn_v")


@dataclass(frozen=True)
class LlamaConfig(ModelConfig):
    kq_scale: float = 0.0     # attention.scale, or 1/sqrt(head_dim)


def load_config(md: dict) -> LlamaConfig:
    check_keys(md, "llama", known=("attention.layer_norm_rms_epsilon", "attention.scale"))
    common = read_common(md, "llama", rope_mode=ops.ROPE_TYPE_NORMAL)
    scale = optional(md, "llama.attention.scale", 0.0, float) or 1.0 / math.sqrt(common["head_dim_k"])
    return LlamaConfig(**common, kq_scale=scale)


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    """(required, optional) GGUF tensor names."""
    layer = ("attn_norm", *qkv_names(file_names), "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")
    return (model_tensor_names(cfg.n_layer, layer),
            ["output.weight", "rope_freqs.weight"] + model_tensor_names(cfg.n_layer, BIASES)[2:])


def build(ctx: Context, cfg: ModelConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    rope = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_orig)
    factors = weights.get("rope_freqs.weight")
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope, rope_factors=factors,
                             kq_scale=cfg.kq_scale)
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        x = ops.add(ctx, ffn_gated(ctx, cur, w, ops.silu), x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    return ops.mul_mat(ctx, weights.output(), x)
