"""Write a synthetic model (manifest "synthetic"): a real model's shape with seeded random weights,
so speed at scale is measured on any machine without a model hub.

Layout and metadata keys are llama.cpp's for the llama architecture; the vocabulary (every
tokenizer.* key) is copied from the entry's `vocab_from` model. Weights: matrices ~ N(0, 1/fan_in),
norms ~ 1 + N(0, 0.1^2), the (tied) token embedding ~ N(0, (LOGIT_STD^2 / n_embd)) so that the
output logits, a dot of a unit-RMS hidden state with an embedding row, have a std of ~LOGIT_STD:
wide enough that a greedy token means something, not so wide that softmax is one-hot. Tensor i
draws from numpy's generator seeded [seed, i], so the Q4_0, Q8_0 and Q4_K_M files of one shape
quantize the same values. Types per tensor are llama-quantize's choice for the file type
(`tensor_type`). Memory stays bounded: the file is laid out with zero-filled tensors first, then
each tensor is generated, quantized and written in slices of rows.

The cached file carries its recipe (key RECIPE_KEY); ensure_model remakes the file when the
recipe differs. There is no checksum: the values come from numpy's generator, whose stream
numpy does not promise to keep across releases."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..gguf import GGUFReader, GGUFValueType, GGUFWriter
from ..gguf.reader import GGUFError
from ..quants import quantize
from ..types import GGMLType, traits
from .cache import atomic_output
from .manifest import SyntheticModel
from .progress import Progress
from .tiny_vocab import copied_tokenizer_metadata

RECIPE_KEY = "pyggml.synthetic.recipe"
LOGIT_STD = 3.0
ROWS_PER_SLICE = 2048
U32, F32 = GGUFValueType.UINT32, GGUFValueType.FLOAT32

# llama.cpp's LLAMA_FTYPE_MOSTLY_* -> (general.file_type, base type of the 2-D tensors)
FTYPES = {"Q4_0": (2, GGMLType.Q4_0), "Q8_0": (7, GGMLType.Q8_0), "Q4_K_M": (15, GGMLType.Q4_K)}


def uses_more_bits(i_layer: int, n_layer: int) -> bool:
    """Layers whose attn_v / ffn_down get Q6_K in a Q4_K_M file: the first and last eighth and
    every third layer between (llama.cpp src/llama-quant.cpp, use_more_bits)."""
    return i_layer < n_layer // 8 or i_layer >= 7 * n_layer // 8 or (i_layer - n_layer // 8) % 3 == 2


def tensor_type(ftype: str, name: str, n_dims: int, n_layer: int) -> GGMLType:
    """The type llama-quantize gives tensor `name` in a file of `ftype` (llama arch, output tied
    to token_embd): 1-D tensors F32; the tied embedding is quantized as the output, Q6_K unless
    the file is Q8_0; in Q4_K_M, attn_v and ffn_down of uses_more_bits layers are Q6_K."""
    if ftype not in FTYPES:
        raise ValueError(f"synthetic file type {ftype!r} is not one of {', '.join(FTYPES)}")
    base = FTYPES[ftype][1]
    if n_dims < 2:
        return GGMLType.F32
    if name == "token_embd.weight":
        return base if base == GGMLType.Q8_0 else GGMLType.Q6_K
    if ftype == "Q4_K_M" and name.endswith((".attn_v.weight", ".ffn_down.weight")):
        if uses_more_bits(int(name.split(".")[1]), n_layer):
            return GGMLType.Q6_K
    return base


def tensor_plan(model: SyntheticModel, n_vocab: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, ne in ggml order) of every tensor, in file order; ne0 is the input dimension."""
    s = model.shape
    head_dim = s["n_embd"] // s["n_head"]
    plan: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (s["n_embd"], n_vocab))]
    for i in range(s["n_layer"]):
        blk = f"blk.{i}"
        plan += [
            (f"{blk}.attn_norm.weight", (s["n_embd"],)),
            (f"{blk}.attn_q.weight", (s["n_embd"], s["n_head"] * head_dim)),
            (f"{blk}.attn_k.weight", (s["n_embd"], s["n_head_kv"] * head_dim)),
            (f"{blk}.attn_v.weight", (s["n_embd"], s["n_head_kv"] * head_dim)),
            (f"{blk}.attn_output.weight", (s["n_head"] * head_dim, s["n_embd"])),
            (f"{blk}.ffn_norm.weight", (s["n_embd"],)),
            (f"{blk}.ffn_gate.weight", (s["n_embd"], s["n_ff"])),
            (f"{blk}.ffn_up.weight", (s["n_embd"], s["n_ff"])),
            (f"{blk}.ffn_down.weight", (s["n_ff"], s["n_embd"])),
        ]
    plan.append(("output_norm.weight", (s["n_embd"],)))
    return plan


