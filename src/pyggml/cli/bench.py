"""pyggml-bench: llama-bench's flags and table for pyggml, optionally against llama.cpp.

    pyggml-bench -m a.gguf,b.gguf -p 512 -n 128 -t 1,2 -r 3 -d 0,4096 -ctk f16 --simd avx2,avx512
                 [-ub 512] -o md [--vs-llama-cpp] [--profile]

--parallel 1,4,8: aggregate decode t/s with that many concurrent streams (see bench_parallel.py).
pp<P>: one prompt of P tokens evaluated after the cache holds -d tokens (0: empty); tg<N>: N tokens
decoded one at a time after that (llama-bench's "pp512 @ d4096"). The depth is filled once per row,
untimed, and rewound to before each run. -ctk: the KV cache type. --simd: each row timed once per
SIMD path in one process, the paths taking turns within every repetition (the backend column
names the path). t/s is mean ± sd over -r repetitions (after one warm-up run). With
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

from .. import available_simd_paths, set_simd_path, simd_path
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

    kv_types = ("f16", "f32")

    def __init__(self, path: str, n_threads: int, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512):
        from ..runner import ModelRunner

        self.runner = ModelRunner(path, n_ctx=n_ctx, n_batch=min(n_ctx, n_ubatch), n_threads=n_threads,
                                  kv_type=kv_type)
        self.n_vocab = self.runner.config.n_vocab

    def fill(self, tokens: list[int]) -> None:
        """The cache holds exactly these tokens (the depth)."""
        self.runner.reset()
        if tokens:
            self.runner.eval(tokens)

    def rewind(self, n_keep: int) -> None:
        self.runner.truncate(n_keep)

    def prompt(self, tokens: list[int]) -> None:
        self.runner.eval(tokens)

    def decode(self, first: int, n: int) -> None:
        tok = first
        for _ in range(n):
            logits = self.runner.eval([tok])
            tok = int(np.argmax(logits[-1]))

    def close(self) -> None:
        self.runner.close()


class LlamaCppEngine:
    name = "llama.cpp"

    kv_types = ("f16", "f32", "q8_0")

    def __init__(self, path: str, n_threads: int, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512):
        import llama_cpp  # only in a side environment; never a dependency

        type_k = {"f16": 1, "f32": 0, "q8_0": 8}[kv_type]  # ggml type ids
        batch = min(n_ctx, 512)
        self.llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=batch, n_ubatch=min(batch, n_ubatch),
                                   n_threads=n_threads, n_threads_batch=n_threads, type_k=type_k, verbose=False)
        self.n_vocab = self.llm.n_vocab()

    def fill(self, tokens: list[int]) -> None:
        self.llm.reset()
        self.llm._ctx.memory_clear(True) if hasattr(self.llm._ctx, "memory_clear") else None
        if tokens:
            self.llm.eval(tokens)

    def rewind(self, n_keep: int) -> None:
        self.llm.n_tokens = n_keep
        ctx = self.llm._ctx
        (ctx.memory_seq_rm if hasattr(ctx, "memory_seq_rm") else ctx.kv_cache_seq_rm)(-1, n_keep, -1)

    def prompt(self, tokens: list[int]) -> None:
        self.llm.eval(tokens)

    def decode(self, first: int, n: int) -> None:
        tok = first
        for _ in range(n):
            self.llm.eval([tok])
            tok = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))

    def close(self) -> None:
        self.llm.close()


def _time_runs(prepare, fn, reps: int, paths=(None,)) -> dict:
    """{SIMD path: seconds of fn per run}; prepare (untimed) before each run, one warm-up run per
    path first (it builds and caches the graphs and faults in the mmapped weights). Every
    repetition runs each path in turn (None: leave the path alone), so the drift of a shared
    machine's load hits all paths alike."""
    out = {p: [] for p in paths}
    for rep in range(reps + 1):
        for p in paths:
            if p is not None:
                set_simd_path(p)
            prepare()
            t0 = time.perf_counter()
            fn()
            if rep:
                out[p].append(time.perf_counter() - t0)
    return out


def _rate(n_tokens: int, seconds: list[float]) -> tuple[float, float]:
    rates = [n_tokens / s for s in seconds]
    return statistics.mean(rates), (statistics.stdev(rates) if len(rates) > 1 else 0.0)


def bench_engine(engine_cls, path: str, threads: int, n_prompt: int, n_gen: int, reps: int, depth: int = 0,
                 kv_type: str = "f16", paths=(None,), n_ubatch: int = 512) -> dict:
    """{SIMD path: {test: (t/s mean, sd)}} for one engine on one file (paths: see _time_runs)."""
    rng = np.random.default_rng(1234)
    engine = engine_cls(path, threads, depth + max(n_prompt, n_gen) + 8, kv_type, n_ubatch)
    try:
        context = rng.integers(100, engine.n_vocab - 100, size=depth).tolist()
        tokens = rng.integers(100, engine.n_vocab - 100, size=n_prompt).tolist()
        engine.fill(context)
        at = f" @ d{depth}" if depth else ""
        rewind = lambda: engine.rewind(depth)  # noqa: E731
        results = {p: {} for p in paths}
        if n_prompt:
            for p, secs in _time_runs(rewind, lambda: engine.prompt(tokens), reps, paths).items():
                results[p][f"pp{n_prompt}{at}"] = _rate(n_prompt, secs)
        if n_gen:
            first = tokens[0] if tokens else 1
            for p, secs in _time_runs(rewind, lambda: engine.decode(first, n_gen), reps, paths).items():
                results[p][f"tg{n_gen}{at}"] = _rate(n_gen, secs)
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


