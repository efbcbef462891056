"""Token sampling in llama.cpp's order: penalties -> top-k -> top-p -> min-p -> temperature -> dist.

temperature == 0 means greedy (argmax after the penalties), as in llama-cpp-python. Filters work
on a candidate list (ids, logits) sorted by logit, descending, ties by id. top-p and min-p see the
logits before temperature, as llama.cpp's default chain does. The random draw uses a numpy
Generator: the same seed, logits and history give the same token.

    sampler = Sampler(SamplingParams(temperature=0.7, top_k=40), seed=42)
    token = sampler.sample(logits, history=prompt_ids + generated_ids)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# llama.cpp's LLAMA_DEFAULT_SEED: "pick a random seed"; llama-cpp-python also takes -1 for that.
RANDOM_SEED = 0xFFFFFFFF


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_k: int = 40               # <= 0: off
    top_p: float = 0.95           # 1.0: off
    min_p: float = 0.05           # 0.0: off
    repeat_penalty: float = 1.0   # 1.0: off
    repeat_last_n: int = 64       # penalties look at this many last tokens; 0 off, -1 all
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    min_keep: int = 1             # top-k/top-p/min-p never keep fewer candidates

    def __post_init__(self):
        _check_real("temperature", self.temperature)
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        _check_int("top_k", self.top_k)
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        _check_real("top_p", self.top_p)
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        _check_real("min_p", self.min_p)
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p}")
        _check_real("repeat_penalty", self.repeat_penalty)
        if self.repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty must be > 0 (1 = off), got {self.repeat_penalty}")
        _check_int("repeat_last_n", self.repeat_last_n)
        if self.repeat_last_n < -1:
            raise ValueError(f"repeat_last_n must be >= -1 (-1 = whole history), got {self.repeat_last_n}")
        _check_real("frequency_penalty", self.frequency_penalty)
        _check_real("presence_penalty", self.presence_penalty)
        _check_int("min_keep", self.min_keep)
        if self.min_keep < 1:
            raise ValueError(f"min_keep must be >= 1, got {self.min_keep}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def _check_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def make_rng(seed: int | None) -> np.random.Generator:
    """Generator for a seed; None, -1 and RANDOM_SEED draw a fresh seed from the OS."""
    if seed is None or seed == -1 or seed == RANDOM_SEED:
        return np.random.default_rng()
    _check_int("seed", seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, or -1 for a random seed, got {seed}")
    return np.random.default_rng(int(seed))


# ---------------------------------------------------------------------------- the samplers

def apply_penalties(logits: np.ndarray, history: Sequence[int], params: SamplingParams) -> np.ndarray:
    """llama.cpp's penalties over the last repeat_last_n tokens of history: a seen token's logit
    is divided by repeat_penalty if positive, multiplied if not, then lowered by
    count*frequency_penalty + presence_penalty. Returns a new array (or logits if nothing applies)."""
    off = (params.repeat_penalty == 1.0 and params.frequency_penalty == 0.0
           and params.presence_penalty == 0.0)
    if off or params.repeat_last_n == 0 or len(history) == 0:
        return logits
    recent = history if params.repeat_last_n < 0 else history[-params.repeat_last_n:]
    ids, counts = np.unique(np.asarray(recent, dtype=np.int64), return_counts=True)
    if ids[0] < 0 or ids[-1] >= len(logits):
        raise ValueError(f"history holds a token id outside 0..{len(logits) - 1}")
    out = np.array(logits, dtype=np.float32, copy=True)
    seen = out[ids]
    seen = np.where(seen <= 0, seen * params.repeat_penalty, seen / params.repeat_penalty)
    seen -= counts * params.frequency_penalty + params.presence_penalty
    out[ids] = seen
    return out


def sorted_candidates(logits: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, logits) of the top_k best tokens (all if top_k <= 0), best first, ties by id."""
    n = len(logits)
    if 0 < top_k < n:
        ids = np.argpartition(-logits, top_k - 1)[:top_k]
        # a tie straddling the cut: argpartition may take any of the tied ids; take the lowest
        cut = logits[ids].min()
        tied = np.flatnonzero(logits == cut)
        above = ids[logits[ids] > cut]
        ids = np.concatenate([above, tied[: top_k - len(above)]])
    else:
        ids = np.arange(n)
    order = np.lexsort((ids, -logits[ids]))
    ids = ids[order]
    return ids, logits[ids]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits.astype(np.float64) - logits.max())
    return e / e.sum()


def top_p_cut(cand_logits: np.ndarray, top_p: float, min_keep: int = 1) -> int:
    """How many sorted candidates top-p keeps: the shortest prefix whose probability mass
    reaches top_p (at least min_keep)."""
    if top_p >= 1.0:
        return len(cand_logits)
    cumulative = np.cumsum(_softmax(cand_logits))
    reached = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    return min(len(cand_logits), max(reached, min_keep))


def min_p_cut(cand_logits: np.ndarray, min_p: float, min_keep: int = 1) -> int:
    """How many sorted candidates min-p keeps: those with p >= min_p * p_max, i.e.
    logit >= max_logit + log(min_p) (at least min_keep)."""
    if min_p <= 0.0:
        return len(cand_logits)
    threshold = cand_logits[0] + math.log(min_p)
    kept = int(np.count_nonzero(cand_logits >= threshold))
    return min(len(cand_logits), max(kept, min_keep))


def candidate_probabilities(logits: np.ndarray, history: Sequence[int], params: SamplingParams
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probabilities) that the final random draw chooses from, best first."""
    logits = np.asarray(logits, dtype=np.float32).reshape(-1)
    logits = apply_penalties(logits, history, params)
    if params.greedy:
        best = int(np.argmax(logits))
        return np.array([best]), np.array([1.0])
    ids, cand = sorted_candidates(logits, params.top_k)
    n = top_p_cut(cand, params.top_p, params.min_keep)
    n = min_p_cut(cand[:n], params.min_p, params.min_keep)
    ids, cand = ids[:n], cand[:n]
    return ids, _softmax(cand / np.float32(params.temperature))


class Sampler:
    """Samples one token per call from a logits row, with its own seeded Generator."""

    def __init__(self, params: SamplingParams | None = None, seed: int | np.random.Generator | None = None):
        self.params = params or SamplingParams()
        self.rng = seed if isinstance(seed, np.random.Generator) else make_rng(seed)

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> int:
        ids, probs = candidate_probabilities(logits, history, self.params)
        if len(ids) == 1:
            return int(ids[0])
        cumulative = np.cumsum(probs)
        u = self.rng.random() * cumulative[-1]
        return int(ids[min(int(np.searchsorted(cumulative, u, side="right")), len(ids) - 1)])