def _metadata(model: SyntheticModel, vocab: dict, n_vocab: int) -> dict:
    s = model.shape
    return {
        "general.architecture": ("llama", GGUFValueType.STRING),
        "general.type": ("model", GGUFValueType.STRING),
        # no family name here: llama.cpp keys vocabulary quirks on general.name
        "general.name": (f"pyggml synthetic {model.name}", GGUFValueType.STRING),
        "general.file_type": (FTYPES[model.ftype][0], U32),
        RECIPE_KEY: (model.recipe_json, GGUFValueType.STRING),
        "llama.block_count": (s["n_layer"], U32),
        "llama.context_length": (s["n_ctx"], U32),
        "llama.embedding_length": (s["n_embd"], U32),
        "llama.feed_forward_length": (s["n_ff"], U32),
        "llama.attention.head_count": (s["n_head"], U32),
        "llama.attention.head_count_kv": (s["n_head_kv"], U32),
        "llama.rope.freq_base": (float(s["rope_freq_base"]), F32),
        "llama.attention.layer_norm_rms_epsilon": (float(s["rms_eps"]), F32),
        "llama.vocab_size": (n_vocab, U32),
        "llama.rope.dimension_count": (s["n_embd"] // s["n_head"], U32),
        **vocab,
    }


def _values(rng: np.random.Generator, name: str, ne: tuple[int, ...], rows: int, n_embd: int) -> np.ndarray:
    """`rows` more rows (numpy order: (rows, ne0)) of tensor `name`, drawn from its generator."""
    if len(ne) == 1:
        return (1.0 + 0.1 * rng.standard_normal(ne[0], dtype=np.float32)).astype(np.float32)
    std = LOGIT_STD / np.sqrt(n_embd) if name == "token_embd.weight" else 1.0 / np.sqrt(ne[0])
    values = rng.standard_normal((rows, ne[0]), dtype=np.float32)
    values *= np.float32(std)
    return values


def write_synthetic(model: SyntheticModel, vocab_source: Path, dest: Path) -> None:
    """Write `model` to `dest`, its vocabulary copied from the GGUF file `vocab_source`."""
    vocab = copied_tokenizer_metadata(vocab_source)
    n_vocab = len(vocab["tokenizer.ggml.tokens"][0])
    n_layer, n_embd = model.shape["n_layer"], model.shape["n_embd"]
    plan = [(name, ne, tensor_type(model.ftype, name, len(ne), n_layer)) for name, ne in tensor_plan(model, n_vocab)]
    for name, ne, qtype in plan:
        if ne[0] % traits(qtype).block_size:
            raise ValueError(f"synthetic model {model.name}: tensor {name!r} has ne0 = {ne[0]}, not a multiple "
                             f"of the {qtype.name} block size {traits(qtype).block_size}")

    # 1. the layout: header + zero-filled data (np.zeros pages are not touched, so not resident)
    writer = GGUFWriter(dest)
    for key, (value, vtype) in _metadata(model, vocab, n_vocab).items():
        writer.add_kv(key, value, vtype)
    for name, ne, qtype in plan:
        tr = traits(qtype)
        nbytes = int(np.prod(ne)) // tr.block_size * tr.type_size
        writer.add_tensor(name, np.zeros(nbytes, np.uint8), qtype, ne)
    writer.write()
    del writer
    with GGUFReader(dest) as reader:
        offsets = {t.name: t.offset for t in reader.tensors}

    # 2. the values, tensor by tensor, in slices of rows
    progress = Progress(f"writing synthetic {model.name}", len(plan), unit="tensors")
    with open(dest, "r+b") as f:
        for i, (name, ne, qtype) in enumerate(plan):
            rng = np.random.default_rng([model.seed, i])
            f.seek(offsets[name])
            n_rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
            for row0 in range(0, n_rows, ROWS_PER_SLICE):
                values = _values(rng, name, ne, min(ROWS_PER_SLICE, n_rows - row0), n_embd)
                f.write(memoryview(np.ascontiguousarray(quantize(values, qtype))).cast("B"))
            progress.update(i + 1)
    progress.done()


def is_current(model: SyntheticModel, path: Path) -> bool:
    """The cached file opens as GGUF and was written by this recipe."""
    try:
        with GGUFReader(path) as reader:
            return reader.metadata.get(RECIPE_KEY) == model.recipe_json
    except (GGUFError, OSError):
        return False


def make_synthetic(model: SyntheticModel, vocab_source: Path, dest: Path) -> None:
    with atomic_output(dest) as tmp:
        write_synthetic(model, vocab_source, tmp)
