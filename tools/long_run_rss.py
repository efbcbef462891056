"""RSS over many consecutive short completions on one Llama (issue 16's long-run check).

    python tools/long_run_rss.py [--n 1000] [--model smollm2-135m-q4_1]

Prints RSS after 50 completions and after n, and their difference (the target: within 5 MiB)."""
from __future__ import annotations

import argparse
import resource
import time

import pyggml
from pyggml.models import ensure_model


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--model", default="smollm2-135m-q4_1")
    args = parser.parse_args()
    llm = pyggml.Llama(str(ensure_model(args.model)), n_ctx=128, n_threads=1, verbose=False)
    prompts = ["The capital of France is", "Once upon a time", "Water boils at", "My name is"]
    at_50 = None
    t0 = time.perf_counter()
    for i in range(args.n):
        llm(prompts[i % len(prompts)] + f" {i}", max_tokens=4, temperature=0.8, seed=i)
        if i + 1 == 50:
            at_50 = rss_mib()
    at_n = rss_mib()
    print(f"{args.n} completions in {time.perf_counter() - t0:.0f} s: RSS after 50 {at_50:.1f} MiB, "
          f"after {args.n} {at_n:.1f} MiB, growth {at_n - at_50:+.1f} MiB")
    llm.close()


if __name__ == "__main__":
    main()
