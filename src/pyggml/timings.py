"""The end-of-run performance lines, shaped like llama.cpp's perf print:

    pyggml_perf_print:    sampling time =       1.23 ms /    16 runs   (    0.08 ms per token, 13008.13 tokens per second)
    pyggml_perf_print:        load time =     123.45 ms
    pyggml_perf_print: prompt eval time =      45.67 ms /     5 tokens (    9.13 ms per token,   109.48 tokens per second)
    pyggml_perf_print:        eval time =     234.56 ms /    15 runs   (   15.64 ms per token,    63.95 tokens per second)
    pyggml_perf_print:       total time =     400.00 ms /    20 tokens
"""
from __future__ import annotations

from dataclasses import dataclass

PREFIX = "pyggml_perf_print"


@dataclass(frozen=True)
class PerfStats:
    load_ms: float
    prompt_ms: float
    prompt_tokens: int
    eval_ms: float
    eval_tokens: int
    sample_ms: float
    sample_runs: int
    total_ms: float


def _rate(ms: float, n: int) -> str:
    per_token = ms / n if n else 0.0
    per_second = 1e3 * n / ms if ms > 0 else 0.0
    return f"({per_token:8.2f} ms per token, {per_second:8.2f} tokens per second)"


def format_perf(stats: PerfStats, prefix: str = PREFIX) -> str:
    lines = [
        f"{prefix}:    sampling time = {stats.sample_ms:10.2f} ms / {stats.sample_runs:5d} runs   "
        + _rate(stats.sample_ms, stats.sample_runs),
        f"{prefix}:        load time = {stats.load_ms:10.2f} ms",
        f"{prefix}: prompt eval time = {stats.prompt_ms:10.2f} ms / {stats.prompt_tokens:5d} tokens "
        + _rate(stats.prompt_ms, stats.prompt_tokens),
        f"{prefix}:        eval time = {stats.eval_ms:10.2f} ms / {stats.eval_tokens:5d} runs   "
        + _rate(stats.eval_ms, stats.eval_tokens),
        f"{prefix}:       total time = {stats.total_ms:10.2f} ms / {stats.prompt_tokens + stats.eval_tokens:5d} tokens",
    ]
    return "\n".join(lines)
