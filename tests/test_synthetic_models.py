"""Synthetic models of a real shape (manifest "synthetic", pyggml/models/synthetic.py), tested at
tiny shapes through the same code path as the 1B files (which are never written in CI)."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest

from pyggml.models import ManifestError, ensure_model, load_manifest
from pyggml.models.manifest import SyntheticModel
from pyggml.models.synthetic import RECIPE_KEY, is_current, tensor_type, uses_more_bits, write_synthetic
from pyggml.models.tiny import write_tiny_llama
from pyggml.runner import ModelRunner

REPO_MANIFEST = Path(__file__).resolve().parents[1] / "models" / "manifest.json"
TINY_SHAPE = {"n_embd": 256, "n_layer": 2, "n_head": 4, "n_head_kv": 2, "n_ff": 256, "n_ctx": 128,
              "rope_freq_base": 500000.0, "rms_eps": 1e-5}


def tiny(ftype: str, **changes) -> SyntheticModel:
    model = SyntheticModel(name=f"tiny-{ftype.lower()}", vocab_from="smollm2-135m-q4_1", recipe="test",
                           shape=dict(TINY_SHAPE), ftype=ftype, seed=7)
    return dataclasses.replace(model, **changes)


@pytest.fixture(scope="module")
def vocab_source(tmp_path_factory) -> Path:
    """A small synthetic BPE vocabulary (320 tokens) to copy, so the files stay tiny."""
    return write_tiny_llama(tmp_path_factory.mktemp("vocab") / "vocab.gguf", n_vocab=320)


@pytest.fixture(scope="module")
def tiny_files(vocab_source, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("synthetic")
    files = {}
    for ftype in ("Q4_0", "Q8_0", "Q4_K_M"):
        files[ftype] = out / f"{ftype}.gguf"
        write_synthetic(tiny(ftype), vocab_source, files[ftype])
    return files


def test_manifest_lists_the_llama_1b_shapes():
    synthetic = load_manifest().synthetic
    assert set(synthetic) == {"llama-1b-shape-q4_0", "llama-1b-shape-q8_0", "llama-1b-shape-q4_k_m"}
    for name, model in synthetic.items():
        # Llama-3.2-1B: n_embd 2048, 16 layers, 32 heads / 8 KV heads of 64, n_ff 8192
        assert {k: model.shape[k] for k in ("n_embd", "n_layer", "n_head", "n_head_kv", "n_ff")} == {
            "n_embd": 2048, "n_layer": 16, "n_head": 32, "n_head_kv": 8, "n_ff": 8192}
        assert model.vocab_from == "smollm2-135m-q4_1"
        assert name.endswith(model.ftype.lower())


def test_q4_k_m_more_bits_layers_are_llama_quantizes():
    # llama.cpp src/llama-quant.cpp use_more_bits: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2
    assert [i for i in range(16) if uses_more_bits(i, 16)] == [0, 1, 4, 7, 10, 13, 14, 15]
    assert [i for i in range(32) if uses_more_bits(i, 32)] == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert tensor_type("Q4_K_M", "blk.4.attn_v.weight", 2, 16).name == "Q6_K"
    assert tensor_type("Q4_K_M", "blk.5.attn_v.weight", 2, 16).name == "Q4_K"
    assert tensor_type("Q4_K_M", "blk.13.ffn_down.weight", 2, 16).name == "Q6_K"
    assert tensor_type("Q4_K_M", "blk.13.ffn_up.weight", 2, 16).name == "Q4_K"
    assert tensor_type("Q4_K_M", "token_embd.weight", 2, 16).name == "Q6_K"   # tied: quantized as the output
    assert tensor_type("Q4_0", "token_embd.weight", 2, 16).name == "Q6_K"
    assert tensor_type("Q8_0", "token_embd.weight", 2, 16).name == "Q8_0"
    assert tensor_type("Q4_0", "blk.0.attn_norm.weight", 1, 16).name == "F32"
    with pytest.raises(ValueError, match="'Q5_K_S' is not one of"):
        tensor_type("Q5_K_S", "blk.0.attn_q.weight", 2, 16)


@pytest.mark.parametrize("ftype, file_type", [("Q4_0", 2), ("Q8_0", 7), ("Q4_K_M", 15)])
def test_tiny_file_layout_read_by_gguf_py(tiny_files, vocab_source, ftype, file_type):
    reader = gguf.GGUFReader(tiny_files[ftype])
    fields = {k: f.contents() for k, f in reader.fields.items()}
    source = {k: f.contents() for k, f in gguf.GGUFReader(vocab_source).fields.items() if k.startswith("tokenizer.")}
    assert {k: v for k, v in fields.items() if k.startswith("tokenizer.")} == source
    assert fields["general.architecture"] == "llama" and fields["general.file_type"] == file_type
    assert "llama" not in fields["general.name"]
    assert fields["llama.embedding_length"] == 256 and fields["llama.attention.head_count_kv"] == 2
    assert fields["llama.rope.dimension_count"] == 64 and fields["llama.vocab_size"] == 320
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert "output.weight" not in types
    assert len(types) == 1 + 2 * 9 + 1
    for name, qtype in types.items():
        if name.endswith("norm.weight"):
            assert qtype == "F32"
        elif name == "token_embd.weight":
            assert qtype == ("Q8_0" if ftype == "Q8_0" else "Q6_K")
        elif ftype == "Q4_K_M" and name.startswith("blk.1.") and name.endswith(("attn_v.weight", "ffn_down.weight")):
            assert qtype == "Q6_K"   # n_layer 2: use_more_bits picks layer 1 only
        else:
            assert qtype == {"Q4_0": "Q4_0", "Q8_0": "Q8_0", "Q4_K_M": "Q4_K"}[ftype], name


def test_types_of_one_shape_quantize_the_same_values(tiny_files):
    """Tensor i draws from [seed, i] in every file type: the dequantized weights (by gguf-py)
    agree within the quantization error, and the weights have the recipe's std."""
    tensors = {f: {t.name: t for t in gguf.GGUFReader(p).tensors} for f, p in tiny_files.items()}
    for name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight", "blk.1.ffn_norm.weight"):
        q8 = gguf.quants.dequantize(tensors["Q8_0"][name].data, tensors["Q8_0"][name].tensor_type)
        fan_in = q8.shape[-1]
        std = {"token_embd.weight": 3.0 / np.sqrt(256)}.get(name, 1 / np.sqrt(fan_in))
        if name.endswith("norm.weight"):
            assert abs(q8.mean() - 1.0) < 0.03 and abs(q8.std() - 0.1) < 0.02
        else:
            assert abs(q8.std() / std - 1) < 0.05, name
        for ftype in ("Q4_0", "Q4_K_M"):
            t = tensors[ftype][name]
            other = gguf.quants.dequantize(t.data, t.tensor_type)
            rel = np.sqrt(np.mean((other - q8) ** 2)) / q8.std()
            assert rel < (0.2 if not name.endswith("norm.weight") else 1e-6), (name, ftype, rel)


