"""GGUFReader: real models against gguf-py, every value type, lazy zero-copy tensor data."""
from __future__ import annotations

import io
import subprocess
import sys
import time

import gguf
import numpy as np
import pytest

import pyggml.gguf.reader as reader_module
from gguf_fuzz import SAMPLE_KVS, SAMPLE_TENSORS, assemble_sample
from pyggml.gguf import ArrayType, GGUFReader, GGUFStringArray, GGUFValueType as V
from pyggml.gguf.values import NUMPY_DTYPES
from pyggml.types import GGMLType

REAL_MODELS = ["smollm2-135m-q4_1", "gemma3-270m-q4_k_m"]


@pytest.fixture(scope="module", params=REAL_MODELS)
def real_pair(request, model_path):
    """(our reader, gguf-py's reader) of one real model."""
    path = model_path(request.param)
    with GGUFReader(path) as ours:
        yield ours, gguf.GGUFReader(path)


def _oracle_type(field):
    """gguf-py's field types as our ValueType."""
    kinds = [V(t) for t in field.types]
    if kinds[0] != V.ARRAY:
        return kinds[0]
    assert V.ARRAY not in kinds[1:], "the real models have no nested arrays"
    return ArrayType(kinds[1])


def test_metadata_matches_gguf_py(real_pair):
    ours, oracle = real_pair
    fields = {k: f for k, f in oracle.fields.items() if not k.startswith("GGUF.")}
    assert list(ours.metadata) == list(fields)
    assert ours.version == oracle.fields["GGUF.version"].contents()
    for key, field in fields.items():
        vtype, value, expected = ours.metadata_types[key], ours.metadata[key], field.contents()
        assert vtype == _oracle_type(field), key
        if isinstance(vtype, ArrayType) and vtype.element != V.STRING:
            assert isinstance(value, np.ndarray) and value.dtype == NUMPY_DTYPES[vtype.element], key
            np.testing.assert_array_equal(value, np.asarray(expected, dtype=value.dtype), err_msg=key)
        elif vtype == V.FLOAT32:
            assert np.float32(value) == np.float32(expected), key
        elif vtype == ArrayType(V.STRING):  # one bytes block, items decoded when read
            assert isinstance(value, GGUFStringArray) and list(value) == expected, key
        else:
            assert type(value) is type(expected) and value == expected, key
    assert ours.alignment == oracle.alignment
    assert ours.data_offset == oracle.data_offset


def test_tensors_match_gguf_py(real_pair):
    ours, oracle = real_pair
    assert [t.name for t in ours.tensors] == [t.name for t in oracle.tensors]
    for t, o in zip(ours.tensors, oracle.tensors):
        assert int(t.type) == int(o.tensor_type), t.name
        assert t.ne == tuple(int(d) for d in o.shape), t.name
        assert t.shape == t.ne[::-1]
        assert (t.offset, t.nbytes, t.n_elements) == (o.data_offset, o.n_bytes, o.n_elements), t.name
        assert t.data.dtype == np.uint8 and t.data.shape == (t.nbytes,)
        assert np.array_equal(t.data, np.ascontiguousarray(o.data).reshape(-1).view(np.uint8)), t.name


class _CountingFile(io.RawIOBase):
    """Wraps a raw file and counts the bytes read through it."""

    def __init__(self, raw, counter):
        self.raw, self.counter = raw, counter

    def read(self, n=-1):
        data = self.raw.read(n)
        self.counter.append(len(data))
        return data

    def fileno(self):
        return self.raw.fileno()

    def close(self):
        self.raw.close()
        super().close()


