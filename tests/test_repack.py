"""Q4_0, Q4_1, Q5_0 and Q4_K weights repacked by 8 rows at load (WeightStore.repack,
csrc/quants/repack.c): the x86 paths' mul_mat reads the copies with the same arithmetic (prompt
tiles and, for Q4_1, Q5_0 and Q4_K, the single-row GEMV order too; Q5_0 on avx512 only), so a
model's logits are bit-identical with and without them, on the path that reads them and after
switching to one that does not (which reads the file's rows again); a path without the kernels
gets no copies. The kernels' bit-exactness against vec_dot /
vec_dot_gemv is tests/c/test_tile_kernels.c."""
from __future__ import annotations

import numpy as np
import pytest

import pyggml
from pyggml import _core
from pyggml.runner import ModelRunner
from pyggml.types import GGMLType

PROMPT = list(range(200, 240))


@pytest.fixture(autouse=True)
def _restore_simd_path():
    before = pyggml.simd_path()
    yield
    pyggml.set_simd_path(before)


def _logits(runner: ModelRunner) -> list[np.ndarray]:
    out = [np.array(runner.eval(PROMPT)[-1]).copy()]
    for token in (5, 17, 300):
        out.append(np.array(runner.eval([token])[-1]).copy())
    return out


def _same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x.view(np.uint32), y.view(np.uint32)) for x, y in zip(a, b))


MODELS = {"smollm2-135m-q4_0": GGMLType.Q4_0, "smollm2-135m-q4_1": GGMLType.Q4_1,
          "smollm2-135m-q5_0": GGMLType.Q5_0, "gemma3-270m-q4_k_m": GGMLType.Q4_K}
REPACKABLE = (GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q4_K)
# the paths that read each type repacked (on a CPU that has them)
READERS = {GGMLType.Q4_0: ("avx2", "avx512"), GGMLType.Q4_1: ("avx2", "avx512"), GGMLType.Q5_0: ("avx512",),
           GGMLType.Q4_K: ("avx2", "avx512")}


@pytest.mark.parametrize("model", list(MODELS))
def test_repacked_weights_give_the_same_logits(model_path, simd_path, model):
    path = model_path(model)
    wtype = MODELS[model]
    pyggml.set_simd_path(simd_path)
    plain = ModelRunner(path, n_ctx=128, n_threads=2, repack=False)
    packed = ModelRunner(path, n_ctx=128, n_threads=2)
    try:
        reads = _core.active_path_reads_repacked(int(wtype))
        assert reads == (simd_path in READERS[wtype])
        read_types = {t for t in REPACKABLE if _core.active_path_reads_repacked(int(t))}
        assert read_types == {t for t in REPACKABLE if simd_path in READERS[t]}
        n_packable = sum(info.nbytes for info in packed.reader.tensors
                         if info.type in read_types and len(info.ne) == 2 and info.ne[1] % 8 == 0)
        assert n_packable > 0 or not reads
        assert packed.repacked_bytes == n_packable
        assert plain.repacked_bytes == 0
        assert _same_bits(_logits(plain), _logits(packed))
    finally:
        plain.close()
        packed.close()


@pytest.mark.parametrize("model", list(MODELS))
def test_a_path_without_the_kernels_reads_the_files_rows(model_path, model):
    if not _core.active_path_reads_repacked(int(MODELS[model])):
        pytest.skip(f"SIMD path {pyggml.simd_path()} reads no repacked {MODELS[model].name} (x86 avx2/avx512 only)")
    path = model_path(model)
    packed = ModelRunner(path, n_ctx=128, n_threads=2)   # repacked, its file pages released
    try:
        assert packed.repacked_bytes > 0
        pyggml.set_simd_path("scalar")
        plain = ModelRunner(path, n_ctx=128, n_threads=2)
        try:
            assert plain.repacked_bytes == 0
            assert _same_bits(_logits(plain), _logits(packed))
        finally:
            plain.close()
    finally:
        packed.close()


@pytest.mark.parametrize("wtype, n_rows, k", [(GGMLType.Q4_0, 7, 64), (GGMLType.Q4_0, 16, 48),
                                             (GGMLType.Q4_0, 0, 32), (GGMLType.Q4_0, 8, 0),
                                             (GGMLType.Q4_1, 12, 64), (GGMLType.Q4_1, 8, 40),
                                             (GGMLType.Q5_0, 4, 64), (GGMLType.Q5_0, 8, 48),
                                             (GGMLType.Q4_K, 8, 128), (GGMLType.Q4_K, 12, 256)])
def test_repack_refuses_shapes_it_cannot_group(wtype, n_rows, k):
    block_bytes = {GGMLType.Q4_0: 18, GGMLType.Q4_1: 20, GGMLType.Q5_0: 22}
    row = max(1, k // 32) * block_bytes[wtype] if wtype in block_bytes else max(1, k // 256) * 144
    src = np.zeros(max(1, n_rows) * row + 64, np.uint8)
    dst = np.zeros(src.size, np.uint8)
    with pytest.raises(ValueError, match="repack"):
        _core.repack_x8(int(wtype), src.ctypes.data, row, dst, n_rows, k)


def test_repack_refuses_a_short_destination():
    src = np.zeros(8 * 2 * 18, np.uint8)
    with pytest.raises(ValueError, match="bytes for 8 rows"):
        _core.repack_x8(int(GGMLType.Q4_0), src.ctypes.data, 2 * 18, np.zeros(10, np.uint8), 8, 64)


@pytest.mark.parametrize("wtype", [GGMLType.Q8_0, GGMLType.Q6_K, GGMLType.F32])
def test_repack_refuses_types_without_a_layout(wtype):
    src = np.zeros(8 * 1024, np.uint8)
    with pytest.raises(ValueError, match="no repacked layout"):
        _core.repack_x8(int(wtype), src.ctypes.data, 1024, np.zeros(src.size, np.uint8), 8, 256)