@pytest.mark.parametrize("ftype", ["Q4_0", "Q8_0", "Q4_K_M"])
def test_tiny_file_runs_and_logits_have_a_std_of_a_few_units(tiny_files, ftype):
    runner = ModelRunner(str(tiny_files[ftype]), n_ctx=64, n_threads=1)
    try:
        logits = runner.eval([1, 17, 42, 99, 250])
    finally:
        runner.close()
    assert logits.shape[-1] == 320 and np.all(np.isfinite(logits))
    assert 1.5 < float(logits[-1].std()) < 6.0


def test_written_twice_is_byte_identical(tiny_files, vocab_source, tmp_path):
    again = tmp_path / "again.gguf"
    write_synthetic(tiny("Q8_0"), vocab_source, again)
    assert again.read_bytes() == tiny_files["Q8_0"].read_bytes()
    write_synthetic(tiny("Q8_0", seed=8), vocab_source, again)
    assert again.read_bytes() != tiny_files["Q8_0"].read_bytes()


def test_recipe_is_recorded_and_checked(tiny_files, tmp_path):
    assert is_current(tiny("Q8_0"), tiny_files["Q8_0"])
    assert not is_current(tiny("Q8_0", seed=8), tiny_files["Q8_0"])
    assert not is_current(tiny("Q4_0"), tiny_files["Q8_0"])
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_files["Q8_0"].read_bytes()[:-1000])
    assert not is_current(tiny("Q8_0"), truncated)
    recorded = json.loads(gguf.GGUFReader(tiny_files["Q8_0"]).fields[RECIPE_KEY].contents())
    assert recorded["shape"] == TINY_SHAPE and recorded["seed"] == 7 and recorded["ftype"] == "Q8_0"


