"""Several sequences decoded together: a KV cache shared by sequences, continuous batching.

    engine = BatchEngine("model.gguf", n_seq_max=4, n_ctx=512)
    outs = engine.generate_batch([ids_a, ids_b, ids_c], max_tokens=32, temperature=0)

Every cache cell (row of the K/V tensors) knows the sequence and position it holds; a token of
sequence s at position p sees the cells of s at positions <= p (and, for sliding-window layers,
> p - n_swa). One graph step evaluates one token for every decoding sequence plus a chunk of
the prompts still being read, so running streams keep flowing while new requests arrive. A
finished sequence's cells are freed at once and handed to the next token that needs one (lowest
free cell first, which keeps the attended prefix n_kv short).

Batch shapes are padded to a power of two (n_tokens and n_out) so a few graphs serve every mix
of sequences; padding tokens write a scratch cell past the shared ones and see nothing.

Not thread-safe: one thread drives step() (see scheduler.py for the server's loop)."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .logprobs import token_logprob
from .runner import KV_PAD, ModelRunner
from .sampling import Sampler, SamplingParams, make_rng
from .tokenizer import Tokenizer

FREE = -1
MIN_REUSED_PREFIX = 4      # shorter shared prefixes are evaluated again (not worth a cell shuffle)


class KVCells:
    """Who holds each cache cell: cell_seq[i] and cell_pos[i]. cell_seq is FREE, a running
    sequence's id (>= 0), or a kept prefix's id (<= -2: the cells of a finished sequence, kept
    for a later prompt that starts with the same tokens, evicted oldest first when cells run out)."""

    def __init__(self, n_cells: int):
        self.n_cells = n_cells
        self.cell_seq = np.full(n_cells, FREE, dtype=np.int64)
        self.cell_pos = np.zeros(n_cells, dtype=np.int32)
        self.kept: dict[int, list[int]] = {}      # prefix id -> its tokens by position, oldest first
        self._kept_ids = itertools.count(-2, -1)

    @property
    def n_free(self) -> int:
        return int(np.count_nonzero(self.cell_seq == FREE))

    @property
    def n_running(self) -> int:
        """Cells of running sequences (not free, not kept prefixes)."""
        return int(np.count_nonzero(self.cell_seq >= 0))

    def extent(self) -> int:
        """1 + the highest cell in use (0 when empty)."""
        used = np.flatnonzero(self.cell_seq != FREE)
        return int(used[-1]) + 1 if used.size else 0

    def allocate(self, seq_id: int, positions: np.ndarray) -> np.ndarray:
        """Cells for the given positions of seq_id, lowest free first (evicting kept prefixes,
        oldest first, when there are too few)."""
        free = np.flatnonzero(self.cell_seq == FREE)
        while len(free) < len(positions) and self.kept:
            self.release(next(iter(self.kept)))
            free = np.flatnonzero(self.cell_seq == FREE)
        if len(free) < len(positions):
            raise RuntimeError(f"KV cache full: {len(positions)} cells wanted, {len(free)} free")
        free = free[: len(positions)]
        self.cell_seq[free] = seq_id
        self.cell_pos[free] = positions
        return free

    def release(self, seq_id: int) -> None:
        self.cell_seq[self.cell_seq == seq_id] = FREE
        self.kept.pop(seq_id, None)

    def keep(self, seq_id: int, tokens: list[int], max_kept: int) -> None:
        """The cells of a finished sequence (holding tokens at positions 0..) become a kept prefix."""
        if max_kept <= 0 or not tokens:
            self.release(seq_id)
            return
        prefix_id = next(self._kept_ids)
        self.cell_seq[self.cell_seq == seq_id] = prefix_id
        self.kept[prefix_id] = list(tokens)
        while len(self.kept) > max_kept:
            self.release(next(iter(self.kept)))

    def adopt(self, seq_id: int, prompt: list[int], min_tokens: int) -> int:
        """Give seq_id the cells of the kept prefix sharing most leading tokens with prompt (at
        most len(prompt) - 1: the last prompt token is evaluated for its logits); returns how
        many positions it got (0: none shared enough)."""
        best, best_n = None, 0
        for prefix_id, tokens in self.kept.items():
            limit = min(len(tokens), len(prompt) - 1)
            n = 0
            while n < limit and tokens[n] == prompt[n]:
                n += 1
            if n > best_n:
                best, best_n = prefix_id, n
        if best is None or best_n < min_tokens:
            return 0
        mine = self.cell_seq == best
        self.cell_seq[mine & (self.cell_pos < best_n)] = seq_id
        self.release(best)                          # the cells past the shared part
        return best_n


@dataclass
class Seq:
    """One generation: its prompt, sampler and progress. Fields after `rng` are the engine's."""
    seq_id: int
    prompt: list[int]
    params: SamplingParams
    max_new: int                       # sampled tokens at most (context room already applied)
    rng: np.random.Generator
    n_evaluated: int = 0               # tokens in the cache (prompt, then generated)
    n_reused: int = 0                  # prompt tokens found in a kept prefix (not evaluated again)
    generated: list[int] = field(default_factory=list)
    finished: bool = False
    finish_reason: str | None = None   # "stop" (end-of-generation token), "length", "cancelled"
    stop_at_eog: bool = True
    sampler: Sampler | None = None
    constraint: object = None          # apply(logits) masks in place, accept(token) advances (grammar.py)
    error: str | None = None           # finish_reason "error": what failed (e.g. the grammar matcher)
    n_logprobs: int | None = None      # record logprobs of each sampled token with this many alternatives
    logprobs: list = field(default_factory=list)   # logprobs.TokenLogprob per sampled token

    @property
    def history(self) -> list[int]:
        return self.prompt + self.generated

    @property
    def prefilling(self) -> bool:
        return self.n_evaluated < len(self.prompt)


