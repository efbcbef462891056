"""VocabMap (csrc/vocab_map.c): the tokenizer's bytes -> id table over one block of keys + offsets.
Checked against a dict built from the same keys, on both real vocabularies, plus its errors."""
from __future__ import annotations

from array import array

import numpy as np
import pytest

from pyggml._core import DuplicateKeyError, VocabMap
from pyggml.gguf import GGUFReader, GGUFStringArray
from pyggml.tokenizer import Vocab


def _block(keys: list[bytes]) -> tuple[bytes, array]:
    offsets = array("I", [0])
    for key in keys:
        offsets.append(offsets[-1] + len(key))
    return b"".join(keys), offsets


@pytest.mark.parametrize("name, array_key", [
    ("gemma3-270m-q4_k_m", "tokenizer.ggml.tokens"),
    ("smollm2-135m-q4_1", "tokenizer.ggml.tokens"),
    ("smollm2-135m-q4_1", "tokenizer.ggml.merges"),
])
def test_every_key_of_the_real_vocabularies_maps_as_a_dict_does(name, array_key, model_path):
    with GGUFReader(model_path(name)) as reader:
        strings = reader.metadata[array_key]
    keys = list(strings.iter_raw())
    as_dict: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        as_dict.setdefault(key, i)            # a repeated merge keeps its first rank
    vocab_map = VocabMap(*_block(keys), keep_first=True)
    assert len(vocab_map) == len(as_dict)
    assert all(vocab_map.get(key) == i for key, i in as_dict.items())
    assert all(vocab_map[key] == i and key in vocab_map for key, i in as_dict.items())
    assert [vocab_map.text(i) for i in range(len(keys))] == keys
    # misses: keys made longer, shorter, or joined to their neighbour, compared with the dict
    probes = [k + b"\x00" for k in keys[::7]] + [k[:-1] for k in keys[::5]] + \
             [a + b for a, b in zip(keys[::11], keys[1::11])]
    assert [vocab_map.get(p, -1) for p in probes] == [as_dict.get(p, -1) for p in probes]
    assert any(p not in as_dict for p in probes)
    assert vocab_map == as_dict


def test_vocab_shares_the_readers_token_block(model_path):
    with GGUFReader(model_path("gemma3-270m-q4_k_m")) as reader:
        metadata = dict(reader.metadata)
    tokens = metadata["tokenizer.ggml.tokens"]
    vocab = Vocab.from_metadata(metadata)
    assert vocab.texts == list(tokens.iter_raw())
    assert vocab.texts[-1] == tokens.raw(len(tokens) - 1) and vocab.texts[-len(tokens)] == tokens.raw(0)
    with pytest.raises(IndexError, match="out of range"):
        vocab.texts[len(tokens)]


def test_lookups_misses_and_empty_keys():
    vocab_map = VocabMap(*_block([b"a", b"", b"ab", b"\xff\x00"]))
    assert len(vocab_map) == 4 and list(vocab_map) == [b"a", b"", b"ab", b"\xff\x00"]
    assert vocab_map.get(b"") == 1 and vocab_map[b"\xff\x00"] == 3 and b"ab" in vocab_map
    assert vocab_map.get(b"b") is None and vocab_map.get(b"abc", 7) == 7 and b"\xff" not in vocab_map
    with pytest.raises(KeyError):
        vocab_map[b"b"]
    # keys of another type are never there (str is not bytes)
    assert vocab_map.get("a") is None and "a" not in vocab_map
    with pytest.raises(KeyError):
        vocab_map["a"]
    assert vocab_map.text(1) == b"" and vocab_map.text(2) == b"ab"
    for bad_id in (-1, 4):
        with pytest.raises(IndexError, match=f"id {bad_id} is out of range for 4 keys"):
            vocab_map.text(bad_id)

    without_empty = VocabMap(*_block([b"a", b"b"]))
    assert without_empty.get(b"") is None and b"" not in without_empty
    nothing = VocabMap(b"", [0])
    assert len(nothing) == 0 and nothing.get(b"") is None and nothing.get(b"a") is None
    assert nothing == {} and list(nothing) == []


def test_offsets_of_any_unsigned_width_and_blob_of_any_buffer():
    blob = b"xyzxy"
    for offsets in ([0, 1, 2, 3, 5], array("Q", [0, 1, 2, 3, 5]), np.array([0, 1, 2, 3, 5], np.uint16)):
        assert VocabMap(bytearray(blob), offsets) == {b"x": 0, b"y": 1, b"z": 2, b"xy": 3}
    # keys need not start at 0 nor cover the whole blob
    assert VocabMap(blob, array("I", [1, 2, 3])) == {b"y": 0, b"z": 1}


