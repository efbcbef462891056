"""The qwen3moe architecture (Qwen3-30B-A3B, Qwen3-235B-A22B): qwen3's attention — per-head RMS
QK-norm, NeoX RoPE, head_dim from attention.key_length — with a mixture-of-experts FFN in every
block: softmax router over expert_count experts, the top expert_used_count per token, their
weights renormalised to sum 1 (arch/moe.py). Output weight tied or separate."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, ModelFormatError, n_vocab_of, positive, require
from .layers import BatchInputs, LayerCache, attention, model_tensor_names, rms_norm_weighted
from .moe import check_expert_tensors, moe_ffn

LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
                 "ffn_norm", "ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")


@dataclass(frozen=True)
class Qwen3MoeConfig(ModelConfig):
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0          # each expert's hidden size


def load_config(md: dict) -> Qwen3MoeConfig:
    a = "qwen3moe"
    n_embd = positive("n_embd", require(md, f"{a}.embedding_length"))
    n_head = positive("n_head", require(md, f"{a}.attention.head_count"))
    head_dim = positive("head_dim", int(md.get(f"{a}.attention.key_length", n_embd // n_head)))
    if int(md.get(f"{a}.attention.value_length", head_dim)) != head_dim:
        raise ModelFormatError(f"{a}.attention.value_length must equal key_length ({head_dim}) for {a}")
    if int(md.get(f"{a}.rope.dimension_count", head_dim)) != head_dim:
        raise ModelFormatError(f"{a}.rope.dimension_count must equal the head size ({head_dim}) for {a}")
    scaling = md.get(f"{a}.rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise ModelFormatError(f"metadata {a}.rope.scaling.type = {scaling!r} is not supported (none, linear)")
    n_expert = positive("expert_count", require(md, f"{a}.expert_count"))
    n_expert_used = positive("expert_used_count", require(md, f"{a}.expert_used_count"))
    if n_expert_used > n_expert:
        raise ModelFormatError(f"{a}.expert_used_count = {n_expert_used} exceeds expert_count = {n_expert}")
    # llama.cpp: expert_feed_forward_length, else feed_forward_length / expert_used_count
    n_ff = int(md.get(f"{a}.feed_forward_length", 0))
    n_ff_exp = positive("n_ff_exp", int(md.get(f"{a}.expert_feed_forward_length", 0)) or n_ff // n_expert_used)
    return Qwen3MoeConfig(
        arch=a,
        n_vocab=positive("n_vocab", n_vocab_of(md, a)),
        n_ctx_train=positive("n_ctx_train", require(md, f"{a}.context_length")),
        n_embd=n_embd,
        n_layer=positive("n_layer", require(md, f"{a}.block_count")),
        n_ff=n_ff or n_ff_exp * n_expert_used,
        n_head=n_head,
        n_head_kv=positive("n_head_kv", int(md.get(f"{a}.attention.head_count_kv", n_head))),
        head_dim_k=head_dim,
        head_dim_v=head_dim,
        n_rot=head_dim,
        rms_eps=require(md, f"{a}.attention.layer_norm_rms_epsilon", float),
        rope_freq_base=float(md.get(f"{a}.rope.freq_base", 10000.0)),
        rope_freq_scale=1.0 / float(md.get(f"{a}.rope.scaling.factor", 1.0) or 1.0) if scaling == "linear" else 1.0,
        rope_mode=ops.ROPE_TYPE_NEOX,
        n_expert=n_expert,
        n_expert_used=n_expert_used,
        n_ff_exp=n_ff_exp,
    )


def required_tensors(cfg: ModelConfig) -> list[str]:
    return model_tensor_names(cfg.n_layer, LAYER_TENSORS)


def build(ctx: Context, cfg: Qwen3MoeConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        check_expert_tensors(w, il, cfg.n_embd, cfg.n_ff_exp, cfg.n_expert)
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.rms_eps)
        cur = attention(ctx, cur, w, kv[il], batch, n_head=cfg.n_head, n_head_kv=cfg.n_head_kv,
                        head_dim=cfg.head_dim_k, n_rot=cfg.n_rot, rope_mode=cfg.rope_mode,
                        freq_base=cfg.rope_freq_base, freq_scale=cfg.rope_freq_scale,
                        n_ctx_orig=cfg.n_ctx_train, eps=cfg.rms_eps,
                        kq_scale=1.0 / math.sqrt(cfg.head_dim_k), mask=batch.masks["causal"])
        if il == cfg.n_layer - 1:   # only the wanted rows go on (row-wise ops: same values)
            cur = ops.get_rows(ctx, cur, batch.out_rows)
            x = ops.get_rows(ctx, x, batch.out_rows)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.rms_eps)
        x = ops.add(ctx, moe_ffn(ctx, cur, w, cfg.n_expert_used), x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.rms_eps)
    return ops.mul_mat(ctx, weights.output(), x)
