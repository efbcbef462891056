"""Every decoder family against llama.cpp on synthetic models (tools/make_arch_models.py: real
layouts, SmolLM2's vocabulary, random weights). The GGUF files are rebuilt from the recipe and
must hash to what llama.cpp was run on; the outputs are tests/reference/arch (see the recipe).

Per file, over all prompt positions: top-1 agreement, and KL(llama.cpp || pyggml) — exactly at
the positions stored in full, and everywhere else as the lower bound the stored top-K gives (the
top-K tokens one by one, the rest of the vocabulary as one bucket; the log-sum inequality makes
it <= the true KL). On F32 files the 8 greedy tokens after the prompt must be llama.cpp's."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pyggml.arch import ModelFormatError
from pyggml.gguf import GGUFReader, GGUFValueType, GGUFWriter
from pyggml.gguf.writer import copy_metadata
from pyggml.runner import ModelRunner
from pyggml.types import GGMLType

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import make_arch_models as recipe  # noqa: E402

ARCH_REFERENCE = Path(__file__).parent / "reference" / "arch"
META = json.loads((ARCH_REFERENCE / "meta.json").read_text())
KL_MAX = {"f32": 1e-4, "q8_0": 0.01}    # mean over positions
TOP1_MIN = 0.95


@pytest.fixture(scope="module")
def arch_model(tmp_path_factory, model_path):
    """arch_model(name, type) -> Path of the rebuilt synthetic GGUF, checked against the oracle's."""
    out = tmp_path_factory.mktemp("arch-models")
    built: dict[tuple[str, str], Path] = {}

    def get(name: str, tname: str) -> Path:
        if (name, tname) not in built:
            path = recipe.write_arch_model(name, out / f"{name}-{tname}.gguf", recipe.WEIGHT_TYPES[tname],
                                           model_path(META["tokenizer_model"]))
            built[(name, tname)] = path
        return built[(name, tname)]

    return get


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def kl_bound(ref: dict, logprobs: np.ndarray) -> np.ndarray:
    """Per position: KL over the reference's top-K tokens plus one bucket for the rest."""
    lp = ref["top_logits"].astype(np.float64) - ref["lse"].astype(np.float64)[:, None]
    lq = np.take_along_axis(logprobs, ref["top_ids"].astype(np.int64), axis=1)
    p, q = np.exp(lp), np.exp(lq)
    p_rest = np.clip(1.0 - p.sum(1), 1e-300, None)
    q_rest = np.clip(1.0 - q.sum(1), 1e-300, None)
    return (p * (lp - lq)).sum(1) + p_rest * (np.log(p_rest) - np.log(q_rest))


def kl_full(ref: dict, logprobs: np.ndarray) -> np.ndarray:
    lp = _log_softmax(ref["full_logprobs"].astype(np.float64))   # renormalise the F16 rows
    lq = logprobs[ref["full_pos"]]
    return (np.exp(lp) * (lp - lq)).sum(1)


def _run(path: Path, ref: dict, n_ctx: int, n_greedy: int = 0, n_batch: int = 512) -> tuple[np.ndarray, list[int]]:
    runner = ModelRunner(path, n_ctx=n_ctx, n_threads=2, n_batch=n_batch)
    try:
        logits = runner.eval(ref["ids"], logits_all=True)
        greedy = []
        last = logits[-1]
        for _ in range(n_greedy):
            greedy.append(int(np.argmax(last)))
            last = runner.eval([greedy[-1]])[-1]
        return logits, greedy
    finally:
        runner.close()


