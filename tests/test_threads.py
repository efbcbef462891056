"""Thread safety (pyggml.guard, the pool's run lock): objects used from several Python threads
give exactly the tokens they give alone, streams are invalidated rather than interleaved, and
closing under a running call gives a clear error, never a crash.

Expected tokens are always pyggml's own single-threaded run of the same call on the same
object kind: the property tested is "threads change nothing", not the model's accuracy."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import pyggml
from pyggml import ops
from pyggml.guard import ClosedError, StreamInvalidatedError
from pyggml.types import GGMLType as T

SMOLLM = "smollm2-135m-q4_1"
GEMMA = "gemma3-270m-q4_k_m"
N_NEW = 12
# distinct first words: no two prompts share a cached prefix beyond BOS, so every completion
# evaluates the same batches whatever ran before it on the object
PROMPTS = ["The capital of France is", "Once upon a time", "My favourite colour is",
           "Water boils at", "In 1969 the first", "Python is a programming"]


def run_threads(targets):
    """Start one thread per callable, join them, re-raise the first failure."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 — reported to the test below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]


def greedy_ids(llm, prompt, n=N_NEW):
    ids = llm.tokenize(prompt.encode(), add_bos=True)
    out = []
    for token in llm.generate(ids, temp=0.0):
        out.append(token)
        if len(out) == n:
            break
    return out


def completion_text(llm, prompt):
    return llm(prompt, max_tokens=N_NEW, temperature=0.0)["choices"][0]["text"]


@pytest.fixture(scope="module")
def smollm(model_path):
    llm = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=128, n_threads=2, verbose=False)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def gemma(model_path):
    llm = pyggml.Llama(str(model_path(GEMMA)), n_ctx=128, n_threads=2, verbose=False)
    yield llm
    llm.close()


def test_two_models_in_two_threads_give_their_single_thread_tokens(smollm, gemma):
    prompts = PROMPTS[:2]
    alone = {(name, p): greedy_ids(llm, p) for name, llm in (("smollm", smollm), ("gemma", gemma))
             for p in prompts}
    got: dict = {}

    def worker(name, llm):
        def run():
            for _ in range(2):
                for p in prompts:
                    got.setdefault((name, p), []).append(greedy_ids(llm, p))
        return run

    run_threads([worker("smollm", smollm), worker("gemma", gemma)])
    for key, ids in alone.items():
        assert got[key] == [ids, ids], key


def test_three_threads_on_one_llama_are_serialised(smollm):
    alone = {p: completion_text(smollm, p) for p in PROMPTS}
    got: dict = {}

    def worker(i):
        def run():
            for p in PROMPTS[i::3]:
                got.setdefault(p, []).append(completion_text(smollm, p))
        return run

    run_threads([worker(i) for i in range(3)])
    for p in PROMPTS:
        assert got[p] == [alone[p]], p


def test_three_threads_streaming_on_one_llama_never_mix_tokens(smollm):
    """Each thread streams; a takeover by another thread invalidates its stream (clear error),
    and every stream that completes holds exactly the single-thread text."""
    alone = {p: completion_text(smollm, p) for p in PROMPTS[:3]}
    finished, invalidated = [], []

    def worker(p):
        def run():
            for _ in range(2):
                try:
                    text = "".join(c["choices"][0]["text"]
                                   for c in smollm(p, max_tokens=N_NEW, temperature=0.0, stream=True))
                except StreamInvalidatedError:
                    invalidated.append(p)
                    continue
                finished.append((p, text))
        return run

    run_threads([worker(p) for p in PROMPTS[:3]])
    assert len(finished) + len(invalidated) == 6
    for p, text in finished:
        assert text == alone[p], p
    # the object is still usable after all of that
    assert completion_text(smollm, PROMPTS[0]) == alone[PROMPTS[0]]


def test_interleaved_generators_invalidate_the_older_one(smollm):
    expect_a, expect_b = completion_text(smollm, PROMPTS[0]), completion_text(smollm, PROMPTS[1])
    a = smollm(PROMPTS[0], max_tokens=N_NEW, temperature=0.0, stream=True)
    first_a = next(a)
    b = smollm(PROMPTS[1], max_tokens=N_NEW, temperature=0.0, stream=True)
    with pytest.raises(StreamInvalidatedError, match="later call on the same Llama"):
        next(a)
    text_b = "".join(c["choices"][0]["text"] for c in b)
    assert text_b == expect_b
    assert first_a["choices"][0]["text"] == "" or expect_a.startswith(first_a["choices"][0]["text"])

    # token generators too; an eval (state change) also takes the object over
    g = smollm.generate(smollm.tokenize(PROMPTS[2].encode()), temp=0.0)
    next(g)
    smollm.eval(smollm.tokenize(b" more"))
    with pytest.raises(StreamInvalidatedError):
        next(g)


