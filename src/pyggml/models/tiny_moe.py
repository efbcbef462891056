"""A small random-weight qwen3moe GGUF (the mixture-of-experts family's test and benchmark
model), deterministic from its arguments: real structure — several layers, GQA, per-head QK-norm,
head size independent of n_embd, n_expert stacked experts of which the router picks
n_expert_used — and, with `tokenizer`, a real vocabulary copied from another GGUF (SmolLM2's in
the tests). general.name stays family-neutral.

Weights as in tiny.py (matrices ~ N(0, 1/fan_in), norms ~ 1 + N(0, 0.1^2)), except three
scales that make the comparison with llama.cpp meaningful rather than chaotic:
- the output matrix by `logit_std`: logits spread over a few units, a real distribution over the
  vocabulary rather than noise or a one-hot;
- the router by `router_std`: a decisive router, so that rounding-level differences (F16 KV
  cache, activation quantization) rarely flip which experts a token uses;
- the experts' down projection by `expert_out_std`: each block's FFN update is small beside the
  residual stream, as in trained models, so a flip that does happen moves the logits a little.
`weight_type` applies to every matrix but the router ffn_gate_inp, which stays F32 as
llama-quantize leaves it; norms stay F32."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..quants import quantize
from ..types import GGMLType
from .tiny import F32, U32, _general, _qkv_projections, _tokenizer_metadata, _TinyWriter
from .tiny_vocab import synthetic_bpe_metadata


def _experts(w: _TinyWriter, name: str, ne0: int, ne1: int, n_expert: int, scale: float = 1.0) -> None:
    """(n_expert, ne1, ne0) numpy order = ggml ne (ne0, ne1, n_expert): one matrix per expert."""
    values = (scale * ne0 ** -0.5 * w.rng.standard_normal((n_expert, ne1, ne0))).astype(np.float32)
    raw = quantize(values.reshape(n_expert * ne1, ne0), w.weight_type)
    w.writer.add_tensor(name, raw, w.weight_type, (ne0, ne1, n_expert))


def write_tiny_qwen3moe(path: str | os.PathLike, *, n_vocab: int | None = None, n_embd: int = 128,
                        n_layer: int = 4, n_head: int = 4, n_head_kv: int = 2, head_dim: int = 64,
                        n_expert: int = 8, n_expert_used: int = 2, n_ff_exp: int = 96, n_ctx: int = 512,
                        seed: int = 0, weight_type: GGMLType = GGMLType.F32,
                        tokenizer: str | os.PathLike | None = None, logit_std: float = 5.0, router_std: float = 3.0,
                        expert_out_std: float = 0.3,
                        rope_freq_base: float = 1e6, rms_eps: float = 1e-6) -> Path:
    if n_head % n_head_kv or not 0 < n_expert_used <= n_expert:
        raise ValueError("n_head must divide by n_head_kv and 0 < n_expert_used <= n_expert")
    vocab = _tokenizer_metadata(tokenizer, n_vocab, synthetic_bpe_metadata, 320)
    n_vocab = len(vocab["tokenizer.ggml.tokens"][0])
    a = "qwen3moe"
    w = _TinyWriter(path, seed, weight_type)
    w.metadata(_general(a, "tiny-moe", w.weight_type))
    w.metadata({
        f"{a}.block_count": (n_layer, U32),
        f"{a}.context_length": (n_ctx, U32),
        f"{a}.embedding_length": (n_embd, U32),
        f"{a}.feed_forward_length": (n_ff_exp * n_expert_used, U32),
        f"{a}.attention.head_count": (n_head, U32),
        f"{a}.attention.head_count_kv": (n_head_kv, U32),
        f"{a}.attention.key_length": (head_dim, U32),
        f"{a}.attention.value_length": (head_dim, U32),
        f"{a}.rope.freq_base": (rope_freq_base, F32),
        f"{a}.attention.layer_norm_rms_epsilon": (rms_eps, F32),
        f"{a}.expert_count": (n_expert, U32),
        f"{a}.expert_used_count": (n_expert_used, U32),
        f"{a}.expert_feed_forward_length": (n_ff_exp, U32),
    })
    w.metadata(vocab)
    w.matrix("token_embd.weight", n_embd, n_vocab, std=1.0)
    for i in range(n_layer):
        blk = f"blk.{i}"
        w.norm(f"{blk}.attn_norm.weight", n_embd)
        _qkv_projections(w, blk, n_embd, n_head, n_head_kv, head_dim)
        w.norm(f"{blk}.attn_q_norm.weight", head_dim)
        w.norm(f"{blk}.attn_k_norm.weight", head_dim)
        w.matrix(f"{blk}.attn_output.weight", n_head * head_dim, n_embd)
        w.norm(f"{blk}.ffn_norm.weight", n_embd)
        router = (router_std * n_embd ** -0.5 * w.rng.standard_normal((n_expert, n_embd))).astype(np.float32)
        w.writer.add_tensor(f"{blk}.ffn_gate_inp.weight", router, GGMLType.F32)
        _experts(w, f"{blk}.ffn_gate_exps.weight", n_embd, n_ff_exp, n_expert)
        _experts(w, f"{blk}.ffn_up_exps.weight", n_embd, n_ff_exp, n_expert)
        _experts(w, f"{blk}.ffn_down_exps.weight", n_ff_exp, n_embd, n_expert, expert_out_std)
    w.norm("output_norm.weight", n_embd)
    w.matrix("output.weight", n_embd, n_vocab, std=logit_std * n_embd ** -0.5)
    w.write()
    return Path(path)
