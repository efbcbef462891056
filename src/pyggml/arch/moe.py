"""The mixture-of-experts FFN (llama.cpp's build_moe_ffn, softmax gating, SiLU-gated experts):
a router picks each token's top-k experts, their SwiGLU FFNs run through mul_mat_id (only the
chosen experts are read) and the outputs are summed, weighted by the router's probabilities."""
from __future__ import annotations

from .. import ops
from ..tensor import Context, Tensor
from .config import ModelFormatError


def check_expert_tensors(w: dict, il: int, n_embd: int, n_ff_exp: int, n_expert: int) -> None:
    """The router and the stacked expert weights have the shapes the hyperparameters say."""
    want = {"ffn_gate_inp": (n_embd, n_expert, 1), "ffn_gate_exps": (n_embd, n_ff_exp, n_expert),
            "ffn_up_exps": (n_embd, n_ff_exp, n_expert), "ffn_down_exps": (n_ff_exp, n_embd, n_expert)}
    for name, ne in want.items():
        if w[name].ne[:3] != ne or w[name].ne[3] != 1:
            raise ModelFormatError(f"tensor 'blk.{il}.{name}.weight' has shape {w[name].ne[:3]}, "
                                   f"expected {ne} (n_embd, n_ff_exp, n_expert)")


def moe_ffn(ctx: Context, x: Tensor, w: dict, n_expert_used: int, norm_weights: bool = True) -> Tensor:
    """x (n_embd, n) → (n_embd, n): Σ over the top-k experts e of p_e · down_e(silu(gate_e(x)) · up_e(x)),
    p = softmax(router(x)) restricted to the chosen experts and, with norm_weights, divided by
    their sum (llama.cpp clamps that sum below at 2^-14; a top-k sum of a softmax is >= k/n_expert,
    so the clamp never acts and is left out)."""
    n_embd, n = x.ne[0], x.ne[1]
    n_expert, k = w["ffn_gate_inp"].ne[1], n_expert_used
    probs = ops.soft_max(ctx, ops.mul_mat(ctx, w["ffn_gate_inp"], x))          # (n_expert, n)
    chosen = ops.argsort_top_k(ctx, probs, k)                                   # I32 (k, n)
    weights = ops.get_rows(ctx, ops.reshape_3d(ctx, probs, 1, n_expert, n), chosen)   # (1, k, n)
    if norm_weights:
        weights = ops.reshape_2d(ctx, weights, k, n)
        weights = ops.div(ctx, weights, ops.sum_rows(ctx, weights))
        weights = ops.reshape_3d(ctx, weights, 1, k, n)

    x = ops.reshape_3d(ctx, x, n_embd, 1, n)                                    # one row for every slot
    up = ops.mul_mat_id(ctx, w["ffn_up_exps"], x, chosen)                       # (n_ff_exp, k, n)
    gate = ops.mul_mat_id(ctx, w["ffn_gate_exps"], x, chosen)
    experts = ops.mul_mat_id(ctx, w["ffn_down_exps"], ops.swiglu(ctx, gate, up), chosen)   # (n_embd, k, n)
    experts = ops.mul(ctx, experts, weights)

    # sum over the k slots in slot order, as llama.cpp adds them
    out = ops.view_2d(ctx, experts, n_embd, n, experts.nb[2], 0)
    for i in range(1, k):
        out = ops.add(ctx, out, ops.view_2d(ctx, experts, n_embd, n, experts.nb[2], i * experts.nb[1]))
    return ops.cont(ctx, out) if k == 1 else out
