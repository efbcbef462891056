"""tools/bench_vs_llamacpp.py: the table and JSON it makes from pyggml-bench and llama-bench runs
(llama-bench is stood in for by a script printing llama-bench's JSON rows: llama.cpp is never
built in CI), and the DRAM bandwidth helper it compiles."""
from __future__ import annotations

import importlib.util
import json
import shutil
import stat
import sys
from pathlib import Path

import pytest

import pyggml
from pyggml.models.tiny import write_tiny_llama

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _load_tool():
    spec = importlib.util.spec_from_file_location("bench_vs_llamacpp", TOOLS / "bench_vs_llamacpp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()

# llama-bench -o json rows (fields as tools/llama-bench/llama-bench.cpp writes them, trimmed)
FAKE_LLAMA_BENCH = """#!{python}
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
assert args["-o"] == "json" and args["-r"] == "1" and args["-t"] == "1" and args["-d"] == "0", args
rows = []
for n_prompt, n_gen, ts in ((int(args["-p"]), 0, 100.0), (0, int(args["-n"]), 40.0)):
    rows.append({{"build_commit": "0c1e570", "build_number": 1, "cpu_info": "fake", "backends": "CPU",
                 "n_threads": int(args["-t"]), "type_k": "f16", "n_batch": 2048, "n_ubatch": 512,
                 "flash_attn": -1, "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": 0,
                 "avg_ts": ts, "stddev_ts": 1.5}})
print(json.dumps(rows))
"""


def test_test_names_follow_llama_bench():
    assert tool.test_name(512, 0, 0) == "pp512"
    assert tool.test_name(0, 128, 0) == "tg128"
    assert tool.test_name(512, 0, 4096) == "pp512 @ d4096"


def test_one_run_gives_a_table_with_both_engines_and_ratios(tmp_path, capsys):
    model = write_tiny_llama(tmp_path / "tiny.gguf", n_vocab=320)
    fake = tmp_path / "llama-bench"
    fake.write_text(FAKE_LLAMA_BENCH.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = pyggml.simd_path()
    out_json = tmp_path / "out.json"
    assert tool.main(["-m", str(model), "-p", "8", "-n", "2", "-t", "1", "-r", "1", "--simd", path,
                      "--llama-bench", f"fake={fake}", "--bandwidth-gib", "0", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert f"| file | test | pyggml {path} | llama.cpp fake | {path} / llama.cpp fake |" in printed
    doc = json.loads(out_json.read_text())
    assert doc["llama_bench"]["fake"]["build_commit"] == "0c1e570"
    rows = {r["test"]: r for r in doc["results"]}
    assert set(rows) == {"1t pp8", "1t tg2"}
    for test, theirs in (("1t pp8", 100.0), ("1t tg2", 40.0)):
        ours = rows[test]["pyggml"][path][0]
        assert ours > 0 and rows[test]["llama_cpp"]["fake"] == [theirs, 1.5]
        assert f"| {ours / theirs:.2f} |" in next(line for line in printed.splitlines() if f"| {test} |" in line)


def test_llama_bench_must_be_label_equals_executable(tmp_path):
    with pytest.raises(SystemExit):
        tool.main(["-m", "x.gguf", "--llama-bench", str(tmp_path / "missing")])


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_dram_bandwidth_helper_runs():
    results = tool.dram_bandwidth(0.01, [1, 2], reps=2)
    assert [r["threads"] for r in results] == [1, 2]
    assert all(r["best_gbps"] >= r["median_gbps"] > 0 for r in results)
    # 8-byte words of 0x0101010101010101 summed over the buffer, whatever the slicing
    n_words = int(0.01 * 2**30) // 8
    assert all(r["checksum"] == (n_words * 0x0101010101010101) % 2**64 for r in results)