def test_open_reads_only_the_header_and_maps_tensor_data(model_path, monkeypatch):
    path = model_path("gemma3-270m-q4_k_m")
    reads: list[int] = []
    monkeypatch.setattr(reader_module, "open",
                        lambda *a, **k: _CountingFile(open(*a, **k), reads), raising=False)
    start = time.perf_counter()
    r = GGUFReader(path)
    print(f"\nGemma header parse: {time.perf_counter() - start:.3f} s, "
          f"{sum(reads)} bytes read, data section at {r.data_offset}")
    data_bytes = sum(t.nbytes for t in r.tensors)
    assert data_bytes > 200_000_000
    # reads stop within one read chunk after the header; the 240 MB of weights stay on disk
    assert r.data_offset <= sum(reads) <= r.data_offset + reader_module._READ_CHUNK
    embd = r.tensor("token_embd.weight")
    first, second = embd.data, embd.data
    assert not first.flags.writeable and not first.flags.owndata
    assert np.shares_memory(first, second)  # views of one mapping, no copies
    r.close()


def test_sample_every_value_type(tmp_path):
    raw, _ = assemble_sample()
    path = tmp_path / "sample.gguf"
    path.write_bytes(raw)
    with GGUFReader(path) as r:
        assert r.version == 3 and r.alignment == 32
        assert list(r.metadata) == [k for k, _, _ in SAMPLE_KVS]
        for key, vtype, value in SAMPLE_KVS:
            assert r.metadata_types[key] == vtype, key
            got = r.metadata[key]
            if vtype == V.FLOAT32:
                assert got == value and isinstance(got, float)
            elif isinstance(vtype, ArrayType) and vtype.element == V.ARRAY:
                assert isinstance(got, list) and len(got) == len(value)
                np.testing.assert_array_equal(got[0], value[0])
                assert got[0].dtype == np.int32 and got[1] == value[1]
            elif isinstance(vtype, ArrayType) and vtype.element != V.STRING:
                assert got.dtype == NUMPY_DTYPES[vtype.element]
                np.testing.assert_array_equal(got, value)
            elif vtype == ArrayType(V.STRING):
                assert isinstance(got, GGUFStringArray) and list(got) == value and got == value, key
            else:
                assert type(got) is type(value) and got == value, key
        assert [(t.name, t.type, t.ne) for t in r.tensors] == [(n, ty, ne) for n, ty, ne, _ in SAMPLE_TENSORS]
        for t, (*_, data) in zip(r.tensors, SAMPLE_TENSORS):
            assert t.offset % 32 == 0 and t.offset >= r.data_offset
            assert t.data.tobytes() == data
        np.testing.assert_array_equal(r.tensor("tensor_f32").data.view(np.float32).reshape(r.tensor("tensor_f32").shape),
                                      np.arange(8, dtype=np.float32).reshape(2, 4))


