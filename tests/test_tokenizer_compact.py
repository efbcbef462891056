"""The vocabulary read straight from a GGUFStringArray's bytes equals the one built from lists of
str, and keeps its per-token data compact."""
from __future__ import annotations

from array import array

import numpy as np
import pytest

from pyggml.gguf import GGUFReader, GGUFStringArray
from pyggml.tokenizer import Tokenizer, Vocab


@pytest.mark.parametrize("name", ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
def test_vocab_from_the_file_equals_vocab_from_lists(name, model_path):
    with GGUFReader(model_path(name)) as r:
        metadata = dict(r.metadata)
    as_lists = {k: list(v) if isinstance(v, GGUFStringArray) else v for k, v in metadata.items()}
    assert isinstance(metadata["tokenizer.ggml.tokens"], GGUFStringArray)
    ours, plain = Vocab.from_metadata(metadata), Vocab.from_metadata(as_lists)
    assert ours.texts == plain.texts and ours.text_to_id == plain.text_to_id
    assert ours.merge_ranks == plain.merge_ranks and ours.attrs == plain.attrs
    assert ours.scores == plain.scores and ours.special_ids == plain.special_ids
    assert ours.eog_ids == plain.eog_ids
    assert ours.texts == [t.encode("utf-8", "surrogateescape") or f"[EMPTY_{i}]".encode()
                          for i, t in enumerate(as_lists["tokenizer.ggml.tokens"])]
    if "tokenizer.ggml.scores" in metadata:
        np.testing.assert_array_equal(np.frombuffer(ours.scores, np.float32), metadata["tokenizer.ggml.scores"])
    assert isinstance(ours.scores, array) and ours.scores.itemsize == 4 and len(ours.scores) == ours.n_vocab
    assert isinstance(ours.attrs, bytearray) and len(ours.attrs) == ours.n_vocab


def test_merges_as_bytes_keep_ranks_and_messages():
    metadata = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
        "tokenizer.ggml.tokens": ["a", "b", "c", "ab", "bc", "abc", "é", "\udcff"],
        "tokenizer.ggml.merges": ["b c", "a b", "a bc"],
    }
    vocab = Vocab.from_metadata(metadata)
    assert vocab.merge_ranks == {b"b c": 0, b"a b": 1, b"a bc": 2}
    assert Tokenizer(vocab).encode("abc") == [5]
    # a merge naming undecodable bytes is reported as the str the reader would give
    with pytest.raises(ValueError, match=r"merges\[1\] = 'a \\udcfe' names '\\udcfe'"):
        Vocab.from_metadata({**metadata, "tokenizer.ggml.merges": ["a b", "a \udcfe"]})
    with pytest.raises(ValueError, match=r"merges\[0\] = 'é' is not two tokens"):
        Vocab.from_metadata({**metadata, "tokenizer.ggml.merges": ["é"]})


def test_repeated_merge_keeps_its_first_rank():
    """llama.cpp fills its rank map with emplace: a merge listed twice keeps the first rank."""
    metadata = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
        "tokenizer.ggml.tokens": ["a", "b", "c", "ab", "bc"],
        "tokenizer.ggml.merges": ["a b", "b c", "a b"],
    }
    vocab = Vocab.from_metadata(metadata)
    assert vocab.merge_ranks == {b"a b": 0, b"b c": 1}
    assert Tokenizer(vocab).encode("abc") == [3, 2]   # "a b" before "b c" (with its last rank: [0, 4])
