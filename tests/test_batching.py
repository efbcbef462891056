"""BatchEngine: several sequences in one batch give each sequence the tokens it gets alone.

The reference is the single-sequence path (Llama.generate over ModelRunner), a different code
path (its own cache layout, masks and batch shapes), at temperature 0. Logits depend slightly on
the batch shape even there (the batch matmul and attention kernels round differently from the
one-row ones: Gemma's last-position logits move by up to ~0.7 between evaluating a prompt at
once or token by token; SmolLM2's by ~1e-3), so the sequences must be equal up to their first
difference, and that difference must come at a step where the reference's two best logits are
closer than the model's near-tie margin (both continuations are then valid)."""
from __future__ import annotations

import numpy as np
import pytest

from pyggml import Llama
from pyggml.batching import BatchEngine, KVCells
from pyggml.sampling import SamplingParams

PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):",
           "The three primary colors are", "Water boils at a temperature of"]
N_NEW = 12


@pytest.fixture(scope="module")
def smollm(model_path):
    return str(model_path("smollm2-135m-q4_1"))


def _alone(llm: Llama, prompt: list[int], n: int) -> tuple[list[int], list[float]]:
    """Greedy tokens and, per step, the gap between the best and second-best logit."""
    out, gaps = [], []
    for tok in llm.generate(prompt, temp=0):
        top2 = np.partition(llm.scores[-1], -2)[-2:]
        gaps.append(float(top2[1] - top2[0]))
        if llm.tokenizer.is_eog(tok):
            break
        out.append(tok)
        if len(out) == n:
            break
    return out, gaps


def _same_until_near_tie(got: list[int], expected: list[int], gaps: list[float], near_tie: float) -> int:
    """Tokens equal before the first difference, which must come at a near tie of the reference."""
    for i, e in enumerate(expected):
        if i >= len(got) or got[i] != e:
            assert gaps[i] < near_tie, f"token {i}: batched {got[i:i + 1]} != alone {e} (logit gap {gaps[i]:.3f})"
            return i
    assert len(got) == len(expected), f"batched {got} longer than alone {expected}"
    return len(expected)


@pytest.mark.parametrize("name, near_tie", [("smollm2-135m-q4_1", 0.02), ("gemma3-270m-q4_k_m", 0.25)])
def test_batched_tokens_equal_alone(model_path, name, near_tie):
    """5 prompts over 3 slots: the later prompts are admitted as earlier ones finish (cells
    reused), and n_batch=8 splits prompts into chunks evaluated beside running decodes."""
    path = str(model_path(name))
    prompts_txt = PROMPTS if name.startswith("smollm") else PROMPTS[:3]
    llm = Llama(path, n_ctx=128, n_threads=2, verbose=False)
    ids = [llm.tokenize(p.encode(), add_bos=True) for p in prompts_txt]
    expected = [_alone(llm, p, N_NEW) for p in ids]
    llm.close()
    engine = BatchEngine(path, n_seq_max=3, n_ctx=128, n_batch=8, n_threads=2)
    try:
        got = engine.generate_batch(ids, max_tokens=N_NEW, temperature=0)
        assert engine.cells.n_free == engine.cells.n_cells     # every finished sequence freed its cells
        assert engine.totals.n_prompt == sum(len(p) for p in ids)
    finally:
        engine.close()
    compared = 0
    for text, (e, gaps), g in zip(prompts_txt, expected, got):
        try:
            compared += _same_until_near_tie(g, e, gaps, near_tie)
        except AssertionError as err:
            raise AssertionError(f"{name}: {text!r}: {err}") from None
    assert compared >= len(ids) * N_NEW // 2, f"only {compared} tokens compared: too many near ties"


