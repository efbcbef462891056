"""Python's share of a decoded token: wall time per token against the time spent in the one C call
per forward pass (the compiled graph's compute, GIL released), through the engine
(ModelRunner.eval of one token + greedy argmax) and through the llama-cpp-python-style API
(Llama.create_completion, greedy, streamed).

    python tools/measure_overhead.py -m ~/.cache/pyggml/models/smollm2-135m-q4_0.gguf -n 128 -t 2

Everything outside the C call counts as overhead: input setup, mask writes, the logits copy,
sampling, detokenization, the generator's bookkeeping.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from pyggml.llama import Llama
from pyggml.runner import ModelRunner


class _TimedCompute:
    """Stands in for a compiled graph: forwards everything, adds the wall time of compute()."""

    def __init__(self, inner, clock: list[float]):
        self._inner, self._clock = inner, clock

    def compute(self, *args):
        t0 = time.perf_counter()
        result = self._inner.compute(*args)
        self._clock[0] += time.perf_counter() - t0
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _instrument(runner: ModelRunner, clock: list[float]) -> None:
    """Time the C call of every graph the runner has and builds from now on (a longer cache
    takes a new graph every 256 positions: its build counts as overhead, its compute does not)."""
    def timed(graph) -> None:
        if graph._compiled is None:
            graph._compile()
        if not isinstance(graph._compiled, _TimedCompute):
            graph._compiled = _TimedCompute(graph._compiled, clock)

    for built in runner._graphs.values():
        timed(built.graph)
    build = runner._graph_for

    def graph_for(*args, **kwargs):
        built = build(*args, **kwargs)
        timed(built.graph)
        return built

    runner._graph_for = graph_for


def engine(path: str, n_tokens: int, n_threads: int) -> tuple[float, float]:
    runner = ModelRunner(path, n_ctx=n_tokens + 64, n_threads=n_threads)
    try:
        logits = runner.eval([1, 2, 3, 4])
        runner.eval([int(np.argmax(logits[-1]))])   # builds the one-token graph
        clock = [0.0]
        _instrument(runner, clock)
        t0 = time.perf_counter()
        for _ in range(n_tokens):
            logits = runner.eval([int(np.argmax(logits[-1]))])
        return time.perf_counter() - t0, clock[0]
    finally:
        runner.close()


def api(path: str, n_tokens: int, n_threads: int) -> tuple[float, float, int]:
    llm = Llama(model_path=path, n_ctx=n_tokens + 64, n_threads=n_threads, verbose=False)
    try:
        runner = llm.runner
        list(llm.create_completion("The capital of France is", max_tokens=4, temperature=0.0, stream=True))
        llm.reset()
        clock = [0.0]
        _instrument(runner, clock)
        stream = llm.create_completion("The capital of France is", max_tokens=n_tokens, temperature=0.0, stream=True)
        next(stream)   # the prompt and the first token
        clock[0] = 0.0
        t0 = time.perf_counter()
        n = 1 + sum(1 for _ in stream)
        return time.perf_counter() - t0, clock[0], n
    finally:
        llm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-n", "--n-tokens", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=2)
    args = ap.parse_args()
    wall, c_time = engine(args.model, args.n_tokens, args.threads)
    print(f"engine (ModelRunner.eval + argmax): {1e3 * wall / args.n_tokens:.3f} ms per token, "
          f"C compute {1e3 * c_time / args.n_tokens:.3f} ms, Python {100 * (wall - c_time) / wall:.1f} %")
    wall, c_time, n = api(args.model, args.n_tokens, args.threads)
    steps = max(n - 1, 1)
    print(f"Llama.create_completion (greedy, streamed, {n} chunks): {1e3 * wall / steps:.3f} ms per token, "
          f"C compute {1e3 * c_time / steps:.3f} ms, Python {100 * (wall - c_time) / wall:.1f} %")


if __name__ == "__main__":
    main()