def test_a_borrowed_offset_array_cannot_be_resized_under_the_map():
    blob, offsets = _block([b"a", b"b"])
    vocab_map = VocabMap(blob, offsets)
    with pytest.raises(BufferError):
        offsets.append(9)
    assert vocab_map.get(b"b") == 1


@pytest.mark.parametrize("blob, offsets, message", [
    (b"abc", array("I", [0, 2, 1, 3]), r"offsets\[2\] = 1 is below offsets\[1\] = 2: offsets must not decrease"),
    (b"abc", array("I", [0, 1, 4]), r"offsets\[2\] = 4 is past the end of the 3-byte blob"),
    (b"abc", array("I", [5, 6]), r"offsets\[0\] = 5 is past the end of the 3-byte blob"),
    (b"abc", [0, 1, 9], r"offsets\[2\] = 9 is past the end of the 3-byte blob"),
    (b"abc", [0, -1, 2], r"offsets\[1\] = -1 is negative"),
    (b"abc", array("I"), r"offsets must be one-dimensional with n \+ 1 entries"),
    (b"abc", [], r"offsets must be one-dimensional with n \+ 1 entries"),
    (b"abc", np.zeros((2, 2), np.uint32), r"offsets must be one-dimensional"),
    (b"abc", [0.0, 1.0], r"offsets must be unsigned integers, not float64"),
])
def test_bad_offsets_raise_value_error_naming_the_problem(blob, offsets, message):
    with pytest.raises(ValueError, match=message):
        VocabMap(blob, offsets)


def test_bad_blob_raises():
    with pytest.raises(TypeError, match="blob must be bytes-like, not str"):
        VocabMap("abc", [0, 3])
    with pytest.raises(ValueError, match="contiguous one-dimensional"):
        VocabMap(np.zeros((2, 2), np.uint8), [0, 1])


def test_duplicates_are_reported_or_keep_their_first_id():
    blob, offsets = _block([b"a", b"b", b"ab", b"b", b"a"])
    with pytest.raises(DuplicateKeyError, match=r"key b'b' appears twice, at 1 and 3") as info:
        VocabMap(blob, offsets)
    assert isinstance(info.value, ValueError) and (info.value.key, info.value.first, info.value.second) == (b"b", 1, 3)
    first_kept = VocabMap(blob, offsets, keep_first=True)
    assert len(first_kept) == 3 and first_kept == {b"a": 0, b"b": 1, b"ab": 2}
    assert list(first_kept) == [b"a", b"b", b"ab"] and first_kept.text(4) == b"a"


def test_vocab_renames_empty_tokens_and_reports_duplicates_by_metadata_key():
    for tokens in (["a", "", "b"], GGUFStringArray.from_strings(["a", "", "b"])):
        vocab = Vocab.from_metadata({"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens})
        assert vocab.texts == [b"a", b"[EMPTY_1]", b"b"] and vocab.text_to_id[b"[EMPTY_1]"] == 1
        assert b"" not in vocab.text_to_id
    duplicated = GGUFStringArray.from_strings(["a", "b", "c", "b"])
    with pytest.raises(ValueError, match=r"tokenizer.ggml.tokens: token b'b' appears twice, at 1 and 3"):
        Vocab.from_metadata({"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": duplicated})


def test_pickle_and_copy_keep_the_pairs():
    import copy
    import pickle

    vocab_map = VocabMap(*_block([b"a", b"b", b"a"]), keep_first=True)
    for clone in (pickle.loads(pickle.dumps(vocab_map)), copy.deepcopy(vocab_map)):
        assert clone == vocab_map and len(clone) == 2 and clone.text(2) == b"a"


def test_first_bad_merge_names_the_first_wrong_merge_and_its_part():
    tokens = [b"a", b"b", b"ab", b" ", b" a", b"\xc3\xa9", b"\xc3\xa9a"]
    vocab = VocabMap(b"".join(tokens), array("Q", np.cumsum([0] + [len(t) for t in tokens])))

    def bad(*merges):
        return vocab.first_bad_merge(b"".join(merges), array("Q", np.cumsum([0] + [len(m) for m in merges])))

    assert bad(b"a b", b"  a", b"\xc3\xa9 a") is None   # a merge may start with a space
    assert bad() is None
    assert bad(b"a b", b"ab") == (1, "space")
    assert bad(b"a b", b" ") == (1, "space")              # the space at byte 0 is not the separator
    assert bad(b"c b") == (0, "left")
    assert bad(b"a b", b"a c") == (1, "right")
    assert bad(b"a b", b"b a") == (1, "joined")
    assert bad(b"a b", b"a ") == (1, "right")             # empty right part: not a key
    with pytest.raises(ValueError, match="below"):
        vocab.first_bad_merge(b"a b", array("Q", [3, 0]))
    with pytest.raises(ValueError, match="past the end"):
        vocab.first_bad_merge(b"a b", array("Q", [0, 9]))
