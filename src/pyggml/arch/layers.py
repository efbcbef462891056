"""Building blocks shared by the architectures: the attention block over the KV cache, norms,
feed-forward networks. Shapes in ggml order; n = tokens in the batch."""
from __future__ import annotations

from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor


@dataclass
class BatchInputs:
    """Graph inputs set before every compute (see runner.py)."""
    tokens: Tensor        # I32 (n)
    positions: Tensor     # I32 (n)
    kv_slots: Tensor      # I32 (n): cache row written for each token
    out_rows: Tensor      # I32 (n_out): batch rows whose logits are wanted
    masks: dict           # kind ("causal" / "swa") -> F32 (n_kv, n)
    n_tokens: int
    n_kv: int             # cache positions attended (a prefix of the cache)


@dataclass
class LayerCache:
    k: Tensor             # F16/F32 (n_embd_k_gqa, n_ctx)
    v: Tensor             # F16/F32 (n_embd_v_gqa, n_ctx)


def model_tensor_names(n_layer: int, layer_tensors: tuple[str, ...]) -> list[str]:
    """GGUF names a decoder needs: embeddings, final norm, and each block's tensors."""
    names = ["token_embd.weight", "output_norm.weight"]
    return names + [f"blk.{i}.{t}.weight" for i in range(n_layer) for t in layer_tensors]


def rms_norm_weighted(ctx: Context, x: Tensor, weight: Tensor, eps: float) -> Tensor:
    return ops.mul(ctx, ops.rms_norm(ctx, x, eps), weight)


def attention(ctx: Context, x: Tensor, w: dict, cache: LayerCache, batch: BatchInputs, *,
              n_head: int, n_head_kv: int, head_dim: int, n_rot: int, rope_mode: int,
              freq_base: float, freq_scale: float, n_ctx_orig: int, eps: float, kq_scale: float,
              mask: Tensor, q_prescale: float | None = None) -> Tensor:
    """Self-attention of x (n_embd, n) → (n_embd, n): projections, optional QK-norm (w has
    'attn_q_norm'/'attn_k_norm'), RoPE, cache write, fused attention over n_kv positions, output."""
    n = batch.n_tokens
    q = ops.reshape_3d(ctx, ops.mul_mat(ctx, w["attn_q"], x), head_dim, n_head, n)
    k = ops.reshape_3d(ctx, ops.mul_mat(ctx, w["attn_k"], x), head_dim, n_head_kv, n)
    v = ops.mul_mat(ctx, w["attn_v"], x)                                   # (n_embd_v_gqa, n)
    if "attn_q_norm" in w:
        q = rms_norm_weighted(ctx, q, w["attn_q_norm"], eps)
        k = rms_norm_weighted(ctx, k, w["attn_k_norm"], eps)
    rope = dict(n_dims=n_rot, mode=rope_mode, n_ctx_orig=n_ctx_orig, freq_base=freq_base,
                freq_scale=freq_scale)
    q = ops.rope_ext(ctx, q, batch.positions, **rope)
    k = ops.rope_ext(ctx, k, batch.positions, **rope)
    if q_prescale is not None:
        q = ops.scale(ctx, q, q_prescale)

    # write this batch's K/V rows into the cache, then read the first n_kv positions back;
    # the reads are views of the writes so the graph orders them after the writes
    k_written = ops.set_rows(ctx, cache.k, ops.reshape_2d(ctx, k, head_dim * n_head_kv, n), batch.kv_slots)
    v_written = ops.set_rows(ctx, cache.v, v, batch.kv_slots)
    k_all = ops.view_3d(ctx, k_written, head_dim, n_head_kv, batch.n_kv,
                        cache.k.nb[0] * head_dim, cache.k.nb[1])
    v_all = ops.view_3d(ctx, v_written, head_dim, n_head_kv, batch.n_kv,
                        cache.v.nb[0] * head_dim, cache.v.nb[1])
    out = ops.flash_attn_ext(ctx, q, k_all, v_all, mask, kq_scale)      # (head_dim, n_head, n)
    out = ops.reshape_2d(ctx, out, head_dim * n_head, n)
    return ops.mul_mat(ctx, w["attn_output"], out)


def ffn_gated(ctx: Context, x: Tensor, w: dict, activation) -> Tensor:
    """down(act(gate(x)) * up(x)); SiLU gating runs as one fused swiglu op."""
    gate = ops.mul_mat(ctx, w["ffn_gate"], x)
    up = ops.mul_mat(ctx, w["ffn_up"], x)
    if activation is ops.silu:
        return ops.mul_mat(ctx, w["ffn_down"], ops.swiglu(ctx, gate, up))
    return ops.mul_mat(ctx, w["ffn_down"], ops.mul(ctx, activation(ctx, gate), up))
