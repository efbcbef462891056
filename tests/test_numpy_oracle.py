"""The numpy oracle (tests/numpy_model.py) against llama.cpp's reference outputs.

F32 numerics on the F32 file must match llama.cpp almost exactly; on quantized files an F32
forward cannot match llama.cpp's quantized-activation matmuls row for row, so the bounds are
looser there (docs/architectures.md explains the gap)."""
import json

import numpy as np
import pytest

from numpy_model import NumpyModel, attention_visibility

PROMPTS = range(4)
# Two tokens llama.cpp scores within this many logits of each other are a tie at the oracle's
# resolution: the "llamacpp" numerics reproduce llama.cpp's roundings but not its float32 summation
# order, and on the Q4_1 file the oracle's logits differ from llama.cpp's by 0.11-0.15 (median over
# each position's top 16). A real regression (a wrong RoPE, a lost norm, activations not quantized)
# moves logits by whole units and flips positions llama.cpp is sure of, which still count.
TIE_LOGITS = 0.25


def log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def kl(reference, ours):
    p, q = log_softmax(reference), log_softmax(ours)
    return float((np.exp(p) * (p - q)).sum())


@pytest.fixture(scope="module")
def logits_ref(reference_dir):
    return np.load(reference_dir / "logits.npz")


@pytest.fixture(scope="module")
def greedy_ref(reference_dir):
    with open(reference_dir / "greedy.jsonl") as f:
        return [json.loads(line) for line in f]


_models = {}


def oracle(model_path, name, numerics="f32"):
    key = (name, numerics)
    if key not in _models:
        _models.clear()  # one model in memory at a time
        _models[key] = NumpyModel(model_path(name), numerics)
    return _models[key]


def top1_agrees(logits, top16_ids, top16_logits, tie: float) -> np.ndarray:
    """Per position: our argmax is llama.cpp's top-1, or a token llama.cpp scored within `tie`
    logits of its top-1 (a token outside llama.cpp's top 16 never agrees)."""
    ours = logits.argmax(-1)
    hit = top16_ids == ours[:, None]                                  # (n_pos, 16)
    gap = top16_logits[:, :1] - top16_logits                          # llama.cpp's score gap to its best
    return (hit & (gap <= tie)).any(axis=1)


def compare(model, logits_ref, ref_name, tie=0.0):
    """(KL at the last position per prompt, top-1 agreement over all prompt positions)."""
    kls, agree, total = [], 0, 0
    for k in PROMPTS:
        ids = logits_ref[f"{ref_name}/p{k}/ids"]
        model.reset()
        logits = model.forward(ids)
        kls.append(kl(logits_ref[f"{ref_name}/p{k}/last_logits"], logits[-1]))
        agree += int(top1_agrees(logits, logits_ref[f"{ref_name}/p{k}/top16_ids"],
                                 logits_ref[f"{ref_name}/p{k}/top16_logits"], tie).sum())
        total += len(ids)
    return np.array(kls), agree / total


def test_f32_oracle_matches_llamacpp_on_the_f32_file(model_path, logits_ref):
    kls, top1 = compare(oracle(model_path, "smollm2-135m-f32"), logits_ref, "smollm2-135m-f32")
    assert kls.max() <= 1e-4, kls
    assert top1 >= 0.98


def test_f32_oracle_greedy_tokens_match_llamacpp(model_path, greedy_ref):
    model = oracle(model_path, "smollm2-135m-f32")
    for row in (r for r in greedy_ref if r["model"] == "smollm2-135m-f32"):
        model.reset()
        logits = model.forward(row["prompt_ids"])
        tokens = []
        for _ in range(8):
            tokens.append(int(logits[-1].argmax()))
            logits = model.forward([tokens[-1]])
        assert tokens == row["greedy_ids"][:8], row["prompt"]


def test_kv_cache_split_and_truncate_give_the_same_logits(model_path, logits_ref):
    model = oracle(model_path, "smollm2-135m-f32")
    ids = list(logits_ref["smollm2-135m-f32/p1/ids"])
    model.reset()
    whole = model.forward(ids)
    model.reset()
    model.forward(ids[:7])
    model.forward([1, 2, 3])           # a detour, then forgotten
    model.truncate(7)
    rest = model.forward(ids[7:])
    np.testing.assert_allclose(rest, whole[7:], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
def test_f32_oracle_is_close_on_quantized_files(model_path, logits_ref, name):
    kls, top1 = compare(oracle(model_path, name), logits_ref, name)
    assert top1 >= 0.9
    assert kls.mean() <= 0.03, kls


def test_llamacpp_numerics_on_q4_1(model_path, logits_ref):
    kls, top1 = compare(oracle(model_path, "smollm2-135m-q4_1", "llamacpp"), logits_ref, "smollm2-135m-q4_1",
                        tie=TIE_LOGITS)
    assert top1 >= 0.95
    # 0.006 measured; plain F32 numerics on this file (the activations left unquantized) give 0.012
    assert kls.mean() <= 0.01, kls


def test_top1_ties_are_judged_by_llamacpps_scores():
    top16_ids = np.array([[7, 3, 5], [7, 3, 5]])
    top16_logits = np.array([[2.0, 1.9, 0.0], [2.0, 1.0, 0.0]])
    ours = np.zeros((2, 10))
    ours[:, 3] = 1.0                                   # we pick token 3 at both positions
    np.testing.assert_array_equal(top1_agrees(ours, top16_ids, top16_logits, 0.25), [True, False])
    np.testing.assert_array_equal(top1_agrees(ours, top16_ids, top16_logits, 0.0), [False, False])
    ours[:, 9] = 5.0                                   # a token outside llama.cpp's top 16
    np.testing.assert_array_equal(top1_agrees(ours, top16_ids, top16_logits, 10.0), [False, False])


def test_sliding_window_visibility_rule():
    # key j is visible from query p iff j <= p and p - j < n_swa
    visible = attention_visibility(np.arange(6), n_kv=6, n_swa=3)
    expected = np.array([[j <= p and p - j < 3 for j in range(6)] for p in range(6)])
    np.testing.assert_array_equal(visible, expected)
    causal = attention_visibility(np.array([4, 5]), n_kv=6, n_swa=0)
    np.testing.assert_array_equal(causal, [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
