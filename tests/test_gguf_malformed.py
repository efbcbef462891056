"""The reader's contract on untrusted input: every malformed file raises GGUFError naming the
problem and the byte offset; nothing else escapes, nothing large is allocated."""
from __future__ import annotations

import io
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gguf_fuzz import SAMPLE_TENSORS, assemble, assemble_sample, write_sample
from pyggml.gguf import ArrayType, GGUFError, GGUFReader, GGUFValueType as V, GGUFWriter
from pyggml.gguf.dump import dump
from pyggml.types import GGMLType

HUGE = [2**63, 2**64 - 1]


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def patch(raw: bytes, at: int, new: bytes) -> bytes:
    return raw[:at] + new + raw[at + len(new):]


def after(raw: bytes, text: str | bytes) -> int:
    """Offset just past the only occurrence of `text` (a key or tensor name) in raw."""
    needle = text.encode() if isinstance(text, str) else text
    at = raw.find(needle)
    assert at > 0 and raw.find(needle, at + 1) < 0, text
    return at + len(needle)


def length_field(raw: bytes, text: str) -> int:
    """Offset of the u64 length in front of the string `text`."""
    return after(raw, text) - len(text.encode()) - 8


def tensor_fields(raw: bytes, name: str) -> dict[str, int]:
    """Offsets of the fields of tensor `name`'s info."""
    dims_at = after(raw, name)
    n_dims = struct.unpack_from("<I", raw, dims_at)[0]
    type_at = dims_at + 4 + 8 * n_dims
    return {"n_dims": dims_at, "ne0": dims_at + 4, "ne1": dims_at + 12, "type": type_at, "offset": type_at + 4}


@pytest.fixture
def sample(tmp_path) -> bytes:
    return write_sample(tmp_path / "valid.gguf")


@pytest.fixture
def reject(tmp_path):
    """reject(raw, match, offset) -> the GGUFError of parsing raw; checks message and offset."""
    def check(raw: bytes, match: str, offset: int | None = None) -> GGUFError:
        path = tmp_path / "bad.gguf"
        path.write_bytes(raw)
        with pytest.raises(GGUFError, match=match) as info:
            GGUFReader(path).close()
        err = info.value
        assert str(path) in str(err) and isinstance(err, ValueError)
        if offset is not None:
            assert err.offset == offset and f"at offset {offset}" in str(err)
        return err
    return check


def test_sample_is_valid(tmp_path, sample):
    with GGUFReader(tmp_path / "valid.gguf") as r:
        assert len(r.metadata) > 10 and len(r.tensors) == 2


# --- header -------------------------------------------------------------------------------

def test_wrong_magic(sample, reject):
    reject(patch(sample, 0, b"GGUX"), "not a GGUF file", 0)


@pytest.mark.parametrize("version", [0, 1, 4, 0xFFFFFFFF])
def test_unknown_version(sample, reject, version):
    reject(patch(sample, 4, u32(version)), f"unsupported GGUF version {version}", 4)


def test_big_endian_file(sample, reject):
    reject(patch(sample, 4, struct.pack(">I", 3)), "big-endian", 4)


def test_truncation_anywhere(sample, reject, tmp_path):
    with GGUFReader(tmp_path / "valid.gguf") as r:
        data_end = max(t.offset + t.nbytes for t in r.tensors)
    assert data_end < len(sample)  # the last tensor's zero padding may go
    for n in range(data_end):
        reject(sample[:n], "truncated|past the end|cannot fit|exceeds")
    (tmp_path / "unpadded.gguf").write_bytes(sample[:data_end])
    with GGUFReader(tmp_path / "unpadded.gguf") as r:
        assert r.tensors[-1].data.tobytes() == SAMPLE_TENSORS[-1][3]


@pytest.mark.parametrize("count", HUGE + [10**6])
@pytest.mark.parametrize("field, at", [("tensor count", 8), ("key-value count", 16)])
def test_counts_larger_than_the_file(sample, reject, field, at, count):
    reject(patch(sample, at, u64(count)), f"{field} {count} cannot fit", at)


# --- key-values -----------------------------------------------------------------------------

@pytest.mark.parametrize("length", HUGE + [10**6])
def test_key_length_past_the_end(sample, reject, length):
    at = length_field(sample, "general.architecture")
    reject(patch(sample, at, u64(length)), f"key length {length} exceeds", at)


@pytest.mark.parametrize("length", HUGE)
def test_value_string_length_past_the_end(sample, reject, length):
    at = after(sample, "general.architecture") + 4
    reject(patch(sample, at, u64(length)), f"string length {length} exceeds", at)


@pytest.mark.parametrize("length", HUGE)
def test_numeric_array_length_past_the_end(sample, reject, length):
    at = after(sample, "test.floats") + 8
    reject(patch(sample, at, u64(length)), f"FLOAT32 array length {length} cannot fit", at)


