"""pyggml-bench as a user runs it: llama-bench's table/JSON, the per-op profiles, bad arguments."""
import json
import re
import subprocess
import sys

import pytest

SMOLLM = "smollm2-135m-q4_1"


def bench(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pyggml.cli.bench", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smollm(model_path):
    return str(model_path(SMOLLM))


def test_json_rows_and_profiles(smollm):
    r = bench("-m", smollm, "-p", 16, "-n", 3, "-t", 1, "-r", 1, "-o", "json", "--profile")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["test"] for row in rows] == ["pp16", "tg3"]
    for row in rows:
        assert row["threads"] == 1 and row["ts_mean"] > 0 and row["llama_cpp_mean"] is None
    # both profiles name the matmuls with the model's node counts: 30 layers x 5 + output, and the
    # 30 fused gate/up projections
    for title in ("ms per pp16 batch by op", "ms per decoded token by op"):
        section = r.stderr.split(title, 1)[1].split("\n\n", 1)[0]
        m = re.search(r"MUL_MAT +([\d.]+) ms +([\d.]+) %  \((\d+) nodes\)", section)
        glu = re.search(r"MUL_MAT_GLU +([\d.]+) ms +([\d.]+) %  \((\d+) nodes\)", section)
        assert m and glu, section
        assert float(m.group(1)) > 0 and int(m.group(3)) == 151
        assert float(glu.group(1)) > 0 and int(glu.group(3)) == 30


def test_profiles_at_depth(smollm):
    """-d with --profile: the profiles are taken after that many cached tokens (the decode graph
    attends over them), one section per depth."""
    r = bench("-m", smollm, "-p", 0, "-n", 2, "-t", 1, "-r", 1, "-d", "0,300", "--profile")
    assert r.returncode == 0, r.stderr
    for title in ("ms per decoded token by op", "ms per decoded token @ d300 by op"):
        section = r.stderr.split(title, 1)[1].split("\n\n", 1)[0]
        assert re.search(r"FLASH_ATTN_EXT +[\d.]+ ms", section), section


def test_profiled_graphs_attend_over_the_depth(smollm, monkeypatch):
    from pyggml.cli import bench as bench_module

    seen = []
    monkeypatch.setattr(bench_module, "_profile_graph",
                        lambda runner, built, reps: seen.append((runner.n_past, built.batch.n_kv)) or {})
    bench_module.profile_decode(smollm, 1, depth=300, n_tokens=2)
    bench_module.profile_prompt(smollm, 1, 16, depth=300, reps=1)
    # 300 cached + 4 + 2 decoded, then 300 + 16 prompt tokens; n_kv: the whole (small) context
    assert seen == [(306, 314), (316, 324)]


def test_markdown_table(smollm):
    r = bench("-m", smollm, "-p", 8, "-n", 0, "-t", 1, "-r", 2)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "| model | size | params | backend | threads | test | t/s |"
    assert re.fullmatch(r"\| llama 135M Q4_1 \| 93\.81 MiB \| 134\.52 M \| CPU \w+ \| 1 \| pp8 \| [\d.]+ ± [\d.]+ \|",
                        lines[2]), lines[2]


def test_depth_kv_type_and_every_simd_path(smollm):
    """-d: rows at depth named like llama-bench's; --simd all: one row per available path, in one run."""
    import pyggml

    paths = pyggml.available_simd_paths()
    r = bench("-m", smollm, "-p", 8, "-n", 2, "-t", 1, "-r", 1, "-d", "0,16", "-ctk", "f32", "--simd", "all",
              "-o", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    got = [(row["test"], row["backend"]) for row in rows]
    want = [(test, f"CPU {p}") for test in ("pp8", "tg2", "pp8 @ d16", "tg2 @ d16") for p in paths]
    assert got == want
    assert all(row["ts_mean"] > 0 for row in rows)


@pytest.mark.parametrize("args", [("-t", "0"), ("-r", "0"), ("-p", "x"), ("-m", "/no/such.gguf"), ("-d", "-1"),
                                  ("-ctk", "q9_9"), ("--simd", "avx2,sse9"), ("-ub", "0")])
def test_bad_arguments_exit_2(smollm, args):
    argv = ["-m", smollm, "-p", "8", "-n", "0", *args]
    r = bench(*argv)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "pyggml-bench" in r.stderr
