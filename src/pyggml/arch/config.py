"""The hyperparameters every decoder family shares, read from GGUF `{arch}.*` keys by one
arch-neutral reader. A family with more fields subclasses ModelConfig in its own file."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelFormatError


FULL = 0   # layer_windows entry: causal attention over every cached position


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim_k: int            # per-head size of Q and K
    head_dim_v: int            # per-head size of V
    n_rot: int                 # rotated dims per head
    norm_eps: float            # RMS norm or LayerNorm epsilon, whichever the family uses
    rope_freq_base: float
    rope_freq_scale: float     # 1 / linear scaling factor
    rope_mode: int             # 0 normal (llama), 2 neox (gemma, qwen, phi3)
    n_ctx_orig: int            # rope.scaling.original_context_length (or the training context)
    layer_windows: tuple[int, ...]   # per layer: FULL, or N > 0 = attend to the last N positions

    @property
    def n_embd_k_gqa(self) -> int:
        return self.head_dim_k * self.n_head_kv

    @property
    def n_embd_v_gqa(self) -> int:
        return self.head_dim_v * self.n_head_kv


# `{arch}.*` keys read_common understands; a family adds its own in check_keys(known=...)
COMMON_KEYS = ("vocab_size", "context_length", "embedding_length", "block_count", "feed_forward_length",
               "attention.head_count", "attention.head_count_kv", "attention.key_length",
               "attention.value_length", "rope.dimension_count", "rope.freq_base", "rope.scaling.type",
               "rope.scaling.factor", "rope.scale_linear", "rope.scaling.original_context_length",
               "rope.scaling.finetuned")


def require(metadata: dict, key: str, kind=int):
    if key not in metadata:
        raise ModelFormatError(f"missing metadata key {key!r}")
    value = metadata[key]
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"metadata {key!r} = {value!r} is not a {kind.__name__}") from None


def optional(metadata: dict, key: str, default, kind=int):
    return require(metadata, key, kind) if key in metadata else default


def positive(name: str, value: int) -> int:
    if value <= 0:
        raise ModelFormatError(f"{name} must be > 0, got {value}")
    return value


def n_vocab_of(metadata: dict, arch: str) -> int:
    if f"{arch}.vocab_size" in metadata:
        return require(metadata, f"{arch}.vocab_size")
    tokens = metadata.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ModelFormatError(f"missing {arch}.vocab_size and tokenizer.ggml.tokens")
    return len(tokens)


# keys some converters write with a value that changes nothing
NEUTRAL_WHEN_ZERO = ("expert_count", "expert_used_count", "expert_shared_count")


def check_keys(md: dict, arch: str, known: tuple[str, ...] = ()) -> None:
    """Every `{arch}.*` key must be one pyggml reads for this family: anything else may change
    the maths (a soft-cap, a scale, experts) and is refused rather than ignored."""
    allowed = set(COMMON_KEYS) | set(known)
    for key in md:
        name = key[len(arch) + 1:]
        if name in NEUTRAL_WHEN_ZERO and md[key] == 0:
            continue   # converters write these as 0 for dense models; llama.cpp reads them as "none"
        if key.startswith(arch + ".") and name not in allowed:
            raise ModelFormatError(f"metadata key {key!r} is not supported for the {arch} architecture")


def read_common(md: dict, arch: str, *, rope_mode: int, eps_key: str = "attention.layer_norm_rms_epsilon",
                default_freq_base: float = 10000.0, scaling_types: tuple[str, ...] = ("none", "linear")) -> dict:
    """ModelConfig's fields as a dict (a family may add its own and build its subclass; every
    layer attends FULL unless the family sets layer_windows). Rope scaling as llama.cpp reads
    it: the type defaults to 'linear', the factor to 1 (rope.scale_linear is the old name)."""
    a = arch
    n_embd = positive("n_embd", require(md, f"{a}.embedding_length"))
    n_head = positive("n_head", require(md, f"{a}.attention.head_count"))
    n_layer = positive("n_layer", require(md, f"{a}.block_count"))
    head_dim = positive("head_dim", optional(md, f"{a}.attention.key_length", n_embd // n_head))
    n_ctx_train = positive("n_ctx_train", require(md, f"{a}.context_length"))
    scaling = optional(md, f"{a}.rope.scaling.type", "linear", str)
    if scaling not in scaling_types:
        raise ModelFormatError(f"metadata {a}.rope.scaling.type = {scaling!r} is not supported for {a} "
                               f"(pyggml implements: {', '.join(scaling_types)})")
    factor = optional(md, f"{a}.rope.scaling.factor", optional(md, f"{a}.rope.scale_linear", 0.0, float), float)
    return dict(
        arch=a,
        n_vocab=positive("n_vocab", n_vocab_of(md, a)),
        n_ctx_train=n_ctx_train,
        n_embd=n_embd,
        n_layer=n_layer,
        n_ff=positive("n_ff", require(md, f"{a}.feed_forward_length")),
        n_head=n_head,
        n_head_kv=positive("n_head_kv", optional(md, f"{a}.attention.head_count_kv", n_head)),
        head_dim_k=head_dim,
        head_dim_v=positive("head_dim_v", optional(md, f"{a}.attention.value_length", head_dim)),
        n_rot=optional(md, f"{a}.rope.dimension_count", head_dim),
        norm_eps=require(md, f"{a}.{eps_key}", float),
        rope_freq_base=optional(md, f"{a}.rope.freq_base", default_freq_base, float),
        rope_freq_scale=1.0 / factor if factor != 0.0 and scaling != "none" else 1.0,
        rope_mode=rope_mode,
        n_ctx_orig=positive("n_ctx_orig", optional(md, f"{a}.rope.scaling.original_context_length", n_ctx_train)),
        layer_windows=(FULL,) * n_layer,
    )


def sliding_windows(md: dict, arch: str, n_layer: int, window: int, pattern: int) -> tuple[int, ...]:
    """Per-layer windows as llama.cpp assigns them: `{arch}.attention.sliding_window_pattern`
    as one bool per layer, or as a period P (layers il % P < P - 1 slide, the P-th is global),
    `pattern` when the key is absent; P = 0 means every layer slides. window 0 = no window."""
    key = f"{arch}.attention.sliding_window_pattern"
    value = md.get(key, pattern)
    if hasattr(value, "__len__") and not isinstance(value, str):
        flags = [bool(v) for v in value]
        if len(flags) != n_layer:
            raise ModelFormatError(f"metadata {key!r} has {len(flags)} entries for {n_layer} layers")
    else:
        period = require(md, key, int) if key in md else pattern
        flags = [period == 0 or il % period < period - 1 for il in range(n_layer)]
    return tuple(window if slides and window > 0 else FULL for slides in flags)