@pytest.mark.parametrize("length", HUGE)
def test_string_array_lengths_past_the_end(sample, reject, length):
    count_at = after(sample, "test.strings") + 8
    reject(patch(sample, count_at, u64(length)), f"string array length {length} cannot fit", count_at)
    second_item_at = count_at + 8 + 8 + 1   # items "a", "bc", ""
    reject(patch(sample, second_item_at, u64(length)), f"string length {length} exceeds", second_item_at)


@pytest.mark.parametrize("length", HUGE)
def test_nested_array_length_past_the_end(sample, reject, length):
    at = after(sample, "test.nested") + 8
    reject(patch(sample, at, u64(length)), f"nested array length {length} cannot fit", at)


@pytest.mark.parametrize("vtype", [13, 0xFFFFFFFF])
def test_unknown_value_type(sample, reject, vtype):
    at = after(sample, "test.uint8")
    reject(patch(sample, at, u32(vtype)), f"unknown value type of key 'test.uint8' {vtype}", at)


def test_unknown_array_element_type(sample, reject):
    at = after(sample, "test.floats") + 4
    reject(patch(sample, at, u32(99)), "unknown array element type 99", at)


def test_bool_other_than_0_or_1(sample, reject):
    at = after(sample, b"test.bool" + u32(V.BOOL))
    reject(patch(sample, at, b"\x02"), "bool value is 2", at)
    items_at = after(sample, "test.bools") + 16
    reject(patch(sample, items_at + 1, b"\x07"), "bool array item 1 is 7", items_at + 1)


def _file_with_keys(tmp_path, kvs) -> bytes:
    w = GGUFWriter(tmp_path / "keys.gguf")
    for key, value, vtype in kvs:
        w.add_kv(key, value, vtype)
    w.write()
    return (tmp_path / "keys.gguf").read_bytes()


def test_duplicate_key(tmp_path, reject):
    raw = _file_with_keys(tmp_path, [("key.a", 1, None), ("key.b", 2, None)])
    at = length_field(raw, "key.b")
    reject(patch(raw, at + 8, b"key.a"), "duplicate key 'key.a'", at)


def test_empty_key(tmp_path, reject):
    raw = _file_with_keys(tmp_path, [("k", 1, None)])
    at = length_field(raw, "k")
    reject(raw[:at] + u64(0) + raw[at + 9:], "empty key", at)


def test_key_not_utf8(tmp_path, reject):
    raw = _file_with_keys(tmp_path, [("key.X", 1, None)])
    at = length_field(raw, "key.X")
    reject(patch(raw, at + 8 + 4, b"\xff"), "key is not valid UTF-8", at)


@pytest.mark.parametrize("value, vtype, error", [
    (32, V.INT32, "must be UINT32, not INT32"),
    ([32], ArrayType(V.UINT32), r"must be UINT32, not ARRAY\[UINT32\]"),
    (0, V.UINT32, "= 0 is not a power of two"),
    (48, V.UINT32, "= 48 is not a power of two"),
])
def test_bad_general_alignment(tmp_path, reject, value, vtype, error):
    # written under a same-length placeholder key, then renamed (the writer refuses these)
    raw = _file_with_keys(tmp_path, [("general.alignmenX", value, vtype)])
    at = length_field(raw, "general.alignmenX")
    reject(patch(raw, at + 8, b"general.alignment"), error, at)


def _nested(depth: int):
    """(value, type) of `depth` arrays nested in each other around one INT32."""
    value, vtype = [np.array([7], np.int32)], ArrayType(V.ARRAY, (ArrayType(V.INT32),))
    for _ in range(depth - 2):
        value, vtype = [value], ArrayType(V.ARRAY, (vtype,))
    return value, vtype


def test_arrays_nested_too_deep(tmp_path, reject):
    ok, _ = assemble([("deep", *reversed(_nested(8)))], [])
    (tmp_path / "ok.gguf").write_bytes(ok)
    with GGUFReader(tmp_path / "ok.gguf") as r:
        assert r.metadata_types["deep"] == _nested(8)[1]
    raw, _ = assemble([("deep", *reversed(_nested(9)))], [])
    innermost_at = raw.rfind(u32(V.INT32) + u64(1))  # the 9th array starts with its element type
    reject(raw, "nested deeper than 8", innermost_at)


# --- tensor infos ----------------------------------------------------------------------------

@pytest.mark.parametrize("type_id", [4, 31, 1000])
def test_unknown_tensor_type(sample, reject, type_id):
    at = tensor_fields(sample, "tensor_f32")["type"]
    reject(patch(sample, at, u32(type_id)), f"unknown ggml type id {type_id}", at)


@pytest.mark.parametrize("n_dims", [0, 5, 2**32 - 1])
def test_bad_n_dims(sample, reject, n_dims):
    at = tensor_fields(sample, "tensor_f32")["n_dims"]
    reject(patch(sample, at, u32(n_dims)), f"n_dims {n_dims}, expected 1..4", at)


@pytest.mark.parametrize("ne, shown", [(0, "0"), (2**64 - 1, "-1"), (2**63, str(-(2**63)))])
def test_ne_not_positive(sample, reject, ne, shown):
    at = tensor_fields(sample, "tensor_f32")["ne1"]
    reject(patch(sample, at, u64(ne)), rf"ne\[1\] = {shown}, must be > 0", at)


