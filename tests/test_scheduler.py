"""Scheduler over a real BatchEngine: events, stop strings, a failing sequence, queue limits."""
from __future__ import annotations

import queue
import threading

import pytest

from pyggml import Llama
from pyggml.batching import BatchEngine
from pyggml.sampling import SamplingParams
from pyggml.scheduler import Job, QueueFull, Scheduler

GREEDY = SamplingParams(temperature=0)


@pytest.fixture(scope="module")
def engine(model_path):
    eng = BatchEngine(str(model_path("smollm2-135m-q4_1")), n_seq_max=2, n_ctx=128, n_batch=32, n_threads=2)
    yield eng
    eng.close()


def _job(prompt, **kw):
    events: queue.Queue = queue.Queue()
    job = Job(prompt, kw.pop("params", GREEDY), lambda kind, payload: events.put((kind, payload)), **kw)
    return job, events


def _drain(events: queue.Queue, timeout: float = 120) -> tuple[str, str, object]:
    """(text, final kind, final payload)"""
    text = []
    while True:
        kind, payload = events.get(timeout=timeout)
        if kind == "text":
            text.append(payload[0])
        else:
            return "".join(text), kind, payload


class _Exploding:
    """A constraint whose matcher fails on the third token."""

    def __init__(self):
        self.n = 0

    def apply(self, logits):
        pass

    def accept(self, token):
        self.n += 1
        if self.n == 3:
            raise ValueError("matcher broke")


def test_text_stop_and_failure(engine, model_path):
    llm = Llama(str(model_path("smollm2-135m-q4_1")), n_ctx=128, n_threads=2, verbose=False)
    prompt_text = "1, 2, 3, 4,"
    full = llm(prompt_text, max_tokens=12, temperature=0)["choices"][0]["text"]
    cut = llm(prompt_text, max_tokens=12, temperature=0, stop=[" 7"])["choices"][0]
    llm.close()
    prompt = engine.tokenizer.encode(prompt_text)
    sched = Scheduler(engine, max_queue=4)
    try:
        plain, plain_ev = _job(prompt, max_new=12)
        stopped, stopped_ev = _job(prompt, max_new=12, stops=[" 7"])
        broken, broken_ev = _job(prompt, max_new=12, constraint=_Exploding())
        for j in (plain, stopped, broken):
            sched.submit(j)
        assert _drain(plain_ev) == (full, "done", "length")
        assert _drain(stopped_ev) == (cut["text"], "done", cut["finish_reason"])
        text, kind, message = _drain(broken_ev)
        assert kind == "error" and "matcher broke" in message
        assert plain.completion_tokens == 12
    finally:
        sched.shutdown()
    assert engine.cells.n_free == engine.cells.n_cells and not engine.active


def test_queue_full_and_cancel(engine):
    sched = Scheduler(engine, max_queue=1)
    entered, gate = threading.Event(), threading.Event()

    def blocking_listener(kind, payload):
        entered.set()
        gate.wait(60)

    try:
        # the first job's listener blocks the scheduler thread, so nothing is admitted meanwhile
        first = Job([1, 2, 3], GREEDY, blocking_listener, max_new=4)
        sched.submit(first)
        assert entered.wait(60)
        waiting, waiting_ev = _job([4, 5, 6], max_new=4)
        sched.submit(waiting)
        with pytest.raises(QueueFull, match="queue is full"):
            sched.submit(_job([7], max_new=1)[0])
        sched.cancel(waiting)
        gate.set()
    finally:
        sched.shutdown()
    assert waiting_ev.empty() and waiting.finish_reason is None
    assert sched.counters["jobs_cancelled"] == 1 and sched.counters["jobs_rejected"] == 1
    assert engine.cells.n_free == engine.cells.n_cells
