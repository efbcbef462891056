"""Decode speed on a synthetic qwen3moe, pyggml against llama.cpp in the same run.

    python tools/bench_moe.py --oracle-python /work/oracle-venv/bin/python [-t 2] [-n 64] [-r 3]

The model (written once to /tmp, not committed): n_embd 1024, 4 layers, 16 heads / 4 KV heads of
64, 32 experts of 512, top-4, SmolLM2's vocabulary, Q8_0 (router F32). Both engines evaluate the
same 32-token prompt, then decode n tokens one at a time (fixed ids, no sampling); reported:
decode tokens/s, best and median of r alternating repetitions (the machine is shared)."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pyggml import GGMLType
from pyggml.models import ensure_model
from pyggml.models.tiny_moe import write_tiny_qwen3moe
from pyggml.runner import ModelRunner

SHAPE = dict(n_embd=1024, n_layer=4, n_head=16, n_head_kv=4, head_dim=64, n_expert=32, n_expert_used=4,
             n_ff_exp=512, n_ctx=512, seed=1)
PROMPT = list(range(1000, 1032))

LLAMA_CPP = r"""
import sys, time
from llama_cpp import Llama
path, n_threads, n_gen, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")]
llm = Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=n_threads, verbose=False)
llm.eval(prompt)
t0 = time.perf_counter()
for i in range(n_gen):
    llm.eval([2000 + i])
print(n_gen / (time.perf_counter() - t0))
"""


def write_bench_model(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        write_tiny_qwen3moe(p, weight_type=GGMLType.Q8_0, tokenizer=ensure_model("smollm2-135m-q4_1"), **SHAPE)
    return p


def pyggml_decode(path: Path, n_threads: int, n_gen: int) -> float:
    runner = ModelRunner(path, n_ctx=512, n_threads=n_threads)
    runner.eval(np.array(PROMPT))
    t0 = time.perf_counter()
    for i in range(n_gen):
        runner.eval([2000 + i])
    rate = n_gen / (time.perf_counter() - t0)
    runner.close()
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle-python", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-n", "--n-gen", type=int, default=64)
    ap.add_argument("-r", "--reps", type=int, default=3)
    args = ap.parse_args()
    path = write_bench_model("/tmp/pyggml-bench-moe-q8_0.gguf")
    ours, theirs = [], []
    for _ in range(args.reps):
        ours.append(pyggml_decode(path, args.threads, args.n_gen))
        out = subprocess.run([args.oracle_python, "-c", LLAMA_CPP, str(path), str(args.threads), str(args.n_gen),
                              ",".join(map(str, PROMPT))], check=True, capture_output=True, text=True)
        theirs.append(float(out.stdout.split()[-1]))
    print(f"{path.name} ({path.stat().st_size / 2**20:.0f} MiB), {args.threads} threads, decode {args.n_gen} tokens:")
    for name, r in (("pyggml", ours), ("llama.cpp", theirs)):
        print(f"  {name:10s} best {max(r):7.1f} tok/s  median {statistics.median(r):7.1f} tok/s  {[round(x, 1) for x in r]}")
    print(f"  pyggml / llama.cpp (best): {max(ours) / max(theirs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
