"""pyggml-bench: llama-bench's flags and table for pyggml, optionally against llama.cpp.

    pyggml-bench -m a.gguf,b.gguf -p 512 -n 128 -t 1,2 -r 3 -o md [--vs-llama-cpp] [--profile]

--parallel 1,4,8: aggregate decode t/s with that many concurrent streams (see bench_parallel.py).
pp<P>: one prompt of P tokens evaluated from an empty cache; tg<N>: N tokens decoded one at a time
after an empty cache. t/s is mean ± sd over -r repetitions (after one warm-up run). With
--vs-llama-cpp (only when llama-cpp-python's `llama_cpp` is importable; never a dependency) each
row is timed again for llama.cpp through the same harness right after pyggml, and the ratio
pyggml / llama.cpp is printed. --profile prints pyggml's time per op type, per prompt batch and per decoded token."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import system_info
from ..gguf import GGUFReader


@dataclass
class Row:
    model: str
    size_mib: float
    params_m: float
    backend: str
    threads: int
    test: str
    ts_mean: float
    ts_sd: float
    llama_cpp_mean: float | None = None
    llama_cpp_sd: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.ts_mean / self.llama_cpp_mean if self.llama_cpp_mean else None


class PyggmlEngine:
    name = "pyggml"

    def __init__(self, path: str, n_threads: int, n_ctx: int):
        from ..runner import ModelRunner

        self.runner = ModelRunner(path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=n_threads)
        self.n_vocab = self.runner.config.n_vocab

    def prompt(self, tokens: list[int]) -> None:
        self.runner.reset()
        self.runner.eval(tokens)

    def decode(self, first: int, n: int) -> None:
        self.runner.reset()
        tok = first
        for _ in range(n):
            logits = self.runner.eval([tok])
            tok = int(np.argmax(logits[-1]))

    def close(self) -> None:
        self.runner.close()


class LlamaCppEngine:
    name = "llama.cpp"

    def __init__(self, path: str, n_threads: int, n_ctx: int):
        import llama_cpp  # only in a side environment; never a dependency

        self.llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                                   n_threads=n_threads, n_threads_batch=n_threads, verbose=False)
        self.n_vocab = self.llm.n_vocab()

    def prompt(self, tokens: list[int]) -> None:
        self.llm.reset()
        self.llm._ctx.memory_clear(True) if hasattr(self.llm._ctx, "memory_clear") else None
        self.llm.eval(tokens)

    def decode(self, first: int, n: int) -> None:
        self.llm.reset()
        tok = first
        for _ in range(n):
            self.llm.eval([tok])
            tok = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))

    def close(self) -> None:
        self.llm.close()


def _time_runs(fn, reps: int) -> list[float]:
    fn()  # warm-up: builds and caches graphs, faults in the mmapped weights
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _rate(n_tokens: int, seconds: list[float]) -> tuple[float, float]:
    rates = [n_tokens / s for s in seconds]
    return statistics.mean(rates), (statistics.stdev(rates) if len(rates) > 1 else 0.0)


def bench_engine(engine_cls, path: str, threads: int, n_prompt: int, n_gen: int, reps: int):
    rng = np.random.default_rng(1234)
    engine = engine_cls(path, threads, max(n_prompt, n_gen) + 8)
    try:
        tokens = rng.integers(100, engine.n_vocab - 100, size=n_prompt).tolist()
        results = {}
        if n_prompt:
            results[f"pp{n_prompt}"] = _rate(n_prompt, _time_runs(lambda: engine.prompt(tokens), reps))
        if n_gen:
            results[f"tg{n_gen}"] = _rate(n_gen, _time_runs(lambda: engine.decode(tokens[0] if tokens else 1, n_gen), reps))
        return results
    finally:
        engine.close()


def _profile_graph(runner, built, reps: int) -> dict[str, tuple[float, int]]:
    """Mean ms per op type over reps computes of a built graph (C executor's per-node profile)."""
    totals: dict[str, list[float]] = {}
    for _ in range(reps):
        prof = built.graph.compute(pool=runner.pool, profile=True)
        for op, (ms, count) in prof.items():
            totals.setdefault(op, [0.0, count])[0] += ms / reps
    return {op: (v[0], v[1]) for op, v in sorted(totals.items(), key=lambda kv: -kv[1][0])}


def profile_decode(path: str, threads: int, n_tokens: int = 32) -> dict[str, tuple[float, int]]:
    """Time per op type per decoded token (ms)."""
    from ..runner import ModelRunner

    runner = ModelRunner(path, n_ctx=256, n_threads=threads)
    try:
        runner.eval([1, 2, 3, 4])
        for i in range(n_tokens):
            runner.eval([5 + i])
        built = next(iter(g for k, g in runner._graphs.items() if k[0] == 1))
        return _profile_graph(runner, built, n_tokens)
    finally:
        runner.close()


def profile_prompt(path: str, threads: int, n_prompt: int, reps: int = 3) -> dict[str, tuple[float, int]]:
    """Time per op type of one prompt batch of n_prompt tokens (ms), recomputed reps times."""
    from ..runner import ModelRunner

    runner = ModelRunner(path, n_ctx=n_prompt + 8, n_threads=threads)
    try:
        tokens = np.random.default_rng(1234).integers(100, runner.config.n_vocab - 100, size=n_prompt)
        runner.eval(tokens.tolist())
        built = max(runner._graphs.items(), key=lambda kv: kv[0][0])[1]   # the largest batch
        return _profile_graph(runner, built, reps)
    finally:
        runner.close()


def _print_profile(title: str, prof: dict[str, tuple[float, int]]) -> None:
    total = sum(ms for ms, _ in prof.values()) or 1.0
    print(f"\n{title}", file=sys.stderr)
    for op, (ms, count) in prof.items():
        print(f"  {op:16s} {ms:9.3f} ms {100 * ms / total:5.1f} %  ({count} nodes)", file=sys.stderr)


def _model_info(path: str) -> tuple[str, float, float]:
    r = GGUFReader(path)
    size = os.path.getsize(path) / 2**20
    params = sum(t.n_elements for t in r.tensors) / 1e6
    name = f"{r.metadata.get('general.architecture', '?')} {r.metadata.get('general.size_label', '')}".strip()
    ftype = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 15: "Q4_K_M"}.get(
        int(r.metadata.get("general.file_type", -1)), "?")
    r.close()
    return f"{name} {ftype}", size, params


