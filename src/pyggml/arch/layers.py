"""Parts the architectures compose: projections (separate or fused, optional biases), RoPE
(normal / NeoX, optional per-pair frequency factors), `attend` (the one primitive that writes
the KV cache and attends over it), norms, feed-forward networks. Shapes in ggml order; n =
tokens in the batch. `w` is one layer's tensors keyed by short name: 'attn_q', 'attn_q.bias'."""
from __future__ import annotations

from dataclasses import dataclass

from .. import ops
from ..tensor import Context, Tensor
from ..types import traits


@dataclass
class BatchInputs:
    """Graph inputs set before every compute (see runner.py)."""
    tokens: Tensor        # I32 (n)
    positions: Tensor     # I32 (n)
    kv_slots: Tensor      # I32 (n): cache row written for each token
    out_rows: Tensor      # I32 (n_out): batch rows whose logits are wanted
    masks: dict           # attention window (config.FULL = 0, or N) -> F32 (n_kv, n), 0 / -inf
    n_tokens: int
    n_kv: int             # cache positions attended (a prefix of the cache)
    n_ctx: int = 0        # the runner's context size (LongRoPE picks its factors by it)


@dataclass
class LayerCache:
    k: Tensor             # F16/F32 (n_embd_k_gqa, n_ctx)
    v: Tensor             # F16/F32 (n_embd_v_gqa, n_ctx)


@dataclass(frozen=True)
class Rope:
    """ggml's rope_ext parameters for one layer."""
    n_dims: int
    mode: int
    freq_base: float
    freq_scale: float = 1.0
    n_ctx_orig: int = 0
    attn_factor: float = 1.0

    def __call__(self, ctx: Context, x: Tensor, positions: Tensor, factors: Tensor | None = None) -> Tensor:
        return ops.rope_ext(ctx, x, positions, n_dims=self.n_dims, mode=self.mode, n_ctx_orig=self.n_ctx_orig,
                            freq_base=self.freq_base, freq_scale=self.freq_scale,
                            attn_factor=self.attn_factor, freq_factors=factors)


def model_tensor_names(n_layer: int, layer_tensors: tuple[str, ...], top: tuple[str, ...] = ()) -> list[str]:
    """GGUF names: embeddings, final norm, `top` and each block's `layer_tensors` (a name with
    a '.' keeps its suffix, e.g. 'attn_qkv.bias'; the others get '.weight')."""
    def full(t: str) -> str:
        return t if "." in t else t + ".weight"
    names = ["token_embd.weight", "output_norm.weight", *top]
    return names + [f"blk.{i}.{full(t)}" for i in range(n_layer) for t in layer_tensors]


def linear(ctx: Context, w: dict, name: str, x: Tensor) -> Tensor:
    """w[name] · x, plus w[name + '.bias'] if the file has it."""
    y = ops.mul_mat(ctx, w[name], x)
    bias = w.get(name + ".bias")
    return y if bias is None else ops.add(ctx, y, bias)


def rms_norm_weighted(ctx: Context, x: Tensor, weight: Tensor, eps: float) -> Tensor:
    return ops.mul(ctx, ops.rms_norm(ctx, x, eps), weight)