def test_close_while_another_thread_generates(model_path):
    llm = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=128, n_threads=1, verbose=False)
    started, outcome = threading.Event(), []

    def generate():
        try:
            for _ in llm(PROMPTS[0], max_tokens=100, temperature=0.0, stream=True):
                started.set()
            outcome.append("finished")
        except ClosedError as e:
            outcome.append(e)
        finally:
            started.set()

    t = threading.Thread(target=generate)
    t.start()
    assert started.wait(120)
    llm.close()
    t.join(120)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ClosedError), outcome
    assert "Llama is closed" in str(outcome[0])
    with pytest.raises(ClosedError):
        llm("Hello", max_tokens=2)
    with pytest.raises(ClosedError):
        llm.runner.eval([1])
    llm.close()  # twice is fine


def test_non_streaming_call_stops_when_closed_by_another_thread(model_path):
    llm = pyggml.Llama(str(model_path(SMOLLM)), n_ctx=256, n_threads=1, verbose=False)
    calls = []
    real_eval = llm.runner.eval

    def counting_eval(*a, **k):   # signals once the long completion is under way
        calls.append(1)
        if len(calls) == 3:
            started.set()
        return real_eval(*a, **k)

    started, outcome = threading.Event(), []
    llm.runner.eval = counting_eval

    def complete():
        try:
            llm(PROMPTS[1], max_tokens=200, temperature=0.0)
            outcome.append("finished")
        except ClosedError as e:
            outcome.append(e)
        finally:
            started.set()

    t = threading.Thread(target=complete)
    t.start()
    assert started.wait(120)
    llm.close()
    t.join(120)
    assert len(outcome) == 1 and isinstance(outcome[0], ClosedError), outcome


# ---- the C pool and graphs ----------------------------------------------------------------------

def _matmul_graph(seed, n=96):
    rng = np.random.default_rng(seed)
    ctx = pyggml.Context(1 << 22)
    a, b = ctx.new_tensor_2d(T.F32, n, n), ctx.new_tensor_2d(T.F32, n, 8)
    A, B = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((8, n)).astype(np.float32)
    a.set(A)
    b.set(B)
    out = ops.mul_mat(ctx, a, b)
    gf = pyggml.Graph(ctx).build_forward_expand(out)
    gf.compute(n_threads=1)
    return gf, out, out.numpy().copy()


def test_one_pool_shared_by_threads_runs_one_graph_at_a_time():
    pool = pyggml.ThreadPool(2)
    graphs = [_matmul_graph(seed) for seed in range(4)]

    def worker(gf, out, expect):
        def run():
            for _ in range(200):
                gf.compute(pool=pool)
                np.testing.assert_array_equal(out.numpy(), expect)
        return run

    run_threads([worker(*g) for g in graphs])
    pool.close()


def test_one_graph_computed_by_two_threads_is_refused_or_serialised():
    gf, out, expect = _matmul_graph(7, n=256)
    pools = [pyggml.ThreadPool(1), pyggml.ThreadPool(1)]
    refused = []

    def worker(pool):
        def run():
            for _ in range(100):
                try:
                    gf.compute(pool=pool)
                except RuntimeError as e:
                    assert "already being computed" in str(e)
                    refused.append(1)
        return run

    run_threads([worker(p) for p in pools])
    gf.compute(pool=pools[0])
    np.testing.assert_array_equal(out.numpy(), expect)
    for p in pools:
        p.close()


def test_closing_a_pool_under_a_running_compute():
    pool = pyggml.ThreadPool(2)
    gf, out, expect = _matmul_graph(3, n=512)
    outcome, running = [], threading.Event()

    def loop():
        try:
            while True:
                gf.compute(pool=pool)
                running.set()
        except ValueError as e:
            outcome.append(e)

    t = threading.Thread(target=loop)
    t.start()
    assert running.wait(60)
    for _ in range(20):
        pool.close()
    t.join(60)
    assert not t.is_alive() and outcome and "closed" in str(outcome[0])
    assert pool.closed and pool.n_threads == 0
    np.testing.assert_array_equal(out.numpy(), expect)