def test_cancel_and_reuse(smollm):
    engine = BatchEngine(smollm, n_seq_max=2, n_ctx=64, n_batch=16, n_threads=2)
    try:
        greedy = SamplingParams(temperature=0)
        a = engine.add([1, 2, 3, 4], greedy, max_new=50, stop_at_eog=False)
        b = engine.add([5, 6, 7], greedy, max_new=3, stop_at_eog=False)
        with pytest.raises(RuntimeError, match="already active"):
            engine.add([1], greedy)
        engine.step()                                   # both prompts in one batch
        assert engine.cells.n_free == engine.cells.n_cells - 7
        engine.cancel(a)
        assert a.finished and a.finish_reason == "cancelled"
        while engine.has_work:
            engine.step()
        assert b.finish_reason == "length" and len(b.generated) == 3
        assert engine.cells.n_free == engine.cells.n_cells
        c = engine.add(list(range(10, 74)), greedy, max_new=None, stop_at_eog=False)   # fills the context
        while engine.has_work:
            engine.step()
        assert c.finish_reason == "length" and len(c.generated) == 1 and c.n_evaluated == 64
    finally:
        engine.close()


def test_bad_inputs(smollm):
    with pytest.raises(ValueError, match="n_batch"):
        BatchEngine(smollm, n_seq_max=4, n_batch=2)
    engine = BatchEngine(smollm, n_seq_max=1, n_ctx=16, n_batch=8, n_threads=1)
    try:
        with pytest.raises(ValueError, match="empty"):
            engine.add([])
        with pytest.raises(ValueError, match="outside the vocabulary"):
            engine.add([engine.config.n_vocab])
        with pytest.raises(ValueError, match="exceed context window"):
            engine.add(list(range(1, 18)))
    finally:
        engine.close()


def test_kv_cells_lowest_first():
    cells = KVCells(8)
    a = cells.allocate(0, np.arange(3, dtype=np.int32))
    b = cells.allocate(1, np.arange(2, dtype=np.int32))
    assert a.tolist() == [0, 1, 2] and b.tolist() == [3, 4] and cells.extent() == 5
    cells.release(0)
    assert cells.allocate(2, np.arange(4, dtype=np.int32)).tolist() == [0, 1, 2, 5]
    with pytest.raises(RuntimeError, match="KV cache full"):
        cells.allocate(3, np.arange(3, dtype=np.int32))


def test_prefix_reuse(smollm):
    """A finished sequence's cells serve the next prompt that starts with its tokens (a chat's
    next turn): only the new tokens are evaluated, and the continuation is the one computed from
    scratch. Kept prefixes give way when cells run out."""
    llm = Llama(smollm, n_ctx=64, n_threads=2, verbose=False)
    first = llm.tokenize(b"The capital of France is")
    engine = BatchEngine(smollm, n_seq_max=1, n_ctx=64, n_batch=16, n_threads=2, prefix_cache=2)
    try:
        out = engine.generate_batch([first], max_tokens=6, temperature=0)[0]
        assert len(engine.cells.kept) == 1
        second = first + out[:4] + llm.tokenize(b" And Spain?", add_bos=False)
        expected, gaps = _alone(llm, second, 6)
        before = engine.totals.n_prompt
        seq = engine.add(second, SamplingParams(temperature=0), max_new=6)
        assert seq.n_reused == len(first) + 4
        while engine.has_work:
            engine.step()
        assert engine.totals.n_prompt - before == len(second) - seq.n_reused
        got = [t for t in seq.generated if not engine.tokenizer.is_eog(t)]
        _same_until_near_tie(got, expected, gaps, 0.02)
        # 64 cells: two kept prefixes hold some; a 60-token prompt evicts them as it needs cells
        assert sum(1 for s in engine.cells.cell_seq if s <= -2) > 0
        big = engine.add(list(range(1000, 1060)), SamplingParams(temperature=0), max_new=2, stop_at_eog=False)
        while engine.has_work:
            engine.step()
        assert big.finish_reason == "length" and big.n_reused == 0
    finally:
        engine.close()
        llm.close()