@pytest.mark.parametrize("key", sorted(META["files"]))
def test_family_matches_llama_cpp(key, arch_model):
    entry = META["files"][key]
    path = arch_model(entry["model"], entry["type"])
    assert recipe.sha256(path) == entry["sha256"], \
        f"{path.name}: the recipe no longer rebuilds the file llama.cpp was run on (regenerate the reference)"
    with np.load(ARCH_REFERENCE / f"{key}.npz") as z:
        ref = dict(z)
    is_f32 = entry["type"] == "f32"
    logits, greedy = _run(path, ref, entry["n_ctx"], n_greedy=len(ref["greedy"]) if is_f32 else 0)
    assert logits.shape == (len(ref["ids"]), 49152)
    logprobs = _log_softmax(logits)
    top1 = float(np.mean(logits.argmax(1) == ref["top_ids"][:, 0]))
    bound, full = kl_bound(ref, logprobs), kl_full(ref, logprobs)
    print(f"{key}: KL bound mean {bound.mean():.2e} max {bound.max():.2e}, KL full rows {full.mean():.2e}, "
          f"top-1 {top1:.3f}")
    assert bound.mean() <= KL_MAX[entry["type"]], f"KL lower bound, mean over positions: {bound.mean():.3g}"
    assert full.mean() <= KL_MAX[entry["type"]], f"KL at positions {ref['full_pos'].tolist()}: {full.tolist()}"
    assert top1 >= TOP1_MIN
    if is_f32:
        assert greedy == ref["greedy"].tolist()


@pytest.mark.parametrize("key", ["gemma2-f32", "gpt2-q8_0"])
def test_prompt_in_chunks_matches_too(key, arch_model):
    """The prompt in batches of 40 (gemma2: windows of 32 cross the batch edges; the cache is
    written and read across graphs) gives llama.cpp's one-batch logits."""
    entry = META["files"][key]
    with np.load(ARCH_REFERENCE / f"{key}.npz") as z:
        ref = dict(z)
    logits, _ = _run(arch_model(entry["model"], entry["type"]), ref, entry["n_ctx"], n_batch=40)
    assert kl_bound(ref, _log_softmax(logits)).mean() <= KL_MAX[entry["type"]]
    assert np.mean(logits.argmax(1) == ref["top_ids"][:, 0]) >= TOP1_MIN


def _rewrite(src: Path, dst: Path, *, set_kv: dict = (), tensors: dict = ()) -> Path:
    """A copy of src with metadata keys set and tensors replaced/added: name -> (F32 array)."""
    set_kv, tensors = dict(set_kv), dict(tensors)
    with GGUFReader(src) as reader:
        writer = GGUFWriter(dst)
        copy_metadata(reader, writer)
        for key, (value, vtype) in set_kv.items():
            writer.set_kv(key, value, vtype)
        for t in reader.tensors:
            data = tensors.pop(t.name, None)
            writer.add_tensor(t.name, t.data if data is None else data, t.type if data is None else GGMLType.F32,
                              t.ne if data is None else None)
        for name, data in tensors.items():
            writer.add_tensor(name, data, GGMLType.F32)
        writer.write()
    return dst


def test_llama31_rope_freqs_are_applied(arch_model, tmp_path):
    """The Llama 3.1 file matches (above); the same file with its frequency factors set to 1 — what
    ignoring rope_freqs computes — is far off, so the comparison does see the factors."""
    key = "llama31-f32"
    with np.load(ARCH_REFERENCE / f"{key}.npz") as z:
        ref = dict(z)
    src = arch_model("llama31", "f32")
    with GGUFReader(src) as reader:
        n = next(t for t in reader.tensors if t.name == "rope_freqs.weight").ne[0]
    ignored = _rewrite(src, tmp_path / "ones.gguf", tensors={"rope_freqs.weight": np.ones(n, np.float32)})
    logits, _ = _run(ignored, ref, META["files"][key]["n_ctx"])
    kl = kl_bound(ref, _log_softmax(logits)).mean()
    print(f"llama31 with rope_freqs ignored: KL bound mean {kl:.2e}")
    assert kl > 10 * KL_MAX["f32"]


