"""llama-cpp-python's `Llama(...)` keyword arguments: which pyggml uses, which have no effect on a
CPU engine, and which it refuses (with an error naming the argument) rather than ignore.

No effect (accepted, documented): n_gpu_layers, split_mode, main_gpu, tensor_split, rpc_servers,
use_mmap (pyggml always maps the file), use_mlock, n_threads_batch (one thread pool
runs prompts and decoding; thread counts do not change results), offload_kqv, flash_attn,
op_offload, swa_full, no_perf, numa, vocab_only (the weights are mapped lazily anyway),
lora_scale without lora_path, verbose.

Used: seed, n_ctx, n_batch, n_ubatch (the physical batch: a prompt is evaluated min(n_batch,
n_ubatch) tokens per forward pass; smaller passes hold a smaller compute buffer), n_threads, logits_all, last_n_tokens_size, embedding, pooling_type,
attention_type (causal only), rope_freq_base, rope_freq_scale, kv_overrides, type_k/type_v
(F16 or F32, equal), chat_format ("chatml" or the GGUF's own template), spm_infill.

Refused unless left at their default: rope_scaling_type, yarn_*, lora_base, lora_path,
chat_handler, draft_model, tokenizer, and any unknown keyword.
"""
from __future__ import annotations

import numbers
from typing import Any

# llama.cpp enum values (llama.h)
POOLING_UNSPECIFIED, POOLING_NONE, POOLING_MEAN, POOLING_CLS, POOLING_LAST, POOLING_RANK = -1, 0, 1, 2, 3, 4
POOLING_NAMES = {POOLING_NONE: "none", POOLING_MEAN: "mean", POOLING_CLS: "cls", POOLING_LAST: "last"}
ATTENTION_UNSPECIFIED, ATTENTION_CAUSAL = -1, 0
GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1
ROPE_SCALING_UNSPECIFIED = -1

NO_EFFECT = {
    "n_gpu_layers": 0, "split_mode": 1, "main_gpu": 0, "tensor_split": None, "rpc_servers": None,
    "use_mmap": True, "use_mlock": False, "n_threads_batch": None, "offload_kqv": True,
    "flash_attn": False, "op_offload": None, "swa_full": None, "no_perf": False, "numa": False,
    "vocab_only": False, "lora_scale": 1.0,
}

# argument -> the default that means "off"; anything else is refused
REFUSED_UNLESS_DEFAULT = {
    "rope_scaling_type": ROPE_SCALING_UNSPECIFIED, "yarn_ext_factor": -1.0, "yarn_attn_factor": 1.0,
    "yarn_beta_fast": 32.0, "yarn_beta_slow": 1.0, "yarn_orig_ctx": 0, "lora_base": None,
    "lora_path": None, "chat_handler": None, "draft_model": None, "tokenizer": None,
}

CHAT_FORMATS = ("chatml",)


def check_extra_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate the keywords pyggml does not use itself; returns the no-effect ones as given."""
    accepted = {}
    for name, value in kwargs.items():
        if name in NO_EFFECT:
            accepted[name] = value
        elif name in REFUSED_UNLESS_DEFAULT:
            default = REFUSED_UNLESS_DEFAULT[name]
            if not (value is default or value == default):
                raise ValueError(f"Llama({name}={value!r}) is not supported by pyggml "
                                 f"(it would change the output); leave it at {default!r}")
        else:
            raise TypeError(f"Llama() got an unexpected keyword argument {name!r}")
    return accepted


def kv_type_name(type_k, type_v) -> str:
    """type_k/type_v (ggml type ids; None = F16) -> the runner's cache type."""
    names = {None: "f16", GGML_TYPE_F16: "f16", GGML_TYPE_F32: "f32"}
    for arg, value in (("type_k", type_k), ("type_v", type_v)):
        if value not in names or isinstance(value, bool):
            raise ValueError(f"Llama({arg}={value!r}) is not supported: pyggml's KV cache is "
                             f"F16 ({GGML_TYPE_F16}) or F32 ({GGML_TYPE_F32})")
    if names[type_k] != names[type_v]:
        raise ValueError(f"Llama(type_k={type_k!r}, type_v={type_v!r}): pyggml needs the same type for K and V")
    return names[type_k]


def rope_overrides(rope_freq_base, rope_freq_scale) -> dict[str, float]:
    """ModelConfig fields for non-zero rope_freq_base / rope_freq_scale (0 = the model's)."""
    out = {}
    for arg, field, value in (("rope_freq_base", "rope_freq_base", rope_freq_base),
                              ("rope_freq_scale", "rope_freq_scale", rope_freq_scale)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
            raise ValueError(f"Llama({arg}={value!r}): must be a number >= 0 (0 = from the model)")
        if value:
            out[field] = float(value)
    return out


def check_kv_overrides(kv_overrides) -> dict[str, Any]:
    if kv_overrides is None:
        return {}
    if not isinstance(kv_overrides, dict):
        raise ValueError(f"Llama(kv_overrides=...) must be a dict of GGUF key -> bool/int/float/str, "
                         f"got {type(kv_overrides).__name__}")
    for key, value in kv_overrides.items():
        if not isinstance(key, str) or not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"Llama(kv_overrides): {key!r} -> {value!r} is not a GGUF key -> bool/int/float/str")
    return dict(kv_overrides)


def check_pooling(pooling_type, metadata: dict, arch: str) -> int:
    """The pooling llama.cpp would use: the argument, else {arch}.pooling_type, else none."""
    if isinstance(pooling_type, bool) or not isinstance(pooling_type, int):
        raise ValueError(f"Llama(pooling_type={pooling_type!r}) must be an int (llama_cpp.LLAMA_POOLING_TYPE_*)")
    if pooling_type == POOLING_UNSPECIFIED:
        pooling_type = int(metadata.get(f"{arch}.pooling_type", POOLING_NONE))
    if pooling_type not in POOLING_NAMES:
        raise ValueError(f"Llama(pooling_type={pooling_type}) is not supported: use none (0), mean (1), "
                         f"cls (2) or last (3)")
    return pooling_type


def check_attention_type(attention_type) -> None:
    if attention_type not in (ATTENTION_UNSPECIFIED, ATTENTION_CAUSAL):
        raise ValueError(f"Llama(attention_type={attention_type!r}) is not supported: pyggml's models "
                         f"attend causally (0 or -1)")


def check_chat_format(chat_format) -> None:
    if chat_format is not None and chat_format not in CHAT_FORMATS:
        raise ValueError(f"Llama(chat_format={chat_format!r}) is not supported: use None (the GGUF's "
                         f"template) or one of {', '.join(CHAT_FORMATS)}")
