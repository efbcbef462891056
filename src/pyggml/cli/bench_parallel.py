"""pyggml-bench --parallel: aggregate decode tokens/s of the BatchEngine with S concurrent streams.

One engine (n_seq_max = the largest S) runs, for each repetition, one block per stream count in
turn (1, 4, 8, 1, 4, 8, ...: a shared machine's changing load falls on every count alike). A
block admits S sequences with short random prompts, evaluates the prompts, decodes a few
warm-up steps, then times n_gen steps in which every stream decodes one token (greedy,
end-of-generation ignored): aggregate t/s = S * n_gen / seconds. One unreported warm-up round
first builds the graphs and pages the weights in."""
from __future__ import annotations

import time

import numpy as np

from ..sampling import SamplingParams

WARMUP_STEPS = 2
PROMPT_TOKENS = 16


def _block(engine, rng, n_streams: int, n_gen: int) -> float:
    for _ in range(n_streams):
        prompt = rng.integers(100, engine.config.n_vocab - 100, size=PROMPT_TOKENS).tolist()
        engine.add(prompt, SamplingParams(temperature=0), max_new=n_gen + WARMUP_STEPS + 1, stop_at_eog=False)
    while any(s.prefilling for s in engine.active):
        engine.step()
    for _ in range(WARMUP_STEPS):
        engine.step()
    t0 = time.perf_counter()
    for _ in range(n_gen):
        engine.step()
    rate = n_streams * n_gen / (time.perf_counter() - t0)
    for s in list(engine.active):
        engine.cancel(s)
    return rate


def decode_rates(path: str, threads: int, streams: list[int], n_gen: int, reps: int) -> dict[int, list[float]]:
    """{S: [aggregate t/s per repetition]}"""
    from ..batching import BatchEngine

    n_ctx = PROMPT_TOKENS + WARMUP_STEPS + n_gen + 8
    engine = BatchEngine(path, n_seq_max=max(streams), n_ctx=n_ctx, n_batch=max(64, max(streams)),
                         n_threads=threads)
    rng = np.random.default_rng(1234)
    rates: dict[int, list[float]] = {s: [] for s in streams}
    try:
        for s in streams:                                 # warm-up round
            _block(engine, rng, s, min(n_gen, 8))
        for _ in range(reps):
            for s in streams:
                rates[s].append(_block(engine, rng, s, n_gen))
        return rates
    finally:
        engine.close()
