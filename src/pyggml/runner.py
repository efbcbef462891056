"""ModelRunner: a GGUF model, its KV cache and its graphs, evaluating token batches.

Per batch shape (n_tokens, n_kv, n_out) a graph is built once in Python and cached; each eval
only sets the small input tensors (token ids, positions, cache slots, masks) and makes one C
call. n_kv (cache positions attended) is the filled length rounded up to KV_PAD, so decoding
rebuilds a graph once per KV_PAD tokens, not per token."""
from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import alloc
from ._core import ThreadPool
from .arch import ModelConfig, get_arch
from .arch.layers import BatchInputs, LayerCache
from .gguf import GGUFReader
from .guard import ObjectGuard, serialized
from .graph import Graph, default_n_threads
from .tensor import Context, Op, Tensor
from .types import GGMLType
from .weights import WeightStore

KV_PAD = 256
MAX_CACHED_GRAPHS = 6
_GRAPH_ARENA = 4 << 20


def _write_mask(m: np.ndarray, visible: np.ndarray) -> None:
    """0 where visible, -inf elsewhere, written in place into the mask's view (no float64 temporaries)."""
    m.fill(-np.inf)
    np.copyto(m, np.float32(0.0), where=visible)


@dataclass
class _BuiltGraph:
    graph: Graph
    batch: BatchInputs
    logits: Tensor     # (n_vocab, n_out), or (n_embd, n_out) hidden states for an "embd" graph
    ctx: Context
    memory: alloc.SharedMemory
    _views: tuple = ()  # (memory generation, numpy views) of the inputs and logits, see views()

    def views(self) -> tuple:
        """numpy views of tokens, positions, kv_slots, out_rows, the masks (a dict) and logits,
        made once and made again only when the shared buffer moved (it rebinds every graph's
        tensors): building six views per decoded token was a visible share of its Python time."""
        if not self._views or self._views[0] != self.memory.generation:
            b = self.batch
            v = [t.numpy() for t in (b.tokens, b.positions, b.kv_slots, b.out_rows, *b.masks.values(), self.logits)]
            self._views = (self.memory.generation, (*v[:4], dict(zip(b.masks, v[4:-1])), v[-1]))
        return self._views[1]


