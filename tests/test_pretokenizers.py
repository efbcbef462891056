"""Every BPE pre-tokenizer type against llama.cpp.

tests/reference/pretokenizers-smollm2.jsonl (tools/make_pretokenizer_fixtures.py) holds llama.cpp's
ids for a corpus of texts under each tokenizer.ggml.pre, on SmolLM2's vocabulary plus tokens that
make word boundaries show (every 2- and 3-digit string, chosen words with merges ranked first,
words without a merge path), in vocab-only GGUF files without add_bos/add_eos keys. Here the
vocabulary is built once and the pre type switched; types that share a pyggml spec share its
encodings, but each type is compared with its own rows.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from pyggml.arch.config import ModelFormatError
from pyggml.gguf import GGUFReader
from pyggml.tokenizer import PRE_TYPES, Tokenizer, UnknownPreTokenizerError, Vocab
from pyggml.tokenizer.pretokenize import FALLBACK_ENV, pre_tokenizer_adds_bos, pre_tokenizer_spec

# another corpus: tools/make_pretokenizer_fixtures.py --random N --seed S --out FILE, then point this at FILE
REFERENCE = Path(os.environ.get("PYGGML_PRETOKENIZER_REFERENCE",
                                Path(__file__).parent / "reference" / "pretokenizers-smollm2.jsonl"))


def _load():
    with open(REFERENCE, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    corpus, extra, lists = rows[:3]
    assert (corpus["kind"], extra["kind"], lists["kind"]) == ("corpus", "vocab", "ids")
    texts = [bytes.fromhex(t["hex"]) if isinstance(t, dict) else t for t in corpus["texts"]]
    return corpus["vocab"], extra, texts, lists["lists"], {row["pre"]: row for row in rows[3:]}


VOCAB_NAME, EXTRA_VOCAB, TEXTS, ID_LISTS, PRE_ROWS = _load()
ACCEPTED = sorted(pre for pre, row in PRE_ROWS.items() if "error" not in row)


@pytest.fixture(scope="module")
def metadata(model_path):
    """SmolLM2's vocabulary as the reference file's GGUFs hold it: the extra tokens appended, the
    extra merges ranked first, no add_bos/add_eos/add_space_prefix."""
    with GGUFReader(model_path(VOCAB_NAME)) as reader:
        meta = {k: v for k, v in reader.metadata.items() if k.startswith("tokenizer.ggml.")}
        extra_tokens = EXTRA_VOCAB["extra_tokens"]
        meta["tokenizer.ggml.tokens"] = [*meta["tokenizer.ggml.tokens"], *extra_tokens]
        meta["tokenizer.ggml.token_type"] = np.concatenate(
            [np.asarray(meta["tokenizer.ggml.token_type"], np.int32), np.ones(len(extra_tokens), np.int32)])
        meta["tokenizer.ggml.merges"] = [*EXTRA_VOCAB["extra_merges"], *meta["tokenizer.ggml.merges"]]
    for key in ("tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_space_prefix"):
        meta.pop(key, None)
    return meta


@pytest.fixture(scope="module")
def encode_corpus(metadata):
    """encode_corpus(pre) -> pyggml's ids for every corpus text; one vocabulary, pre switched."""
    base = Vocab.from_metadata({**metadata, "tokenizer.ggml.pre": "gpt-2"})

    by_spec: dict[int, list[list[int]]] = {}

    def encode(pre: str) -> list[list[int]]:
        key = id(pre_tokenizer_spec(pre))
        if key not in by_spec:
            tok = Tokenizer(dataclasses.replace(base, pre=pre))
            by_spec[key] = [tok.encode(text, add_special=False) for text in TEXTS]
        return by_spec[key]

    return encode


@pytest.mark.parametrize("pre", ACCEPTED)
def test_pre_type_matches_llama_cpp(encode_corpus, pre):
    expected = [ID_LISTS[i] for i in PRE_ROWS[pre]["ids"]]
    got = encode_corpus(pre)
    wrong = [k for k, (e, g) in enumerate(zip(expected, got)) if e != g]
    detail = "; ".join(f"{TEXTS[k]!r}: {got[k][:12]} != {expected[k][:12]}" for k in wrong[:3])
    assert not wrong, f"{pre}: {len(wrong)}/{len(TEXTS)} texts differ from llama.cpp: {detail}"


def test_pre_type_bos_default(metadata):
    """Without tokenizer.ggml.add_bos_token, llama.cpp adds BOS for some types only."""
    wrong = [pre for pre in ACCEPTED if pre_tokenizer_adds_bos(pre) != PRE_ROWS[pre]["add_bos"]]
    assert not wrong
    for pre in ("llama-bpe", "qwen2"):
        vocab = Vocab.from_metadata({**metadata, "tokenizer.ggml.pre": pre})
        assert vocab.add_bos == PRE_ROWS[pre]["add_bos"], pre


def test_reference_covers_the_pre_types():
    required = {"llama-bpe", "llama3", "qwen2", "qwen35", "deepseek-llm", "deepseek-coder", "deepseek-v3", "tekken",
                "gpt-4o", "falcon", "olmo", "starcoder", "command-r", "refact", "stablelm2", "phi-2", "smollm",
                "gpt-2", "default"}
    assert required <= set(ACCEPTED)
    assert set(ACCEPTED) <= PRE_TYPES, "llama.cpp accepts types pyggml does not know"
    assert len(TEXTS) >= 100


def test_types_llama_cpp_refuses_are_refused(metadata):
    for pre, row in PRE_ROWS.items():
        if "error" in row:
            assert pre not in PRE_TYPES, f"{pre}: llama.cpp refuses it ({row['error']}) but pyggml accepts it"


def test_unknown_pre_type_is_refused(metadata, monkeypatch):
    monkeypatch.delenv(FALLBACK_ENV, raising=False)
    with pytest.raises(ModelFormatError, match=r"tokenizer\.ggml\.pre.*'no-such-pre'") as caught:
        Tokenizer.from_metadata({**metadata, "tokenizer.ggml.pre": "no-such-pre"})
    assert isinstance(caught.value, UnknownPreTokenizerError)


def test_unknown_pre_type_fallback_is_opt_in(metadata, monkeypatch):
    monkeypatch.delenv(FALLBACK_ENV, raising=False)
    unknown = {**metadata, "tokenizer.ggml.pre": "no-such-pre"}
    expected = [ID_LISTS[i] for i in PRE_ROWS["gpt-2"]["ids"]]
    with pytest.warns(UserWarning, match="no-such-pre"):
        tok = Tokenizer.from_metadata(unknown, pre_tokenizer_fallback="gpt-2")
    assert [tok.encode(t, add_special=False) for t in TEXTS[:40]] == expected[:40]
    monkeypatch.setenv(FALLBACK_ENV, "gpt-2")
    with pytest.warns(UserWarning, match="no-such-pre"):
        tok = Tokenizer.from_metadata(unknown)
    assert [tok.encode(t, add_special=False) for t in TEXTS[:40]] == expected[:40]
    with pytest.raises(UnknownPreTokenizerError, match="'no-such-rule' is not a known pre type"):
        Tokenizer.from_metadata(unknown, pre_tokenizer_fallback="no-such-rule")


def test_sentencepiece_style_pre_types_are_refused_by_name(metadata, monkeypatch):
    """gemma4 & co. are BPE without byte-level encoding in llama.cpp: refused, saying so."""
    monkeypatch.delenv(FALLBACK_ENV, raising=False)
    with pytest.raises(UnknownPreTokenizerError, match="'gemma4': a SentencePiece-style BPE"):
        pre_tokenizer_spec("gemma4")
