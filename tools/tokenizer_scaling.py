"""Tokenizer timings on adversarial text at 100 KB and 1 MB (the figures of issue 16).

    python tools/tokenizer_scaling.py [model names...]   # default: both CI models
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_tokenizer_scaling import KINDS, adversarial_text  # noqa: E402

from pyggml.models import ensure_model  # noqa: E402
from pyggml.tokenizer import Tokenizer  # noqa: E402


def main(names: list[str]) -> None:
    for name in names or ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"]:
        tokenizer = Tokenizer.from_gguf(ensure_model(name))
        for kind in KINDS:
            times = []
            for n in (100_000, 1_000_000):
                text = adversarial_text(kind, n)
                t0 = time.process_time()
                tokenizer.encode(text, parse_special=True)
                times.append(time.process_time() - t0)
            print(f"{name:22s} {kind:16s} 100 KB {times[0]:7.3f} s   1 MB {times[1]:7.3f} s   "
                  f"ratio {times[1] / max(times[0], 1e-3):5.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