def test_shape_that_does_not_fit_the_blocks_is_named(vocab_source, tmp_path):
    bad = tiny("Q4_K_M", shape=dict(TINY_SHAPE, n_ff=384))
    with pytest.raises(ValueError, match="tensor 'blk.0.ffn_down.weight' has ne0 = 384, not a multiple of the Q4_K block size 256"):
        write_synthetic(bad, vocab_source, tmp_path / "bad.gguf")


def _manifest_with_tiny_synthetic(tmp_path: Path, **entry_changes) -> Path:
    doc = json.loads(REPO_MANIFEST.read_text())
    doc["synthetic"] = {"tiny-q8_0": {"vocab_from": "smollm2-135m-q4_1", "ftype": "Q8_0", "seed": 7,
                                      "recipe": "test", "shape": dict(TINY_SHAPE)} | entry_changes}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    return path


def test_ensure_model_writes_reuses_and_remakes(tmp_path, monkeypatch, model_path):
    """The real SmolLM2 vocabulary (49152 tokens) copied, through ensure_model and the cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(model_path("smollm2-135m-q4_1"), cache / "smollm2-135m-q4_1.gguf")
    monkeypatch.setenv("PYGGML_MODELS", str(cache))
    manifest = load_manifest(_manifest_with_tiny_synthetic(tmp_path))
    path = ensure_model("tiny-q8_0", manifest)
    assert path == cache / "tiny-q8_0.gguf"
    reader = gguf.GGUFReader(path)
    assert len(reader.fields["tokenizer.ggml.tokens"].contents()) == 49152
    stamp = path.stat().st_mtime_ns
    assert ensure_model("tiny-q8_0", manifest) == path and path.stat().st_mtime_ns == stamp  # reused
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 4096)
    ensure_model("tiny-q8_0", manifest)
    assert is_current(manifest.synthetic["tiny-q8_0"], path)          # remade
    changed = load_manifest(_manifest_with_tiny_synthetic(tmp_path, seed=9))
    ensure_model("tiny-q8_0", changed)
    assert is_current(changed.synthetic["tiny-q8_0"], path) and not is_current(manifest.synthetic["tiny-q8_0"], path)


@pytest.mark.parametrize("changes, message", [
    ({"ftype": "Q5_K_S"}, "ftype 'Q5_K_S' is not one of Q4_0, Q8_0, Q4_K_M"),
    ({"vocab_from": "nope"}, "vocabulary from unknown model 'nope'"),
    ({"shape": dict(TINY_SHAPE, n_head=3)}, "n_embd must divide by n_head"),
    ({"shape": {k: v for k, v in TINY_SHAPE.items() if k != "n_ff"}}, "missing field 'n_ff'"),
    ({"shape": dict(TINY_SHAPE, n_layer=0)}, "'n_layer' must be positive"),
])
def test_malformed_synthetic_entry_is_named(tmp_path, changes, message):
    with pytest.raises(ManifestError, match=f"synthetic.tiny-q8_0.*{message}"):
        load_manifest(_manifest_with_tiny_synthetic(tmp_path, **changes))
