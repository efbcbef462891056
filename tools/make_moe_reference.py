"""Write llama.cpp's outputs for the synthetic qwen3moe models into tests/reference/arch/.

    python tools/make_moe_reference.py --oracle-python /work/oracle-venv/bin/python

The models come from the recipe the tests use (pyggml.models.tiny_moe.write_tiny_qwen3moe with
SmolLM2's vocabulary, F32 and Q8_0); llama-cpp-python 0.3.36 (in its own environment, never a
pyggml dependency) tokenizes the prompt, evaluates it in one batch with logits for every
position, then decodes 8 greedy tokens one at a time. Stored per model, compactly:
  <model>/ids            the prompt's ids (llama.cpp's tokenization)
  <model>/top_ids        (n, TOP) the TOP largest logits' ids at every position, largest first
  <model>/top_logits     (n, TOP) their logits
  <model>/lse            (n,) float64 log-sum-exp of the full row (so log p is known for the top ids)
  <model>/full_pos       positions whose full rows are kept; <model>/full_logits (len, n_vocab)
  <model>/greedy         the 8 greedy tokens
and qwen3moe.json: the recipe's arguments, the prompt, each model file's sha256 (the test checks
that the recipe still writes the same bytes)."""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pyggml import GGMLType
from pyggml.models import ensure_model
from pyggml.models.tiny_moe import write_tiny_qwen3moe

OUT = Path(__file__).resolve().parent.parent / "tests" / "reference" / "arch"
TOP = 64
N_GREEDY = 8
RECIPE = dict(n_embd=128, n_layer=4, n_head=4, n_head_kv=2, head_dim=64, n_expert=8, n_expert_used=2,
              n_ff_exp=96, n_ctx=512, seed=7, logit_std=5.0, router_std=3.0, expert_out_std=0.3)
MODELS = {"f32": GGMLType.F32, "q8_0": GGMLType.Q8_0}
PROMPT = (
    "The lighthouse keeper wrote in her log every evening. On the first of March the wind came from "
    "the north-west at 35 knots, and three fishing boats sheltered in the bay until morning. She "
    "noted the barometer (falling, 998 hPa), the state of the lamp, and the oil she had used: 14 "
    "litres. Later that week a storm broke two panes of the lantern room; she replaced them herself, "
    "since the supply ship would not come before the 20th. \"The sea does what it wants,\" she wrote, "
    "\"and we keep the light burning.\""
)

ORACLE = r"""
import json, sys
import numpy as np
from llama_cpp import Llama
path, prompt, n_greedy, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
llm = Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=2, logits_all=True, verbose=False)
ids = llm.tokenize(prompt.encode(), add_bos=True, special=False)
llm.eval(ids)
logits = np.array(llm.scores[:len(ids)], dtype=np.float32)
greedy = []
for _ in range(n_greedy):
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    greedy.append(tok)
    llm.eval([tok])
np.savez(out, ids=np.array(ids, np.int32), logits=logits, greedy=np.array(greedy, np.int32))
"""


def write_models(directory: Path) -> dict[str, Path]:
    vocab = ensure_model("smollm2-135m-q4_1")
    return {name: write_tiny_qwen3moe(directory / f"tiny-moe-{name}.gguf", weight_type=wt, tokenizer=vocab, **RECIPE)
            for name, wt in MODELS.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle-python", required=True, help="python of an environment with llama-cpp-python")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    arrays, shas = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in write_models(Path(tmp)).items():
            raw = Path(tmp) / f"{name}-oracle.npz"
            subprocess.run([args.oracle_python, "-c", ORACLE, str(path), PROMPT, str(N_GREEDY), str(raw)], check=True)
            r = np.load(raw)
            logits = r["logits"].astype(np.float64)
            n = len(logits)
            top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP]
            m = logits.max(axis=1)
            full_pos = np.array([0, n // 2, n - 1], np.int32)
            arrays.update({
                f"{name}/ids": r["ids"], f"{name}/greedy": r["greedy"],
                f"{name}/top_ids": top.astype(np.int32),
                f"{name}/top_logits": np.take_along_axis(r["logits"], top, axis=1),
                f"{name}/lse": m + np.log(np.exp(logits - m[:, None]).sum(axis=1)),
                f"{name}/full_pos": full_pos, f"{name}/full_logits": r["logits"][full_pos],
            })
            shas[name] = sha256(path)
            print(f"{name}: {n} prompt tokens, logits std {logits.std():.2f}, greedy {r['greedy'].tolist()}")
    np.savez_compressed(OUT / "qwen3moe.npz", **arrays)
    meta = {"recipe": "pyggml.models.tiny_moe.write_tiny_qwen3moe", "args": RECIPE,
            "tokenizer": "smollm2-135m-q4_1", "models": {k: v.name for k, v in MODELS.items()},
            "sha256": shas, "prompt": PROMPT, "top": TOP, "n_greedy": N_GREEDY,
            "oracle": "llama-cpp-python 0.3.36 (llama.cpp 0c1e570), n_threads 2, one batch, logits_all"}
    (OUT / "qwen3moe.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {OUT / 'qwen3moe.npz'} ({(OUT / 'qwen3moe.npz').stat().st_size} bytes)")


if __name__ == "__main__":
    sys.exit(main())