def layer_norm(ctx: Context, x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    return ops.add(ctx, ops.mul(ctx, ops.norm(ctx, x, eps), weight), bias)


def project_qkv(ctx: Context, x: Tensor, w: dict, n_head: int, n_head_kv: int, head_dim_k: int,
                head_dim_v: int) -> tuple[Tensor, Tensor, Tensor]:
    """Q (head_dim_k, n_head, n), K (head_dim_k, n_head_kv, n), V (head_dim_v, n_head_kv, n)
    from separate attn_q/k/v or one fused attn_qkv (then Q, K, V are views of its rows)."""
    n = x.ne[1]
    if "attn_qkv" in w:
        qkv = linear(ctx, w, "attn_qkv", x)                 # (n_q + n_k + n_v, n)
        if "attn_qkv.bias" not in w and "attn_q.bias" in w:  # separate biases beside a fused weight
            bias = ops.concat(ctx, ops.concat(ctx, w["attn_q.bias"], w["attn_k.bias"], 0), w["attn_v.bias"], 0)
            qkv = ops.add(ctx, qkv, bias)
        es, n_q, n_k = qkv.nb[0], head_dim_k * n_head, head_dim_k * n_head_kv
        q = ops.view_3d(ctx, qkv, head_dim_k, n_head, n, es * head_dim_k, qkv.nb[1], 0)
        k = ops.view_3d(ctx, qkv, head_dim_k, n_head_kv, n, es * head_dim_k, qkv.nb[1], es * n_q)
        v = ops.view_3d(ctx, qkv, head_dim_v, n_head_kv, n, es * head_dim_v, qkv.nb[1], es * (n_q + n_k))
        return q, k, v
    q = ops.reshape_3d(ctx, linear(ctx, w, "attn_q", x), head_dim_k, n_head, n)
    k = ops.reshape_3d(ctx, linear(ctx, w, "attn_k", x), head_dim_k, n_head_kv, n)
    v = ops.reshape_3d(ctx, linear(ctx, w, "attn_v", x), head_dim_v, n_head_kv, n)
    return q, k, v


def _rows(ctx: Context, t: Tensor) -> Tensor:
    """(head_dim, n_head, n) → (head_dim·n_head, n) rows, as a view when the heads are packed."""
    if t.nb[1] == t.ne[0] * t.nb[0]:
        return ops.view_2d(ctx, t, t.ne[0] * t.ne[1], t.ne[2], t.nb[2])
    return ops.reshape_2d(ctx, ops.cont(ctx, t), t.ne[0] * t.ne[1], t.ne[2])


def attend(ctx: Context, q: Tensor, k: Tensor, v: Tensor, cache: LayerCache, batch: BatchInputs, *,
           kq_scale: float, window: int = 0, softcap: float = 0.0) -> Tensor:
    """Write this batch's K (head_dim_k, n_head_kv, n) and V (head_dim_v, n_head_kv, n) into the
    layer's cache at batch.kv_slots, then attend q (head_dim_k, n_head, n) over the first n_kv
    cached positions under the mask of `window` → (head_dim_v·n_head, n)."""
    n = batch.n_tokens
    # the reads are views of the writes, so the graph orders them after the writes
    k_written = ops.set_rows(ctx, cache.k, _rows(ctx, k), batch.kv_slots)
    v_written = ops.set_rows(ctx, cache.v, _rows(ctx, v), batch.kv_slots)
    k_all = ops.view_3d(ctx, k_written, k.ne[0], k.ne[1], batch.n_kv, cache.k.nb[0] * k.ne[0], cache.k.nb[1])
    v_all = ops.view_3d(ctx, v_written, v.ne[0], v.ne[1], batch.n_kv, cache.v.nb[0] * v.ne[0], cache.v.nb[1])
    out = ops.flash_attn_ext(ctx, q, k_all, v_all, batch.masks[window], kq_scale, softcap)
    return ops.reshape_2d(ctx, out, v.ne[0] * q.ne[1], n)


def self_attention(ctx: Context, x: Tensor, w: dict, cache: LayerCache, batch: BatchInputs, cfg, *,
                   rope: Rope | None, kq_scale: float, window: int = 0, rope_factors: Tensor | None = None,
                   q_prescale: float | None = None, softcap: float = 0.0) -> Tensor:
    """The usual block over x (n_embd, n): projections, QK-norm if w has 'attn_q_norm' (RMS per
    head, cfg.norm_eps), RoPE (None: the family has none), optional Q pre-scale, attend, output."""
    q, k, v = project_qkv(ctx, x, w, cfg.n_head, cfg.n_head_kv, cfg.head_dim_k, cfg.head_dim_v)
    if "attn_q_norm" in w:
        q = rms_norm_weighted(ctx, q, w["attn_q_norm"], cfg.norm_eps)
        k = rms_norm_weighted(ctx, k, w["attn_k_norm"], cfg.norm_eps)
    if rope is not None:
        q = rope(ctx, q, batch.positions, rope_factors)
        k = rope(ctx, k, batch.positions, rope_factors)
    if q_prescale is not None:
        q = ops.scale(ctx, q, q_prescale)
    out = attend(ctx, q, k, v, cache, batch, kq_scale=kq_scale, window=window, softcap=softcap)
    return linear(ctx, w, "attn_output", out)


def ffn_gated(ctx: Context, x: Tensor, w: dict, activation) -> Tensor:
    """down(act(gate(x)) * up(x)), each projection with its bias if present. Without biases the
    gate, up and gating run as one mul_mat_glu op whose rows come out already in the type the
    down projection reads (no (n_ff, n) F32 intermediates: a prompt's compute buffer shrinks by
    their size); with biases, SiLU gating runs as one swiglu op."""
    glu = {ops.silu: "silu", ops.gelu: "gelu"}.get(activation)
    partner = traits(w["ffn_down"].type).vec_dot_type
    if (glu is not None and partner is not None and "ffn_gate.bias" not in w and "ffn_up.bias" not in w
            and ops.glu_fusable(w["ffn_gate"], w["ffn_up"], x, glu, partner)):
        hidden = ops.mul_mat_glu(ctx, w["ffn_gate"], w["ffn_up"], x, glu, partner)   # (n_ff, n)
        return linear(ctx, w, "ffn_down", hidden)
    gate = linear(ctx, w, "ffn_gate", x)
    up = linear(ctx, w, "ffn_up", x)
    if activation is ops.silu:
        return linear(ctx, w, "ffn_down", ops.swiglu(ctx, gate, up))
    return linear(ctx, w, "ffn_down", ops.mul(ctx, activation(ctx, gate), up))


def ffn_sequential(ctx: Context, x: Tensor, w: dict, activation) -> Tensor:
    """down(act(up(x))) with optional biases (GPT-2's MLP)."""
    return linear(ctx, w, "ffn_down", activation(ctx, linear(ctx, w, "ffn_up", x)))


def ffn_fused_swiglu(ctx: Context, x: Tensor, w: dict, n_ff: int) -> Tensor:
    """down(silu(a) * b) where ffn_up gives [a; b] (2·n_ff rows), as Phi-3 stores gate and up."""
    ab = linear(ctx, w, "ffn_up", x)                       # (2·n_ff, n)
    a = ops.view_2d(ctx, ab, n_ff, ab.ne[1], ab.nb[1], 0)
    b = ops.view_2d(ctx, ab, n_ff, ab.ne[1], ab.nb[1], n_ff * ab.nb[0])
    return linear(ctx, w, "ffn_down", ops.swiglu(ctx, a, b))


def soft_cap(ctx: Context, x: Tensor, cap: float) -> Tensor:
    """cap · tanh(x / cap), as ggml composes it (scale, tanh, scale)."""
    return ops.scale(ctx, ops.tanh(ctx, ops.scale(ctx, x, 1.0 / cap)), cap)


def last_layer_rows(ctx: Context, batch: BatchInputs, *ts: Tensor) -> list[Tensor]:
    """Keep only the rows whose logits are wanted (row-wise ops after this: same values)."""
    return [ops.get_rows(ctx, t, batch.out_rows) for t in ts]
