"""Tiny random-weight models in real GGUF layout, for fast unit tests of the loader, the graph
and the architectures. Tensor names, shapes and metadata keys are the ones llama.cpp expects.

    write_tiny_llama(tmp_path / "llama.gguf")                       # synthetic byte-level BPE
    write_tiny_gemma3(tmp_path / "gemma.gguf", tokenizer=real_gguf)  # tokenizer.* copied

Weights: matrices ~ N(0, 1/fan_in) (embeddings N(0, 1)), norms ~ 1 + N(0, 0.1^2), all from
`seed`. 2-D tensors are stored as `weight_type`; 1-D norms stay F32."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..gguf import GGUFValueType, GGUFWriter
from ..quants import quantize
from ..types import GGMLType, traits
from .tiny_vocab import Metadata, copied_tokenizer_metadata, synthetic_bpe_metadata, synthetic_spm_metadata

# general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*) for a uniform weight type
FILE_TYPES = {
    GGMLType.F32: 0, GGMLType.F16: 1, GGMLType.Q4_0: 2, GGMLType.Q4_1: 3, GGMLType.Q8_0: 7,
    GGMLType.Q5_0: 8, GGMLType.Q5_1: 9, GGMLType.Q6_K: 18, GGMLType.BF16: 32,
}

U32, F32 = GGUFValueType.UINT32, GGUFValueType.FLOAT32


def _tokenizer_metadata(tokenizer: str | os.PathLike | None, n_vocab: int | None, synthetic, default_n_vocab: int) -> Metadata:
    """`tokenizer` None -> synthetic vocabulary of n_vocab tokens; a path -> copied from that GGUF."""
    if tokenizer is None:
        return synthetic(n_vocab if n_vocab is not None else default_n_vocab)
    copied = copied_tokenizer_metadata(tokenizer)
    n_copied = len(copied["tokenizer.ggml.tokens"][0])
    if n_vocab is not None and n_vocab != n_copied:
        raise ValueError(f"n_vocab = {n_vocab} but the tokenizer copied from {os.fspath(tokenizer)} has {n_copied} tokens")
    return copied


class _TinyWriter:
    """Random tensors, in the order added, converted to the file's weight type."""

    def __init__(self, path: str | os.PathLike, seed: int, weight_type: GGMLType):
        self.writer = GGUFWriter(path)
        self.rng = np.random.default_rng(seed)
        self.weight_type = GGMLType(weight_type)

    def metadata(self, items: dict[str, tuple[Any, Any]]) -> None:
        for key, (value, vtype) in items.items():
            self.writer.add_kv(key, value, vtype)

    def norm(self, name: str, n: int) -> None:
        values = (1.0 + 0.1 * self.rng.standard_normal(n)).astype(np.float32)
        self.writer.add_tensor(name, values, GGMLType.F32)

    def matrix(self, name: str, ne0: int, ne1: int, std: float | None = None) -> None:
        """A (ne1, ne0) numpy-order matrix: ne0 is the input (contiguous) dimension."""
        std = std if std is not None else ne0 ** -0.5
        values = (std * self.rng.standard_normal((ne1, ne0))).astype(np.float32)
        block = traits(self.weight_type).block_size
        if ne0 % block:
            raise ValueError(f"tiny model tensor {name!r}: ne0 = {ne0} is not a multiple of the "
                             f"{self.weight_type.name} block size {block}")
        self.writer.add_tensor(name, quantize(values, self.weight_type), self.weight_type, (ne0, ne1))

    def write(self) -> None:
        self.writer.write()


def _general(arch: str, name: str, weight_type: GGMLType) -> dict[str, tuple[Any, Any]]:
    items = {
        "general.architecture": (arch, GGUFValueType.STRING),
        "general.type": ("model", GGUFValueType.STRING),
        "general.name": (name, GGUFValueType.STRING),
    }
    if weight_type in FILE_TYPES:
        items["general.file_type"] = (FILE_TYPES[weight_type], U32)
    return items


def _qkv_projections(w, blk: str, n_embd: int, n_head: int, n_head_kv: int, head_dim: int) -> None:
    w.matrix(f"{blk}.attn_q.weight", n_embd, n_head * head_dim)
    w.matrix(f"{blk}.attn_k.weight", n_embd, n_head_kv * head_dim)
    w.matrix(f"{blk}.attn_v.weight", n_embd, n_head_kv * head_dim)


def _gated_ffn(w, blk: str, n_embd: int, n_ff: int) -> None:
    w.matrix(f"{blk}.ffn_gate.weight", n_embd, n_ff)
    w.matrix(f"{blk}.ffn_up.weight", n_embd, n_ff)
    w.matrix(f"{blk}.ffn_down.weight", n_ff, n_embd)


