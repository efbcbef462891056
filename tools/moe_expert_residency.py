"""Show that a qwen3moe decode step reads only the experts the router chose.

    python tools/moe_expert_residency.py [--model big-moe.gguf]

Evicts the model file from the page cache (posix_fadvise DONTNEED), opens it with pyggml, turns
the mapping's read-around off (MADV_RANDOM: a fault reads its page only), runs ONE token, then
asks the kernel (mincore) which pages of each expert's weights are now in memory. An expert the
token did not choose has no page read; a chosen one is read whole. The chosen experts are
not needed: an expert counts as read when most of its pages are in memory (its first and last
page may be shared with a neighbour, which then shows ~1%).
Linux only. Without --model a synthetic model (tools/bench_moe.py's shape) is written to /tmp."""
from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import sys

import numpy as np

from pyggml.runner import ModelRunner

PAGE = os.sysconf("SC_PAGE_SIZE")
_libc = ctypes.CDLL(None, use_errno=True)


def resident_fraction(buf: mmap.mmap, offset: int, nbytes: int) -> float:
    """Fraction of the pages of [offset, offset + nbytes) of the file that are in memory."""
    start = offset // PAGE * PAGE
    n_pages = (offset + nbytes - start + PAGE - 1) // PAGE
    vec = (ctypes.c_ubyte * n_pages)()
    addr = np.frombuffer(buf, np.uint8).ctypes.data + start      # the mapping's address; no page touched
    if _libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(n_pages * PAGE), vec) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return float(np.frombuffer(vec, np.uint8).astype(bool).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a qwen3moe GGUF (default: write the benchmark model)")
    ap.add_argument("--token", type=int, default=123)
    args = ap.parse_args()
    path = args.model
    if path is None:
        sys.path.insert(0, os.path.dirname(__file__))
        from bench_moe import write_bench_model  # noqa: E402
        path = str(write_bench_model("/tmp/pyggml-bench-moe8-q8_0.gguf"))

    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        probe = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)   # never touched: mincore only
    print(f"{path}: {resident_fraction(probe, 0, os.path.getsize(path)):.1%} of the file in memory after eviction")

    runner = ModelRunner(path, n_ctx=256, n_threads=1)
    runner.reader._mmap.madvise(mmap.MADV_RANDOM)
    cfg = runner.config
    runner.eval([args.token])
    infos = {t.name: t for t in runner.reader.tensors}
    print(f"one token, {cfg.n_expert_used} of {cfg.n_expert} experts per layer; experts read, min % of their pages (max % of any other expert's):")
    total_read, total = 0, 0
    for il in range(cfg.n_layer):
        row = []
        for name in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
            t = infos[f"blk.{il}.{name}.weight"]
            per_expert = t.nbytes // cfg.n_expert
            fr = [resident_fraction(probe, t.offset + e * per_expert, per_expert) for e in range(cfg.n_expert)]
            read = [e for e, x in enumerate(fr) if x > 0.5]
            others = max((x for e, x in enumerate(fr) if e not in read), default=0.0)
            total_read += sum(fr) * per_expert
            total += t.nbytes
            row.append(f"{name.split('_')[1]} {read} {min(fr[e] for e in read):.0%}+ (others <= {others:.0%})")
        print(f"  layer {il}: " + "; ".join(row))
    print(f"expert bytes read: {total_read / 2**20:.1f} MiB of {total / 2**20:.1f} MiB "
          f"({total_read / total:.1%}; {cfg.n_expert_used}/{cfg.n_expert} = {cfg.n_expert_used / cfg.n_expert:.1%})")
    runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
