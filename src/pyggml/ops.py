"""Graph op builders: ggml's names without the prefix, ggml's shape rules.

Each function validates shapes at build time (ValueError naming both shapes) and returns a result
tensor whose data is filled when its graph is computed. Shapes are ggml's `ne` (ne[0] contiguous).
The C kernel of each op lives in csrc/ops/ (see csrc/ops/ops.h for op_params layouts)."""
from __future__ import annotations

import struct

from . import _core
from .tensor import Context, Op, Tensor, contiguous_strides
from .types import GGMLType, UnsupportedTypeError, require_dequantize, traits

ROPE_TYPE_NORMAL = 0
ROPE_TYPE_NEOX = 2


def _f32(v: float) -> int:
    """A float's bits as a signed int32 op_param."""
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


def _desc(t: Tensor) -> str:
    return f"{t.name or 'tensor'} {t.type.name} ne={t.ne[: max(t.n_dims, 1)]}"


def _result(ctx: Context, op: Op, type_: GGMLType, ne, srcs, params=(), n_dims=None) -> Tensor:
    t = ctx._new_result(type_, ne, n_dims=n_dims or len(ne))
    t._c.set_op(int(op), [s._c if s is not None else None for s in srcs], list(params))
    t.src = tuple(srcs)
    return t


def _view(ctx: Context, a: Tensor, op: Op, type_, ne, nb, offset: int, n_dims: int) -> Tensor:
    """A result sharing a's memory at byte offset (ggml's view_src/view_offs)."""
    base = a.view_src if a.view_src is not None else a
    offs = a.view_offs + offset if a.view_src is not None else offset
    t = ctx._new_result(type_, ne, nb, n_dims=n_dims)
    t._c.set_op(int(op), [a._c], [])
    t._c.set_view(base._c, offs)
    t.src = (a,)
    t.view_src = base
    if base.data:
        t._c.set_data(base.data + offs, base)
    return t


def _require_f32(op: str, *ts: Tensor) -> None:
    for t in ts:
        if t is not None and t.type != GGMLType.F32:
            raise ValueError(f"{op}: {_desc(t)} must be F32")


def _same_shape(op: str, a: Tensor, b: Tensor) -> None:
    if a.ne != b.ne:
        raise ValueError(f"{op}: shapes differ: {_desc(a)} vs {_desc(b)}")


def _can_repeat(b: Tensor, a: Tensor) -> bool:
    """b broadcasts over a: every b.ne[i] divides a.ne[i]."""
    return all(x % y == 0 for x, y in zip(a.ne, b.ne))


# ---- element-wise ------------------------------------------------------------------------