@dataclass
class StepStats:
    n_tokens: int = 0        # real tokens evaluated (prompt + decode)
    n_prompt: int = 0
    n_decode: int = 0
    ms: float = 0.0
    mixed_ms: float = 0.0     # steps that read prompt tokens (some may also decode)
    decode_only_ms: float = 0.0
    decode_only_tokens: int = 0

    def add(self, step: StepStats) -> None:
        self.n_tokens += step.n_tokens
        self.n_prompt += step.n_prompt
        self.n_decode += step.n_decode
        self.ms += step.ms
        if step.n_prompt:
            self.mixed_ms += step.ms
        else:
            self.decode_only_ms += step.ms
            self.decode_only_tokens += step.n_decode


def _bucket(n: int, cap: int) -> int:
    """Smallest power of two >= n, at most cap."""
    return min(cap, 1 << max(0, n - 1).bit_length())


class BatchEngine:
    """Decodes up to n_seq_max sequences at once over one model; each sequence has n_ctx positions."""

    def __init__(self, model_path, *, n_seq_max: int = 4, n_ctx: int = 512, n_batch: int = 128,
                 n_threads: int | None = None, kv_type: str = "f16", prefix_cache: int = 0):
        """prefix_cache: finished sequences whose cache cells are kept (until the cells are
        needed) so that a later prompt starting with the same tokens skips evaluating them,
        e.g. the next turn of a chat; 0 = off."""
        for name, v in (("n_seq_max", n_seq_max), ("n_ctx", n_ctx), ("n_batch", n_batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(prefix_cache, bool) or not isinstance(prefix_cache, int) or prefix_cache < 0:
            raise ValueError(f"prefix_cache must be an integer >= 0, got {prefix_cache!r}")
        self.prefix_cache = prefix_cache
        if n_batch < n_seq_max:
            raise ValueError(f"n_batch={n_batch} must be >= n_seq_max={n_seq_max} (one decode token per sequence)")
        self.n_seq_max = n_seq_max
        self.n_ctx = n_ctx
        n_shared = n_seq_max * n_ctx
        self._scratch_cell = n_shared          # padding tokens write here; nobody attends to it
        self.runner = ModelRunner(model_path, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads,
                                  kv_type=kv_type, kv_size=n_shared + 1)
        self.runner.max_cached_graphs = 16     # (n_tokens, n_kv, n_out) buckets in use at once
        self.n_batch = n_batch
        self.config = self.runner.config
        self.metadata = self.runner.metadata
        self.tokenizer = Tokenizer.from_metadata(self.metadata)
        self.cells = KVCells(n_shared)
        self.active: list[Seq] = []      # admitted, not finished; prompt order = FIFO
        self._ids = itertools.count()
        self.totals = StepStats()
        self.last_step = StepStats()

    # ---- sequences -----------------------------------------------------------------------------

    def add(self, prompt: Sequence[int], params: SamplingParams | None = None, *, max_new: int | None = None,
            seed: int | np.random.Generator | None = None, stop_at_eog: bool = True, constraint=None,
            n_logprobs: int | None = None) -> Seq:
        """Admit a sequence (raises if n_seq_max are active or the prompt does not fit).
        constraint: an object with apply(logits) (masks disallowed tokens in place) and
        accept(token), e.g. grammar.GrammarConstraint for a JSON schema. n_logprobs: record
        each sampled token's log-probability (raw logits) and its n_logprobs best alternatives."""
        if len(self.active) >= self.n_seq_max:
            raise RuntimeError(f"{self.n_seq_max} sequences already active")
        ids = [int(t) for t in prompt]
        if not ids:
            raise ValueError("prompt is empty")
        bad = [t for t in ids if not 0 <= t < self.config.n_vocab]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the vocabulary 0..{self.config.n_vocab - 1}")
        if len(ids) > self.n_ctx:
            raise ValueError(f"Requested tokens ({len(ids)}) exceed context window of {self.n_ctx}")
        room = self.n_ctx - len(ids) + 1       # the last sampled token needs no cache cell
        max_new = room if max_new is None or max_new <= 0 else min(int(max_new), room)
        rng = seed if isinstance(seed, np.random.Generator) else make_rng(seed)
        params = params or SamplingParams()
        seq = Seq(next(self._ids), ids, params, max_new, rng, stop_at_eog=stop_at_eog,
                  sampler=Sampler(params, rng), constraint=constraint, n_logprobs=n_logprobs)
        if self.prefix_cache:
            seq.n_evaluated = seq.n_reused = self.cells.adopt(seq.seq_id, ids, MIN_REUSED_PREFIX)
        self.active.append(seq)
        return seq

    def cancel(self, seq: Seq, reason: str = "cancelled") -> None:
        """Stop a sequence now; its cells are free for the next step."""
        if not seq.finished:
            self._finish(seq, reason)

    def _finish(self, seq: Seq, reason: str) -> None:
        seq.finished, seq.finish_reason = True, reason
        self.cells.keep(seq.seq_id, seq.history[:seq.n_evaluated], self.prefix_cache)
        if seq in self.active:
            self.active.remove(seq)

    @property
    def has_work(self) -> bool:
        return bool(self.active)

    # ---- one graph step --------------------------------------------------------------------------

    def _plan(self) -> list[tuple[Seq, list[int], bool]]:
        """(sequence, tokens to evaluate, wants logits) for this step: every decoding sequence's
        last token, then prompt chunks in arrival order up to n_batch tokens."""
        plan = [(s, [s.generated[-1]], True) for s in self.active if not s.prefilling]
        budget = self.n_batch - len(plan)
        for s in self.active:
            if budget <= 0:
                break
            if s.prefilling:
                take = min(budget, len(s.prompt) - s.n_evaluated)
                chunk = s.prompt[s.n_evaluated:s.n_evaluated + take]
                plan.append((s, chunk, s.n_evaluated + take == len(s.prompt)))
                budget -= take
        return plan

    def step(self) -> list[tuple[Seq, int]]:
        """Evaluate one batch; returns (sequence, sampled token) for each sequence that got one.
        A sequence whose token ends it (end-of-generation, max_new, context full) is finished
        and its cells freed before step() returns."""
        plan = self._plan()
        if not plan:
            return []
        t0 = time.perf_counter()
        tokens, positions, seq_ids, slots, out_rows = [], [], [], [], []
        for seq, chunk, wants in plan:
            pos = np.arange(seq.n_evaluated, seq.n_evaluated + len(chunk), dtype=np.int32)
            slots.append(self.cells.allocate(seq.seq_id, pos))
            tokens.extend(chunk)
            positions.append(pos)
            seq_ids.extend([seq.seq_id] * len(chunk))
            if wants:
                out_rows.append(len(tokens) - 1)
        n_real = len(tokens)
        n_tok = _bucket(n_real, max(self.n_batch, n_real))
        n_out = _bucket(len(out_rows), n_tok)
        n_kv = min(self.cells.n_cells, -(-self.cells.extent() // KV_PAD) * KV_PAD)
        g = self.runner._graph_for(n_tok, n_kv, n_out)
        pad = n_tok - n_real
        b = g.batch
        b.tokens.numpy()[:] = np.concatenate([np.asarray(tokens, np.int32), np.zeros(pad, np.int32)])
        pos_all = np.concatenate(positions + [np.zeros(pad, np.int32)])
        b.positions.numpy()[:] = pos_all
        b.kv_slots.numpy()[:] = np.concatenate(slots + [np.full(pad, self._scratch_cell, np.int64)]).astype(np.int32)
        # padding rows repeat a real row (or row 0 when this step only reads prompt chunks)
        b.out_rows.numpy()[:] = np.array(out_rows + [out_rows[0] if out_rows else 0] * (n_out - len(out_rows)),
                                         np.int32)
        self._write_masks(b, np.array(seq_ids + [FREE] * pad, np.int64), pos_all, n_kv)
        g.graph.compute(pool=self.runner.pool)
        logits = g.logits.numpy()                      # (n_out, n_vocab) rows, valid until the next compute

        results = []
        row = 0
        n_prompt = 0
        for seq, chunk, wants in plan:
            if seq.prefilling:
                n_prompt += len(chunk)
            seq.n_evaluated += len(chunk)
            if not wants:
                continue
            row_logits = logits[row]
            row += 1
            try:
                token = self._sample(seq, row_logits)
            except Exception as e:   # noqa: BLE001 - this sequence fails, the others go on
                seq.error = f"{type(e).__name__}: {e}"
                self._finish(seq, "error")
                continue
            if seq.n_logprobs is not None:
                seq.logprobs.append(token_logprob(row_logits, token, seq.n_logprobs, self._piece))
            seq.generated.append(token)
            results.append((seq, token))
            if seq.stop_at_eog and self.tokenizer.is_eog(token):
                self._finish(seq, "stop")
            elif len(seq.generated) >= seq.max_new or seq.n_evaluated >= self.n_ctx:
                self._finish(seq, "length")
        ms = (time.perf_counter() - t0) * 1e3
        self.last_step = StepStats(n_real, n_prompt, n_real - n_prompt, ms)
        self.totals.add(self.last_step)
        return results

    def _piece(self, token: int) -> str:
        return self.tokenizer.token_to_piece(token, special=False).decode("utf-8", errors="ignore")

    @staticmethod
    def _sample(seq: Seq, row_logits: np.ndarray) -> int:
        if seq.constraint is None:
            return seq.sampler.sample(row_logits, seq.history)
        row_logits = row_logits.copy()
        seq.constraint.apply(row_logits)
        token = seq.sampler.sample(row_logits, seq.history)
        seq.constraint.accept(token)
        return token

    def _write_masks(self, b, tok_seq: np.ndarray, tok_pos: np.ndarray, n_kv: int) -> None:
        """mask[t, j] = 0 where token t may attend cell j, -inf elsewhere (n_tokens, n_kv)."""
        cell_seq = self.cells.cell_seq[None, :n_kv]
        cell_pos = self.cells.cell_pos[None, :n_kv]
        visible = (cell_seq == tok_seq[:, None]) & (cell_pos <= tok_pos[:, None]) & (tok_seq[:, None] != FREE)
        for window, mask in b.masks.items():   # keyed by attention window: 0 = full, N = sliding
            vis = visible & ((tok_pos[:, None] - cell_pos) < window) if window else visible
            m = mask.numpy()
            m.fill(-np.inf)
            np.copyto(m, np.float32(0.0), where=vis)

    # ---- convenience ------------------------------------------------------------------------------

    def generate_batch(self, prompts: Sequence[Sequence[int]], *, max_tokens: int | None = 16,
                       temperature: float = 0.8, top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                       repeat_penalty: float = 1.0, seed: int | None = None) -> list[list[int]]:
        """Generated token ids for every prompt (stopping at end-of-generation), decoding up to
        n_seq_max at once and admitting the next prompt as soon as a sequence finishes."""
        params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                                repeat_penalty=repeat_penalty)
        waiting = list(enumerate(prompts))
        outputs: list[list[int]] = [[] for _ in prompts]
        owner: dict[int, int] = {}
        while waiting or self.active:
            while waiting and len(self.active) < self.n_seq_max:
                i, p = waiting.pop(0)
                s = self.add(p, params, max_new=max_tokens, seed=None if seed is None else seed + i)
                owner[s.seq_id] = i
            for s, tok in self.step():
                if not (s.finish_reason == "stop" and self.tokenizer.is_eog(tok)):
                    outputs[owner[s.seq_id]].append(tok)
        return outputs

    def close(self) -> None:
        for s in list(self.active):
            self._finish(s, "cancelled")
        self.runner.close()
