"""Prompt and decode speed on a synthetic qwen3moe, pyggml against llama.cpp in the same run.

    python tools/bench_moe.py --oracle-python /work/oracle-venv/bin/python [-t 2] [-n 64] [-r 3]

The model (written once to /tmp, not committed): n_embd 1024, 8 layers, 16 heads / 4 KV heads of
64, 32 experts of 512, top-4, Q8_0 (router F32), 452 MiB; a 320-token synthetic vocabulary so
that the time goes to the blocks (a decode step reads 53 MiB of experts and 22 MiB of attention
weights) rather than to a 49152-row output matrix. Both engines evaluate the
same 128-token prompt in one batch (prompt tokens/s), then decode n tokens one at a time (fixed
ids, no sampling; decode tokens/s); best and median of r alternating repetitions (the machine
is shared)."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pyggml import GGMLType
from pyggml.models.tiny_moe import write_tiny_qwen3moe
from pyggml.runner import ModelRunner

SHAPE = dict(n_vocab=320, n_embd=1024, n_layer=8, n_head=16, n_head_kv=4, head_dim=64, n_expert=32,
             n_expert_used=4, n_ff_exp=512, n_ctx=512, seed=1)
PROMPT = [(7 * i) % 320 for i in range(128)]

LLAMA_CPP = r"""
import sys, time
from llama_cpp import Llama
path, n_threads, n_gen, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")]
llm = Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=n_threads, verbose=False)
t0 = time.perf_counter()
llm.eval(prompt)
t1 = time.perf_counter()
for i in range(n_gen):
    llm.eval([(2000 + i) % 320])
print(len(prompt) / (t1 - t0), n_gen / (time.perf_counter() - t1))
"""


def write_bench_model(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        write_tiny_qwen3moe(p, weight_type=GGMLType.Q8_0, **SHAPE)
    return p


def pyggml_rates(path: Path, n_threads: int, n_gen: int) -> tuple[float, float]:
    """(prompt tokens/s, decode tokens/s)"""
    runner = ModelRunner(path, n_ctx=512, n_threads=n_threads)
    t0 = time.perf_counter()
    runner.eval(np.array(PROMPT))
    t1 = time.perf_counter()
    for i in range(n_gen):
        runner.eval([(2000 + i) % 320])
    rates = len(PROMPT) / (t1 - t0), n_gen / (time.perf_counter() - t1)
    runner.close()
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle-python", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-n", "--n-gen", type=int, default=64)
    ap.add_argument("-r", "--reps", type=int, default=3)
    args = ap.parse_args()
    path = write_bench_model("/tmp/pyggml-bench-moe8-q8_0.gguf")
    ours, theirs = [], []
    for _ in range(args.reps):
        ours.append(pyggml_rates(path, args.threads, args.n_gen))
        out = subprocess.run([args.oracle_python, "-c", LLAMA_CPP, str(path), str(args.threads), str(args.n_gen),
                              ",".join(map(str, PROMPT))], check=True, capture_output=True, text=True)
        theirs.append(tuple(float(x) for x in out.stdout.split()[-2:]))
    print(f"{path.name} ({path.stat().st_size / 2**20:.0f} MiB), {args.threads} threads, "
          f"prompt {len(PROMPT)} tokens, decode {args.n_gen} tokens (tokens/s):")
    for i, what in enumerate(("prompt", "decode")):
        for name, runs in (("pyggml", ours), ("llama.cpp", theirs)):
            r = [x[i] for x in runs]
            print(f"  {what} {name:10s} best {max(r):7.1f}  median {statistics.median(r):7.1f}  {[round(x, 1) for x in r]}")
        print(f"  {what} pyggml / llama.cpp (best): {max(x[i] for x in ours) / max(x[i] for x in theirs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
