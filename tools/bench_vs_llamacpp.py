"""pyggml vs llama.cpp's llama-bench, back to back in one run, one markdown table + JSON.

    python tools/bench_vs_llamacpp.py -m smollm2-135m-q4_0,llama-1b-shape-q4_0 -p 512 -n 128 -t 2 -r 2 \\
        --simd avx2,avx512 \\
        --llama-bench avx512=/work/llama-bench/avx512/bin/llama-bench \\
        --llama-bench avx2=/work/llama-bench/avx2/bin/llama-bench --json bench.json

-m takes GGUF paths or manifest names (pyggml-models fetches/derives/writes them). For each
file: pyggml-bench times every --simd path (its paths take turns within each repetition), then
each llama-bench build runs with the same -p/-n/-t/-r/-d (`-o json`, parsed). Both report t/s as
mean ± sd over -r repetitions; llama-bench's own warm-up run is on, pyggml-bench does one too.

Ratios: pyggml path P over the llama.cpp build labelled P if there is one (the issue's pairs:
avx512 vs the AVX-512 build, avx2 vs the AVX2 build), else over the first build given.

DRAM read bandwidth (--bandwidth-gib, 0 to skip): tools/dram_bandwidth.c, built here with the
system C compiler, sums a 2 GiB buffer of 64-bit words (vectorized, AVX2 loads on x86) at 1 and at
max(-t) threads; best of 5. The machine's load average is recorded before and after: a shared
machine's neighbours change every figure.

llama-bench is never a dependency of pyggml; build it outside the repository from the
llama-cpp-python 0.3.36 sdist (llama.cpp 0c1e570), e.g. the AVX-512 build:

    cmake -S vendor/llama.cpp -B avx512 -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON \
        -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON \
        -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
        -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF && cmake --build avx512 -j2 --target llama-bench

(AVX2 build: the same with every -DGGML_AVX512*=OFF; turn AVX_VNNI / AMX on only where the CPU
has them: with AMX on, llama.cpp's AMX mul_mat crashed on the first eval on some VMs.)"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def resolve_model(spec: str) -> Path:
    """A GGUF path, or a manifest name (fetched, derived or written on first use)."""
    if os.path.exists(spec):
        return Path(spec)
    from pyggml.models import ensure_model
    return ensure_model(spec)


def test_name(n_prompt: int, n_gen: int, depth: int) -> str:
    """pyggml-bench's and llama-bench's row name: pp512, tg128, 'pp512 @ d4096'."""
    name = f"pp{n_prompt}" if n_prompt else f"tg{n_gen}"
    return f"{name} @ d{depth}" if depth else name


def run_pyggml(path: Path, args, simd: list[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """{(path, test): (t/s mean, sd)} from `pyggml-bench -o json` in a child process."""
    cmd = [sys.executable, "-m", "pyggml.cli.bench", "-m", str(path), "-p", args.n_prompt, "-n", args.n_gen,
           "-t", args.threads, "-r", str(args.repetitions), "-d", args.n_depth, "--simd", ",".join(simd),
           "-o", "json"]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    rows = {}
    for r in json.loads(out):
        rows[(r["backend"].removeprefix("CPU "), f"{r['threads']}t {r['test']}")] = (r["ts_mean"], r["ts_sd"])
    return rows


def run_llama_bench(exe: str, path: Path, args) -> tuple[dict[str, tuple[float, float]], dict]:
    """{test: (t/s mean, sd)} and the build's description from `llama-bench -o json`."""
    cmd = [exe, "-m", str(path), "-p", args.n_prompt, "-n", args.n_gen, "-t", args.threads,
           "-r", str(args.repetitions), "-d", args.n_depth, "-o", "json"]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    rows, info = {}, {}
    for r in json.loads(out):
        test = test_name(r["n_prompt"], r["n_gen"], r.get("n_depth", 0))
        rows[f"{r['n_threads']}t {test}"] = (r["avg_ts"], r["stddev_ts"])
        info = {k: r.get(k) for k in ("build_commit", "build_number", "cpu_info", "backends", "type_k", "n_batch",
                                      "n_ubatch", "flash_attn")}
    return rows, info