@pytest.mark.parametrize("change, message", [
    (dict(set_kv={"llama.rope.scaling.type": ("yarn", GGUFValueType.STRING)}), "llama.rope.scaling.type"),
    (dict(set_kv={"llama.rope.scaling.type": ("su-rope", GGUFValueType.STRING)}), "'su-rope'"),
    (dict(set_kv={"llama.expert_count": (8, GGUFValueType.UINT32)}), "llama.expert_count"),
    (dict(tensors={"blk.1.attn_sinks.weight": np.zeros(4, np.float32)}), "blk.1.attn_sinks.weight"),
    (dict(tensors={"rope_factors_long.weight": np.ones(8, np.float32)}), "rope_factors_long.weight"),
])
def test_what_pyggml_would_ignore_is_refused_by_name(arch_model, tmp_path, change, message):
    path = _rewrite(arch_model("llama31", "f32"), tmp_path / "bad.gguf", **change)
    with pytest.raises(ModelFormatError, match=message.replace(".", r"\.")):
        ModelRunner(path, n_ctx=256, n_threads=1)


def test_a_family_without_its_required_tensor_names_it(arch_model, tmp_path):
    src = arch_model("gpt2", "f32")
    dst = tmp_path / "no-pos.gguf"
    with GGUFReader(src) as reader:
        writer = GGUFWriter(dst)
        copy_metadata(reader, writer)
        for t in reader.tensors:
            if t.name != "position_embd.weight":
                writer.add_tensor(t.name, t.data, t.type, t.ne)
        writer.write()
    with pytest.raises(ModelFormatError, match="position_embd.weight"):
        ModelRunner(dst, n_ctx=256, n_threads=1)


def _metadata(arch: str, **extra) -> dict:
    md = {f"{arch}.{k}": v for k, v in dict(block_count=4, context_length=4096, embedding_length=64,
                                             feed_forward_length=128, **{"attention.head_count": 4}).items()}
    md[f"{arch}.attention.layer_norm_rms_epsilon"] = 1e-6
    md["tokenizer.ggml.tokens"] = ["a"] * 10
    md.update({f"{arch}.{k}": v for k, v in extra.items()})
    return md


def test_layers_declare_their_attention_window():
    from pyggml.arch import gemma2, gemma3
    assert gemma2.load_config(_metadata("gemma2", **{"attention.sliding_window": 32})).layer_windows == (32, 0, 32, 0)
    pattern = {"attention.sliding_window": 16, "attention.sliding_window_pattern": [True, True, False, True]}
    assert gemma2.load_config(_metadata("gemma2", **pattern)).layer_windows == (16, 16, 0, 16)
    assert gemma3.load_config(_metadata("gemma3")).layer_windows == (0, 0, 0, 0)    # no window key: all full
    with pytest.raises(ModelFormatError, match="sliding_window_pattern"):
        gemma2.load_config(_metadata("gemma2", **{"attention.sliding_window_pattern": [True, False]}))


@pytest.mark.parametrize("arch, extra, message", [
    ("phi3", {"rope.scaling.type": "yarn"}, "phi3.rope.scaling.type"),
    ("qwen2", {"rope.scaling.type": "yarn", "rope.scaling.factor": 4.0}, "qwen2.rope.scaling.type"),
    ("gemma2", {"attention.clamp_kqv": 8.0}, "gemma2.attention.clamp_kqv"),
    ("qwen3", {"expert_count": 8}, "qwen3.expert_count"),
])
def test_unsupported_hyperparameters_are_named(arch, extra, message):
    from pyggml.arch import ARCHITECTURES
    with pytest.raises(ModelFormatError, match=message.replace(".", r"\.")):
        ARCHITECTURES[arch].load_config(_metadata(arch, **extra))


def test_linear_rope_scaling_as_llama_cpp_reads_it():
    from pyggml.arch import llama
    only_factor = _metadata("llama", **{"rope.scaling.factor": 4.0})     # the type defaults to linear
    assert llama.load_config(only_factor).rope_freq_scale == 0.25
    none = _metadata("llama", **{"rope.scaling.type": "none", "rope.scaling.factor": 4.0})
    assert llama.load_config(none).rope_freq_scale == 1.0
