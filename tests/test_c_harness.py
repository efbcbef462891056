"""The C kernel harness (tests/c/run.sh) from pytest: every tests/c/test_*.c built without
Python and run natively (scalar + AVX2 against the _ref kernels on x86), then cross-compiled for
aarch64 and run under qemu (NEON, both int8 flavours, against _ref).

The NEON run needs aarch64-linux-gnu-gcc and qemu-aarch64. Without them it is skipped locally,
but fails in CI (CI=true): there the qemu run is the proof that the NEON kernels are right.
Likewise the x86-64 build under qemu-x86_64 -cpu Haswell (AVX2, no AVX-512) proves that a CPU
without AVX-512 runs: the avx512 path reports itself unavailable, everything else passes."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import pyggml

HARNESS = Path(__file__).parent / "c"
RUN_SH = HARNESS / "run.sh"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
CROSS_TOOLS = ("aarch64-linux-gnu-gcc", "qemu-aarch64")


def _run(mode: str) -> str:
    proc = subprocess.run(["bash", str(RUN_SH), mode], capture_output=True, text=True, timeout=1200)
    output = proc.stdout + proc.stderr
    failures = "\n".join(line for line in output.splitlines() if line.startswith(("FAIL", "==")))
    assert proc.returncode == 0, f"tests/c/run.sh {mode} failed:\n{failures}\n--- tail ---\n{output[-3000:]}"
    return proc.stdout


def _assert_summaries(stdout: str, runs: int) -> None:
    """Every program of every run printed its summary with nothing failed."""
    programs = sorted(HARNESS.glob("test_*.c"))
    summaries = SUMMARY.findall(stdout)
    assert len(summaries) == runs * len(programs), f"expected {runs} x {len(programs)} summaries:\n{stdout[-3000:]}"
    for passed, failed in summaries:
        assert int(failed) == 0 and int(passed) > 0


def test_native_harness():
    stdout = _run("native")
    _assert_summaries(stdout, runs=1)
    features = dict(item.split(" = ") for item in pyggml.system_info().split(" | "))
    if all(features.get(f) == "1" for f in ("AVX2", "FMA", "F16C")):
        assert "path avx2" in stdout, "the AVX2 kernels were not tested although this CPU has AVX2"
    for path in pyggml.available_simd_paths():
        assert f"path {path}\n" in stdout, f"the {path} kernels were not tested although this CPU has them"


def test_neon_harness_under_qemu():
    missing = [tool for tool in CROSS_TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install gcc-aarch64-linux-gnu qemu-user)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the NEON harness under qemu: {message}")
        pytest.skip(message)
    stdout = _run("arm")
    _assert_summaries(stdout, runs=2)                # qemu -cpu max, then -cpu cortex-a53
    assert "flavour chosen for this CPU: dotprod" in stdout, "-cpu max should select the dotprod kernels"
    assert "flavour chosen for this CPU: widen" in stdout, "cortex-a53 (no dotprod) should select the fallback"
    assert "path neon-widen" in stdout


def test_x86_harness_without_avx512_under_qemu():
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the no-AVX-512 run is for x86-64 hosts")
    if shutil.which("qemu-x86_64") is None:
        message = "qemu-x86_64 not installed (apt-get install qemu-user)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the x86 harness on a CPU without AVX-512: {message}")
        pytest.skip(message)
    stdout = _run("x86-avx2")
    _assert_summaries(stdout, runs=1)
    assert "path avx2\n" in stdout, "qemu's Haswell should run the AVX2 kernels"
    assert "note: path avx512 not available here" in stdout, "qemu's Haswell has no AVX-512: avx512 must say so"