def dram_bandwidth(gib: float, thread_counts: list[int], reps: int = 5) -> list[dict]:
    """Streaming-sum read bandwidth (tools/dram_bandwidth.c, compiled into a temp dir)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        print("no C compiler: DRAM bandwidth not measured", file=sys.stderr)
        return []
    flags = ["-O3", "-pthread"] + (["-mavx2"] if platform.machine() in ("x86_64", "AMD64") else [])
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "dram_bandwidth"
        subprocess.run([cc, *flags, str(HERE / "dram_bandwidth.c"), "-o", str(exe)], check=True)
        results = []
        for t in thread_counts:
            out = subprocess.run([str(exe), str(gib), str(t), str(reps)], check=True, stdout=subprocess.PIPE,
                                 text=True).stdout
            results.append(json.loads(out) | {"compiler_flags": " ".join(flags)})
            print(f"DRAM read {t} thread(s): best {results[-1]['best_gbps']:.1f} GB/s", file=sys.stderr)
        return results


def fmt(v: tuple[float, float] | None) -> str:
    return f"{v[0]:.2f} ± {v[1]:.2f}" if v else "-"


def markdown(results: list[dict], simd: list[str], builds: list[str]) -> str:
    def ref_build(p: str) -> str:
        return p if p in builds else builds[0]

    head = ["file", "test", *[f"pyggml {p}" for p in simd], *[f"llama.cpp {b}" for b in builds],
            *[f"{p} / llama.cpp {ref_build(p)}" for p in simd if builds]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * 2 + " ---: |" * (len(head) - 2)]
    for r in results:
        cells = [r["file"], r["test"], *[fmt(r["pyggml"].get(p)) for p in simd],
                 *[fmt(r["llama_cpp"].get(b)) for b in builds]]
        for p in simd:
            if builds:
                ours, theirs = r["pyggml"].get(p), r["llama_cpp"].get(ref_build(p))
                cells.append(f"{ours[0] / theirs[0]:.2f}" if ours and theirs else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def decode_bandwidth(results: list[dict], simd: list[str], builds: list[str], dram_gbps: float | None) -> str:
    """tg rows as read bandwidth: a decoded token reads about every weight once, so GB/s ~ file
    size x t/s (the KV cache and activations are left out: small at depth 0)."""
    engines = [(f"pyggml {p}", "pyggml", p) for p in simd] + [(f"llama.cpp {b}", "llama_cpp", b) for b in builds]
    lines = ["| file | test | " + " | ".join(name for name, _, _ in engines) + " |",
             "|" + " --- |" * 2 + " ---: |" * len(engines)]
    for r in (r for r in results if " tg" in r["test"]):
        cells = []
        for _, kind, key in engines:
            v = r[kind].get(key)
            gbps = r["size_mib"] * 2**20 * v[0] / 1e9 if v else None
            cells.append("-" if gbps is None else f"{gbps:.1f} GB/s" + (f" ({100 * gbps / dram_gbps:.0f} %)" if dram_gbps else ""))
        lines.append(f"| {r['file']} | {r['test']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True, help="GGUF paths or manifest names, comma-separated")
    ap.add_argument("-p", "--n-prompt", default="512")
    ap.add_argument("-n", "--n-gen", default="128")
    ap.add_argument("-t", "--threads", default="2")
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    ap.add_argument("-d", "--n-depth", default="0")
    ap.add_argument("--simd", default="avx2,avx512", help="pyggml SIMD paths, comma-separated")
    ap.add_argument("--llama-bench", action="append", default=[], metavar="LABEL=PATH",
                    help="a llama-bench build (repeatable); the label names its column")
    ap.add_argument("--bandwidth-gib", type=float, default=2.0, help="DRAM buffer size (0: skip the measurement)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    builds = {}
    for spec in args.llama_bench:
        label, sep, exe = spec.partition("=")
        if not sep or not label or not os.access(exe, os.X_OK):
            ap.error(f"--llama-bench {spec!r}: expected LABEL=PATH to an executable llama-bench")
        builds[label] = exe
    simd = [p for p in args.simd.split(",") if p]
    from pyggml import system_info
    started = {"time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "loadavg": os.getloadavg()}

    results, build_info = [], {}
    for spec in (m for m in args.model.split(",") if m):
        path = resolve_model(spec)
        ours = run_pyggml(path, args, simd)
        theirs = {}
        for label, exe in builds.items():
            theirs[label], build_info[label] = run_llama_bench(exe, path, args)
        tests = dict.fromkeys(t for _, t in ours)
        for label in builds:
            tests.update(dict.fromkeys(theirs[label]))
        for test in tests:
            results.append({"file": path.name, "size_mib": round(path.stat().st_size / 2**20, 1), "test": test,
                            "pyggml": {p: ours.get((p, test)) for p in simd},
                            "llama_cpp": {b: theirs[b].get(test) for b in builds}})
            print(markdown(results[-1:], simd, list(builds)).splitlines()[-1], file=sys.stderr, flush=True)

    thread_counts = sorted({1, max(int(t) for t in args.threads.split(","))})
    bandwidth = dram_bandwidth(args.bandwidth_gib, thread_counts) if args.bandwidth_gib > 0 else []
    finished = {"time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "loadavg": os.getloadavg()}

    print(f"\nt/s, mean ± sd over {args.repetitions} runs; started {started['time_utc']} UTC, load average "
          f"{started['loadavg'][0]:.2f}; finished {finished['time_utc']}, load average {finished['loadavg'][0]:.2f}")
    print(markdown(results, simd, list(builds)))
    for b in bandwidth:
        print(f"\nDRAM read bandwidth, {b['threads']} thread(s), streaming sum over {b['gib']:g} GiB: "
              f"best {b['best_gbps']:.1f} GB/s, median {b['median_gbps']:.1f} GB/s", end="")
    print()
    if any(" tg" in r["test"] for r in results):
        dram = bandwidth[-1]["best_gbps"] if bandwidth else None
        print(f"\nDecode as read bandwidth (file size x t/s"
              + (f"; % of the {bandwidth[-1]['threads']}-thread DRAM figure" if dram else "") + ")")
        print(decode_bandwidth(results, simd, list(builds), dram))
    if args.json:
        doc = {"args": vars(args), "started": started, "finished": finished, "pyggml": system_info(),
               "llama_bench": {label: {"path": exe, **build_info.get(label, {})} for label, exe in builds.items()},
               "dram_bandwidth": bandwidth, "results": results}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
