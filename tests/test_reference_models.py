"""Whole-model agreement with llama.cpp (tests/reference, or PYGGML_REFERENCE_DIR): logits at the
last prompt position (KL), top-1 over prompt positions, greedy continuations, perplexity.
Tolerances are the ones the reference README states. Every model found in the reference data is
checked on the real GGUF files (fetched/derived by pyggml.models), never skipped."""
from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pytest

from conftest import REFERENCE_DIR
from pyggml.runner import ModelRunner

QUANTIZED_KL_MEAN, QUANTIZED_KL_MAX, F32_KL_MAX = 0.01, 0.03, 1e-4
TOP1_MIN = 0.95
N_GREEDY_EXACT = 8


def _logit_prompts() -> dict[str, list[str]]:
    with np.load(REFERENCE_DIR / "logits.npz") as z:
        keys = list(z.keys())
    prompts = defaultdict(set)
    for k in keys:
        model, prompt, _ = k.split("/", 2)
        prompts[model].add(prompt)
    return {m: sorted(p) for m, p in sorted(prompts.items())}


LOGIT_PROMPTS = _logit_prompts()
GREEDY_ROWS = [json.loads(line) for line in open(REFERENCE_DIR / "greedy.jsonl")]


def kl_divergence(ref_logits: np.ndarray, logits: np.ndarray) -> float:
    """KL(p_ref || p) of two logit vectors, in float64."""
    def log_softmax(x):
        x = x.astype(np.float64)
        x = x - x.max()
        return x - np.log(np.exp(x).sum())
    lp, lq = log_softmax(ref_logits), log_softmax(logits)
    return float(np.sum(np.exp(lp) * (lp - lq)))


@pytest.fixture(scope="module")
def runners(model_path):
    cache: dict[str, ModelRunner] = {}

    def get(name: str) -> ModelRunner:
        if name not in cache:
            for old in list(cache):
                cache.pop(old).close()
            cache[name] = ModelRunner(model_path(name), n_ctx=512, n_threads=2)
        return cache[name]

    yield get
    for r in cache.values():
        r.close()


@pytest.mark.parametrize("model", sorted(LOGIT_PROMPTS))
def test_logits_match_llama_cpp(model, runners):
    ref = np.load(REFERENCE_DIR / "logits.npz")
    runner = runners(model)
    kls, agree, total = [], 0, 0
    for prompt in LOGIT_PROMPTS[model]:
        ids = ref[f"{model}/{prompt}/ids"].tolist()
        runner.reset()
        logits = runner.eval(ids, logits_all=True)
        assert logits.shape == (len(ids), runner.config.n_vocab)
        kls.append(kl_divergence(ref[f"{model}/{prompt}/last_logits"], logits[-1]))
        top1_ref = ref[f"{model}/{prompt}/top16_ids"][:, 0]
        agree += int(np.sum(logits.argmax(axis=1) == top1_ref))
        total += len(ids)
    kls = np.array(kls)
    print(f"{model}: KL mean {kls.mean():.5f} max {kls.max():.5f}; top-1 {agree}/{total}")
    if "f32" in model:
        assert kls.max() <= F32_KL_MAX, kls
    else:
        assert kls.mean() <= QUANTIZED_KL_MEAN and kls.max() <= QUANTIZED_KL_MAX, kls
    assert agree / total >= TOP1_MIN


@pytest.mark.parametrize("row", GREEDY_ROWS, ids=lambda r: f"{r['model']}:{r['prompt'][:20]}")
def test_greedy_continuation_matches(row, runners):
    runner = runners(row["model"])
    runner.reset()
    expected = row["greedy_ids"][:N_GREEDY_EXACT]
    logits = runner.eval(row["prompt_ids"])
    got = []
    for _ in range(len(expected)):
        tok = int(np.argmax(logits[-1]))
        got.append(tok)
        logits = runner.eval([tok])
    assert got == expected