def write_tiny_llama(path: str | os.PathLike, *, n_vocab: int | None = None, n_embd: int = 64, n_layer: int = 2,
                     n_head: int = 4, n_head_kv: int = 2, n_ff: int = 128, n_ctx: int = 256, seed: int = 0,
                     weight_type: GGMLType = GGMLType.F32, tokenizer: str | os.PathLike | None = None,
                     tied_embeddings: bool = False, rope_freq_base: float = 10000.0,
                     rms_eps: float = 1e-5) -> Path:
    """A llama-architecture GGUF with random weights. `tokenizer`: None for a synthetic
    byte-level BPE vocabulary (n_vocab tokens, default 320), or a GGUF path to copy from.
    `tied_embeddings` leaves out output.weight (the output reuses token_embd, as SmolLM2)."""
    if n_embd % n_head or n_head % n_head_kv:
        raise ValueError(f"n_embd ({n_embd}) must divide by n_head ({n_head}), n_head by n_head_kv ({n_head_kv})")
    head_dim = n_embd // n_head
    vocab = _tokenizer_metadata(tokenizer, n_vocab, synthetic_bpe_metadata, 320)
    n_vocab = len(vocab["tokenizer.ggml.tokens"][0])
    w = _TinyWriter(path, seed, weight_type)
    w.metadata(_general("llama", "tiny-llama", w.weight_type))
    w.metadata({
        "llama.block_count": (n_layer, U32),
        "llama.context_length": (n_ctx, U32),
        "llama.embedding_length": (n_embd, U32),
        "llama.feed_forward_length": (n_ff, U32),
        "llama.attention.head_count": (n_head, U32),
        "llama.attention.head_count_kv": (n_head_kv, U32),
        "llama.rope.freq_base": (rope_freq_base, F32),
        "llama.attention.layer_norm_rms_epsilon": (rms_eps, F32),
        "llama.vocab_size": (n_vocab, U32),
        "llama.rope.dimension_count": (head_dim, U32),
    })
    w.metadata(vocab)
    w.matrix("token_embd.weight", n_embd, n_vocab, std=1.0)
    for i in range(n_layer):
        blk = f"blk.{i}"
        w.norm(f"{blk}.attn_norm.weight", n_embd)
        _qkv_projections(w, blk, n_embd, n_head, n_head_kv, head_dim)
        w.matrix(f"{blk}.attn_output.weight", n_head * head_dim, n_embd)
        w.norm(f"{blk}.ffn_norm.weight", n_embd)
        _gated_ffn(w, blk, n_embd, n_ff)
    w.norm("output_norm.weight", n_embd)
    if not tied_embeddings:
        w.matrix("output.weight", n_embd, n_vocab)
    w.write()
    return Path(path)


def write_tiny_gemma3(path: str | os.PathLike, *, n_vocab: int | None = None, n_embd: int = 64, n_layer: int = 6,
                      n_head: int = 4, n_head_kv: int = 1, head_dim: int = 32, n_ff: int = 128, n_ctx: int = 256,
                      sliding_window: int = 16, seed: int = 0, weight_type: GGMLType = GGMLType.F32,
                      tokenizer: str | os.PathLike | None = None, rope_freq_base: float = 1e6,
                      rms_eps: float = 1e-6) -> Path:
    """A gemma3-architecture GGUF with random weights: per-head q/k norms, post-attention and
    post-FFN norms, head_dim independent of n_embd, output tied to token_embd (as Gemma 3 270M).
    n_layer defaults to 6 so that, with llama.cpp's pattern (every 6th layer global), the model
    has both sliding-window and global layers. `tokenizer`: None for a synthetic
    SentencePiece-style vocabulary (default 384 tokens), or a GGUF path to copy from."""
    if n_head % n_head_kv:
        raise ValueError(f"n_head ({n_head}) must divide by n_head_kv ({n_head_kv})")
    vocab = _tokenizer_metadata(tokenizer, n_vocab, synthetic_spm_metadata, 384)
    n_vocab = len(vocab["tokenizer.ggml.tokens"][0])
    w = _TinyWriter(path, seed, weight_type)
    w.metadata(_general("gemma3", "tiny-gemma3", w.weight_type))
    w.metadata({
        "gemma3.context_length": (n_ctx, U32),
        "gemma3.embedding_length": (n_embd, U32),
        "gemma3.block_count": (n_layer, U32),
        "gemma3.feed_forward_length": (n_ff, U32),
        "gemma3.attention.head_count": (n_head, U32),
        "gemma3.attention.layer_norm_rms_epsilon": (rms_eps, F32),
        "gemma3.attention.key_length": (head_dim, U32),
        "gemma3.attention.value_length": (head_dim, U32),
        "gemma3.rope.freq_base": (rope_freq_base, F32),
        "gemma3.attention.sliding_window": (sliding_window, U32),
        "gemma3.attention.head_count_kv": (n_head_kv, U32),
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
        w.norm(f"{blk}.post_attention_norm.weight", n_embd)
        w.norm(f"{blk}.ffn_norm.weight", n_embd)
        _gated_ffn(w, blk, n_embd, n_ff)
        w.norm(f"{blk}.post_ffw_norm.weight", n_embd)
    w.norm("output_norm.weight", n_embd)
    w.write()
    return Path(path)
