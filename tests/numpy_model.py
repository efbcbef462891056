"""Pure-numpy forward pass of the `llama` and `gemma3` architectures: the test oracle.

Reads a GGUF file with gguf-py and dequantizes every weight with `gguf.quants.dequantize`
(test-only dependencies), then runs the same graph llama.cpp builds (docs/architectures.md).

Two numeric modes:
- "f32": every op in float32 on dequantized weights (what an independent F32 port computes).
- "llamacpp": adds the roundings llama.cpp's CPU backend applies, so quantized files match it
  closely: activations quantized to the weight's partner type before each matmul (Q8_0, Q8_1
  or Q8_K), K/V cache in F16, Q and the softmax output rounded to F16 for the KQ / KQV products,
  GELU through the F16 lookup table, RoPE angles by repeated float32 multiplication.

Every dot product (matmuls, attention) is summed in float64 and rounded to float32 once: the
result is the exact sum up to 1e-16, whatever BLAS numpy was built with. A float32 BLAS sums in an
order of its own that changes with the CPU and the OpenBLAS release (seen: top-1 against llama.cpp
0.918 with OpenBLAS 0.3.31's Sapphire Rapids kernels, 1.0 with its Haswell kernels), so an F32
sum would make the oracle's verdict depend on the machine. llama.cpp's integer block dots are
exact and only its per-block float steps round, so the exact sum is the right reference for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT

SUPPORTED_ARCHS = ("llama", "gemma3")

# Partner ("vec_dot") type llama.cpp quantizes activations to, per weight type.
_ACTIVATION_TYPE = {
    QT.F32: "f32", QT.F16: "f16", QT.BF16: "bf16",
    QT.Q4_0: "q8_0", QT.Q5_0: "q8_0", QT.Q8_0: "q8_0", QT.IQ4_NL: "q8_0",
    QT.Q4_1: "q8_1", QT.Q5_1: "q8_1",
    QT.Q2_K: "q8_k", QT.Q3_K: "q8_k", QT.Q4_K: "q8_k", QT.Q5_K: "q8_k", QT.Q6_K: "q8_k",
}
# Byte offset of the F16 block minimum `m` in the *_1 formats (after the F16 scale d).
_BLOCK_MIN_TYPES = {QT.Q4_1: 20, QT.Q5_1: 24}  # type -> block bytes; m sits at bytes 2..3


@dataclass(frozen=True)
class OracleConfig:
    arch: str
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim_k: int           # per-head width of Q and K
    head_dim_v: int           # per-head width of V
    n_ff: int
    n_rot: int                # leading dims of each head that RoPE rotates
    rope_neox: bool           # True: pairs (i, i + n_rot/2); False: pairs (2i, 2i+1)
    rope_base: float
    rope_base_swa: float      # RoPE base on sliding-window layers
    rms_eps: float
    n_swa: int                # sliding window (0 = none)
    swa_layers: tuple         # per layer: True when the layer uses the sliding window
    kq_scale: float           # multiplies Q·K before the softmax
    embd_scale: float         # multiplies the token embeddings
    final_softcap: float      # 0 = no final logit soft-capping


def _field(fields, key, default=None):
    if key in fields:
        return fields[key].contents()
    if default is None:
        raise KeyError(f"GGUF metadata key {key!r} is missing")
    return default


def read_config(reader: gguf.GGUFReader) -> OracleConfig:
    fields = reader.fields
    arch = _field(fields, "general.architecture")
    if arch not in SUPPORTED_ARCHS:
        raise ValueError(f"unsupported architecture {arch!r} (oracle knows {SUPPORTED_ARCHS})")
    a = lambda key, default=None: _field(fields, f"{arch}.{key}", default)  # noqa: E731
    n_embd = int(a("embedding_length"))
    n_head = int(a("attention.head_count"))
    n_layer = int(a("block_count"))
    head_dim_k = int(a("attention.key_length", n_embd // n_head))
    head_dim_v = int(a("attention.value_length", n_embd // n_head))
    n_tokens = len(fields["tokenizer.ggml.tokens"].data)
    if arch == "gemma3":
        n_swa = int(a("attention.sliding_window", 0))
        # every 6th layer (il % 6 == 5) is global, the others use the sliding window
        swa = tuple(n_swa > 0 and il % 6 < 5 for il in range(n_layer))
        return OracleConfig(
            arch=arch, n_vocab=int(a("vocab_size", n_tokens)), n_ctx_train=int(a("context_length")),
            n_embd=n_embd, n_layer=n_layer, n_head=n_head,
            n_head_kv=int(a("attention.head_count_kv", n_head)),
            head_dim_k=head_dim_k, head_dim_v=head_dim_v, n_ff=int(a("feed_forward_length")),
            n_rot=int(a("rope.dimension_count", head_dim_k)), rope_neox=True,
            rope_base=float(a("rope.freq_base", 10000.0)), rope_base_swa=10000.0,
            rms_eps=float(a("attention.layer_norm_rms_epsilon")),
            n_swa=n_swa, swa_layers=swa,
            kq_scale=1.0 / np.sqrt(head_dim_k),  # applied to Q before attention (1B..12B rule)
            embd_scale=float(np.sqrt(n_embd)),
            final_softcap=0.0 if n_swa > 0 else float(a("final_logit_softcapping", 0.0)),
        )
    return OracleConfig(
        arch=arch, n_vocab=int(a("vocab_size", n_tokens)), n_ctx_train=int(a("context_length")),
        n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        n_head_kv=int(a("attention.head_count_kv", n_head)),
        head_dim_k=head_dim_k, head_dim_v=head_dim_v, n_ff=int(a("feed_forward_length")),
        n_rot=int(a("rope.dimension_count", head_dim_k)), rope_neox=False,
        rope_base=float(a("rope.freq_base", 10000.0)), rope_base_swa=float(a("rope.freq_base", 10000.0)),
        rms_eps=float(a("attention.layer_norm_rms_epsilon")),
        n_swa=0, swa_layers=(False,) * n_layer,
        kq_scale=1.0 / np.sqrt(head_dim_k), embd_scale=1.0, final_softcap=0.0,
    )


# ---------------------------------------------------------------------------- numerics helpers

def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def _fake_quant_q8(x: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Q8_0 / Q8_1 round trip of rows of x (n, k): d = amax/127 stored as F16, q = round(x/d).
    Returns (dequantized x, per-block sum d*Σq as Q8_1 stores it (F16))."""
    n, k = x.shape
    xb = x.reshape(n, k // block, block)
    amax = np.abs(xb).max(axis=2, keepdims=True)
    d = amax / 127.0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(d > 0, 1.0 / d, 0.0).astype(np.float32)
    q = np.rint(xb * inv)  # AVX2 path rounds to nearest even
    d16 = _f16(d.astype(np.float32))
    deq = (q * d16).reshape(n, k).astype(np.float32)
    block_sums = _f16((d.astype(np.float32) * q.sum(axis=2, keepdims=True))[..., 0])
    return deq, block_sums


def _fake_quant_q8_k(x: np.ndarray) -> np.ndarray:
    """Q8_K round trip (blocks of 256, F32 scale): iscale = -127/max where max is the signed
    value of largest magnitude, q = min(127, nearest(iscale*x)), d = 1/iscale."""
    n, k = x.shape
    xb = x.reshape(n, k // 256, 256)
    idx = np.abs(xb).argmax(axis=2)[..., None]
    vmax = np.take_along_axis(xb, idx, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = np.where(vmax != 0, np.float32(-127.0) / vmax, 0.0).astype(np.float32)
        d = np.where(iscale != 0, np.float32(1.0) / iscale, 0.0).astype(np.float32)
    q = np.minimum(127.0, np.rint(iscale * xb))
    return (q * d).reshape(n, k).astype(np.float32)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * x * (1.0 + np.float32(0.044715) * x * x)))


def _gelu_llamacpp(x: np.ndarray) -> np.ndarray:
    """ggml's F32 GELU: 0 below -10, identity above 10, else F16(gelu(F16(x)))."""
    y = _f16(_gelu_tanh(_f16(x)))
    return np.where(x <= -10.0, 0.0, np.where(x >= 10.0, x, y)).astype(np.float32)


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    mean_sq = np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True)
    return (x * (1.0 / np.sqrt(mean_sq + eps)).astype(np.float32)) * weight


