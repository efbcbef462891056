"""The phi3 architecture (Phi-3, Phi-3.5, Phi-4-mini): llama-like pre-norm blocks with a fused
attn_qkv (or separate projections), NeoX RoPE, queries pre-scaled by 1/sqrt(head_dim), and a
fused gate+up in ffn_up (2·n_ff rows: SwiGLU on its halves). LongRoPE as llama.cpp applies it:
the per-pair factors rope_factors_long when the context (rounded up to 256) exceeds
rope.scaling.original_context_length, rope_factors_short otherwise, and rope.scaling.attn_factor
scaling the rotated values. llama.cpp disables Phi's sliding window (the converters do not
describe it correctly), so attention.sliding_window is read and ignored, as there."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, check_keys, optional, read_common
from .layers import (BatchInputs, LayerCache, Rope, ffn_fused_swiglu, last_layer_rows, model_tensor_names,
                     rms_norm_weighted, self_attention)
from .llama import qkv_names

CTX_PAD = 256   # llama.cpp pads the context to a multiple of 256 before choosing the factors


@dataclass(frozen=True)
class Phi3Config(ModelConfig):
    rope_attn_factor: float = 1.0


def load_config(md: dict) -> Phi3Config:
    a = "phi3"
    check_keys(md, a, known=("attention.layer_norm_rms_epsilon", "attention.sliding_window",
                             "rope.scaling.attn_factor"))
    common = read_common(md, a, rope_mode=ops.ROPE_TYPE_NEOX, scaling_types=("none", "linear", "longrope"))
    return Phi3Config(**common, rope_attn_factor=optional(md, f"{a}.rope.scaling.attn_factor", 1.0, float))


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    layer = ("attn_norm", *qkv_names(file_names), "attn_output", "ffn_norm", "ffn_up", "ffn_down")
    return (model_tensor_names(cfg.n_layer, layer),
            ["output.weight", "output.bias", "rope_factors_long.weight", "rope_factors_short.weight"])


def build(ctx: Context, cfg: Phi3Config, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    n_ctx = -(-batch.n_ctx // CTX_PAD) * CTX_PAD
    factors = weights.get("rope_factors_long.weight" if n_ctx > cfg.n_ctx_orig else "rope_factors_short.weight")
    rope = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_orig,
                attn_factor=cfg.rope_attn_factor)
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope, rope_factors=factors, kq_scale=1.0,
                             q_prescale=1.0 / math.sqrt(cfg.head_dim_k))
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        x = ops.add(ctx, x, ffn_fused_swiglu(ctx, cur, w, cfg.n_ff))
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    logits = ops.mul_mat(ctx, weights.output(), x)
    bias = weights.get("output.bias")
    return logits if bias is None else ops.add(ctx, logits, bias)
