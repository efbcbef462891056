"""Tokenizer time is linear in the input on adversarial text (both families, real vocabularies).

Ratio-based: the same kind of text at SMALL and 10x SMALL characters; linear work takes ~10x the
CPU time, a quadratic path ~100x. The bound (MAX_RATIO) is generous for timer noise on a loaded
machine. CPU time of this process (time.process_time) is used, not wall time, so other
processes on the machine do not count. tools/tokenizer_scaling.py runs the same at 100 KB vs
1 MB and prints the figures."""
from __future__ import annotations

import random
import time

import pytest

from pyggml.tokenizer import Tokenizer

SMALL = 25_000
MAX_RATIO = 30


def adversarial_text(kind: str, n: int) -> str:
    """About n characters of one kind of hostile input."""
    if kind == "one character":
        return "a" * n
    if kind == "spaces":
        return " " * n
    if kind == "random bytes":
        rng = random.Random(n)
        return bytes(rng.getrandbits(8) for _ in range(n)).decode("utf-8", errors="replace")
    if kind == "combining marks":
        return ("e" + "\u0301" * 99) * (n // 100)
    if kind == "punctuation":
        return "!" * n
    raise ValueError(kind)


KINDS = ["one character", "spaces", "random bytes", "combining marks", "punctuation"]


def encode_cpu_seconds(tokenizer: Tokenizer, text: str) -> float:
    t0 = time.process_time()
    tokenizer.encode(text, parse_special=True)
    return time.process_time() - t0


@pytest.fixture(scope="module", params=["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
def tokenizer(request, model_path):
    return Tokenizer.from_gguf(model_path(request.param))


@pytest.mark.parametrize("kind", KINDS)
def test_encode_time_is_linear_in_the_input(tokenizer, kind):
    small = adversarial_text(kind, SMALL)
    large = adversarial_text(kind, 10 * SMALL)
    encode_cpu_seconds(tokenizer, adversarial_text(kind, SMALL // 10 + 1))   # warm up (first-call costs)
    t_small = encode_cpu_seconds(tokenizer, small)   # once: a repeat would only hit the word cache
    t_large = encode_cpu_seconds(tokenizer, large)
    ratio = t_large / max(t_small, 1e-3)
    assert ratio < MAX_RATIO, f"{kind}: {SMALL} chars {t_small:.3f} s, {10 * SMALL} chars {t_large:.3f} s"
