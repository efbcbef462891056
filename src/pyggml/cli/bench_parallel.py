"""pyggml-bench --parallel: aggregate decode tokens/s of the BatchEngine with S concurrent streams.

Each run admits S sequences with short random prompts, evaluates the prompts, decodes a few
warm-up steps (graphs built, weights paged in), then times n_gen steps in which every stream
decodes one token (greedy, end-of-generation ignored): aggregate t/s = S * n_gen / seconds."""
from __future__ import annotations

import time

import numpy as np

from ..sampling import SamplingParams

WARMUP_STEPS = 4
PROMPT_TOKENS = 16


def decode_rate(path: str, threads: int, n_streams: int, n_gen: int, reps: int) -> list[float]:
    from ..batching import BatchEngine

    n_ctx = PROMPT_TOKENS + WARMUP_STEPS + n_gen + 8
    engine = BatchEngine(path, n_seq_max=n_streams, n_ctx=n_ctx, n_batch=max(64, n_streams), n_threads=threads)
    rng = np.random.default_rng(1234)
    rates = []
    try:
        for _ in range(reps + 1):                  # the first run is a warm-up
            for _ in range(n_streams):
                prompt = rng.integers(100, engine.config.n_vocab - 100, size=PROMPT_TOKENS).tolist()
                engine.add(prompt, SamplingParams(temperature=0), max_new=n_gen + WARMUP_STEPS + 1,
                           stop_at_eog=False)
            while any(s.prefilling for s in engine.active):
                engine.step()
            for _ in range(WARMUP_STEPS):
                engine.step()
            t0 = time.perf_counter()
            for _ in range(n_gen):
                engine.step()
            rates.append(n_streams * n_gen / (time.perf_counter() - t0))
            for s in list(engine.active):
                engine.cancel(s)
        return rates[1:]
    finally:
        engine.close()