def format_markdown(rows: list[Row], vs: bool) -> str:
    head = "| model | size | params | backend | threads | test | t/s |"
    sep = "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
    if vs:
        head += " llama.cpp t/s | ratio |"
        sep += " ---: | ---: |"
    lines = [head, sep]
    for r in rows:
        line = (f"| {r.model} | {r.size_mib:.2f} MiB | {r.params_m:.2f} M | {r.backend} | {r.threads} | "
                f"{r.test} | {r.ts_mean:.2f} ± {r.ts_sd:.2f} |")
        if vs:
            line += (f" {r.llama_cpp_mean:.2f} ± {r.llama_cpp_sd:.2f} | {r.ratio:.2f} |"
                     if r.llama_cpp_mean else " - | - |")
        lines.append(line)
    return "\n".join(lines)


def _parallel_rows(name, size, params, backend, path, threads, streams, gens, reps) -> list[Row]:
    from .bench_parallel import decode_rates

    rows = []
    for n_gen in (n for n in gens if n):
        rates = decode_rates(path, threads, streams, n_gen, reps)
        base = statistics.median(rates[streams[0]])
        for s in streams:
            mean, sd = _rate(1, [1 / r for r in rates[s]])
            rows.append(Row(name, size, params, backend, threads, f"tg{n_gen} x{s} streams", mean, sd))
            print(format_markdown(rows[-1:], False).splitlines()[-1]
                  + f" median {statistics.median(rates[s]) / base:.2f}x of {streams[0]} stream(s)", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pyggml-bench", description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True, help="GGUF file(s), comma-separated")
    ap.add_argument("-p", "--n-prompt", default="512", help="prompt sizes, comma-separated (0: skip)")
    ap.add_argument("-n", "--n-gen", default="128", help="generated tokens, comma-separated (0: skip)")
    ap.add_argument("-t", "--threads", default=str(os.cpu_count() or 1), help="thread counts, comma-separated")
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    ap.add_argument("-o", "--output", choices=("md", "json"), default="md")
    ap.add_argument("--vs-llama-cpp", action="store_true", help="also time llama.cpp (llama-cpp-python)")
    ap.add_argument("--parallel", default="",
                    help="stream counts, comma-separated (e.g. 1,4,8): aggregate decode t/s of -n tokens per "
                         "stream with that many concurrent sequences (BatchEngine); -p is not used")
    ap.add_argument("--profile", action="store_true",
                    help="time per op type: per prompt batch (-p) and per decoded token (-n)")
    args = ap.parse_args(argv)

    try:
        models = [m for m in args.model.split(",") if m]
        threads = [int(t) for t in args.threads.split(",")]
        prompts = [int(p) for p in args.n_prompt.split(",")]
        gens = [int(n) for n in args.n_gen.split(",")]
        streams = [int(s) for s in args.parallel.split(",") if s]
        if any(s < 1 for s in streams):
            raise ValueError("--parallel stream counts must be >= 1")
        if args.repetitions < 1 or any(t < 1 for t in threads) or any(x < 0 for x in prompts + gens):
            raise ValueError("repetitions and threads must be >= 1, sizes >= 0")
    except ValueError as e:
        print(f"pyggml-bench: bad argument: {e}", file=sys.stderr)
        return 2
    if args.vs_llama_cpp:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            print("pyggml-bench: --vs-llama-cpp needs llama-cpp-python importable in this environment",
                  file=sys.stderr)
            return 2

    backend = "CPU " + system_info().rsplit("SIMD = ", 1)[-1]
    rows: list[Row] = []
    for path in models:
        if not os.path.exists(path):
            print(f"pyggml-bench: no such model file: {path}", file=sys.stderr)
            return 2
        name, size, params = _model_info(path)
        for t in threads:
            if streams:
                rows += _parallel_rows(name, size, params, backend, path, t, streams, gens, args.repetitions)
                continue
            for n_prompt, n_gen in [(p, 0) for p in prompts if p] + [(0, n) for n in gens if n]:
                ours = bench_engine(PyggmlEngine, path, t, n_prompt, n_gen, args.repetitions)
                theirs = (bench_engine(LlamaCppEngine, path, t, n_prompt, n_gen, args.repetitions)
                          if args.vs_llama_cpp else {})
                for test, (mean, sd) in ours.items():
                    ref = theirs.get(test)
                    rows.append(Row(name, size, params, backend, t, test, mean, sd,
                                    ref[0] if ref else None, ref[1] if ref else None))
                    print(format_markdown(rows[-1:], args.vs_llama_cpp).splitlines()[-1], file=sys.stderr)
            if args.profile:
                for n_prompt in (p for p in prompts if p):
                    _print_profile(f"profile {name}, {t} threads: ms per pp{n_prompt} batch by op",
                                   profile_prompt(path, t, n_prompt))
                if any(gens):
                    _print_profile(f"profile {name}, {t} threads: ms per decoded token by op",
                                   profile_decode(path, t))
    if args.output == "json":
        print(json.dumps([asdict(r) | {"ratio": r.ratio} for r in rows], indent=2))
    else:
        print(format_markdown(rows, args.vs_llama_cpp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