def test_file_written_by_gguf_py(tmp_path):
    """All scalar types and arrays as gguf-py writes them (an independent writer)."""
    path = tmp_path / "from_gguf_py.gguf"
    w = gguf.GGUFWriter(path, "tiny")
    scalars = {V.UINT8: 7, V.INT8: -7, V.UINT16: 700, V.INT16: -700, V.UINT32: 70000,
               V.INT32: -70000, V.FLOAT32: 0.25, V.BOOL: False, V.STRING: "s", V.UINT64: 2**40,
               V.INT64: -(2**40), V.FLOAT64: 1e300}
    for vt, value in scalars.items():
        w.add_key_value(f"k.{vt.name}", value, gguf.GGUFValueType(int(vt)))
    w.add_array("k.strings", ["one", "two", "three"])
    w.add_array("k.ints", [1, 2, 3])
    weights = np.arange(64, dtype=np.float32).reshape(2, 32)
    w.add_tensor("w", weights)
    w.add_tensor("h", np.ones(64, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with GGUFReader(path) as r:
        assert r.metadata["general.architecture"] == "tiny"
        for vt, value in scalars.items():
            assert r.metadata_types[f"k.{vt.name}"] == vt and r.metadata[f"k.{vt.name}"] == value
        assert r.metadata["k.strings"] == ["one", "two", "three"]
        assert r.metadata_types["k.ints"] == ArrayType(V.INT32)
        np.testing.assert_array_equal(r.metadata["k.ints"], [1, 2, 3])
        t = r.tensor("w")
        assert t.type == GGMLType.F32 and t.ne == (32, 2) and t.shape == (2, 32)
        np.testing.assert_array_equal(t.data.view(np.float32).reshape(t.shape), weights)
        assert r.tensor("h").type == GGMLType.F16 and r.tensor("h").nbytes == 128


def test_version_2_and_custom_alignment(tmp_path):
    from pyggml.gguf import GGUFWriter

    path = tmp_path / "v2.gguf"
    w = GGUFWriter(path, alignment=64, version=2)
    w.add_tensor("x", np.ones(3, np.float32), GGMLType.F32)
    w.add_tensor("y", np.ones(5, np.float32), GGMLType.F32)
    w.write()
    with GGUFReader(path) as r:
        assert r.version == 2 and r.alignment == 64
        assert r.metadata_types["general.alignment"] == V.UINT32
        assert [t.offset % 64 for t in r.tensors] == [0, 0]
        assert r.data_offset % 64 == 0


def test_tensor_lookup_and_close(tmp_path):
    path = tmp_path / "s.gguf"
    path.write_bytes(assemble_sample()[0])
    r = GGUFReader(path)
    with pytest.raises(KeyError, match="no tensor named 'missing'"):
        r.tensor("missing")
    kept = r.tensor("tensor_f32").data
    r.close()
    assert kept.tobytes() == SAMPLE_TENSORS[0][3]  # an earlier view outlives close()
    with pytest.raises(ValueError, match="closed"):
        r.tensor("tensor_f32").data


def test_non_utf8_value_string_is_kept_as_surrogates(tmp_path):
    from pyggml.gguf import GGUFWriter

    raw_token = b"\xe4\xb8"  # half of a 3-byte UTF-8 character, as some vocabularies hold
    w = GGUFWriter(tmp_path / "a.gguf")
    w.add_kv("tokens", ["ok", raw_token], ArrayType(V.STRING))
    w.add_kv("single", raw_token, V.STRING)
    w.write()
    with GGUFReader(tmp_path / "a.gguf") as r:
        token = r.metadata["tokens"][1]
        assert token.encode("utf-8", "surrogateescape") == raw_token
        assert r.metadata["single"] == token
        copy = GGUFWriter.from_reader(r, tmp_path / "b.gguf")
        copy.write()
    assert (tmp_path / "b.gguf").read_bytes() == (tmp_path / "a.gguf").read_bytes()


def test_dump_command(model_path):
    path = model_path("smollm2-135m-q4_1")
    done = subprocess.run([sys.executable, "-m", "pyggml.gguf", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "GGUF version 3" in lines[0] and "alignment 32" in lines[0]
    tokens = next(line for line in lines if "tokenizer.ggml.tokens" in line)
    assert "ARRAY[STRING]" in tokens and "'<|endoftext|>'" in tokens and "... (49152 items)" in tokens
    assert any("llama.block_count" in line and line.endswith("= 30") for line in lines)
    assert "* 272 tensors" in done.stdout
    embd = next(line for line in lines if " token_embd.weight " in line).split()
    assert embd[0] == "0" and embd[2] == "Q8_0" and embd[3:6] == ["576", "x", "49152"]
    assert int(embd[-1]) == 576 * 49152 // 32 * 34


def test_dump_console_script_entry_point():
    from importlib.metadata import entry_points

    from pyggml.gguf.dump import main

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "pyggml-gguf-dump"]
    assert script.load() is main


@pytest.mark.parametrize("content", [b"", b"GGUF\x01\x00\x00\x00", b"not a gguf file at all"])
def test_dump_of_a_bad_file_exits_1_without_traceback(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "pyggml.gguf", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr and str(path) in done.stderr
    assert done.stderr.startswith("pyggml-gguf-dump: ")
