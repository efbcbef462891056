"""Peak memory and load time of pyggml on real models (issue #7).

    python tools/measure_memory.py MODEL.gguf [MODEL2.gguf ...] [-p 512] [-n 128] [-t 2] [-ub 512] [--steps]
                                   [--tokenizer] [--tracemalloc]

Each model runs in a fresh interpreter (peak RSS is per process): load the model, evaluate a
random prompt of -p tokens, then decode -n tokens greedily after it (n_ctx = p + n unless
--n-ctx). Prints the peak RSS (getrusage ru_maxrss and /proc/self/status VmHWM), the file size,
the KV cache bytes and the verdict against the target: peak RSS <= file + KV + 64 MiB.
Load time target: <= 0.3 s. --steps prints RSS/HWM and smaps_rollup (anonymous vs file-backed)
after every phase; --tracemalloc also the peak of Python-level allocations per phase;
--tokenizer loads the tokenizer too (pyggml.Llama instead of the bare ModelRunner).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MIB = 2**20
HEADROOM = 64 * MIB
LOAD_TARGET_S = 0.3


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _rollup_kib() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def _snapshot(phase: str, tracing: bool) -> dict:
    roll = _rollup_kib()
    snap = {"phase": phase, "rss_mib": _status_kib("VmRSS") / 1024, "hwm_mib": _status_kib("VmHWM") / 1024,
            "anon_mib": roll.get("Anonymous", 0) / 1024,
            "file_mib": (roll.get("Rss", 0) - roll.get("Anonymous", 0)) / 1024}
    if tracing:
        import tracemalloc

        cur, peak = tracemalloc.get_traced_memory()
        snap["py_cur_mib"], snap["py_peak_mib"] = cur / MIB, peak / MIB
        tracemalloc.reset_peak()
    return snap


def measure_one(path: str, n_prompt: int, n_gen: int, n_ctx: int, n_threads: int,
                with_tokenizer: bool, tracing: bool, n_ubatch: int = 512) -> dict:
    """Runs in the measured process: everything imported here counts."""
    if tracing:
        import tracemalloc

        tracemalloc.start()
    steps = [_snapshot("start", tracing)]
    t0 = time.perf_counter()
    import numpy as np

    from pyggml.runner import ModelRunner
    t_import = time.perf_counter() - t0
    steps.append(_snapshot("import", tracing))
    t0 = time.perf_counter()
    if with_tokenizer:
        from pyggml import Llama

        llm = Llama(path, n_ctx=n_ctx, n_batch=n_prompt or 512, n_ubatch=n_ubatch, n_threads=n_threads,
                    verbose=False)
        runner = llm.runner
    else:
        runner = ModelRunner(path, n_ctx=n_ctx, n_batch=min(n_prompt or 512, n_ubatch), n_threads=n_threads)
    t_load = time.perf_counter() - t0
    steps.append(_snapshot("load", tracing))
    rng = np.random.default_rng(1234)
    vocab = runner.config.n_vocab
    logits = runner.eval(rng.integers(100, vocab - 100, size=n_prompt)) if n_prompt else None
    steps.append(_snapshot(f"prompt {n_prompt}", tracing))
    token = int(np.argmax(logits[-1])) if logits is not None else 1
    for _ in range(n_gen):
        token = int(np.argmax(runner.eval([token])[-1]))
    steps.append(_snapshot(f"decode {n_gen}", tracing))
    kv_bytes = sum(c.k.nbytes + c.v.nbytes for c in runner.kv)
    compute_bytes = {"x".join(map(str, key)): g.graph.plan.size for key, g in runner._graphs.items()}
    return {"model": os.path.basename(path), "file_bytes": os.path.getsize(path), "kv_bytes": kv_bytes,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kib": _status_kib("VmHWM"),
            "import_s": t_import, "load_s": t_load, "repack_s": runner.timings.get("repack_ms", 0.0) / 1e3,
            "repacked_bytes": getattr(runner, "repacked_bytes", 0), "n_ctx": n_ctx, "steps": steps,
            "cached_graph_buffers": compute_bytes}


def report(r: dict, show_steps: bool) -> str:
    target = r["file_bytes"] + r["kv_bytes"] + HEADROOM
    peak = max(r["maxrss_kib"], r["hwm_kib"]) * 1024
    lines = [f"{r['model']}: n_ctx {r['n_ctx']}",
             f"  peak RSS  ru_maxrss {r['maxrss_kib'] / 1024:.1f} MiB, VmHWM {r['hwm_kib'] / 1024:.1f} MiB",
             f"  target    file {r['file_bytes'] / MIB:.1f} + KV {r['kv_bytes'] / MIB:.1f} + 64 = "
             f"{target / MIB:.1f} MiB -> {'OK' if peak <= target else 'OVER'} "
             f"({(peak - target) / MIB:+.1f} MiB)",
             f"  load      {r['load_s'] - r['repack_s']:.3f} s without repacking (target {LOAD_TARGET_S} s: "
             f"{'OK' if r['load_s'] - r['repack_s'] <= LOAD_TARGET_S else 'OVER'}); repacking "
             f"{r['repacked_bytes'] / MIB:.1f} MiB of weights {r['repack_s']:.3f} s; imports {r['import_s']:.3f} s",
             "  cached graph compute buffers: " + ", ".join(
                 f"{k} {v / MIB:.1f} MiB" for k, v in r["cached_graph_buffers"].items())]
    if show_steps:
        for s in r["steps"]:
            py = (f"  python now {s['py_cur_mib']:.1f} peak {s['py_peak_mib']:.1f}" if "py_cur_mib" in s else "")
            lines.append(f"    {s['phase']:<12} rss {s['rss_mib']:7.1f}  hwm {s['hwm_mib']:7.1f}  "
                         f"anon {s['anon_mib']:7.1f}  file {s['file_mib']:7.1f} MiB{py}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="GGUF files")
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=0, help="default: n_prompt + n_gen")
    ap.add_argument("-ub", "--n-ubatch", type=int, default=512, help="tokens per forward pass (llama.cpp's -ub)")
    ap.add_argument("--tokenizer", action="store_true", help="load through pyggml.Llama (tokenizer too)")
    ap.add_argument("--steps", action="store_true", help="memory after every phase")
    ap.add_argument("--tracemalloc", action="store_true", help="Python allocation peaks per phase (slower)")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n_ctx = args.n_ctx or args.n_prompt + args.n_gen
    if args.in_process:
        r = measure_one(args.models[0], args.n_prompt, args.n_gen, n_ctx, args.threads,
                        args.tokenizer, args.tracemalloc, args.n_ubatch)
        print(json.dumps(r))
        return 0
    results = []
    for path in args.models:
        if not os.path.isfile(path):
            print(f"measure_memory: no such model file: {path}", file=sys.stderr)
            return 2
        cmd = [sys.executable, os.path.abspath(__file__), path, "--in-process", "-p", str(args.n_prompt),
               "-n", str(args.n_gen), "-t", str(args.threads), "--n-ctx", str(n_ctx), "-ub", str(args.n_ubatch)]
        cmd += ["--tokenizer"] * args.tokenizer + ["--tracemalloc"] * args.tracemalloc
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"measure_memory: {path} failed:\n{out.stderr}", file=sys.stderr)
            return 1
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if not args.json:
            print(report(results[-1], args.steps or args.tracemalloc))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
