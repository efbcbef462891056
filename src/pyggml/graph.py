"""ggml's computation graph: build once (post-order DFS, visited set), plan memory once, then
compute any number of times with one C call each. Tensors with an op are nodes; the rest leafs."""
from __future__ import annotations

import os

import numpy as np

from . import _core, alloc
from .tensor import Context, Op, Tensor

_default_pools: dict[int, _core.ThreadPool] = {}


def default_n_threads() -> int:
    """Physical cores available to this process (hyper-threads share a core's SIMD units, so
    llama.cpp defaults to cores too); falls back to the logical CPU count."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topo = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with open(topo + "physical_package_id") as f1, open(topo + "core_id") as f2:
                cores.add((f1.read().strip(), f2.read().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def default_pool(n_threads: int) -> _core.ThreadPool:
    pool = _default_pools.get(n_threads)
    if pool is None:
        pool = _default_pools[n_threads] = _core.ThreadPool(n_threads)
    return pool


class Graph:
    def __init__(self, ctx: Context | None = None):
        self.ctx = ctx
        self.nodes: list[Tensor] = []
        self.leafs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self._visited: set[int] = set()
        self._compiled: _core.NodeList | None = None
        self._buffer = None                                  # compute buffer (own or shared)
        self._shared: alloc.SharedMemory | None = None
        self._work: dict[tuple[int, str], tuple] = {}  # (n_threads, SIMD path) -> own (buffer, address, bytes)
        self._work_sizes: dict[tuple[int, str], int] = {}   # (n_threads, SIMD path) -> bytes needed
        self.plan: alloc.AllocPlan | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_leafs(self) -> int:
        return len(self.leafs)

    def build_forward_expand(self, tensor: Tensor) -> Graph:
        """Add tensor and everything it depends on, sources first (post-order)."""
        if self._compiled is not None:
            raise RuntimeError("graph already computed: build a new Graph to add tensors")
        stack: list[tuple[Tensor, bool]] = [(tensor, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:
                (self.nodes if t.op != Op.NONE else self.leafs).append(t)
                continue
            if id(t) in self._visited:
                continue
            self._visited.add(id(t))
            stack.append((t, True))
            for s in reversed(t.src):
                if s is not None and id(s) not in self._visited:
                    stack.append((s, False))
        self.outputs.append(tensor)
        return self

    def _compile(self, reuse: bool = True, shared: alloc.SharedMemory | None = None) -> None:
        keep = {id(t) for t in self.outputs} | {id(t) for t in self.nodes + self.leafs if t.is_output}
        if shared is None:
            self._buffer, self.plan = alloc.allocate(self.nodes, self.leafs, keep, reuse)
        else:
            self.plan = alloc.plan(self.nodes, self.leafs, keep, reuse)
            self.rebind(shared.attach(self, self.plan.size))
            self._shared = shared
        for t in self.leafs:
            if not t.data:
                raise ValueError(f"leaf {t.name!r} has no data")
        self._compiled = _core.NodeList([t._c for t in self.nodes])

    def allocate(self, reuse: bool = True, shared: alloc.SharedMemory | None = None) -> alloc.AllocPlan:
        """Plan and allocate compute memory now (otherwise done by the first compute). With
        shared, the graph uses that compute and work memory instead of its own: only one of the
        graphs sharing it may be computed at a time, and its inputs must be set before each run."""
        if self._compiled is None:
            self._compile(reuse, shared)
        return self.plan

    def rebind(self, raw: np.ndarray) -> None:
        """Point the planned tensors (and views of them) at another compute buffer."""
        alloc.bind(self.nodes, self.leafs, self.plan, raw)
        self._buffer = raw

    @property
    def compute_buffer_size(self) -> int:
        return self.allocate().size

    def compute(self, n_threads: int | None = None, pool: _core.ThreadPool | None = None,
                profile: bool = False):
        """Run every node in one C call. Returns {op name: (ms, count)} when profile=True."""
        if self._compiled is None:
            self._compile()
        if pool is None:
            pool = default_pool(n_threads or default_n_threads())
        if pool.closed:
            raise ValueError("the threadpool is closed")
        nth = pool.n_threads
        key = (nth, _core.simd_path())                       # a path's kernels may need more scratch
        size = self._work_sizes.get(key)
        if size is None:
            size = self._work_sizes[key] = self._compiled.work_size(nth) + 64
        if self._shared is not None:
            address, nbytes = self._shared.work_buffer(size)
        else:
            work = self._work.get(key)
            if work is None:
                work = np.zeros(size, dtype=np.uint8)
                work = self._work[key] = (work, work.ctypes.data, work.nbytes)
            _, address, nbytes = work
        result = self._compiled.compute(pool, address, nbytes, profile)
        if profile:
            return {Op(op).name: (ns / 1e6, count) for op, (ns, count) in result.items()}
        return None

    def __str__(self) -> str:
        lines = [f"=== graph: {self.n_nodes} nodes, {self.n_leafs} leafs"]
        index = {id(t): f"n{i}" for i, t in enumerate(self.nodes)}
        index.update({id(t): f"l{i}" for i, t in enumerate(self.leafs)})
        for i, t in enumerate(self.nodes):
            ne = "x".join(str(n) for n in t.ne[: max(t.n_dims, 1)])
            srcs = ", ".join(index.get(id(s), "?") for s in t.src if s is not None)
            lines.append(f"n{i:<4} {t.op.name:<15} {t.type.name:<5} {ne:<20} {t.name:<24} <- {srcs}")
        for i, t in enumerate(self.leafs):
            ne = "x".join(str(n) for n in t.ne[: max(t.n_dims, 1)])
            lines.append(f"l{i:<4} {'leaf':<15} {t.type.name:<5} {ne:<20} {t.name}")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """Graphviz source: nodes as boxes, leafs as ellipses, edges from sources."""
        out = ["digraph pyggml {", "  rankdir=TB;"]
        ids = {}
        for i, t in enumerate(self.leafs):
            ids[id(t)] = f"l{i}"
            out.append(f'  l{i} [shape=ellipse,label="{t.name or "leaf"}\\n{t.type.name} {t.ne}"];')
        for i, t in enumerate(self.nodes):
            ids[id(t)] = f"n{i}"
            out.append(f'  n{i} [shape=box,label="{t.op.name}\\n{t.name}\\n{t.type.name} {t.ne}"];')
        for t in self.nodes:
            for s in t.src:
                if s is not None and id(s) in ids:
                    out.append(f"  {ids[id(s)]} -> {ids[id(t)]};")
        out.append("}")
        return "\n".join(out)
