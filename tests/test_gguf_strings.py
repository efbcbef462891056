"""GGUFStringArray: string arrays kept as one bytes block, read like the list of str they replace."""
from __future__ import annotations

import pytest
from gguf_fuzz import assemble

from pyggml.gguf import ArrayType, GGUFReader, GGUFStringArray, GGUFWriter
from pyggml.gguf import GGUFValueType as V

ITEMS = ["a", "", "héllo", "▁x", "<0x41>"]


@pytest.fixture
def strings() -> GGUFStringArray:
    return GGUFStringArray.from_strings(ITEMS)


def test_reads_like_a_list(strings):
    assert len(strings) == len(ITEMS)
    assert list(strings) == ITEMS
    assert [strings[i] for i in range(-len(ITEMS), len(ITEMS))] == ITEMS + ITEMS
    assert strings[1:4] == ITEMS[1:4] and strings[::-2] == ITEMS[::-2]
    assert strings == ITEMS and strings == tuple(ITEMS) and ITEMS == strings
    assert strings != ITEMS[:-1] and strings != ITEMS[:-1] + ["other"] and strings != "a"
    assert "héllo" in strings and "nope" not in strings
    assert strings.index("▁x") == 3 and strings.count("a") == 1
    assert strings == GGUFStringArray.from_strings(ITEMS) and strings != GGUFStringArray.from_strings(ITEMS[:2])
    for bad in (len(ITEMS), -len(ITEMS) - 1):
        with pytest.raises(IndexError):
            strings[bad]
    with pytest.raises(TypeError):
        hash(strings)


def test_raw_gives_the_stored_bytes(strings):
    assert strings.raw(2) == "héllo".encode() and strings.raw(-1) == b"<0x41>"
    assert list(strings.iter_raw()) == [s.encode() for s in ITEMS]
    assert strings.gguf_bytes() == b"".join(len(s.encode()).to_bytes(8, "little") + s.encode() for s in ITEMS)


def test_invalid_utf8_round_trips_through_the_file(tmp_path):
    raw_items = [b"ok", b"\xff\xfe", b"caf\xc3", b""]
    data, _ = assemble([("k.raw", ArrayType(V.STRING), raw_items)], [])
    path = tmp_path / "raw.gguf"
    path.write_bytes(data)
    with GGUFReader(path) as r:
        value = r.metadata["k.raw"]
        assert isinstance(value, GGUFStringArray)
        assert list(value.iter_raw()) == raw_items
        assert [s.encode("utf-8", "surrogateescape") for s in value] == raw_items
        copy = tmp_path / "copy.gguf"
        GGUFWriter.from_reader(r, copy).write()
    assert copy.read_bytes() == data


def test_array_outlives_the_reader(model_path):
    with GGUFReader(model_path("smollm2-135m-q4_1")) as r:
        tokens = r.metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == 49152 and tokens[0] == "<|endoftext|>" and tokens.raw(1) == b"<|im_start|>"


def test_writer_infers_the_string_array_type(strings, tmp_path):
    path = tmp_path / "w.gguf"
    w = GGUFWriter(path)
    w.add_kv("k.strings", strings)
    w.add_kv("k.nested", [strings, ["z"]])
    w.write()
    with GGUFReader(path) as r:
        assert r.metadata_types["k.strings"] == ArrayType(V.STRING)
        assert r.metadata["k.strings"] == ITEMS
        assert r.metadata["k.nested"] == [ITEMS, ["z"]]


def test_block_is_the_shared_storage():
    arr = GGUFStringArray.from_strings([b"ab", b"", b"cde"])
    data, offsets = arr.block()
    assert data == b"abcde" and list(offsets) == [0, 2, 2, 5]
    assert [data[offsets[i]:offsets[i + 1]] for i in range(len(arr))] == [arr.raw(i) for i in range(len(arr))]
