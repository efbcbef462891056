"""The SIMD path registry (csrc/cpu_features.c): selection by name and PYGGML_SIMD, the errors
naming a missing path, system_info, and the rule that a derived path never mixes its own vec_dot
with a tile / batch / gemv variant it inherited for the same type."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pyggml
from pyggml import _core

PARENT = {"avx2": "scalar", "avx512": "avx2", "amx": "avx512", "neon": "scalar"}


def test_available_paths_are_known_and_start_with_scalar():
    available = pyggml.available_simd_paths()
    assert available[0] == "scalar"
    assert set(available) <= set(_core.known_simd_paths())
    for name in available[1:]:  # a path is only available with its parent
        assert PARENT[name] in available
    info = dict(item.split(" = ") for item in pyggml.system_info().split(" | "))
    assert info["SIMD_PATHS"] == ",".join(available)
    assert info["SIMD"] == pyggml.simd_path()


def test_every_path_selectable(simd_path):
    assert pyggml.simd_path() == simd_path
    assert pyggml.system_info().endswith(f"SIMD = {simd_path}")


def test_missing_and_unknown_paths_named():
    with pytest.raises(ValueError, match="unknown SIMD path 'sse9'"):
        pyggml.set_simd_path("sse9")
    for name in _core.known_simd_paths():
        if name not in pyggml.available_simd_paths():
            with pytest.raises(ValueError, match=f"SIMD path '{name}' is not available here: it needs"):
                pyggml.set_simd_path(name)


def _import_with(path: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYGGML_SIMD=path)
    return subprocess.run([sys.executable, "-c", "import pyggml; print(pyggml.simd_path())"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_env_var_selects_or_names_the_missing_path():
    best = pyggml.available_simd_paths()[-1]
    proc = _import_with(best)
    assert proc.returncode == 0 and proc.stdout.split()[-1] == best, proc.stderr  # editable builds log first
    missing = [p for p in _core.known_simd_paths() if p not in pyggml.available_simd_paths()]
    proc = _import_with(missing[0])  # every platform lacks the other platform's path
    assert proc.returncode != 0 and f"PYGGML_SIMD={missing[0]}" in proc.stderr and "not available" in proc.stderr


def test_derived_paths_never_inherit_variants_of_a_replaced_vec_dot():
    for name in pyggml.available_simd_paths()[1:]:
        child, parent = _core.simd_path_dot_kernels(name), _core.simd_path_dot_kernels(PARENT[name])
        for t, (dot, tile, batch, gemv) in child.items():
            if dot == parent[t][0]:
                continue
            for own, inherited, what in ((tile, parent[t][1], "tile"), (batch, parent[t][2], "batch"),
                                         (gemv, parent[t][3], "gemv")):
                assert own == 0 or own != inherited, f"{name}: type {t} replaces vec_dot but keeps {what}"


def test_paths_without_kernels_in_this_build_are_named():
    """Known paths of this platform that this build has no kernels for (amx until it has some)
    are reported here by name, once, rather than as a skip in every parametrised test."""
    import platform

    built = _core.built_simd_paths()
    assert built[0] == "scalar" and set(pyggml.available_simd_paths()) <= set(built)
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    this_platform = ("scalar", "avx2", "avx512", "amx") if x86 else ("scalar", "neon")
    missing = [p for p in this_platform if p not in built]
    if missing:
        reasons = []
        for name in missing:
            with pytest.raises(ValueError, match=f"SIMD path '{name}' is not available here") as e:
                pyggml.set_simd_path(name)
            reasons.append(str(e.value))
        pytest.skip("; ".join(reasons))


def test_avx512_replaces_kernels_where_available():
    if "avx512" not in pyggml.available_simd_paths():
        pytest.skip(f"SIMD path avx512 not available here ({pyggml.system_info()})")
    child, parent = _core.simd_path_dot_kernels("avx512"), _core.simd_path_dot_kernels("avx2")
    replaced = [t for t in child if child[t] != parent[t] and any(child[t])]
    assert replaced, "the avx512 path replaces no dot kernel"
