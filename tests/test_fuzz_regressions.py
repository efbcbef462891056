"""Every fuzz seed and every input a fuzzer ever found (tests/fuzz/regressions/TARGET/) through
its target: the targets' own checks (documented errors only, ids in range, round trips) hold.
The fuzzers themselves run in CI through .ci/fuzz.sh (tests/fuzz/run.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).parent / "fuzz"
sys.path.insert(0, str(FUZZ_DIR))

import targets  # noqa: E402


def _cases():
    for target in targets.TARGETS:
        for kind in ("corpus", "regressions"):
            folder = FUZZ_DIR / kind / target
            if folder.is_dir():
                for path in sorted(folder.iterdir()):
                    yield pytest.param(target, path, id=f"{target}/{kind}/{path.name}")


def test_every_target_has_seeds():
    for target in targets.TARGETS:
        assert len(list((FUZZ_DIR / "corpus" / target).iterdir())) >= 3, target


@pytest.mark.parametrize("target, path", list(_cases()))
def test_fuzz_input(target, path, model_path):
    model_path(targets.BPE_MODEL), model_path(targets.SPM_MODEL)   # fetched like every model test
    targets.TARGETS[target](path.read_bytes())