def _rope_angles(positions: np.ndarray, n_rot: int, base: float, llamacpp: bool) -> np.ndarray:
    """(n_tok, n_rot/2) angles p * base^(-2i/n_rot). llama.cpp builds them by repeated float32
    multiplication theta_{i+1} = theta_i * base^(-2/n_rot), starting from theta_0 = p."""
    if not llamacpp:
        inv_freq = base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
        return (positions[:, None].astype(np.float64) * inv_freq[None, :]).astype(np.float32)
    step = np.float32(np.power(np.float32(base), np.float32(-2.0) / np.float32(n_rot)))
    theta = positions.astype(np.float32)
    out = np.empty((len(positions), n_rot // 2), np.float32)
    for i in range(n_rot // 2):
        out[:, i] = theta
        theta = (theta * step).astype(np.float32)
    return out


def _apply_rope(x: np.ndarray, angles: np.ndarray, n_rot: int, neox: bool) -> np.ndarray:
    """x: (n_tok, n_heads, head_dim); rotates the first n_rot dims of every head."""
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    out = x.copy()
    if neox:
        a, b = x[..., : n_rot // 2], x[..., n_rot // 2 : n_rot]
        out[..., : n_rot // 2] = a * cos - b * sin
        out[..., n_rot // 2 : n_rot] = a * sin + b * cos
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out


def attention_visibility(positions: np.ndarray, n_kv: int, n_swa: int) -> np.ndarray:
    """(n_tok, n_kv) bool: key j visible from a query at position p iff j <= p and, with a
    sliding window (n_swa > 0), p - j < n_swa."""
    key_pos = np.arange(n_kv)[None, :]
    visible = key_pos <= positions[:, None]
    if n_swa > 0:
        visible &= (positions[:, None] - key_pos) < n_swa
    return visible


# ---------------------------------------------------------------------------- the model

class _Linear:
    """One weight matrix (n_out, n_in) dequantized (F32 values, held as float64 for exact sums),
    with what llama.cpp's matmul needs."""

    def __init__(self, tensor):
        self.type = tensor.tensor_type
        weight = np.asarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type), np.float32)
        self.weight = np.ascontiguousarray(weight, np.float64)   # every F32 value exactly
        self.block_min = None  # (n_out, n_blocks) F16 minima of Q4_1 / Q5_1 blocks
        if self.type in _BLOCK_MIN_TYPES:
            raw = np.asarray(tensor.data).reshape(self.weight.shape[0], -1, _BLOCK_MIN_TYPES[self.type])
            self.block_min = raw[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        return self.weight[ids].astype(np.float32)

    def __call__(self, x: np.ndarray, llamacpp: bool) -> np.ndarray:
        """x (n, n_in) float32 -> (n, n_out) float32, summed in float64."""
        kind = _ACTIVATION_TYPE.get(self.type) if llamacpp else "f32"
        if kind is None:
            raise ValueError(f"no activation type known for weight type {self.type.name}")
        if kind == "f32":
            return _exact_matmul(x, self.weight)
        if kind in ("f16", "bf16"):
            return _exact_matmul(_f16(x), self.weight)
        if kind == "q8_k":
            return _exact_matmul(_fake_quant_q8_k(x), self.weight)
        xq, block_sums = _fake_quant_q8(x, 32)
        y = xq.astype(np.float64) @ self.weight.T
        if kind == "q8_1" and self.block_min is not None:
            # the *_1 dot uses Q8_1's stored F16 sum s = d*Σq instead of the exact Σ d*q
            exact_sums = xq.astype(np.float64).reshape(x.shape[0], -1, 32).sum(axis=2)
            y += (block_sums - exact_sums) @ self.block_min.T.astype(np.float64)
        return y.astype(np.float32)


def _exact_matmul(x: np.ndarray, weight64: np.ndarray) -> np.ndarray:
    """x (n, n_in) @ weight64.T (n_in, n_out), summed in float64, rounded once to float32."""
    return (x.astype(np.float64) @ weight64.T).astype(np.float32)


class NumpyModel:
    """Weights + a numpy KV cache. `forward(tokens)` appends to the cache and returns logits."""

    def __init__(self, path: str | Path, numerics: str = "f32"):
        if numerics not in ("f32", "llamacpp"):
            raise ValueError(f"numerics must be 'f32' or 'llamacpp', not {numerics!r}")
        self.path = Path(path)
        self.llamacpp = numerics == "llamacpp"
        reader = gguf.GGUFReader(self.path)
        self.config = read_config(reader)
        tensors = {t.name: t for t in reader.tensors}

        def need(name):
            if name not in tensors:
                raise KeyError(f"{self.path.name}: tensor {name!r} is missing")
            return tensors[name]

        vec = lambda name: np.asarray(gguf.quants.dequantize(need(name).data, need(name).tensor_type), np.float32)  # noqa: E731
        self.token_embd = _Linear(need("token_embd.weight"))
        self.output = _Linear(tensors["output.weight"]) if "output.weight" in tensors else self.token_embd
        self.output_norm = vec("output_norm.weight")
        self.layers = []
        for il in range(self.config.n_layer):
            p = f"blk.{il}."
            layer = {n: _Linear(need(p + n + ".weight"))
                     for n in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
            layer["attn_norm"] = vec(p + "attn_norm.weight")
            layer["ffn_norm"] = vec(p + "ffn_norm.weight")
            if self.config.arch == "gemma3":
                for n in ("attn_q_norm", "attn_k_norm", "post_attention_norm", "post_ffw_norm"):
                    layer[n] = vec(p + n + ".weight")
            self.layers.append(layer)
        self.reset()

    # KV cache: per layer, K (n_past, n_head_kv, head_dim_k) after RoPE and V (n_past, n_head_kv, head_dim_v)
    def reset(self) -> None:
        self.k_cache = [None] * self.config.n_layer
        self.v_cache = [None] * self.config.n_layer
        self.n_past = 0

    def truncate(self, n_keep: int) -> None:
        if not 0 <= n_keep <= self.n_past:
            raise ValueError(f"n_keep={n_keep} outside 0..{self.n_past}")
        for il in range(self.config.n_layer):
            if self.k_cache[il] is not None:
                self.k_cache[il] = self.k_cache[il][:n_keep]
                self.v_cache[il] = self.v_cache[il][:n_keep]
        self.n_past = n_keep

    def forward(self, tokens) -> np.ndarray:
        """Appends tokens at positions n_past.. and returns logits (len(tokens), n_vocab)."""
        cfg = self.config
        ids = np.asarray(tokens, dtype=np.int64)
        if ids.ndim != 1 or len(ids) == 0:
            raise ValueError("tokens must be a non-empty 1-D sequence")
        if ids.min() < 0 or ids.max() >= self.token_embd.weight.shape[0]:
            raise ValueError(f"token id out of range 0..{self.token_embd.weight.shape[0] - 1}")
        positions = np.arange(self.n_past, self.n_past + len(ids))
        x = self.token_embd.rows(ids) * np.float32(cfg.embd_scale)
        for il, layer in enumerate(self.layers):
            x = self._layer(il, layer, x, positions)
        self.n_past += len(ids)
        x = _rms_norm(x, self.output_norm, cfg.rms_eps)
        logits = self.output(x, self.llamacpp)
        if cfg.final_softcap > 0:
            logits = np.tanh(logits / cfg.final_softcap) * cfg.final_softcap
        return logits.astype(np.float32)

    def _layer(self, il, w, x, positions):
        cfg, lc = self.config, self.llamacpp
        n_tok = x.shape[0]
        h = _rms_norm(x, w["attn_norm"], cfg.rms_eps)
        q = w["attn_q"](h, lc).reshape(n_tok, cfg.n_head, cfg.head_dim_k)
        k = w["attn_k"](h, lc).reshape(n_tok, cfg.n_head_kv, cfg.head_dim_k)
        v = w["attn_v"](h, lc).reshape(n_tok, cfg.n_head_kv, cfg.head_dim_v)
        if cfg.arch == "gemma3":
            q = _rms_norm(q, w["attn_q_norm"], cfg.rms_eps)
            k = _rms_norm(k, w["attn_k_norm"], cfg.rms_eps)
        base = cfg.rope_base_swa if cfg.swa_layers[il] else cfg.rope_base
        angles = _rope_angles(positions, cfg.n_rot, base, lc)
        q = _apply_rope(q, angles, cfg.n_rot, cfg.rope_neox)
        k = _apply_rope(k, angles, cfg.n_rot, cfg.rope_neox)
        if cfg.arch == "gemma3":
            q = q * np.float32(cfg.kq_scale)  # gemma3 scales Q, then attends with scale 1
            kq_scale = 1.0
        else:
            kq_scale = cfg.kq_scale
        if lc:  # F16 KV cache
            k, v = _f16(k), _f16(v)
        self.k_cache[il] = k if self.k_cache[il] is None else np.concatenate([self.k_cache[il], k])
        self.v_cache[il] = v if self.v_cache[il] is None else np.concatenate([self.v_cache[il], v])
        attn = self._attention(q, self.k_cache[il], self.v_cache[il], positions, kq_scale, cfg.swa_layers[il])
        attn_out = w["attn_output"](attn.reshape(n_tok, -1), lc)
        if cfg.arch == "gemma3":
            attn_out = _rms_norm(attn_out, w["post_attention_norm"], cfg.rms_eps)
        x = x + attn_out
        h = _rms_norm(x, w["ffn_norm"], cfg.rms_eps)
        gate, up = w["ffn_gate"](h, lc), w["ffn_up"](h, lc)
        if cfg.arch == "gemma3":
            act = (_gelu_llamacpp(gate) if lc else _gelu_tanh(gate)) * up
        else:
            act = gate / (1.0 + np.exp(-gate)) * up  # SiLU(gate) * up
        ffn_out = w["ffn_down"](act.astype(np.float32), lc)
        if cfg.arch == "gemma3":
            ffn_out = _rms_norm(ffn_out, w["post_ffw_norm"], cfg.rms_eps)
        return x + ffn_out

    def _attention(self, q, k_all, v_all, positions, kq_scale, sliding):
        """q: (n_tok, n_head, dk); k_all: (n_kv, n_head_kv, dk); v_all: (n_kv, n_head_kv, dv).
        Key at position j is visible to a query at p iff j <= p and (not sliding or p - j < n_swa)."""
        cfg = self.config
        group = cfg.n_head // cfg.n_head_kv
        visible = attention_visibility(positions, k_all.shape[0], cfg.n_swa if sliding else 0)
        mask = np.where(visible, 0.0, -np.inf).astype(np.float32)
        k_rep = np.repeat(k_all, group, axis=1)  # (n_kv, n_head, dk): query head h uses kv head h // group
        v_rep = np.repeat(v_all, group, axis=1)
        qh = _f16(q) if self.llamacpp else q
        scores = np.einsum("thd,khd->htk", qh.astype(np.float64), k_rep.astype(np.float64)).astype(np.float32)
        scores = scores * np.float32(kq_scale) + mask[None]
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        if self.llamacpp:
            probs = _f16(probs)
        out = np.einsum("htk,khd->thd", probs.astype(np.float64), v_rep.astype(np.float64))
        return out.astype(np.float32)
