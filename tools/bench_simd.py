#!/usr/bin/env python3
"""Throughput of the quant kernels per SIMD path: every path this CPU has (scalar, avx2, avx512,
neon), side by side.

Two kernel families, single-threaded, each timed as a whole loop in C (src/pyggml/_bench.pxi):
  gemv       y = W x for a (rows x cols) weight matrix of each type, as mul_mat runs one
             activation row (the path's single-row kernel, or its tiles of 8 weight rows) against
             x quantized to the type's activation partner; GB/s of weight bytes read, GFLOP/s
             counting 2 * rows * cols.
  from_float quantize rows of activations (Q8_0, Q8_1, Q8_K, F16); GB/s of f32 input read.
The time is the best of repetitions lasting --min-seconds in total.

    python tools/bench_simd.py [--rows 1024] [--cols 4096] [--json out.json] [--png out.png]

--png needs matplotlib (pip install 'pyggml[bench]').
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass

import numpy as np

import pyggml
from pyggml import _core, quants
from pyggml.types import GGMLType, traits

GEMV_TYPES = ["f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0",
              "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"]
FROM_FLOAT_TYPES = ["q8_0", "q8_1", "q8_K", "f16"]
# the target: AVX2 >= 8x scalar on quantized GEMV for these
TARGET_TYPES = ["q4_0", "q4_1", "q8_0", "q4_K", "q6_K"]
TARGET_SPEEDUP = 8.0
DISTINCT_ROWS = 64   # rows quantized for real, then tiled (speed does not depend on the values)


@dataclass
class Measurement:
    kernel: str        # "gemv" or "from_float"
    type: str
    path: str
    seconds: float     # best time of one pass
    bytes: int         # weight bytes (gemv) or f32 input bytes (from_float)
    flops: int         # 2 * rows * cols for gemv, 0 otherwise

    @property
    def gb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e9


def type_id(name: str) -> int:
    return int(GGMLType[name.upper()])


def available_paths() -> list[str]:
    return pyggml.available_simd_paths()


def weight_matrix(name: str, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """rows x cols of the type as raw bytes (DISTINCT_ROWS quantized rows, tiled)."""
    distinct = min(rows, DISTINCT_ROWS)
    tile = quants.quantize(rng.standard_normal((distinct, cols)).astype(np.float32), type_id(name))
    tile = np.ascontiguousarray(tile).view(np.uint8)   # F32/F16 come back as float arrays
    return np.ascontiguousarray(np.tile(tile, (-(-rows // distinct), 1))[:rows]).reshape(-1)


def bench_gemv(paths: list[str], rows: int, cols: int, min_seconds: float, rng) -> list[Measurement]:
    out = []
    x = rng.standard_normal(cols).astype(np.float32)
    y = np.empty(rows, dtype=np.float32)
    for name in GEMV_TYPES:
        tid = type_id(name)
        w = weight_matrix(name, rows, cols, rng)
        partner = traits(tid).vec_dot_type
        activation = quants.quantize(x, partner).reshape(-1).view(np.uint8)
        for path in paths:
            pyggml.set_simd_path(path)
            seconds = _core.bench_gemv(tid, w, rows, cols, activation, y, min_seconds)
            out.append(Measurement("gemv", name, path, seconds, w.nbytes, 2 * rows * cols))
    return out


def bench_from_float(paths: list[str], rows: int, cols: int, min_seconds: float, rng) -> list[Measurement]:
    out = []
    x = rng.standard_normal(rows * cols).astype(np.float32)
    for name in FROM_FLOAT_TYPES:
        tid = type_id(name)
        dst = np.empty(rows * (cols // traits(tid).block_size) * traits(tid).type_size, dtype=np.uint8)
        for path in paths:
            pyggml.set_simd_path(path)
            seconds = _core.bench_from_float(tid, x, dst, cols, min_seconds)
            out.append(Measurement("from_float", name, path, seconds, x.nbytes, 0))
    return out


def speedup_table(results: list[Measurement], paths: list[str]) -> list[dict]:
    rows = []
    keys = list(dict.fromkeys((m.kernel, m.type) for m in results))
    for kernel, name in keys:
        by_path = {m.path: m for m in results if (m.kernel, m.type) == (kernel, name)}
        row = {"kernel": kernel, "type": name}
        for path in paths:
            row[f"{path}_gb_per_s"] = by_path[path].gb_per_s
        for path in paths[1:]:
            row[f"{path}_speedup"] = by_path["scalar"].seconds / by_path[path].seconds
        if len(paths) > 1:
            row["speedup"] = row[f"{paths[-1]}_speedup"]
        rows.append(row)
    return rows


def print_table(table: list[dict], paths: list[str], file=sys.stdout) -> None:
    """A markdown table: kernel, type, GB/s per path, speedup of the last path over scalar."""
    headers = ["kernel", "type"] + [f"{p} GB/s" for p in paths] + (["speedup"] if len(paths) > 1 else [])
    rows = [[r["kernel"], r["type"]] + [f"{r[f'{p}_gb_per_s']:.2f}" for p in paths]
            + ([f"{r['speedup']:.1f}x"] if len(paths) > 1 else []) for r in table]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print(line(headers), file=file)
    print("|" + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths)) + "|", file=file)
    for row in rows:
        print(line(row), file=file)


def target_verdict(table: list[dict], paths: list[str]) -> str | None:
    if "avx2" not in paths:
        return None
    speed = {row["type"]: row["avx2_speedup"] for row in table if row["kernel"] == "gemv"}
    missed = [f"{t} ({speed[t]:.1f}x)" for t in TARGET_TYPES if speed[t] < TARGET_SPEEDUP]
    goal = f"AVX2 >= {TARGET_SPEEDUP:g}x scalar on quantized GEMV for {', '.join(TARGET_TYPES)}"
    return f"target {goal}: " + ("met" if not missed else "NOT met for " + ", ".join(missed))


def write_png(table: list[dict], paths: list[str], path: str, title: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--png needs matplotlib: pip install 'pyggml[bench]'")
    labels = [f"{r['kernel']}\n{r['type']}" for r in table]
    xs = np.arange(len(table))
    width = 0.8 / len(paths)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(table)), 4.5))
    for i, p in enumerate(paths):
        values = [r[f"{p}_gb_per_s"] for r in table]
        ax.bar(xs + (i - (len(paths) - 1) / 2) * width, values, width, label=p)
    if len(paths) > 1:
        for x, r in zip(xs, table):
            ax.annotate(f"{r['speedup']:.1f}x", (x, r[f"{paths[-1]}_gb_per_s"]), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("GB/s (weights for gemv, f32 input for from_float)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1024, help="GEMV output rows (default 1024)")
    ap.add_argument("--cols", type=int, default=4096, help="GEMV row length, a multiple of 256 (default 4096)")
    ap.add_argument("--act-rows", type=int, default=64, help="rows of --cols floats per from_float pass (default 64)")
    ap.add_argument("--min-seconds", type=float, default=0.3, help="timing budget per kernel and path")
    ap.add_argument("--json", metavar="PATH", help="write the measurements as JSON")
    ap.add_argument("--png", metavar="PATH", help="write a bar chart (needs matplotlib)")
    args = ap.parse_args(argv)
    if args.cols <= 0 or args.cols % 256 or args.rows <= 0 or args.act_rows <= 0:
        ap.error("--cols must be a positive multiple of 256; --rows and --act-rows positive")

    previous = pyggml.simd_path()
    paths = available_paths()
    rng = np.random.default_rng(0)
    try:
        results = bench_gemv(paths, args.rows, args.cols, args.min_seconds, rng)
        results += bench_from_float(paths, args.act_rows, args.cols, args.min_seconds, rng)
    finally:
        pyggml.set_simd_path(previous)

    table = speedup_table(results, paths)
    title = f"gemv {args.rows}x{args.cols}, from_float {args.act_rows}x{args.cols}, 1 thread, {platform.machine()}"
    print(f"{title}\n{pyggml.system_info()}\n")
    print_table(table, paths)
    verdict = target_verdict(table, paths)
    if verdict:
        print("\n" + verdict)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"system_info": pyggml.system_info(), "machine": platform.machine(),
                       "rows": args.rows, "cols": args.cols, "act_rows": args.act_rows, "threads": 1,
                       "paths": paths,
                       "measurements": [asdict(m) | {"gb_per_s": m.gb_per_s,
                                                      "gflop_per_s": m.flops / m.seconds / 1e9}
                                        for m in results],
                       "table": table, "target": verdict}, f, indent=2)
    if args.png:
        write_png(table, paths, args.png, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
