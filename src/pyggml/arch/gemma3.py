"""The gemma3 architecture: embeddings scaled by √n_embd, RMS-normed Q/K (QK-norm), norms after
attention and after the FFN as well as before, GELU-gated FFN, NeoX RoPE, and sliding-window
attention on every layer but each 6th, whose RoPE base is 10000 (global layers use
rope.freq_base). GGUF norm weights already include Gemma's +1."""
from __future__ import annotations

import math

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, n_vocab_of, positive, require
from .layers import BatchInputs, LayerCache, attention, ffn_gated, model_tensor_names, rms_norm_weighted

SWA_PATTERN = 6   # layers il with il % 6 == 5 are global, the rest use the sliding window
LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm",
                 "attn_k_norm", "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up",
                 "ffn_down", "post_ffw_norm")


def load_config(md: dict) -> ModelConfig:
    a = "gemma3"
    n_embd = positive("n_embd", require(md, f"{a}.embedding_length"))
    n_head = positive("n_head", require(md, f"{a}.attention.head_count"))
    n_layer = positive("n_layer", require(md, f"{a}.block_count"))
    head_dim = positive("head_dim", int(md.get(f"{a}.attention.key_length", n_embd // n_head)))
    scaling = md.get(f"{a}.rope.scaling.type", "none")
    factor = float(md.get(f"{a}.rope.scaling.factor", 1.0) or 1.0)
    return ModelConfig(
        arch=a,
        n_vocab=positive("n_vocab", n_vocab_of(md, a)),
        n_ctx_train=positive("n_ctx_train", require(md, f"{a}.context_length")),
        n_embd=n_embd,
        n_layer=n_layer,
        n_ff=positive("n_ff", require(md, f"{a}.feed_forward_length")),
        n_head=n_head,
        n_head_kv=positive("n_head_kv", int(md.get(f"{a}.attention.head_count_kv", n_head))),
        head_dim_k=head_dim,
        head_dim_v=int(md.get(f"{a}.attention.value_length", head_dim)),
        n_rot=int(md.get(f"{a}.rope.dimension_count", head_dim)),
        rms_eps=require(md, f"{a}.attention.layer_norm_rms_epsilon", float),
        rope_freq_base=float(md.get(f"{a}.rope.freq_base", 1000000.0)),
        rope_freq_scale=1.0 / factor if scaling == "linear" else 1.0,
        rope_mode=ops.ROPE_TYPE_NEOX,
        n_swa=int(md.get(f"{a}.attention.sliding_window", 0)),
        swa_layers=tuple(il % SWA_PATTERN < SWA_PATTERN - 1 for il in range(n_layer)),
        rope_freq_base_swa=10000.0,
        rope_freq_scale_swa=1.0,
    )


def required_tensors(cfg: ModelConfig) -> list[str]:
    return model_tensor_names(cfg.n_layer, LAYER_TENSORS)


def build(ctx: Context, cfg: ModelConfig, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    x = ops.scale(ctx, x, math.sqrt(cfg.n_embd))
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        swa = cfg.swa_layers[il] and cfg.n_swa > 0
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.rms_eps)
        cur = attention(ctx, cur, w, kv[il], batch, n_head=cfg.n_head, n_head_kv=cfg.n_head_kv,
                        head_dim=cfg.head_dim_k, n_rot=cfg.n_rot, rope_mode=cfg.rope_mode,
                        freq_base=cfg.rope_freq_base_swa if swa else cfg.rope_freq_base,
                        freq_scale=cfg.rope_freq_scale_swa if swa else cfg.rope_freq_scale,
                        n_ctx_orig=cfg.n_ctx_train, eps=cfg.rms_eps, kq_scale=1.0,
                        q_prescale=1.0 / math.sqrt(cfg.head_dim_k),
                        mask=batch.masks["swa" if swa else "causal"])
        cur = rms_norm_weighted(ctx, cur, w["post_attention_norm"], cfg.rms_eps)
        if il == cfg.n_layer - 1:
            cur = ops.get_rows(ctx, cur, batch.out_rows)
            x = ops.get_rows(ctx, x, batch.out_rows)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.rms_eps)
        cur = ffn_gated(ctx, cur, w, ops.gelu)
        cur = rms_norm_weighted(ctx, cur, w["post_ffw_norm"], cfg.rms_eps)
        x = ops.add(ctx, cur, x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.rms_eps)
    return ops.mul_mat(ctx, weights.output(), x)
