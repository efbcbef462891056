"""Tokenizer tests against llama.cpp.

- tests/reference/tokenizer-<model>.jsonl (or PYGGML_REFERENCE_DIR): llama.cpp's reference rows,
  one test per row.
- tests/fixtures/tokenizer_extra_*.jsonl: more texts (scripts, emoji, code, whitespace, repeats,
  special-token text, invalid UTF-8) tokenized by llama.cpp through llama-cpp-python
  (tools/make_tokenizer_fixtures.py), on the real vocabularies with metadata overrides (other
  pre-tokenizers, SPM flags) and on two synthetic vocabularies; plus llama.cpp's special ids,
  end-of-generation set and the rendering of every token.
- malformed metadata, unknown pre-tokenizer (refused; opt-in fallback), streaming detokenizer.
  Every pre type against llama.cpp: test_pretokenizers.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from pyggml.gguf import GGUFReader
from pyggml.tokenizer import StreamingDetokenizer, Tokenizer

HERE = Path(__file__).parent
REFERENCE_DIR = Path(os.environ.get("PYGGML_REFERENCE_DIR", HERE / "reference"))
FIXTURES = HERE / "fixtures"


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _reference_rows() -> list[tuple[str, int, dict]]:
    rows = []
    for path in sorted(REFERENCE_DIR.glob("tokenizer-*.jsonl")):
        model = path.stem.removeprefix("tokenizer-")
        rows += [(model, i, row) for i, row in enumerate(_jsonl(path))]
    return rows


def _fixture_groups() -> list[tuple[str, str, list[dict]]]:
    """(file stem, vocab name, rows) per vocabulary variant: a vocab row, then its text rows."""
    groups = []
    for path in sorted(FIXTURES.glob("tokenizer_extra_*.jsonl")):
        for row in _jsonl(path):
            if row["kind"] == "vocab":
                groups.append((path.stem, row["vocab"], [row]))
            else:
                groups[-1][2].append(row)
    return groups


REFERENCE_ROWS = _reference_rows()
FIXTURE_GROUPS = _fixture_groups()
SYNTHETIC_METADATA = {row[0]["vocab"]: row[0]["metadata"] for _, _, row in FIXTURE_GROUPS if "metadata" in row[0]}


def _metadata_from_json(metadata: dict) -> dict:
    """JSON metadata -> the value types GGUFReader gives (numeric arrays as numpy arrays)."""
    out = {}
    for key, value in metadata.items():
        if isinstance(value, list) and value and not isinstance(value[0], str):
            value = np.asarray(value, np.float32 if any(isinstance(v, float) for v in value) else np.int32)
        out[key] = value
    return out


@pytest.fixture(scope="session")
def vocab_metadata(model_path):
    """vocab_metadata(name) -> GGUF metadata of a real model (pyggml.gguf) or a synthetic vocab."""

    @cache
    def get(name: str) -> dict:
        if name in SYNTHETIC_METADATA:
            return _metadata_from_json(SYNTHETIC_METADATA[name])
        with GGUFReader(model_path(name)) as reader:
            return dict(reader.metadata)

    return get


@pytest.fixture(scope="session")
def tokenizer(vocab_metadata):
    """tokenizer(name, overrides_json="{}") -> Tokenizer of that vocabulary with overridden keys."""

    @cache
    def get(name: str, overrides: str = "{}") -> Tokenizer:
        return Tokenizer.from_metadata({**vocab_metadata(name), **json.loads(overrides)})

    return get


def _text(row: dict) -> str | bytes:
    return bytes.fromhex(row["text_hex"]) if "text_hex" in row else row["text"]


# --- llama.cpp reference rows ---------------------------------------------------------------------

@pytest.mark.parametrize("model,index,row", REFERENCE_ROWS, ids=[f"{m}:{i}" for m, i, _ in REFERENCE_ROWS])
def test_reference_row(tokenizer, model, index, row):
    tok = tokenizer(model)
    ids = tok.encode(row["text"], add_special=row["add_special"], parse_special=row["parse_special"])
    assert ids == row["ids"]
    if "detok" in row:
        assert tok.decode(row["ids"]).decode("utf-8", "replace") == row["detok"]


def test_reference_rows_present():
    models = {m for m, _, _ in REFERENCE_ROWS}
    assert {"smollm2-135m-q4_1", "gemma3-270m-q4_k_m"} <= models
    flags = {(r["add_special"], r["parse_special"]) for _, _, r in REFERENCE_ROWS}
    assert flags >= {(True, False), (False, False), (True, True)}


# --- llama-cpp-python fixtures -------------------------------------------------------------------

def _group_id(group) -> str:
    stem, vocab, rows = group
    overrides = ",".join(f"{k.removeprefix('tokenizer.ggml.')}={v}" for k, v in rows[0]["overrides"].items())
    return f"{vocab}[{overrides}]"


MISSING_PRE_WARNING = "ignore:tokenizer.ggml.pre is missing"  # synthetic-bpe without pre: tested below


@pytest.mark.filterwarnings(MISSING_PRE_WARNING)
@pytest.mark.parametrize("group", FIXTURE_GROUPS, ids=[_group_id(g) for g in FIXTURE_GROUPS])
def test_fixture_texts(tokenizer, group):
    _, vocab, rows = group
    tok = tokenizer(vocab, json.dumps(rows[0]["overrides"]))
    failures = []
    for row in rows[1:]:
        text = _text(row)
        ids = tok.encode(text, add_special=row["add_special"], parse_special=row["parse_special"])
        if ids != row["ids"]:
            failures.append(f"{text[:40]!r} add_special={row['add_special']} parse_special="
                            f"{row['parse_special']}:\n  got      {ids[:20]}\n  llama.cpp {row['ids'][:20]}")
        detok = row.get("detok", row.get("text"))
        for special, expected in ((False, detok), (True, row.get("detok_special", detok))):
            got = tok.decode(row["ids"], special=special).decode("utf-8", "replace")
            if got != expected:
                failures.append(f"decode(special={special}) of {text[:40]!r}: {got[:60]!r} != {expected[:60]!r}")
    assert len(rows) > 20
    assert not failures, f"{len(failures)} mismatches, first ones:\n" + "\n".join(failures[:10])


@pytest.mark.filterwarnings(MISSING_PRE_WARNING)
@pytest.mark.parametrize("group", FIXTURE_GROUPS, ids=[_group_id(g) for g in FIXTURE_GROUPS])
def test_fixture_vocab(tokenizer, group):
    _, vocab, rows = group
    facts = rows[0]
    tok = tokenizer(vocab, json.dumps(facts["overrides"]))
    assert tok.n_vocab == facts["n_vocab"]
    assert (tok.bos_id, tok.eos_id, tok.eot_id) == (facts["bos"], facts["eos"], facts["eot"])
    assert sorted(tok.eog_ids) == facts["eog"]
    assert all(tok.is_eog(i) for i in facts["eog"]) and not tok.is_eog(facts["n_vocab"] // 2 + 7)
    assert (tok.add_bos, tok.add_eos) == (facts["add_bos"], facts["add_eos"])
    for token_id, (with_special, plain) in facts["pieces"].items():
        assert tok.token_to_piece(int(token_id), special=True) == bytes.fromhex(with_special), token_id
        assert tok.token_to_piece(int(token_id), special=False) == bytes.fromhex(plain), token_id
    for name, special in (("special", True), ("plain", False)):
        digest = hashlib.sha256()
        for token_id in range(tok.n_vocab):
            piece = tok.token_to_piece(token_id, special=special)
            digest.update(struct.pack("<I", len(piece)) + piece)
        assert digest.hexdigest() == facts["pieces_sha256"][name], f"pieces with special={special}"


def test_fixtures_cover_pre_types_and_flags():
    pres = {g[2][0]["overrides"].get("tokenizer.ggml.pre") for g in FIXTURE_GROUPS}
    assert {"gpt-2", "llama-bpe", "qwen2", "smollm", "default", "dbrx", None} <= pres
    vocabs = {g[1] for g in FIXTURE_GROUPS}
    assert {"smollm2-135m-q4_1", "gemma3-270m-q4_k_m", "synthetic-bpe", "synthetic-spm"} <= vocabs


def test_unknown_pre_fallback_uses_the_named_rule(vocab_metadata, monkeypatch):
    monkeypatch.delenv("PYGGML_PRE_TOKENIZER_FALLBACK", raising=False)
    metadata = {**vocab_metadata("synthetic-bpe"), "tokenizer.ggml.pre": "no-such-pre"}
    with pytest.raises(ValueError, match="no-such-pre"):
        Tokenizer.from_metadata(metadata)
    with pytest.warns(UserWarning, match="no-such-pre"):
        tok = Tokenizer.from_metadata(metadata, pre_tokenizer_fallback="gpt-2")
    rows = next(g[2] for g in FIXTURE_GROUPS
                if g[1] == "synthetic-bpe" and g[2][0]["overrides"].get("tokenizer.ggml.pre") == "gpt-2")
    for row in rows[1:]:
        assert tok.encode(_text(row), row["add_special"], row["parse_special"]) == row["ids"]


def test_missing_pre_warns(vocab_metadata):
    metadata = vocab_metadata("synthetic-bpe")
    assert "tokenizer.ggml.pre" not in metadata
    with pytest.warns(UserWarning, match="tokenizer.ggml.pre is missing"):
        Tokenizer.from_metadata(metadata)


def test_from_gguf_matches_from_metadata(model_path, tokenizer):
    tok = Tokenizer.from_gguf(model_path("smollm2-135m-q4_1"))
    text = "<|im_start|>user\nHello, wörld! 123<|im_end|>"
    assert tok.encode(text, parse_special=True) == tokenizer("smollm2-135m-q4_1").encode(text, parse_special=True)


def test_special_token_semantics(tokenizer):
    smollm, gemma = tokenizer("smollm2-135m-q4_1"), tokenizer("gemma3-270m-q4_k_m")
    im_start, im_end = smollm.encode("<|im_start|><|im_end|>", parse_special=True)
    assert smollm.is_eog(im_end) and not smollm.is_eog(im_start)
    assert smollm.encode("hi", add_special=True) == smollm.encode("hi", add_special=False)  # no BOS
    assert gemma.encode("hi")[0] == gemma.bos_id and gemma.add_bos
    turn_end = gemma.encode("<end_of_turn>", add_special=False, parse_special=True)
    assert turn_end == [gemma.eot_id] and gemma.is_eog(gemma.eot_id)
    assert gemma.token_to_piece(gemma.eot_id) == b"<end_of_turn>"
    assert gemma.token_to_piece(gemma.eot_id, special=False) == b""


# --- decoding -----------------------------------------------------------------------------------

STREAM_TEXTS = ["🦙🚀✨ 👨‍👩‍👧‍👦 日本語のテキスト", "Ωμέγα Привет مرحبا 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "plain ascii\n\tcode()"]


@pytest.mark.parametrize("model", ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
@pytest.mark.parametrize("text", STREAM_TEXTS)
def test_streaming_detokenizer_never_splits_a_character(tokenizer, model, text):
    tok = tokenizer(model)
    ids = tok.encode(text)
    stream = tok.streaming_detokenizer()
    chunks = [stream.feed(i) for i in ids] + [stream.flush()]
    assert "".join(chunks) == tok.decode(ids).decode("utf-8") == text
    assert all("\ufffd" not in c for c in chunks)
    if text.isascii():
        return
    # some character spans several tokens: its first tokens give "" and the last one all of it
    pieces = [tok.token_to_piece(i, special=False) for i in ids]
    assert any(p and c == "" for p, c in zip(pieces, chunks, strict=True))


def test_streaming_detokenizer_flush_and_bytes(tokenizer):
    tok = tokenizer("gemma3-270m-q4_k_m")
    emoji = tok.encode("🦙", add_special=False)  # byte-fallback tokens <0xF0> <0x9F> <0xA6> <0x99>
    assert len(emoji) == 4
    stream = tok.streaming_detokenizer()
    assert [stream.feed(i) for i in emoji[:3]] == ["", "", ""]
    assert stream.flush() == "\ufffd"  # an unfinished character at the end of the stream
    assert stream.feed(emoji) == "🦙" and stream.flush() == ""
    bos_first = [tok.bos_id, *tok.encode(" hi", add_special=False)]
    assert stream.feed(bos_first) + stream.flush() == tok.decode(bos_first).decode() == "hi"
    assert StreamingDetokenizer(tok, special=True).feed(bos_first) == "<bos> hi"


def test_decode_rejects_bad_ids(tokenizer):
    tok = tokenizer("smollm2-135m-q4_1")
    for bad in (-1, tok.n_vocab):
        with pytest.raises(ValueError, match=str(bad)):
            tok.decode([1, bad])
    assert tok.decode(np.array([19556], np.int32)) == tok.token_to_piece(19556)


# --- malformed metadata -------------------------------------------------------------------------

def _tiny_bpe() -> dict:
    """A valid 6-token byte-level BPE vocabulary."""
    return {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
        "tokenizer.ggml.tokens": ["a", "b", "ab", "Ġ", "<s>", "<0x41>"],
        "tokenizer.ggml.token_type": np.array([1, 1, 1, 1, 3, 6], np.int32),
        "tokenizer.ggml.merges": ["a b"],
        "tokenizer.ggml.bos_token_id": 4, "tokenizer.ggml.eos_token_id": 4,
    }


def test_tiny_vocab_is_valid():
    tok = Tokenizer.from_metadata(_tiny_bpe())
    assert tok.encode("ab ab") == [2, 3, 2]
    assert tok.token_to_piece(5) == b"A"


def test_spm_without_byte_token_falls_back_to_unknown():
    # llama.cpp aborts here; pyggml emits the unknown token, as SentencePiece does
    tok = Tokenizer.from_metadata({
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "▁", "a", "<0x62>"],
        "tokenizer.ggml.scores": np.zeros(6, np.float32),
        "tokenizer.ggml.token_type": np.array([2, 3, 3, 1, 1, 6], np.int32),
    })
    assert tok.encode("a b c") == [1, 3, 4, 3, 5, 3, 0]


@pytest.mark.parametrize("change,message", [
    ({"tokenizer.ggml.model": None}, "missing tokenizer metadata key tokenizer.ggml.model"),
    ({"tokenizer.ggml.model": "wordpiece"}, "tokenizer.ggml.model = 'wordpiece' is not supported"),
    ({"tokenizer.ggml.tokens": None}, "missing tokenizer metadata key tokenizer.ggml.tokens"),
    ({"tokenizer.ggml.tokens": []}, "tokenizer.ggml.tokens is empty"),
    ({"tokenizer.ggml.tokens": "ab"}, "tokenizer.ggml.tokens must be an array of strings"),
    ({"tokenizer.ggml.tokens": ["a", "b", "ab", "Ġ", "a", "<0x41>"]}, "token b'a' appears twice"),
    ({"tokenizer.ggml.token_type": np.array([1, 1, 1], np.int32)}, "tokenizer.ggml.token_type has 3 entries"),
    ({"tokenizer.ggml.token_type": np.array([1, 1, 1, 1, 3, 9], np.int32)}, r"tokenizer.ggml.token_type\[5\] = 9"),
    ({"tokenizer.ggml.scores": np.zeros(7, np.float32)}, "tokenizer.ggml.scores has 7 entries"),
    ({"tokenizer.ggml.tokens": ["a", "b", "ab", "Ġ", "<s>", "<0xZZ>"]},
     r"tokenizer.ggml.tokens\[5\] = b'<0xZZ>' has type byte"),
    ({"tokenizer.ggml.merges": None}, "missing tokenizer metadata key tokenizer.ggml.merges"),
    ({"tokenizer.ggml.merges": ["a c"]}, r"tokenizer.ggml.merges\[0\] = 'a c' names 'c'"),
    ({"tokenizer.ggml.merges": ["b a"]}, r"tokenizer.ggml.merges\[0\] = 'b a' names 'ba'"),
    ({"tokenizer.ggml.merges": ["ab"]}, r"tokenizer.ggml.merges\[0\] = 'ab' is not two tokens"),
    ({"tokenizer.ggml.bos_token_id": 6}, "tokenizer.ggml.bos_token_id = 6 is out of range for 6 tokens"),
    ({"tokenizer.ggml.eos_token_id": -1}, "tokenizer.ggml.eos_token_id = -1 is out of range"),
    ({"tokenizer.ggml.bos_token_id": "4"}, "tokenizer.ggml.bos_token_id must be an integer"),
    ({"tokenizer.ggml.bos_token_id": None, "tokenizer.ggml.add_bos_token": True},
     "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is not set"),
    ({"tokenizer.ggml.add_bos_token": 1}, "tokenizer.ggml.add_bos_token must be a bool"),
    ({"tokenizer.ggml.pre": 3}, "tokenizer.ggml.pre must be a string"),
])
def test_malformed_metadata_raises_value_error(change, message):
    metadata = _tiny_bpe()
    for key, value in change.items():
        if value is None:
            metadata.pop(key)
        else:
            metadata[key] = value
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_metadata(metadata)