def _filled_runner(path: str, threads: int, depth: int, n_more: int):
    """A runner whose cache holds depth random tokens, with room for n_more."""
    from ..runner import ModelRunner

    runner = ModelRunner(path, n_ctx=depth + n_more + 8, n_threads=threads)
    if depth:
        runner.eval(np.random.default_rng(4321).integers(100, runner.config.n_vocab - 100, size=depth).tolist())
    return runner


def profile_decode(path: str, threads: int, depth: int = 0, n_tokens: int = 32) -> dict[str, tuple[float, int]]:
    """Time per op type per decoded token (ms), after depth tokens."""
    runner = _filled_runner(path, threads, depth, n_tokens + 4)
    try:
        runner.eval([1, 2, 3, 4])
        for i in range(n_tokens):
            runner.eval([5 + i])
        built = next(reversed(runner._graphs.values()))   # the one-token graph of the last step
        return _profile_graph(runner, built, n_tokens)
    finally:
        runner.close()


def profile_prompt(path: str, threads: int, n_prompt: int, depth: int = 0,
                   reps: int = 3) -> dict[str, tuple[float, int]]:
    """Time per op type of the last prompt batch of n_prompt tokens after depth tokens (ms),
    recomputed reps times."""
    runner = _filled_runner(path, threads, depth, n_prompt)
    try:
        tokens = np.random.default_rng(1234).integers(100, runner.config.n_vocab - 100, size=n_prompt)
        runner.eval(tokens.tolist())
        built = next(reversed(runner._graphs.values()))   # the graph of the prompt's last batch
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
    ap.add_argument("-d", "--n-depth", default="0", help="tokens already in the cache, comma-separated")
    ap.add_argument("-ctk", "--cache-type-k", default="f16", help="KV cache type (pyggml: f16, f32)")
    ap.add_argument("-ub", "--ubatch-size", type=int, default=512, help="prompt tokens per forward pass")
    ap.add_argument("--simd", default=None,
                    help="SIMD paths to time, comma-separated ('all': every available one; default: the active one)")
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
        depths = [int(d) for d in args.n_depth.split(",")]
        streams = [int(s) for s in args.parallel.split(",") if s]
        if any(s < 1 for s in streams):
            raise ValueError("--parallel stream counts must be >= 1")
        if args.ubatch_size < 1:
            raise ValueError("-ub must be >= 1")
        if args.repetitions < 1 or any(t < 1 for t in threads) or any(x < 0 for x in prompts + gens + depths):
            raise ValueError("repetitions and threads must be >= 1, sizes and depths >= 0")
        if args.cache_type_k not in PyggmlEngine.kv_types:
            raise ValueError(f"-ctk {args.cache_type_k!r}: pyggml's KV cache types are {', '.join(PyggmlEngine.kv_types)}")
        available = available_simd_paths()
        paths = (available if args.simd == "all" else
                 [p.strip() for p in args.simd.split(",") if p.strip()] if args.simd else [simd_path()])
        for p in paths:
            if p not in available:
                raise ValueError(f"--simd {p!r} is not available here (available: {', '.join(available)})")
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

    rows: list[Row] = []
    for path in models:
        if not os.path.exists(path):
            print(f"pyggml-bench: no such model file: {path}", file=sys.stderr)
            return 2
        name, size, params = _model_info(path)
        tests = [(p, 0) for p in prompts if p] + [(0, n) for n in gens if n]
        for t in threads:
            if streams:
                backend = f"CPU {simd_path()}"
                rows += _parallel_rows(name, size, params, backend, path, t, streams, gens, args.repetitions)
                continue
            for n_prompt, n_gen, depth in [(p, n, d) for d in depths for p, n in tests]:
                theirs = (bench_engine(LlamaCppEngine, path, t, n_prompt, n_gen, args.repetitions, depth,
                                       args.cache_type_k, n_ubatch=args.ubatch_size)[None]
                          if args.vs_llama_cpp else {})
                before = simd_path()
                try:
                    ours = bench_engine(PyggmlEngine, path, t, n_prompt, n_gen, args.repetitions, depth,
                                        args.cache_type_k, paths, args.ubatch_size)
                finally:
                    set_simd_path(before)
                for simd in paths:
                    for test, (mean, sd) in ours[simd].items():
                        ref = theirs.get(test)
                        rows.append(Row(name, size, params, f"CPU {simd}", t, test, mean, sd,
                                        ref[0] if ref else None, ref[1] if ref else None))
                        print(format_markdown(rows[-1:], args.vs_llama_cpp).splitlines()[-1], file=sys.stderr)
            for depth in depths if args.profile else ():
                at = f" @ d{depth}" if depth else ""
                for n_prompt in (p for p in prompts if p):
                    _print_profile(f"profile {name}, {t} threads: ms per pp{n_prompt}{at} batch by op",
                                   profile_prompt(path, t, n_prompt, depth))
                if any(gens):
                    _print_profile(f"profile {name}, {t} threads: ms per decoded token{at} by op",
                                   profile_decode(path, t, depth))
    if args.output == "json":
        print(json.dumps([asdict(r) | {"ratio": r.ratio} for r in rows], indent=2))
    else:
        print(format_markdown(rows, args.vs_llama_cpp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
