"""Synthetic GGUF files, one per decoder family pyggml runs, and llama.cpp's outputs for them.

The recipe (`write_arch_model`) is deterministic and needs only pyggml and numpy, so the tests
rebuild the same bytes (tests/test_arch_families.py checks each file's sha256 against the one
stored here before comparing logits). Every model has the family's real tensor layout: several
layers, GQA, SmolLM2's real BPE vocabulary (49152 tokens, copied from the SmolLM2 GGUF), random
weights scaled so the logits are a spread distribution (std of a few units, not one-hot) and
attention is sharp enough that positions matter. general.name never names the family.

    python tools/make_arch_models.py     # pyggml installed, llama-cpp-python importable (the oracle)

writes tests/reference/arch/<model>-<type>.npz and tests/reference/arch/meta.json:
  ids (n,) the prompt; top_ids / top_logits (n, TOP_K) llama.cpp's largest logits per position;
  lse (n,) each position's logsumexp; full_pos (F,) and full_logprobs (F, n_vocab) float16
  log-softmax rows at a few positions; greedy (8,) argmax continuation (after one batch eval).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from pyggml.gguf import GGUFValueType, GGUFWriter
from pyggml.models.tiny import FILE_TYPES
from pyggml.models.tiny_vocab import copied_tokenizer_metadata
from pyggml.quants import quantize
from pyggml.types import GGMLType

ROOT = Path(__file__).resolve().parents[1]

U32, F32 = GGUFValueType.UINT32, GGUFValueType.FLOAT32
REFERENCE_DIR = ROOT / "tests" / "reference" / "arch"
TOKENIZER_MODEL = "smollm2-135m-q4_1"
WEIGHT_TYPES = {"f32": GGMLType.F32, "q8_0": GGMLType.Q8_0}
TOP_K = 32
FULL_POSITIONS = (47, -1)     # -1: the last prompt position
N_GREEDY = 8
N_CTX = 512
PROMPT = (
    "The lighthouse keeper rose before dawn, as he had every morning for thirty-one years. He climbed "
    "the spiral stairs, counted the one hundred and twelve steps, and wiped the salt from the great "
    "lens with a soft cloth. Below him the harbour was still asleep: fishing boats rocked at their "
    "moorings, gulls argued over a broken crate, and a single light burned in the baker's window. "
    "He wrote the weather in his log (wind north-east, 14 knots; visibility good) and then, because "
    "nobody would ever read it, added a line about the colour of the sky."
)

# name -> the family and what its file has (shapes shared: see write_arch_model's defaults)
MODELS: dict[str, dict] = {
    "llama31": dict(arch="llama", rope_freqs=True, freq_base=500000.0),
    "llama-fused-bias": dict(arch="llama", fused_qkv=True, biases=("attn_qkv", "attn_output", "ffn_gate", "ffn_up",
                                                                      "ffn_down"), rope_scale=2.0),
    "qwen2": dict(arch="qwen2", biases=("attn_q", "attn_k", "attn_v"), freq_base=1000000.0, neox=True),
    "qwen3": dict(arch="qwen3", head_dim=32, qk_norm=True, freq_base=1000000.0, neox=True),
    "gpt2": dict(arch="gpt2", fused_qkv=True, layer_norm=True, n_head_kv=4, n_ctx_train=1024,
                 biases=("attn_qkv", "attn_output", "ffn_up", "ffn_down")),
    "gemma2": dict(arch="gemma2", head_dim=32, neox=True, post_norms=True, sliding_window=32,
                   attn_softcap=5.0, final_softcap=30.0, embd_std=0.15, output_norm=4.0),
    "phi3": dict(arch="phi3", fused_qkv=True, neox=True, longrope=True, n_ctx_train=4096, orig_ctx=256,
                 attn_factor=1.19),
}
# phi3 is also run at a context <= its original one, where llama.cpp picks the short factors
EXTRA_CONTEXTS = {"phi3": (256,)}


class _Weights:
    """Random tensors from one seeded generator, written in the order added."""

    def __init__(self, writer: GGUFWriter, seed: int, weight_type: GGMLType):
        self.writer, self.rng, self.weight_type = writer, np.random.default_rng(seed), weight_type

    def vector(self, name: str, n: int, mean: float, std: float) -> None:
        values = (mean + std * self.rng.standard_normal(n)).astype(np.float32)
        self.writer.add_tensor(name, values, GGMLType.F32)

    def matrix(self, name: str, ne0: int, ne1: int, std: float) -> None:
        """(ne1, ne0) numpy order: ne0 is the input (contiguous) dimension."""
        values = (std * self.rng.standard_normal((ne1, ne0))).astype(np.float32)
        self.writer.add_tensor(name, quantize(values, self.weight_type), self.weight_type, (ne0, ne1))


def write_arch_model(name: str, path: str | Path, weight_type: GGMLType, tokenizer_gguf: str | Path, *,
                     n_embd: int = 64, n_layer: int = 4, n_head: int = 4, n_ff: int = 128, seed: int = 1234) -> Path:
    """Write MODELS[name] as a GGUF file of `weight_type` matrices (norms, biases, rope factors F32)."""
    spec = MODELS[name]
    arch = spec["arch"]
    head_dim = spec.get("head_dim", n_embd // n_head)
    n_head_kv = spec.get("n_head_kv", 2)
    n_q, n_kv = n_head * head_dim, n_head_kv * head_dim
    vocab = copied_tokenizer_metadata(tokenizer_gguf)
    n_vocab = len(vocab["tokenizer.ggml.tokens"][0])
    writer = GGUFWriter(path)
    eps_key = "attention.layer_norm_epsilon" if spec.get("layer_norm") else "attention.layer_norm_rms_epsilon"
    kv = {
        "general.architecture": (arch, GGUFValueType.STRING),
        "general.name": ("synthetic test model " + str(seed), GGUFValueType.STRING),
        **({"general.file_type": (FILE_TYPES[weight_type], U32)} if weight_type in FILE_TYPES else {}),
        f"{arch}.block_count": (n_layer, U32),
        f"{arch}.context_length": (spec.get("n_ctx_train", 8192), U32),
        f"{arch}.embedding_length": (n_embd, U32),
        f"{arch}.feed_forward_length": (n_ff, U32),
        f"{arch}.attention.head_count": (n_head, U32),
        f"{arch}.attention.head_count_kv": (n_head_kv, U32),
        f"{arch}.{eps_key}": (1e-5, F32),
    }
    if arch != "gpt2":
        kv[f"{arch}.rope.freq_base"] = (spec.get("freq_base", 10000.0), F32)
        kv[f"{arch}.rope.dimension_count"] = (head_dim, U32)
    if head_dim != n_embd // n_head:
        kv[f"{arch}.attention.key_length"] = (head_dim, U32)
        kv[f"{arch}.attention.value_length"] = (head_dim, U32)
    if "rope_scale" in spec:
        kv[f"{arch}.rope.scaling.type"] = ("linear", GGUFValueType.STRING)
        kv[f"{arch}.rope.scaling.factor"] = (spec["rope_scale"], F32)
    if "sliding_window" in spec:
        kv[f"{arch}.attention.sliding_window"] = (spec["sliding_window"], U32)
    if "attn_softcap" in spec:
        kv[f"{arch}.attn_logit_softcapping"] = (spec["attn_softcap"], F32)
        kv[f"{arch}.final_logit_softcapping"] = (spec["final_softcap"], F32)
    if spec.get("longrope"):
        kv[f"{arch}.rope.scaling.original_context_length"] = (spec["orig_ctx"], U32)
        kv[f"{arch}.rope.scaling.attn_factor"] = (spec["attn_factor"], F32)
    for key, value in {**kv, **vocab}.items():
        writer.add_kv(key, *value)

    w = _Weights(writer, seed, weight_type)
    proj = n_embd ** -0.5
    biases = spec.get("biases", ())

    def norm(name: str, n: int, mean: float = 1.0) -> None:
        w.vector(name + ".weight", n, mean, 0.1)
        if spec.get("layer_norm"):
            w.vector(name + ".bias", n, 0.0, 0.1)

    def linear(blk: str, short: str, n_in: int, n_out: int, std: float) -> None:
        w.matrix(f"{blk}.{short}.weight", n_in, n_out, std)
        if short in biases:
            w.vector(f"{blk}.{short}.bias", n_out, 0.0, 0.5)

    # tied output: logits std ≈ embd_std · output norm · √n_embd (gemma scales the input by √n_embd:
    # a smaller table and a larger output norm keep the current token from dominating)
    w.matrix("token_embd.weight", n_embd, n_vocab, spec.get("embd_std", 0.6))
    if arch == "gpt2":
        w.matrix("position_embd.weight", n_embd, spec["n_ctx_train"], 0.3)
    if spec.get("rope_freqs"):   # Llama 3.1's are 1 on fast pairs and up to 8 on slow ones; here random in [1, 8]
        factors = w.rng.uniform(1.0, 8.0, head_dim // 2).astype(np.float32)
        w.writer.add_tensor("rope_freqs.weight", factors, GGMLType.F32)
    if spec.get("longrope"):
        w.writer.add_tensor("rope_factors_short.weight", w.rng.uniform(1.0, 2.0, head_dim // 2).astype(np.float32),
                            GGMLType.F32)
        w.writer.add_tensor("rope_factors_long.weight", w.rng.uniform(2.0, 16.0, head_dim // 2).astype(np.float32),
                            GGMLType.F32)
    for i in range(n_layer):
        blk = f"blk.{i}"
        norm(f"{blk}.attn_norm", n_embd)
        if spec.get("fused_qkv"):   # Q and K rows scaled up (sharper attention), V rows as usual
            w.matrix(f"{blk}.attn_qkv.weight", n_embd, n_q + 2 * n_kv, 2 * proj)
            if "attn_qkv" in biases:
                w.vector(f"{blk}.attn_qkv.bias", n_q + 2 * n_kv, 0.0, 0.5)
        else:
            linear(blk, "attn_q", n_embd, n_q, 2 * proj)
            linear(blk, "attn_k", n_embd, n_kv, 2 * proj)
            linear(blk, "attn_v", n_embd, n_kv, proj)
        if spec.get("qk_norm"):
            w.vector(f"{blk}.attn_q_norm.weight", head_dim, 1.0, 0.1)
            w.vector(f"{blk}.attn_k_norm.weight", head_dim, 1.0, 0.1)
        linear(blk, "attn_output", n_q, n_embd, n_q ** -0.5)
        if spec.get("post_norms"):
            norm(f"{blk}.post_attention_norm", n_embd)
        norm(f"{blk}.ffn_norm", n_embd)
        if arch == "phi3":
            linear(blk, "ffn_up", n_embd, 2 * n_ff, proj)
        else:
            if arch != "gpt2":
                linear(blk, "ffn_gate", n_embd, n_ff, proj)
            linear(blk, "ffn_up", n_embd, n_ff, proj)
        linear(blk, "ffn_down", n_ff, n_embd, n_ff ** -0.5)
        if spec.get("post_norms"):
            norm(f"{blk}.post_ffw_norm", n_embd)
    norm("output_norm", n_embd, spec.get("output_norm", 1.0))
    writer.write()
    return Path(path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _oracle_run(path: Path, ids: list[int], n_ctx: int) -> dict:
    from llama_cpp import Llama   # the oracle, only in the side venv

    llm = Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=2, verbose=False)
    llm.eval(ids)
    logits = np.array(llm.scores[:len(ids)], dtype=np.float32)
    greedy = []
    for _ in range(N_GREEDY):
        greedy.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval([greedy[-1]])
    del llm
    print(f"  logits std over the vocabulary, mean over positions: {logits.std(1).mean():.2f}", flush=True)
    x = logits.astype(np.float64)
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP_K].astype(np.int32)
    full = np.array([p % len(ids) for p in FULL_POSITIONS], dtype=np.int32)
    return dict(ids=np.array(ids, np.int32), top_ids=top, top_logits=np.take_along_axis(logits, top, 1),
                lse=lse.astype(np.float32), full_pos=full, full_logprobs=(x[full] - lse[full, None]).astype(np.float16),
                greedy=np.array(greedy, np.int32))


def main() -> None:
    from llama_cpp import Llama
    from pyggml.models import ensure_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "pyggml" / "arch-models")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    tokenizer_gguf = ensure_model(TOKENIZER_MODEL)
    vocab_llm = Llama(model_path=str(tokenizer_gguf), vocab_only=True, verbose=False)
    ids = vocab_llm.tokenize(PROMPT.encode(), add_bos=False, special=False)
    assert len(ids) >= 100 and len(ids) > max(FULL_POSITIONS), len(ids)
    meta_path = REFERENCE_DIR / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update(tokenizer_model=TOKENIZER_MODEL, top_k=TOP_K, n_ctx=N_CTX, prompt=PROMPT,
                oracle="llama-cpp-python 0.3.36 (llama.cpp 0c1e570), 2 threads, logits_all, one batch")
    files = meta.setdefault("files", {})
    for name in MODELS if args.only is None else args.only:
        for tname, wtype in WEIGHT_TYPES.items():
            path = write_arch_model(name, args.work / f"{name}-{tname}.gguf", wtype, tokenizer_gguf)
            for n_ctx in (N_CTX, *EXTRA_CONTEXTS.get(name, ())):
                key = f"{name}-{tname}" + ("" if n_ctx == N_CTX else f"-ctx{n_ctx}")
                data = _oracle_run(path, ids, n_ctx)
                np.savez_compressed(REFERENCE_DIR / f"{key}.npz", **data)
                files[key] = dict(model=name, type=tname, n_ctx=n_ctx, sha256=sha256(path),
                                  gguf_bytes=path.stat().st_size)
                p = np.exp(data["top_logits"].astype(np.float64) - data["lse"][:, None])
                print(f"{key}: top-1 p {p[:, 0].mean():.3f}, top-{TOP_K} mass {p.sum(1).mean():.3f}, "
                      f"greedy {data['greedy'].tolist()}", flush=True)
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