class ModelRunner:
    def __init__(self, model_path, *, n_ctx: int = 512, n_batch: int = 512, n_threads: int | None = None,
                 kv_type: str = "f16", metadata_overrides: dict | None = None,
                 config_overrides: dict | None = None, kv_size: int | None = None, repack: bool = True):
        """metadata_overrides: GGUF keys replaced before the config is read (llama.cpp's
        kv_overrides); config_overrides: ModelConfig fields replaced after (e.g. rope_freq_base).
        kv_size: cache rows (default n_ctx); a multi-sequence engine (batching.py) shares
        n_seq * n_ctx rows among its sequences while each position stays below n_ctx.
        repack: Q4_0, Q4_1, Q5_0 and Q4_K weights get a copy repacked by 8 rows where the active SIMD path
        reads one (WeightStore.repack; llama.cpp repacks them too), False: the file's rows only."""
        t0 = time.perf_counter()
        self._guard = ObjectGuard("ModelRunner")   # thread safety: see pyggml.guard
        self.reader = GGUFReader(model_path)
        self.metadata = self.reader.metadata
        if metadata_overrides:
            self.metadata = {**self.metadata, **metadata_overrides}
        self.arch = get_arch(self.metadata)
        self.config: ModelConfig = self.arch.load_config(self.metadata)
        if config_overrides:
            self.config = dataclasses.replace(self.config, **config_overrides)
        if not isinstance(n_ctx, int) or n_ctx <= 0:
            raise ValueError(f"n_ctx must be a positive integer, got {n_ctx!r}")
        if n_ctx > self.config.n_ctx_train:
            raise ValueError(f"n_ctx={n_ctx} exceeds the model's training context {self.config.n_ctx_train}")
        if not isinstance(n_batch, int) or n_batch <= 0:
            raise ValueError(f"n_batch must be a positive integer, got {n_batch!r}")
        if kv_type not in ("f16", "f32"):
            raise ValueError(f"kv_type must be 'f16' or 'f32', got {kv_type!r}")
        if kv_size is not None and (isinstance(kv_size, bool) or not isinstance(kv_size, int) or kv_size < n_ctx):
            raise ValueError(f"kv_size must be an integer >= n_ctx={n_ctx}, got {kv_size!r}")
        self.n_ctx = n_ctx
        self.kv_size = n_ctx if kv_size is None else kv_size
        self.max_cached_graphs = MAX_CACHED_GRAPHS
        self.n_batch = min(n_batch, n_ctx)
        self.n_threads = n_threads or default_n_threads()
        self.weights = WeightStore(self.reader)
        self.weights.require(*self.arch.tensors(self.config, self.weights.names))
        t_repack = time.perf_counter()
        self.repacked_bytes = self.weights.repack(self.n_threads) if repack else 0
        t_repack = time.perf_counter() - t_repack
        self.pool = ThreadPool(self.n_threads)
        self._kv_ctx, self.kv = self._make_kv_cache(GGMLType.F16 if kv_type == "f16" else GGMLType.F32)
        self._graphs: OrderedDict[tuple, _BuiltGraph] = OrderedDict()
        self._memory = alloc.SharedMemory()   # one compute + work buffer for all cached graphs
        self.n_past = 0
        self.timings = {"load_ms": (time.perf_counter() - t0) * 1e3, "repack_ms": t_repack * 1e3,
                        "prompt_ms": 0.0, "prompt_tokens": 0,
                        "eval_ms": 0.0, "eval_tokens": 0}

    def _make_kv_cache(self, type_: GGMLType):
        cfg = self.config
        per_layer = (cfg.n_embd_k_gqa + cfg.n_embd_v_gqa) * self.kv_size * (2 if type_ == GGMLType.F16 else 4)
        ctx = Context(mem_size=cfg.n_layer * (per_layer + 2048) + 4096)
        caches = [LayerCache(k=ctx.new_tensor_2d(type_, cfg.n_embd_k_gqa, self.kv_size, name=f"cache_k_l{il}"),
                             v=ctx.new_tensor_2d(type_, cfg.n_embd_v_gqa, self.kv_size, name=f"cache_v_l{il}"))
                  for il in range(cfg.n_layer)]
        return ctx, caches

    # ---- graphs -------------------------------------------------------------------------------

    def _graph_for(self, n_tokens: int, n_kv: int, n_out: int, output: str = "logits") -> _BuiltGraph:
        key = (n_tokens, n_kv, n_out, output)
        built = self._graphs.get(key)
        if built is not None:
            self._graphs.move_to_end(key)
            return built
        ctx = Context(mem_size=_GRAPH_ARENA, no_alloc=True)
        i32 = GGMLType.I32
        # one mask per attention kind the layers declare (FULL = 0, or a sliding window)
        masks = {window: ctx.new_tensor_2d(GGMLType.F32, n_kv, n_tokens, name=f"mask_w{window}").set_input()
                 for window in sorted(set(self.config.layer_windows))}
        batch = BatchInputs(
            tokens=ctx.new_tensor_1d(i32, n_tokens, name="tokens").set_input(),
            positions=ctx.new_tensor_1d(i32, n_tokens, name="positions").set_input(),
            kv_slots=ctx.new_tensor_1d(i32, n_tokens, name="kv_slots").set_input(),
            out_rows=ctx.new_tensor_1d(i32, n_out, name="out_rows").set_input(),
            masks=masks, n_tokens=n_tokens, n_kv=n_kv, n_ctx=self.n_ctx)
        logits = self.arch.build(ctx, self.config, self.weights, batch, self.kv)
        if output == "embd":
            # the normed hidden state that the output matmul (n_embd -> n_vocab) reads
            if logits.op != Op.MUL_MAT:
                raise NotImplementedError(f"{self.config.arch}: embeddings need the graph to end in the output matmul")
            logits = logits.src[1]
        logits.name = output
        graph = Graph(ctx)
        graph.build_forward_expand(logits)
        graph.allocate(shared=self._memory)
        built = self._graphs[key] = _BuiltGraph(graph, batch, logits, ctx, self._memory)
        while len(self._graphs) > self.max_cached_graphs:
            self._graphs.popitem(last=False)
        return built

    def _set_one_input(self, views: tuple, token: int) -> None:
        """The inputs of one decoded token at position n_past: the values _set_inputs would
        write, without its temporaries."""
        tokens_v, positions_v, kv_slots_v, out_rows_v, masks_v, _ = views
        p = self.n_past
        tokens_v[0], positions_v[0], kv_slots_v[0], out_rows_v[0] = token, p, p, 0
        for window, mask in masks_v.items():   # visible: max(0, p + 1 - window) <= slot <= p
            first = max(0, p + 1 - window) if window else 0
            mask[0, :first] = -np.inf
            mask[0, first:p + 1] = 0.0
            mask[0, p + 1:] = -np.inf

    def _set_inputs(self, g: _BuiltGraph, tokens: np.ndarray, n_out: int) -> None:
        n = len(tokens)
        if n == 1:
            self._set_one_input(g.views(), int(tokens[0]))
            return
        tokens_v, positions_v, kv_slots_v, out_rows_v, masks_v, _ = g.views()
        pos = np.arange(self.n_past, self.n_past + n, dtype=np.int32)
        tokens_v[:] = tokens
        positions_v[:] = pos
        kv_slots_v[:] = pos
        out_rows_v[:] = np.arange(n - n_out, n, dtype=np.int32)
        kv_pos = np.arange(g.batch.n_kv, dtype=np.int32)[None, :]
        causal = kv_pos <= pos[:, None]               # (n, n_kv); unfilled slots are > pos
        for window, mask in masks_v.items():
            _write_mask(mask, causal & ((pos[:, None] - kv_pos) < window) if window else causal)

    # ---- evaluation -----------------------------------------------------------------------------

    @serialized
    def eval(self, tokens, logits_all: bool = False, output: str = "logits") -> np.ndarray:
        """Append tokens to the cache; logits (len(tokens), n_vocab) if logits_all else (1, n_vocab).
        output="embd": the final normed hidden states (.., n_embd) instead of logits."""
        if type(tokens) is list and len(tokens) == 1 and type(tokens[0]) is int:
            return self._eval_one(tokens[0], output)
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if tokens.size == 0:
            raise ValueError("eval: no tokens given")
        low, high = (int(tokens[0]),) * 2 if tokens.size == 1 else (int(tokens.min()), int(tokens.max()))
        if low < 0 or high >= self.config.n_vocab:
            bad = tokens[(tokens < 0) | (tokens >= self.config.n_vocab)][0]
            raise ValueError(f"eval: token id {int(bad)} out of range [0, {self.config.n_vocab})")
        if self.n_past + tokens.size > self.n_ctx:
            raise ValueError(f"eval: {self.n_past} cached + {tokens.size} new tokens exceed n_ctx={self.n_ctx}")
        out = []
        t0 = time.perf_counter()
        for start in range(0, tokens.size, self.n_batch):
            chunk = tokens[start:start + self.n_batch].astype(np.int32)
            last_chunk = start + self.n_batch >= tokens.size
            n_out = chunk.size if logits_all else (1 if last_chunk else 0)
            n_kv = min(self.n_ctx, -(-(self.n_past + chunk.size) // KV_PAD) * KV_PAD)
            g = self._graph_for(chunk.size, n_kv, max(n_out, 1), output)
            self._set_inputs(g, chunk, max(n_out, 1))
            g.graph.compute(pool=self.pool)
            self.n_past += chunk.size
            if n_out:
                out.append(g.views()[-1].copy())   # the shared buffer is reused by the next run
        ms = (time.perf_counter() - t0) * 1e3
        key = "prompt" if tokens.size > 1 else "eval"
        self.timings[f"{key}_ms"] += ms
        self.timings[f"{key}_tokens"] += int(tokens.size)
        return out[0] if len(out) == 1 else np.concatenate(out, axis=0)

    def _eval_one(self, token: int, output: str) -> np.ndarray:
        """eval([token]) of a decoded token (the same checks, graph and result) with less Python
        per token: what runs between two forward passes is a share of a small model's token."""
        if not 0 <= token < self.config.n_vocab:
            raise ValueError(f"eval: token id {token} out of range [0, {self.config.n_vocab})")
        p = self.n_past
        if p + 1 > self.n_ctx:
            raise ValueError(f"eval: {p} cached + 1 new tokens exceed n_ctx={self.n_ctx}")
        t0 = time.perf_counter()
        g = self._graph_for(1, min(self.n_ctx, (p // KV_PAD + 1) * KV_PAD), 1, output)
        views = g.views()
        self._set_one_input(views, token)
        g.graph.compute(pool=self.pool)
        self.n_past = p + 1
        out = views[-1].copy()   # the shared buffer is reused by the next run
        self.timings["eval_ms"] += (time.perf_counter() - t0) * 1e3
        self.timings["eval_tokens"] += 1
        return out

    @serialized
    def reset(self) -> None:
        self.n_past = 0

    @serialized
    def kv_state(self, n_keep: int) -> list[tuple[bytes, bytes]]:
        """Copies of the first n_keep cache rows per layer: [(k bytes, v bytes)] (for save_state)."""
        return [(c.k.numpy()[:n_keep].tobytes(), c.v.numpy()[:n_keep].tobytes()) for c in self.kv]

    @serialized
    def set_kv_state(self, layers: list[tuple[bytes, bytes]], n_past: int) -> None:
        """Restore rows written by kv_state; n_past positions are then cached."""
        if len(layers) != len(self.kv) or not 0 <= n_past <= self.n_ctx:
            raise ValueError(f"state has {len(layers)} layers and {n_past} positions; this model has "
                             f"{len(self.kv)} layers and n_ctx {self.n_ctx}")
        for cache, (k, v) in zip(self.kv, layers):
            for tensor, raw in ((cache.k, k), (cache.v, v)):
                rows = tensor.numpy()
                flat = np.frombuffer(raw, dtype=rows.dtype)
                if flat.size != n_past * rows.shape[1]:
                    raise ValueError(f"state's {tensor.name} holds {flat.size} values, expected {n_past} x {rows.shape[1]}")
                rows[:n_past] = flat.reshape(n_past, rows.shape[1])
        self.n_past = n_past

    @serialized
    def truncate(self, n_keep: int) -> None:
        """Keep the first n_keep cached positions (later ones are overwritten by new evals)."""
        if not 0 <= n_keep <= self.n_past:
            raise ValueError(f"truncate: n_keep={n_keep} outside [0, {self.n_past}]")
        self.n_past = n_keep

    @property
    def compute_buffer_size(self) -> int:
        """Bytes of the compute buffer all cached graphs share (the largest one's plan)."""
        return self._memory.size

    def close(self) -> None:
        """Free graphs, buffers and threads; an eval running on another thread finishes first,
        every later call raises pyggml.guard.ClosedError."""
        self._guard.close(self._release)

    def _release(self) -> None:
        self._graphs.clear()
        self._memory = alloc.SharedMemory()
        self.pool.close()
