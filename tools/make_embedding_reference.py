"""Write llama.cpp's embeddings of a few inputs to tests/reference/embeddings.npz (the oracle).

    /work/oracle-venv/bin/python tools/make_embedding_reference.py [--out tests/reference/embeddings.npz]

Runs llama-cpp-python (never a pyggml dependency) with embedding=True on each real model, for
pooling none (one vector per token), mean, cls and last, unnormalised. Keys:
"{model}/{pooling}/{i}" -> float32 (n_embd,) or (n_tokens, n_embd); "{model}/inputs" -> the texts.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from llama_cpp import Llama

MODELS = ("smollm2-135m-q4_1", "gemma3-270m-q4_k_m")
POOLINGS = {"none": 0, "mean": 1, "cls": 2, "last": 3}
INPUTS = ["The capital of France is Paris.", "hello", "Embeddings map text to vectors; similar texts land close."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent.parent / "tests/reference/embeddings.npz"))
    ap.add_argument("--models-dir", default=os.path.expanduser("~/.cache/pyggml/models"))
    args = ap.parse_args()
    arrays = {}
    for model in MODELS:
        arrays[f"{model}/inputs"] = np.array(INPUTS)
        for name, pooling in POOLINGS.items():
            llm = Llama(os.path.join(args.models_dir, model + ".gguf"), embedding=True, pooling_type=pooling,
                        n_ctx=256, n_threads=1, verbose=False)
            for i, text in enumerate(INPUTS):
                arrays[f"{model}/{name}/{i}"] = np.asarray(llm.embed(text, normalize=False), np.float32)
            del llm
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
    main()