def _binary(op: Op, ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    _require_f32(op.name.lower(), a, b)
    if not _can_repeat(b, a):
        raise ValueError(f"{op.name.lower()}: {_desc(b)} cannot be broadcast to {_desc(a)}")
    return _result(ctx, op, GGMLType.F32, a.ne, (a, b), n_dims=a.n_dims)


def add(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    return _binary(Op.ADD, ctx, a, b)


def sub(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    return _binary(Op.SUB, ctx, a, b)


def mul(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    return _binary(Op.MUL, ctx, a, b)


def div(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    return _binary(Op.DIV, ctx, a, b)


def _unary(op: Op, ctx: Context, a: Tensor, params=()) -> Tensor:
    _require_f32(op.name.lower(), a)
    return _result(ctx, op, GGMLType.F32, a.ne, (a,), params, n_dims=a.n_dims)


def scale(ctx: Context, a: Tensor, s: float) -> Tensor:
    return _unary(Op.SCALE, ctx, a, [_f32(s)])


def silu(ctx: Context, a: Tensor) -> Tensor:
    return _unary(Op.SILU, ctx, a)


def swiglu(ctx: Context, a: Tensor, g: Tensor) -> Tensor:
    """silu(a) * g in one pass (same values as mul(silu(a), g)); same shapes, contiguous rows."""
    _require_f32("swiglu", a, g)
    _same_shape("swiglu", a, g)
    if a.nb[0] != 4 or g.nb[0] != 4:
        raise ValueError(f"swiglu: rows must be contiguous: {_desc(a)}, {_desc(g)}")
    return _result(ctx, Op.SWIGLU, GGMLType.F32, a.ne, (a, g), n_dims=a.n_dims)


def gelu(ctx: Context, a: Tensor) -> Tensor:
    """GELU, tanh approximation."""
    return _unary(Op.GELU, ctx, a)


def relu(ctx: Context, a: Tensor) -> Tensor:
    return _unary(Op.RELU, ctx, a)


def tanh(ctx: Context, a: Tensor) -> Tensor:
    return _unary(Op.TANH, ctx, a)


def rms_norm(ctx: Context, a: Tensor, eps: float) -> Tensor:
    """x / sqrt(mean(x²) + eps) over ne0."""
    return _unary(Op.RMS_NORM, ctx, a, [_f32(eps)])


def norm(ctx: Context, a: Tensor, eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over ne0."""
    return _unary(Op.NORM, ctx, a, [_f32(eps)])


def diag_mask_inf(ctx: Context, a: Tensor, n_past: int) -> Tensor:
    """a[i1][i0] = -inf where i0 > n_past + i1."""
    return _unary(Op.DIAG_MASK_INF, ctx, a, [int(n_past)])


def soft_max_ext(ctx: Context, a: Tensor, mask: Tensor | None = None, scale: float = 1.0,
                 max_bias: float = 0.0) -> Tensor:
    """softmax(a * scale + mask) over ne0; mask (F32/F16) has a.ne0 columns and >= a.ne1 rows."""
    _require_f32("soft_max_ext", a)
    if max_bias != 0.0:
        raise ValueError("soft_max_ext: max_bias (ALiBi) is not supported; pass 0")
    if mask is not None:
        if mask.type not in (GGMLType.F32, GGMLType.F16):
            raise ValueError(f"soft_max_ext: mask {_desc(mask)} must be F32 or F16")
        if mask.ne[0] != a.ne[0] or mask.ne[1] < a.ne[1]:
            raise ValueError(f"soft_max_ext: mask {_desc(mask)} does not cover {_desc(a)}")
        if a.ne[2] % mask.ne[2] or a.ne[3] % mask.ne[3]:
            raise ValueError(f"soft_max_ext: mask {_desc(mask)} cannot broadcast over {_desc(a)}")
        if mask.nb[0] != traits(mask.type).type_size:
            raise ValueError(f"soft_max_ext: mask {_desc(mask)} rows must be contiguous")
    return _result(ctx, Op.SOFT_MAX, GGMLType.F32, a.ne, (a, mask), [_f32(scale), _f32(max_bias)], n_dims=a.n_dims)


def soft_max(ctx: Context, a: Tensor) -> Tensor:
    return soft_max_ext(ctx, a)


def rope_ext(ctx: Context, a: Tensor, pos: Tensor, n_dims: int, mode: int = ROPE_TYPE_NORMAL,
             n_ctx_orig: int = 0, freq_base: float = 10000.0, freq_scale: float = 1.0,
             ext_factor: float = 0.0, attn_factor: float = 1.0, beta_fast: float = 32.0,
             beta_slow: float = 1.0, freq_factors: Tensor | None = None) -> Tensor:
    """Rotary embedding of a (head_dim, n_head, n_tokens) by I32 positions (n_tokens).
    freq_factors: F32 (n_dims/2,) or None; pair i turns by theta_i / freq_factors[i]."""
    _require_f32("rope_ext", a)
    if pos.type != GGMLType.I32 or pos.ne[0] != a.ne[2] or pos.n_elements != pos.ne[0]:
        raise ValueError(f"rope_ext: positions {_desc(pos)} must be I32 with one entry per token of {_desc(a)}")
    if n_dims <= 0 or n_dims > a.ne[0] or n_dims % 2:
        raise ValueError(f"rope_ext: n_dims={n_dims} must be even and in 1..{a.ne[0]}")
    if mode not in (ROPE_TYPE_NORMAL, ROPE_TYPE_NEOX):
        raise ValueError(f"rope_ext: mode {mode} unsupported (0 normal, 2 neox)")
    if freq_factors is not None and (freq_factors.type != GGMLType.F32 or freq_factors.ne[0] < n_dims // 2
                                     or not freq_factors.is_contiguous()):
        raise ValueError(f"rope_ext: freq_factors {_desc(freq_factors)} must be contiguous F32 with >= {n_dims // 2} entries")
    params = [n_dims, mode, n_ctx_orig, _f32(freq_base), _f32(freq_scale), _f32(ext_factor),
              _f32(attn_factor), _f32(beta_fast), _f32(beta_slow)]
    srcs = (a, pos) if freq_factors is None else (a, pos, freq_factors)
    return _result(ctx, Op.ROPE, GGMLType.F32, a.ne, srcs, params, n_dims=a.n_dims)


# ---- matmul, rows, reductions ----------------------------------------------------------------

def mul_mat(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    """a (K, N, …) any type × b (K, M, …) F32 → (N, M, …) F32: result = b · aᵀ in numpy terms.
    b may also be rows of a's activation partner type (vec_dot_type: mul_mat_glu's output)."""
    _require_dot_kernel("mul_mat", a)
    partner = traits(a.type).vec_dot_type
    if b.type != GGMLType.F32 and b.type != partner:
        raise ValueError(f"mul_mat: {_desc(b)} must be F32 or {a.type.name}'s activation type {partner.name}")
    if a.ne[0] != b.ne[0]:
        raise ValueError(f"mul_mat: inner dims differ: {_desc(a)} vs {_desc(b)}")
    if b.ne[2] % a.ne[2] or b.ne[3] % a.ne[3]:
        raise ValueError(f"mul_mat: {_desc(a)} cannot broadcast over {_desc(b)}")
    if b.nb[0] != traits(b.type).type_size or a.nb[0] != traits(a.type).type_size:
        raise ValueError(f"mul_mat: rows must be contiguous: {_desc(a)}, {_desc(b)}")
    ne = (a.ne[1], b.ne[1], b.ne[2], b.ne[3])
    return _result(ctx, Op.MUL_MAT, GGMLType.F32, ne, (a, b), n_dims=max(a.n_dims, b.n_dims, 2))


GLU_ACTIVATIONS = {"silu": 0, "gelu": 1}
# the types mul_mat reads activations as (some weight type's vec_dot_type)
_PARTNER_TYPES = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0, GGMLType.Q8_1, GGMLType.Q8_K})


def glu_can_output(out_type: GGMLType) -> bool:
    """Whether mul_mat_glu can write its rows as out_type on the active SIMD path."""
    return out_type in _PARTNER_TYPES and (out_type == GGMLType.F32 or _core.has_kernels(int(out_type))[1])


def _glu_refusal(gate: Tensor, up: Tensor, x: Tensor, activation: str, out_type: GGMLType) -> str | None:
    """Why mul_mat_glu cannot take these operands, or None."""
    if activation not in GLU_ACTIVATIONS:
        return f"activation {activation!r} is not one of {sorted(GLU_ACTIVATIONS)}"
    if x.type != GGMLType.F32:
        return f"{_desc(x)} must be F32"
    if gate.type != up.type or gate.ne != up.ne or gate.n_dims > 2 or x.n_dims > 2:
        return f"gate {_desc(gate)} and up {_desc(up)} must be 2-D of one type and shape, x {_desc(x)} 2-D"
    if gate.ne[0] != x.ne[0]:
        return f"inner dims differ: {_desc(gate)} vs {_desc(x)}"
    for t in (gate, up):
        if t.nb[0] != traits(t.type).type_size or not t.is_contiguous():
            return f"weights must be contiguous: {_desc(t)}"
    if x.nb[0] != 4:
        return f"rows must be contiguous: {_desc(x)}"
    if not glu_can_output(out_type):
        return f"out_type {out_type.name} is not an activation type with a quantizer"
    if gate.ne[1] % traits(out_type).block_size:
        return f"{gate.ne[1]} rows are not whole {out_type.name} blocks of {traits(out_type).block_size}"
    return None


def glu_fusable(gate: Tensor, up: Tensor, x: Tensor, activation: str, out_type: GGMLType) -> bool:
    """Whether mul_mat_glu takes these operands (graph builders choose the fused form with it)."""
    return _glu_refusal(gate, up, x, activation, out_type) is None


def mul_mat_glu(ctx: Context, gate: Tensor, up: Tensor, x: Tensor, activation: str = "silu",
                out_type: GGMLType = GGMLType.F32) -> Tensor:
    """act(mul_mat(gate, x)) * mul_mat(up, x) in one op (gate, up (K, N) one type and shape; x (K, M)
    F32) → (N, M) as out_type: F32 (the same values as swiglu / mul(gelu, ·) of the two mul_mats)
    or an activation partner type (those values quantized, as mul_mat would quantize them)."""
    _require_dot_kernel("mul_mat_glu", gate)
    refusal = _glu_refusal(gate, up, x, activation, out_type)
    if refusal is not None:
        raise ValueError(f"mul_mat_glu: {refusal}")
    return _result(ctx, Op.MUL_MAT_GLU, out_type, (gate.ne[1], x.ne[1]), (gate, x, up),
                   [GLU_ACTIVATIONS[activation]], n_dims=2)


def _require_dot_kernel(op: str, a: Tensor) -> None:
    tr = require_dequantize(a.type)
    if tr.vec_dot_type is None or not _core.has_kernels(int(a.type))[0] \
            or not (tr.vec_dot_type == GGMLType.F32 or _core.has_kernels(int(tr.vec_dot_type))[1]):
        raise UnsupportedTypeError(f"{op}: no dot-product kernel for {_desc(a)}")


def mul_mat_id(ctx: Context, as_: Tensor, b: Tensor, ids: Tensor) -> Tensor:
    """Per (slot, token), mul_mat with the expert ids[token][slot] of a stack (ggml's mul_mat_id).
    as_ (K, N, n_expert) any type; b (K, n_used or 1, n_tokens) F32; ids (n_used, n_tokens) I32
    → (N, n_used, n_tokens) F32: out[t][s] = as_[ids[t][s]] · b[t][s % b.ne1]. Only the chosen
    experts are read. An id outside [0, n_expert) fails the graph's compute with IndexError."""
    _require_dot_kernel("mul_mat_id", as_)
    _require_f32("mul_mat_id", b)
    if ids.type != GGMLType.I32 or ids.ne[2] != 1 or ids.ne[3] != 1:
        raise ValueError(f"mul_mat_id: ids {_desc(ids)} must be I32 (n_used, n_tokens)")
    n_used, n_tokens = ids.ne[0], ids.ne[1]
    if as_.ne[3] != 1 or as_.nb[0] != traits(as_.type).type_size:
        raise ValueError(f"mul_mat_id: experts {_desc(as_)} must be 3-D (K, N, n_expert) with contiguous rows")
    if b.ne[0] != as_.ne[0] or b.ne[1] not in (1, n_used) or b.ne[2] != n_tokens or b.ne[3] != 1:
        raise ValueError(f"mul_mat_id: activations {_desc(b)} must be (K={as_.ne[0]}, {n_used} or 1, "
                         f"{n_tokens}) for experts {_desc(as_)} and ids {_desc(ids)}")
    if b.nb[0] != 4:
        raise ValueError(f"mul_mat_id: activation rows must be contiguous: {_desc(b)}")
    return _result(ctx, Op.MUL_MAT_ID, GGMLType.F32, (as_.ne[1], n_used, n_tokens), (as_, b, ids), n_dims=3)


def argsort_top_k(ctx: Context, a: Tensor, k: int) -> Tensor:
    """I32 indices of the k largest values of each row of a, largest first (ties: lower index
    first; NaN never chosen, -1 where a row has fewer than k other values): (k, a.ne1, …)."""
    _require_f32("argsort_top_k", a)
    if not 1 <= k <= a.ne[0]:
        raise ValueError(f"argsort_top_k: k={k} must be in 1..{a.ne[0]} for {_desc(a)}")
    return _result(ctx, Op.ARGSORT_TOP_K, GGMLType.I32, (k,) + tuple(a.ne[1:]), (a,), [int(k)], n_dims=a.n_dims)


def get_rows(ctx: Context, a: Tensor, ids: Tensor) -> Tensor:
    """Rows ids of a (any type) as F32: (a.ne0, n_ids)."""
    require_dequantize(a.type)
    if ids.type != GGMLType.I32:
        raise ValueError(f"get_rows: ids {_desc(ids)} must be I32")
    ne = (a.ne[0], ids.ne[0], ids.ne[1], 1)
    return _result(ctx, Op.GET_ROWS, GGMLType.F32, ne, (a, ids), n_dims=max(2, ids.n_dims + 1))


def set_rows(ctx: Context, dst: Tensor, src: Tensor, idx: Tensor) -> Tensor:
    """Write F32 rows of src into rows idx of dst (converting to dst's type). Returns a view of
    dst whose computation performs the write (use it as a graph node)."""
    _require_f32("set_rows", src)
    if idx.type != GGMLType.I32 or idx.ne[0] != src.ne[1]:
        raise ValueError(f"set_rows: idx {_desc(idx)} must be I32 with one entry per row of {_desc(src)}")
    if src.ne[0] != dst.ne[0] or src.ne[2:] != dst.ne[2:]:
        raise ValueError(f"set_rows: row length or batch dims differ: {_desc(src)} vs {_desc(dst)}")
    if traits(dst.type).type_size and not (traits(dst.type).can_quantize or dst.type == GGMLType.F32):
        raise ValueError(f"set_rows: cannot convert rows to {dst.type.name}")
    out = _view(ctx, dst, Op.SET_ROWS, dst.type, dst.ne, dst.nb, 0, dst.n_dims)
    out._c.set_op(int(Op.SET_ROWS), [src._c, idx._c], [])
    out.src = (src, idx, dst)
    return out


def sum_rows(ctx: Context, a: Tensor) -> Tensor:
    _require_f32("sum_rows", a)
    return _result(ctx, Op.SUM_ROWS, GGMLType.F32, (1,) + a.ne[1:], (a,), n_dims=a.n_dims)


def argmax(ctx: Context, a: Tensor) -> Tensor:
    """I32 index of the max of each row (a must be 2-D)."""
    _require_f32("argmax", a)
    if a.ne[2] != 1 or a.ne[3] != 1:
        raise ValueError(f"argmax: {_desc(a)} must be 2-D")
    return _result(ctx, Op.ARGMAX, GGMLType.I32, (a.ne[1],), (a,), n_dims=1)


def concat(ctx: Context, a: Tensor, b: Tensor, dim: int) -> Tensor:
    _require_f32("concat", a, b)
    if not 0 <= dim < 4:
        raise ValueError(f"concat: dim {dim} out of range 0..3")
    for i in range(4):
        if i != dim and a.ne[i] != b.ne[i]:
            raise ValueError(f"concat along {dim}: {_desc(a)} vs {_desc(b)}")
    ne = list(a.ne)
    ne[dim] += b.ne[dim]
    return _result(ctx, Op.CONCAT, GGMLType.F32, ne, (a, b), [dim], n_dims=max(a.n_dims, b.n_dims, dim + 1))


def flash_attn_ext(ctx: Context, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
                   scale: float, softcap: float = 0.0) -> Tensor:
    """softmax(scale·q·kᵀ + mask)·v per head, fused.
    q (D, n_head, n_q) F32; k, v (D, n_head_kv, n_kv) F16/F32; mask F32 (>= n_kv, >= n_q)
    → (D, n_head, n_q) F32. Query head h reads kv head h // (n_head // n_head_kv)."""
    _require_f32("flash_attn_ext", q)
    D, n_head, n_q = q.ne[0], q.ne[1], q.ne[2]
    for name, t in (("k", k), ("v", v)):
        if t.type not in (GGMLType.F16, GGMLType.F32):
            raise ValueError(f"flash_attn_ext: {name} {_desc(t)} must be F16 or F32")
        if t.ne[0] != D or t.ne[3] != 1 or q.ne[3] != 1:
            raise ValueError(f"flash_attn_ext: {name} {_desc(t)} does not match q {_desc(q)}")
    if k.ne != v.ne:
        raise ValueError(f"flash_attn_ext: k {_desc(k)} and v {_desc(v)} differ")
    if n_head % k.ne[1]:
        raise ValueError(f"flash_attn_ext: n_head {n_head} is not a multiple of n_head_kv {k.ne[1]}")
    if mask is not None:
        _require_f32("flash_attn_ext", mask)
        if mask.ne[0] < k.ne[2] or mask.ne[1] < n_q:
            raise ValueError(f"flash_attn_ext: mask {_desc(mask)} does not cover n_kv={k.ne[2]}, n_q={n_q}")
        if mask.nb[0] != 4:
            raise ValueError(f"flash_attn_ext: mask {_desc(mask)} rows must be contiguous")
    return _result(ctx, Op.FLASH_ATTN_EXT, GGMLType.F32, (D, n_head, n_q), (q, k, v, mask),
                   [_f32(scale), _f32(softcap)], n_dims=3)


# ---- copies -------------------------------------------------------------------------------

def cpy(ctx: Context, a: Tensor, b: Tensor) -> Tensor:
    """Copy a into b (converting type; same element count). Returns a view of b."""
    if a.n_elements != b.n_elements:
        raise ValueError(f"cpy: element counts differ: {_desc(a)} vs {_desc(b)}")
    if b.type not in (GGMLType.F32, GGMLType.F16, GGMLType.BF16):
        if not b.is_contiguous():
            raise ValueError(f"cpy: a quantized destination must be contiguous: {_desc(b)}")
        if not a.is_contiguous() and a.ne != b.ne:
            raise ValueError(f"cpy: into quantized {_desc(b)} the source {_desc(a)} must be contiguous or the same shape")
    out = _view(ctx, b, Op.CPY, b.type, b.ne, b.nb, 0, b.n_dims)
    out._c.set_op(int(Op.CPY), [a._c], [])
    out.src = (a, b)
    return out


def cont(ctx: Context, a: Tensor) -> Tensor:
    """A contiguous copy of a (e.g. after permute)."""
    if a.type not in (GGMLType.F32, GGMLType.F16):
        raise ValueError(f"cont: {_desc(a)} must be F32 or F16")
    return _result(ctx, Op.CONT, a.type, a.ne, (a,), n_dims=a.n_dims)


def dup(ctx: Context, a: Tensor) -> Tensor:
    return cont(ctx, a)


# ---- views ---------------------------------------------------------------------------------

def _check_view(a: Tensor, ne, nb, offset: int) -> None:
    last = offset + (ne[0] // traits(a.type).block_size) * traits(a.type).type_size
    last += sum((n - 1) * s for n, s in zip(ne[1:], nb[1:]))
    span = a.view_src.nbytes if a.view_src is not None else a.nbytes
    base_off = a.view_offs if a.view_src is not None else 0
    if offset < 0 or base_off + last > span:
        raise ValueError(f"view ne={tuple(ne)} nb={tuple(nb)} offset={offset} exceeds {_desc(a)} ({span} bytes)")


def view_1d(ctx: Context, a: Tensor, ne0: int, offset: int = 0) -> Tensor:
    ne = (ne0, 1, 1, 1)
    nb = contiguous_strides(a.type, ne)
    _check_view(a, ne, nb, offset)
    return _view(ctx, a, Op.VIEW, a.type, ne, nb, offset, 1)


def view_2d(ctx: Context, a: Tensor, ne0: int, ne1: int, nb1: int, offset: int = 0) -> Tensor:
    ne = (ne0, ne1, 1, 1)
    nb = (a.nb[0], nb1, nb1 * ne1, nb1 * ne1)
    _check_view(a, ne, nb, offset)
    return _view(ctx, a, Op.VIEW, a.type, ne, nb, offset, 2)


def view_3d(ctx: Context, a: Tensor, ne0: int, ne1: int, ne2: int, nb1: int, nb2: int, offset: int = 0) -> Tensor:
    ne = (ne0, ne1, ne2, 1)
    nb = (a.nb[0], nb1, nb2, nb2 * ne2)
    _check_view(a, ne, nb, offset)
    return _view(ctx, a, Op.VIEW, a.type, ne, nb, offset, 3)


def view_4d(ctx: Context, a: Tensor, ne0: int, ne1: int, ne2: int, ne3: int, nb1: int, nb2: int, nb3: int,
            offset: int = 0) -> Tensor:
    ne = (ne0, ne1, ne2, ne3)
    nb = (a.nb[0], nb1, nb2, nb3)
    _check_view(a, ne, nb, offset)
    return _view(ctx, a, Op.VIEW, a.type, ne, nb, offset, 4)


def reshape(ctx: Context, a: Tensor, *ne: int) -> Tensor:
    """Same data, new shape (a must be contiguous)."""
    n = 1
    for x in ne:
        n *= x
    if n != a.n_elements:
        raise ValueError(f"reshape to {ne}: element count differs from {_desc(a)}")
    if not a.is_contiguous():
        raise ValueError(f"reshape: {_desc(a)} is not contiguous; use cont() first")
    ne4 = tuple(ne) + (1,) * (4 - len(ne))
    return _view(ctx, a, Op.RESHAPE, a.type, ne4, contiguous_strides(a.type, ne4), 0, len(ne))


def reshape_1d(ctx, a, ne0):
    return reshape(ctx, a, ne0)


def reshape_2d(ctx, a, ne0, ne1):
    return reshape(ctx, a, ne0, ne1)


def reshape_3d(ctx, a, ne0, ne1, ne2):
    return reshape(ctx, a, ne0, ne1, ne2)


def reshape_4d(ctx, a, ne0, ne1, ne2, ne3):
    return reshape(ctx, a, ne0, ne1, ne2, ne3)


def permute(ctx: Context, a: Tensor, axis0: int, axis1: int, axis2: int, axis3: int) -> Tensor:
    """ggml's permute: source dim i goes to position axis_i."""
    axes = (axis0, axis1, axis2, axis3)
    if sorted(axes) != [0, 1, 2, 3]:
        raise ValueError(f"permute: axes {axes} must be a permutation of 0..3")
    ne = [0] * 4
    nb = [0] * 4
    for i, ax in enumerate(axes):
        ne[ax] = a.ne[i]
        nb[ax] = a.nb[i]
    return _view(ctx, a, Op.PERMUTE, a.type, ne, nb, 0, max(a.n_dims, max(axes[: a.n_dims]) + 1))


def transpose(ctx: Context, a: Tensor) -> Tensor:
    """Swap dims 0 and 1."""
    return _view(ctx, a, Op.TRANSPOSE, a.type, (a.ne[1], a.ne[0], a.ne[2], a.ne[3]),
                 (a.nb[1], a.nb[0], a.nb[2], a.nb[3]), 0, max(a.n_dims, 2))