def test_element_count_overflows_63_bits(sample, reject):
    f = tensor_fields(sample, "tensor_f32")
    raw = patch(patch(sample, f["ne0"], u64(2**32)), f["ne1"], u64(2**31))
    reject(raw, "element count overflows 63 bits", f["ne1"])


def test_byte_size_overflows_63_bits(sample, reject):
    f = tensor_fields(sample, "tensor_f32")  # F32: 2^61 elements = 2^63 bytes
    raw = patch(patch(sample, f["ne0"], u64(2**31)), f["ne1"], u64(2**30))
    reject(raw, "byte size overflows 63 bits", f["n_dims"])


def test_ne0_not_a_multiple_of_the_block_size(sample, reject):
    f = tensor_fields(sample, "tensor_q8_0")
    reject(patch(sample, f["ne0"], u64(33)), r"ne\[0\] = 33 is not a multiple of the q8_0 block size 32",
           f["n_dims"])


def test_tensor_name_not_utf8_empty_or_too_long(reject):
    data = SAMPLE_TENSORS[0][3]
    for name, error in [(b"bad\xc3", "tensor name is not valid UTF-8"), (b"", "empty tensor name"),
                        (b"n" * 64, "longer than 63 bytes")]:
        raw, _ = assemble([], [(name, GGMLType.F32, (4, 2), data)])
        reject(raw, error, 24)


def test_duplicate_tensor_name(tmp_path, reject):
    w = GGUFWriter(tmp_path / "t.gguf")
    w.add_tensor("tensor_x", bytes(4), GGMLType.F32, (1,))
    w.add_tensor("tensor_y", bytes(4), GGMLType.F32, (1,))
    w.write()
    raw = (tmp_path / "t.gguf").read_bytes()
    at = length_field(raw, "tensor_y")
    reject(patch(raw, at + 8, b"tensor_x"), "duplicate tensor name 'tensor_x'", at)


def test_data_offset_not_aligned(sample, reject):
    at = tensor_fields(sample, "tensor_q8_0")["offset"]
    reject(patch(sample, at, u64(33)), "data offset 33 is not a multiple of the alignment 32", at)


@pytest.mark.parametrize("offset", [2**40, 2**64 - 32, 64])
def test_data_past_the_end(sample, reject, offset):
    at = tensor_fields(sample, "tensor_q8_0")["offset"]
    reject(patch(sample, at, u64(offset)), "past the end of the file", at)


def test_tensors_overlap(sample, reject):
    at = tensor_fields(sample, "tensor_q8_0")["offset"]
    reject(patch(sample, at, u64(0)), "'tensor_q8_0' .* overlaps 'tensor_f32'", at)


# --- allocation bound and fuzzing ----------------------------------------------------------------

def test_huge_lengths_allocate_nothing_large(sample, tmp_path):
    path = tmp_path / "bad.gguf"
    _, fields = assemble_sample()
    tracemalloc.start()
    try:
        for at in fields:
            for n in HUGE + [len(sample) // 8]:
                path.write_bytes(patch(sample, at, u64(n)))
                try:
                    GGUFReader(path).close()
                except GGUFError:
                    pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (1 << 20) + 64 * len(sample), peak


def _parse_or_reject(path, raw: bytes) -> None:
    """Only two outcomes are allowed: a GGUFError, or a file whose every part can be used."""
    path.write_bytes(raw)
    try:
        reader = GGUFReader(path)
    except GGUFError as e:
        assert e.offset is not None and f" at offset {e.offset}" in str(e)
        return
    with reader:
        for t in reader.tensors:
            assert t.data.nbytes == t.nbytes and reader.data_offset <= t.offset
        dump(reader, io.StringIO())


FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SAMPLE, LENGTH_FIELDS = assemble_sample()


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 7)), min_size=1, max_size=8))
def test_fuzz_bit_flips(tmp_path, flips):
    raw = bytearray(SAMPLE)
    for at, bit in flips:
        raw[at] ^= 1 << bit
    _parse_or_reject(tmp_path / "fuzz.gguf", bytes(raw))


@FUZZ
@given(at=st.integers(0, len(SAMPLE) - 1), junk=st.binary(min_size=1, max_size=16),
       keep=st.integers(0, len(SAMPLE)))
def test_fuzz_overwrite_and_truncate(tmp_path, at, junk, keep):
    _parse_or_reject(tmp_path / "fuzz.gguf", patch(SAMPLE, at, junk)[:keep])


@FUZZ
@given(at=st.sampled_from(LENGTH_FIELDS),
       value=st.one_of(st.sampled_from(HUGE + [2**32, 2**31, len(SAMPLE), len(SAMPLE) - 1, 0]),
                       st.integers(0, 2**64 - 1), st.integers(0, 64)))
def test_fuzz_length_fields(tmp_path, at, value):
    _parse_or_reject(tmp_path / "fuzz.gguf", patch(SAMPLE, at, u64(value)))
