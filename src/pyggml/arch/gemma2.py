"""The gemma2 architecture: embeddings scaled by √n_embd, norms after attention and after the
FFN as well as before, GELU-gated FFN, NeoX RoPE, soft-capped attention logits
(attn_logit_softcapping) and final logits (final_logit_softcapping), and a sliding window on
the even layers (odd layers attend globally). GGUF norm weights already include Gemma's +1."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, check_keys, optional, read_common, sliding_windows
from .layers import (BatchInputs, LayerCache, Rope, ffn_gated, last_layer_rows, model_tensor_names,
                     rms_norm_weighted, self_attention, soft_cap)

SWA_PATTERN = 2          # llama.cpp: layers il % 2 == 0 use the window
DEFAULT_WINDOW = 4096
LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "post_attention_norm",
                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm")


@dataclass(frozen=True)
class Gemma2Config(ModelConfig):
    attn_softcap: float = 50.0
    final_softcap: float = 30.0
    rope_freq_base_swa: float = 10000.0
    q_scale: float = 1.0


def load_config(md: dict) -> Gemma2Config:
    a = "gemma2"
    check_keys(md, a, known=("attention.layer_norm_rms_epsilon", "attention.sliding_window",
                             "attention.sliding_window_pattern", "attn_logit_softcapping",
                             "final_logit_softcapping", "rope.freq_base_swa"))
    common = read_common(md, a, rope_mode=ops.ROPE_TYPE_NEOX)
    window = optional(md, f"{a}.attention.sliding_window", DEFAULT_WINDOW)
    common["layer_windows"] = sliding_windows(md, a, common["n_layer"], window, SWA_PATTERN)
    # Gemma 2 27B (46 layers) scales queries by n_embd / n_head, the others by head_dim
    q_dim = common["n_embd"] // common["n_head"] if common["n_layer"] == 46 else common["head_dim_k"]
    return Gemma2Config(**common, attn_softcap=optional(md, f"{a}.attn_logit_softcapping", 50.0, float),
                        final_softcap=optional(md, f"{a}.final_logit_softcapping", 30.0, float),
                        rope_freq_base_swa=optional(md, f"{a}.rope.freq_base_swa", common["rope_freq_base"], float),
                        q_scale=1.0 / math.sqrt(q_dim))


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    return model_tensor_names(cfg.n_layer, LAYER_TENSORS), []


def build(ctx: Context, cfg: Gemma2Config, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    rope_global = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_orig)
    rope_local = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base_swa, cfg.rope_freq_scale, cfg.n_ctx_orig)
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    x = ops.scale(ctx, x, math.sqrt(cfg.n_embd))
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        window = cfg.layer_windows[il]
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope_local if window else rope_global,
                             kq_scale=1.0, q_prescale=cfg.q_scale, window=window, softcap=cfg.attn_softcap)
        cur = rms_norm_weighted(ctx, cur, w["post_attention_norm"], cfg.norm_eps)
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        cur = ffn_gated(ctx, cur, w, ops.gelu)
        cur = rms_norm_weighted(ctx, cur, w["post_ffw_norm"], cfg.norm_eps)
        x = ops.add(ctx, cur, x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    return soft_cap(ctx, ops.mul_mat(ctx, weights["token_embd.weight"], x), cfg.final_softcap)
