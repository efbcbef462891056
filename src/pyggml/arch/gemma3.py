"""The gemma3 architecture: embeddings scaled by √n_embd, RMS-normed Q/K (QK-norm), norms after
attention and after the FFN as well as before, GELU-gated FFN, NeoX RoPE, and sliding-window
attention on every layer but each 6th, whose RoPE base is rope.freq_base_swa (default 10000;
global layers use rope.freq_base) and unscaled; queries scaled by 1/sqrt(head_dim) (27B:
1/sqrt(n_embd/n_head)); final logits soft-capped if final_logit_softcapping is set. GGUF norm
weights already include Gemma's +1."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelConfig, check_keys, optional, read_common, sliding_windows
from .layers import (BatchInputs, LayerCache, Rope, ffn_gated, last_layer_rows, model_tensor_names,
                     rms_norm_weighted, self_attention, soft_cap)

SWA_PATTERN = 6   # layers il with il % 6 == 5 are global, the rest use the sliding window
LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm",
                 "attn_k_norm", "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up",
                 "ffn_down", "post_ffw_norm")


@dataclass(frozen=True)
class Gemma3Config(ModelConfig):
    rope_freq_base_swa: float = 10000.0
    q_scale: float = 1.0
    final_softcap: float = 0.0          # 0: none


def load_config(md: dict) -> Gemma3Config:
    check_keys(md, "gemma3", known=("attention.layer_norm_rms_epsilon", "attention.sliding_window",
                                    "attention.sliding_window_pattern", "rope.freq_base_swa",
                                    "final_logit_softcapping"))
    common = read_common(md, "gemma3", rope_mode=ops.ROPE_TYPE_NEOX, default_freq_base=1000000.0)
    n_swa = optional(md, "gemma3.attention.sliding_window", 0)
    common["layer_windows"] = sliding_windows(md, "gemma3", common["n_layer"], n_swa, SWA_PATTERN)
    # Gemma 3 27B (62 layers) scales queries by n_embd / n_head, the others by head_dim
    q_dim = common["n_embd"] // common["n_head"] if common["n_layer"] == 62 else common["head_dim_k"]
    return Gemma3Config(**common, rope_freq_base_swa=optional(md, "gemma3.rope.freq_base_swa", 10000.0, float),
                        q_scale=1.0 / math.sqrt(q_dim),
                        final_softcap=optional(md, "gemma3.final_logit_softcapping", 0.0, float))


def tensors(cfg: ModelConfig, file_names) -> tuple[list[str], list[str]]:
    return model_tensor_names(cfg.n_layer, LAYER_TENSORS), ["output.weight"]


def build(ctx: Context, cfg: Gemma3Config, weights, batch: BatchInputs, kv: list[LayerCache]) -> Tensor:
    """Logits (n_vocab, n_out) of the rows batch.out_rows."""
    rope_global = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base, cfg.rope_freq_scale, cfg.n_ctx_train)
    rope_local = Rope(cfg.n_rot, cfg.rope_mode, cfg.rope_freq_base_swa, 1.0, cfg.n_ctx_train)
    x = ops.get_rows(ctx, weights["token_embd.weight"], batch.tokens)     # (n_embd, n)
    x = ops.scale(ctx, x, math.sqrt(cfg.n_embd))
    for il in range(cfg.n_layer):
        w = weights.layer(il)
        window = cfg.layer_windows[il]
        cur = rms_norm_weighted(ctx, x, w["attn_norm"], cfg.norm_eps)
        cur = self_attention(ctx, cur, w, kv[il], batch, cfg, rope=rope_local if window else rope_global,
                             kq_scale=1.0, q_prescale=cfg.q_scale, window=window)
        cur = rms_norm_weighted(ctx, cur, w["post_attention_norm"], cfg.norm_eps)
        if il == cfg.n_layer - 1:
            cur, x = last_layer_rows(ctx, batch, cur, x)
        x = ops.add(ctx, cur, x)
        cur = rms_norm_weighted(ctx, x, w["ffn_norm"], cfg.norm_eps)
        cur = ffn_gated(ctx, cur, w, ops.gelu)
        cur = rms_norm_weighted(ctx, cur, w["post_ffw_norm"], cfg.norm_eps)
        x = ops.add(ctx, cur, x)
    x = rms_norm_weighted(ctx, x, weights["output_norm.weight"], cfg.norm_eps)
    logits = ops.mul_mat(ctx, weights.output(), x)
    return soft_cap(ctx, logits, cfg.final_softcap) if cfg.final_softcap else logits
