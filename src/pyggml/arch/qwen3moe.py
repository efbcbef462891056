"""The qwen3moe architecture (Qwen3-30B-A3B, Qwen3-235B-A22B): qwen3's attention — per-head RMS
QK-norm, NeoX RoPE, head_dim from attention.key_length — with a mixture-of-experts FFN in every
block: softmax router over expert_count experts, the top expert_used_count per token, their
weights renormalised to sum 1 (arch/moe.py). Output weight tied or separate."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, ModelFormatError, check_keys, optional, positive, read_common, require
from .layers import (BatchInputs, LayerCache, Rope, last_layer_rows, model_tensor_names, rms_norm_weighted,
                     self_attention)
from .llama import qkv_names
from .moe import check_expert_tensors, moe_ffn

KEYS = ("attention.layer_norm_rms_epsilon", "expert_count", "expert_used_count", "expert_feed_forward_length")


@dataclass(frozen=True)
class Qwen3MoeConfig(ModelConfig):
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0          # each expert's hidden size


def load_config(md: dict) -> Qwen3MoeConfig:
    a = "qwen3moe"
    check_keys(md, a, known=KEYS)
    common = read_common(md, a, rope_mode=ops.ROPE_TYPE_NEOX)
    if common["head_dim_v"] != common["head_dim_k"] or common["n_rot"] != common["head_dim_k"]:
        raise ModelFormatError(f"{a}: value_length and rope.dimension_count must equal key_length ({common['head_dim_k']})")
    n_expert = positive("expert_count", require(md, f"{a}.expert_count"))
    n_used = positive("expert_used_count", require(md, f"{a}.expert_used_count"))
    if n_used > n_expert:
        raise ModelFormatError(f"{a}.expert_used_count = {n_used} exceeds expert_count = {n_expert}")
    # llama.cpp: expert_feed_forward_length, else feed_forward_length / expert_used_count
    n_ff_exp = positive("n_ff_exp", optional(md, f"{a}.expert_feed_forward_length", 0) or common["n_ff"] // n_used)
    return Qwen3MoeConfig(**common, n_expert=n_expert, n_expert_used=n_used, n_ff_exp=n_ff_exp)


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    layer = ("attn_norm", *qkv_names(file_names), "attn_q_norm", "attn_k_norm", "attn_output", "ffn_norm",
             "ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")
    return model_tensor_names(cfg.n_layer, layer), ["output.weight"]


def build(ctx: Context, cfg: Qwen3MoeConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    rope = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_orig)
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        check_expert_tensors(w, il, cfg.n_embd, cfg.n_ff_exp, cfg.n_expert)
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope, kq_scale=1.0 / math.sqrt(cfg.head_dim_k))
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        x = ops.add(ctx, moe_ffn(ctx, cur, w, cfg.n_expert_used), x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    return ops.mul_mat(ctx, weights.output(), x)
