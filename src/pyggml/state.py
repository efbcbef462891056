"""Saved model state and the in-memory prompt cache (llama-cpp-python's LlamaState, LlamaRAMCache).

A LlamaState holds the evaluated tokens, the last logits row, the KV cache rows of those tokens
and the seed stream's state; it pickles. LlamaRAMCache maps token sequences to states, evicting
the least recently used past `capacity_bytes`; a lookup returns the state whose tokens share the
longest prefix with the key (the caller keeps that prefix of it), so a prompt that repeats a
system prompt starts from the cache of an earlier conversation.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np


class LlamaState:
    """Picklable. llama_state is the KV rows as bytes (see ModelRunner.kv_state)."""

    def __init__(self, input_ids: np.ndarray, scores: np.ndarray, n_tokens: int, llama_state,
                 llama_state_size: int, seed, *, model_key: tuple = ()):
        self.input_ids = input_ids
        self.scores = scores
        self.n_tokens = n_tokens
        self.llama_state = llama_state
        self.llama_state_size = llama_state_size
        self.seed = seed            # the seed stream's generator state
        self.model_key = model_key  # (n_vocab, n_layer, n_embd, kv type): load_state checks it

    def __repr__(self) -> str:
        return f"LlamaState(n_tokens={self.n_tokens}, {self.llama_state_size} bytes)"


def _prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if len(diff) else n


class BaseLlamaCache:
    def __init__(self, capacity_bytes: int = 2 << 30):
        if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, int) or capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be a positive integer, got {capacity_bytes!r}")
        self.capacity_bytes = capacity_bytes


class LlamaRAMCache(BaseLlamaCache):
    """Token sequence -> LlamaState, least recently used evicted first."""

    def __init__(self, capacity_bytes: int = 2 << 30):
        super().__init__(capacity_bytes)
        self.cache_state: OrderedDict[tuple[int, ...], LlamaState] = OrderedDict()

    @property
    def cache_size(self) -> int:
        return sum(state.llama_state_size for state in self.cache_state.values())

    def _find_longest_prefix_key(self, key: Sequence[int]) -> tuple[int, ...] | None:
        best, best_len = None, 0
        for k in self.cache_state:
            n = _prefix_len(k, key)
            if n > best_len:
                best, best_len = k, n
        return best

    def longest_prefix(self, key: Sequence[int]) -> int:
        """Most tokens any cached sequence shares with the start of key (0 if none)."""
        k = self._find_longest_prefix_key(key)
        return 0 if k is None else _prefix_len(k, key)

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        k = self._find_longest_prefix_key(tuple(key))
        if k is None:
            raise KeyError("no cached state shares a prefix with the key")
        self.cache_state.move_to_end(k)
        return self.cache_state[k]

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._find_longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        key = tuple(int(t) for t in key)
        self.cache_state.pop(key, None)
        self.cache_state[key] = value
        while len(self.cache_state) > 1 and self.cache_size > self.capacity_bytes:
            self.cache_state.popitem(last=False)


LlamaCache = LlamaRAMCache  # llama-cpp-python's alias
