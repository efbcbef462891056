"""The qwen3moe family against llama.cpp: the synthetic models of tests/reference/arch/qwen3moe.json
are regenerated from the recipe (the same bytes: checked by sha256), evaluated by pyggml on
llama.cpp's prompt ids in one batch, and compared with llama.cpp's stored logits.

KL(llama.cpp || pyggml) per position is computed over the reference's top-TOP tokens plus one
lumped "rest" outcome: the KL of the coarsened distributions, a lower bound of the full KL (both
distributions are known exactly on those tokens: the reference through its stored log-sum-exp).
At the positions whose full rows are stored, the full KL is checked as well."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import pyggml
from pyggml import GGMLType
from pyggml.arch import ModelFormatError, qwen3moe
from pyggml.arch.moe import check_expert_tensors
from pyggml.gguf import GGUFReader
from pyggml.llama import Llama
from pyggml.models.tiny_moe import write_tiny_qwen3moe
from pyggml.runner import ModelRunner

LIMITS = {"f32": dict(kl_mean=1e-4, top1=0.95), "q8_0": dict(kl_mean=0.01, top1=0.95)}
TYPES = {"f32": GGMLType.F32, "q8_0": GGMLType.Q8_0}


@pytest.fixture(scope="module")
def reference(reference_dir):
    meta = json.loads((reference_dir / "arch" / "qwen3moe.json").read_text())
    return meta, np.load(reference_dir / "arch" / "qwen3moe.npz")


@pytest.fixture(scope="module")
def models(reference, model_path, tmp_path_factory):
    meta, _ = reference
    vocab = model_path(meta["tokenizer"])
    out = {}
    for name, wtype in TYPES.items():
        path = write_tiny_qwen3moe(tmp_path_factory.mktemp("moe") / f"{name}.gguf", weight_type=wtype,
                                   tokenizer=vocab, **meta["args"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"][name], \
            f"the recipe no longer writes the model llama.cpp's reference was made from ({name})"
        out[name] = path
    return out


def _log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def coarse_kl(ref_top_ids, ref_top_logits, ref_lse, ours):
    """KL over (the reference's top tokens, the rest) per position."""
    logq = _log_softmax(ours)
    logp_top = ref_top_logits.astype(np.float64) - ref_lse[:, None]
    logq_top = np.take_along_axis(logq, ref_top_ids.astype(np.int64), axis=1)
    p_top, q_top = np.exp(logp_top), np.exp(logq_top)
    p_rest = np.clip(1.0 - p_top.sum(axis=1), 1e-300, None)
    q_rest = np.clip(1.0 - q_top.sum(axis=1), 1e-300, None)
    return (p_top * (logp_top - logq_top)).sum(axis=1) + p_rest * (np.log(p_rest) - np.log(q_rest))


@pytest.mark.parametrize("name", list(TYPES))
def test_logits_match_llama_cpp(name, reference, models):
    meta, ref = reference
    ids = ref[f"{name}/ids"]
    assert len(ids) >= 100
    runner = ModelRunner(models[name], n_ctx=256, n_threads=2)
    try:
        ours = runner.eval(ids, logits_all=True)
    finally:
        runner.close()
    kl = coarse_kl(ref[f"{name}/top_ids"], ref[f"{name}/top_logits"], ref[f"{name}/lse"], ours)
    top1 = np.mean(ours.argmax(axis=1) == ref[f"{name}/top_ids"][:, 0])
    pos = ref[f"{name}/full_pos"]
    p = np.exp(_log_softmax(ref[f"{name}/full_logits"]))
    full_kl = (p * (_log_softmax(ref[f"{name}/full_logits"]) - _log_softmax(ours[pos]))).sum(axis=1)
    print(f"{name}: KL mean {kl.mean():.3g} max {kl.max():.3g}, full-row KL {full_kl.max():.3g}, top-1 {top1:.3f}")
    assert kl.mean() <= LIMITS[name]["kl_mean"]
    assert full_kl.max() <= 5 * LIMITS[name]["kl_mean"]
    assert top1 >= LIMITS[name]["top1"]


def test_greedy_matches_llama_cpp(reference, models):
    _, ref = reference
    runner = ModelRunner(models["f32"], n_ctx=256, n_threads=2)
    try:
        logits = runner.eval(ref["f32/ids"])
        got = []
        for _ in range(len(ref["f32/greedy"])):
            got.append(int(np.argmax(logits[-1])))
            logits = runner.eval([got[-1]])
    finally:
        runner.close()
    assert got == ref["f32/greedy"].tolist()


def test_tokenizer_matches_llama_cpp(reference, models):
    meta, ref = reference
    with Llama(str(models["f32"]), n_ctx=256, n_threads=1) as llm:
        assert llm.tokenize(meta["prompt"].encode(), add_bos=True) == ref["f32/ids"].tolist()


# ---- without the reference: config errors, prompt vs decode ------------------------------------

def test_config_errors(tmp_path):
    path = write_tiny_qwen3moe(tmp_path / "m.gguf", n_vocab=320, n_layer=1)
    with GGUFReader(path) as r:
        md = dict(r.metadata)
    assert qwen3moe.load_config(md).n_ff_exp == 96
    with pytest.raises(ModelFormatError, match="expert_used_count = 9 exceeds expert_count = 8"):
        qwen3moe.load_config({**md, "qwen3moe.expert_used_count": 9})
    with pytest.raises(ModelFormatError, match="'qwen3moe.expert_count'"):
        qwen3moe.load_config({k: v for k, v in md.items() if k != "qwen3moe.expert_count"})
    with pytest.raises(ModelFormatError, match="rope.scaling.type = 'yarn'"):
        qwen3moe.load_config({**md, "qwen3moe.rope.scaling.type": "yarn"})
    ctx = pyggml.Context(1 << 20, no_alloc=True)
    w = {"ffn_gate_inp": ctx.new_tensor_2d(GGMLType.F32, 64, 8),
         "ffn_gate_exps": ctx.new_tensor_3d(GGMLType.F32, 64, 32, 8),
         "ffn_up_exps": ctx.new_tensor_3d(GGMLType.F32, 64, 32, 8),
         "ffn_down_exps": ctx.new_tensor_3d(GGMLType.F32, 64, 32, 8)}     # should be (32, 64, 8)
    with pytest.raises(ModelFormatError, match="'blk.3.ffn_down_exps.weight' has shape"):
        check_expert_tensors(w, 3, 64, 32, 8)


@pytest.mark.parametrize("wtype", [GGMLType.F32, GGMLType.Q8_0], ids=lambda t: t.name)
def test_prompt_equals_token_by_token(tmp_path, wtype):
    """The prompt path (experts' rows grouped over many tokens) and the decode path (one token)
    compute the same logits."""
    path = write_tiny_qwen3moe(tmp_path / "m.gguf", n_vocab=320, n_layer=2, weight_type=wtype, seed=3)
    ids = np.random.default_rng(0).integers(0, 320, 40)
    runner = ModelRunner(path, n_ctx=64, n_threads=2, kv_type="f32")
    try:
        batch = runner.eval(ids, logits_all=True)
        runner.reset()
        single = np.concatenate([runner.eval([t]) for t in ids])
    finally:
        runner.close()
    np.testing.assert_allclose(single, batch, rtol=0, atol=2e-3 * np.abs(batch).max())
