"""Black-box probe of llama.cpp's CPU mul_mat through ctypes (a research tool, not part of
pyggml; run it with the side venv that has llama-cpp-python, e.g. ~/lcpp-avx2/bin/python).

    ~/lcpp-avx2/bin/python tools/probe_ggml.py IN.npz OUT.npz [n_threads]

IN.npz holds `w` (uint8, N rows of raw weight bytes), `acts` (float32, M x K) and `wtype`
(ggml type id); OUT.npz gets `out` (float32, M x N) = ggml_mul_mat(w, acts) computed by
libggml-cpu's graph executor (ggml_graph_compute_with_ctx), i.e. whichever path llama.cpp's
CPU backend picks for that shape. The library is found next to the llama_cpp package."""
import ctypes as C
import os
import sys

import numpy as np

GGML_TYPE_F32 = 0


def _lib_dir() -> str:
    import llama_cpp  # only in the side venv
    return os.path.join(os.path.dirname(llama_cpp.__file__), "lib")


class _InitParams(C.Structure):
    _fields_ = [("mem_size", C.c_size_t), ("mem_buffer", C.c_void_p), ("no_alloc", C.c_bool)]


class Ggml:
    """The few ggml entry points the probe needs."""

    def __init__(self, lib_dir: str | None = None):
        d = lib_dir or _lib_dir()
        mode = C.RTLD_GLOBAL
        self.base = C.CDLL(os.path.join(d, "libggml-base.so"), mode=mode)
        self.cpu = C.CDLL(os.path.join(d, "libggml-cpu.so"), mode=mode)
        b, c = self.base, self.cpu
        b.ggml_init.argtypes = [_InitParams]
        b.ggml_init.restype = C.c_void_p
        b.ggml_free.argtypes = [C.c_void_p]
        b.ggml_new_tensor_2d.argtypes = [C.c_void_p, C.c_int, C.c_int64, C.c_int64]
        b.ggml_new_tensor_2d.restype = C.c_void_p
        b.ggml_new_tensor_3d.argtypes = [C.c_void_p, C.c_int, C.c_int64, C.c_int64, C.c_int64]
        b.ggml_new_tensor_3d.restype = C.c_void_p
        b.ggml_nbytes.argtypes = [C.c_void_p]
        b.ggml_nbytes.restype = C.c_size_t
        b.ggml_get_data.argtypes = [C.c_void_p]
        b.ggml_get_data.restype = C.c_void_p
        b.ggml_mul_mat.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p]
        b.ggml_mul_mat.restype = C.c_void_p
        b.ggml_new_graph.argtypes = [C.c_void_p]
        b.ggml_new_graph.restype = C.c_void_p
        b.ggml_build_forward_expand.argtypes = [C.c_void_p, C.c_void_p]
        b.ggml_row_size.argtypes = [C.c_int, C.c_int64]
        b.ggml_row_size.restype = C.c_size_t
        c.ggml_graph_compute_with_ctx.argtypes = [C.c_void_p, C.c_void_p, C.c_int]
        c.ggml_graph_compute_with_ctx.restype = C.c_int
        if hasattr(c, "ggml_cpu_init"):
            c.ggml_cpu_init()

    def _write(self, t, arr: np.ndarray) -> None:
        n = self.base.ggml_nbytes(t)
        buf = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
        if buf.size != n:
            raise ValueError(f"tensor takes {n} bytes, got {buf.size}")
        C.memmove(self.base.ggml_get_data(t), buf.ctypes.data, n)

    def mul_mat(self, w: np.ndarray, wtype: int, acts: np.ndarray, n_threads: int = 1) -> np.ndarray:
        """(..., M, N) float32 = ggml_mul_mat(w (N raw rows of wtype), acts (..., M, K) float32);
        acts may have a leading batch dim (ggml's ne[2]), broadcast over the one weight matrix."""
        acts = np.ascontiguousarray(acts, dtype=np.float32)
        if acts.ndim not in (2, 3):
            raise ValueError(f"acts must be (M, K) or (B, M, K), got shape {acts.shape}")
        batch = acts.shape[0] if acts.ndim == 3 else 1
        m, k = acts.shape[-2:]
        n = w.shape[0]
        if w.shape[1] != self.base.ggml_row_size(wtype, k):
            raise ValueError(f"weight rows of {w.shape[1]} bytes do not hold {k} elements of type {wtype}")
        mem = 2 * (w.nbytes + acts.nbytes + 4 * batch * m * n) + (64 << 20)
        ctx = self.base.ggml_init(_InitParams(mem, None, False))
        try:
            tw = self.base.ggml_new_tensor_2d(ctx, wtype, k, n)
            ta = self.base.ggml_new_tensor_3d(ctx, GGML_TYPE_F32, k, m, batch)
            self._write(tw, w)
            self._write(ta, acts)
            out = self.base.ggml_mul_mat(ctx, tw, ta)
            g = self.base.ggml_new_graph(ctx)
            self.base.ggml_build_forward_expand(g, out)
            rc = self.cpu.ggml_graph_compute_with_ctx(ctx, g, n_threads)
            if rc != 0:
                raise RuntimeError(f"ggml_graph_compute_with_ctx returned {rc}")
            res = np.empty(acts.shape[:-1] + (n,), dtype=np.float32)
            C.memmove(res.ctypes.data, self.base.ggml_get_data(out), res.nbytes)
            return res
        finally:
            self.base.ggml_free(ctx)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    src = np.load(argv[1])
    n_threads = int(argv[3]) if len(argv) == 4 else 1
    out = Ggml().mul_mat(src["w"], int(src["wtype"]), src["acts"], n_threads)
    np.savez(argv[2], out=out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
