"""GGUFWriter: byte-identical copies of the real models, layout, types, input checks."""
from __future__ import annotations

import hashlib

import gguf
import numpy as np
import pytest

from gguf_fuzz import SAMPLE_KVS, assemble_sample, write_sample
from pyggml.gguf import ArrayType, GGUFReader, GGUFValueType as V, GGUFWriter, copy_metadata
from pyggml.types import GGMLType


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("name", ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"])
def test_real_model_round_trip_is_byte_identical(name, model_path, tmp_path):
    source = model_path(name)
    copy = tmp_path / "copy.gguf"
    with GGUFReader(source) as r:
        GGUFWriter.from_reader(r, copy).write()
    assert copy.stat().st_size == source.stat().st_size
    assert _sha256(copy) == _sha256(source)


def test_writer_matches_hand_assembled_bytes(tmp_path):
    assert write_sample(tmp_path / "w.gguf") == assemble_sample()[0]


def test_written_file_reads_back_in_gguf_py(tmp_path):
    path = tmp_path / "w.gguf"
    write_sample(path)
    oracle = gguf.GGUFReader(path)
    for key, vtype, value in SAMPLE_KVS:
        field = oracle.fields[key]
        if isinstance(vtype, ArrayType):
            assert [V(t) for t in field.types][:2] == [V.ARRAY, vtype.element], key
            if vtype.element != V.ARRAY:
                expected = value if vtype.element == V.STRING else np.asarray(value).tolist()
                assert field.contents() == expected, key
        else:
            assert field.types == [vtype], key
            assert field.contents() == value, key
    assert [(t.name, int(t.tensor_type), tuple(int(d) for d in t.shape)) for t in oracle.tensors] == \
        [("tensor_f32", int(GGMLType.F32), (4, 2)), ("tensor_q8_0", int(GGMLType.Q8_0), (32,))]
    np.testing.assert_array_equal(oracle.tensors[0].data.reshape(-1), np.arange(8, dtype=np.float32))


def test_layout_alignment_and_zero_padding(tmp_path):
    path = tmp_path / "a.gguf"
    w = GGUFWriter(path, alignment=128)
    w.add_kv("general.architecture", "x")
    w.add_tensor("odd", np.full(3, 7, np.uint8), GGMLType.I8)
    w.add_tensor("next", np.ones(5, np.float32), GGMLType.F32)
    w.write()
    raw = path.read_bytes()
    with GGUFReader(path) as r:
        # the writer records a non-default alignment under general.alignment (after the keys added)
        assert list(r.metadata) == ["general.architecture", "general.alignment"]
        assert r.alignment == 128 and r.metadata["general.alignment"] == 128
        odd, nxt = r.tensors
        assert r.data_offset % 128 == 0 and odd.offset == r.data_offset
        assert nxt.offset == odd.offset + 128
        assert raw[odd.offset + 3:nxt.offset] == bytes(125)
        assert len(raw) == nxt.offset + 128  # the last tensor is padded too
        assert raw[len(raw) - 128 + 20:] == bytes(108)


def test_type_inference(tmp_path):
    path = tmp_path / "i.gguf"
    w = GGUFWriter(path)
    values = {
        "bool": True, "small": 5, "big": 2**40, "huge": 2**64 - 1, "float": 0.5, "str": "s",
        "np_u16": np.uint16(9), "np_f64": np.float64(2.5), "arr_u8": np.array([1, 2], np.uint8),
        "list_int": [1, -2], "list_float": [1, 2.5], "list_str": ["a", "b"], "list_bool": [True],
        "nested": [[1], ["z"]],
    }
    for k, v in values.items():
        w.add_kv(k, v)
    w.write()
    with GGUFReader(path) as r:
        t = r.metadata_types
        assert (t["bool"], t["small"], t["big"], t["huge"]) == (V.BOOL, V.INT32, V.INT64, V.UINT64)
        assert (t["float"], t["str"], t["np_u16"], t["np_f64"]) == (V.FLOAT32, V.STRING, V.UINT16, V.FLOAT64)
        assert t["arr_u8"] == ArrayType(V.UINT8) and t["list_int"] == ArrayType(V.INT32)
        assert t["list_float"] == ArrayType(V.FLOAT32) and t["list_str"] == ArrayType(V.STRING)
        assert t["list_bool"] == ArrayType(V.BOOL)
        assert t["nested"] == ArrayType(V.ARRAY, (ArrayType(V.INT32), ArrayType(V.STRING)))
        assert r.metadata["huge"] == 2**64 - 1 and r.metadata["nested"][1] == ["z"]


def test_explicit_types_and_set_kv(tmp_path):
    path = tmp_path / "e.gguf"
    w = GGUFWriter(path)
    w.add_kv("a", 1, V.UINT8)
    w.add_kv("b", [1, 2], ArrayType(V.INT64))
    w.add_kv("c", "x")
    w.add_kv("d", [3, 4], V.ARRAY)
    w.set_kv("a", 0, V.UINT32)   # keeps its place
    w.set_kv("e", 1.0, V.FLOAT64)
    w.write()
    with GGUFReader(path) as r:
        assert list(r.metadata) == ["a", "b", "c", "d", "e"]
        assert r.metadata_types["a"] == V.UINT32 and r.metadata["a"] == 0
        assert r.metadata["b"].dtype == np.int64 and r.metadata_types["d"] == ArrayType(V.INT32)
        assert r.metadata_types["e"] == V.FLOAT64


def test_copy_metadata_with_skip(tmp_path):
    src = tmp_path / "s.gguf"
    write_sample(src)
    with GGUFReader(src) as r:
        w = GGUFWriter(tmp_path / "d.gguf")
        copy_metadata(r, w, skip=("test.uint8",))
        w.set_kv("general.architecture", "other")
        w.write()
    with GGUFReader(tmp_path / "d.gguf") as d:
        assert list(d.metadata) == [k for k, _, _ in SAMPLE_KVS if k != "test.uint8"]
        assert d.metadata["general.architecture"] == "other" and d.tensors == []


def test_ne_from_shape_for_plain_types(tmp_path):
    w = GGUFWriter(tmp_path / "n.gguf")
    w.add_tensor("m", np.zeros((3, 4), np.float16), GGMLType.F16)
    w.write()
    with GGUFReader(tmp_path / "n.gguf") as r:
        assert r.tensor("m").ne == (4, 3) and r.tensor("m").shape == (3, 4)


@pytest.mark.parametrize("call, error", [
    (lambda w: w.add_kv("k", 256, V.UINT8), "out of range for UINT8"),
    (lambda w: w.add_kv("k", -1, V.UINT64), "out of range"),
    (lambda w: w.add_kv("k", 1.5, V.INT32), "must be an integer"),
    (lambda w: w.add_kv("k", "1.5", V.FLOAT32), "must be a number"),
    (lambda w: w.add_kv("k", 2, V.BOOL), "BOOL value"),
    (lambda w: w.add_kv("k", 3, V.STRING), "must be str or bytes"),
    (lambda w: w.add_kv("k", [300], ArrayType(V.UINT8)), "do not fit UINT8"),
    (lambda w: w.add_kv("k", [1.5], ArrayType(V.INT32)), "integer or bool"),
    (lambda w: w.add_kv("k", [], None), "empty array"),
    (lambda w: w.add_kv("", 1), "non-empty"),
    (lambda w: w.add_kv("general.alignment", 48), "power of two"),
    (lambda w: w.add_kv("general.alignment", 64, V.INT32), "must be UINT32"),
    (lambda w: (w.add_kv("k", 1), w.add_kv("k", 2)), "duplicate key"),
    (lambda w: w.add_kv("k", [[[[[[[[[1]]]]]]]]]), "nested deeper"),
    (lambda w: w.add_tensor("t", bytes(8), GGMLType.F32, (3,)), "8 bytes given"),
    (lambda w: w.add_tensor("t", bytes(34), GGMLType.Q8_0, (16,)), "block size 32"),
    (lambda w: w.add_tensor("t", bytes(4), GGMLType.F32, (1, 1, 1, 1, 1)), "1..4"),
    (lambda w: w.add_tensor("t", bytes(0), GGMLType.F32, (0,)), "positive"),
    (lambda w: w.add_tensor("x" * 64, bytes(4), GGMLType.F32, (1,)), "1..63"),
    (lambda w: w.add_tensor("t", bytes(34), GGMLType.Q8_0), "ne is required"),
    (lambda w: (w.add_tensor("t", bytes(4), GGMLType.F32, (1,)),
                w.add_tensor("t", bytes(4), GGMLType.F32, (1,))), "duplicate tensor"),
    (lambda w: w.add_tensor("t", bytes(4), 99, (1,)), "unknown ggml type id 99"),
])
def test_bad_writer_input_is_rejected(tmp_path, call, error):
    w = GGUFWriter(tmp_path / "x.gguf")
    with pytest.raises((ValueError, TypeError), match=error):
        call(w)


def test_bad_writer_parameters(tmp_path):
    with pytest.raises(ValueError, match="version"):
        GGUFWriter(tmp_path / "x.gguf", version=1)
    with pytest.raises(ValueError, match="power of two"):
        GGUFWriter(tmp_path / "x.gguf", alignment=0)
