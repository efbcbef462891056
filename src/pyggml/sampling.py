"""Token sampling as a chain of small steps in llama-cpp-python's order:

    logits processors (logit_bias, min_tokens, user callables) -> penalties -> grammar mask
    -> greedy (temperature 0)
     | mirostat v1 / v2 (mirostat_mode 1 / 2: no top-k/p, no temperature, as the peer)
     | top-k -> typical -> top-p -> min-p -> temperature -> dist

Filters work on a candidate list (ids, logits) sorted by logit, descending, ties by id. top-p,
typical and min-p see the logits before temperature, as llama.cpp's default chain does. The
random draw uses a numpy Generator: the same seed, logits and history give the same token.
Sampler.state()/set_state() carry the generator and mirostat's running mu (for save_state).

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
    typical_p: float = 1.0        # 1.0: off (locally typical sampling)
    mirostat_mode: int = 0        # 0 off, 1 mirostat, 2 mirostat v2
    mirostat_tau: float = 5.0     # target surprise (bits)
    mirostat_eta: float = 0.1     # learning rate of mu

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
        _check_real("typical_p", self.typical_p)
        if not 0.0 < self.typical_p <= 1.0:
            raise ValueError(f"typical_p must be in (0, 1], got {self.typical_p}")
        _check_int("mirostat_mode", self.mirostat_mode)
        if self.mirostat_mode not in (0, 1, 2):
            raise ValueError(f"mirostat_mode must be 0, 1 or 2, got {self.mirostat_mode}")
        _check_real("mirostat_tau", self.mirostat_tau)
        if self.mirostat_tau <= 0:
            raise ValueError(f"mirostat_tau must be > 0, got {self.mirostat_tau}")
        _check_real("mirostat_eta", self.mirostat_eta)
        if self.mirostat_eta < 0:
            raise ValueError(f"mirostat_eta must be >= 0, got {self.mirostat_eta}")

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


def typical_keep(cand_logits: np.ndarray, typical_p: float, min_keep: int = 1) -> np.ndarray:
    """Indices (into the sorted candidates) locally typical sampling keeps, in the order of
    |surprise - entropy| ascending, until their mass exceeds typical_p (at least min_keep)."""
    if typical_p >= 1.0:
        return np.arange(len(cand_logits))
    p = _softmax(cand_logits)
    logp = np.log(np.maximum(p, 1e-300))
    entropy = -np.sum(p * logp)
    order = np.argsort(np.abs(-logp - entropy), kind="stable")
    cumulative = np.cumsum(p[order])
    over = np.flatnonzero((cumulative > typical_p) & (np.arange(len(order)) >= min_keep - 1))
    n = int(over[0]) + 1 if len(over) else len(order)
    return order[:n]


def candidate_probabilities(logits: np.ndarray, history: Sequence[int], params: SamplingParams
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probabilities) that the final random draw chooses from, best first (the default
    chain; mirostat has its own, in Sampler)."""
    logits = np.asarray(logits, dtype=np.float32).reshape(-1)
    logits = apply_penalties(logits, history, params)
    return _filtered(logits, params)


def _filtered(logits: np.ndarray, params: SamplingParams) -> tuple[np.ndarray, np.ndarray]:
    if params.greedy:
        best = int(np.argmax(logits))
        return np.array([best]), np.array([1.0])
    ids, cand = sorted_candidates(logits, params.top_k)
    if params.typical_p < 1.0:
        keep = np.sort(typical_keep(cand, params.typical_p, params.min_keep))  # back to logit order
        ids, cand = ids[keep], cand[keep]
    n = top_p_cut(cand, params.top_p, params.min_keep)
    n = min_p_cut(cand[:n], params.min_p, params.min_keep)
    ids, cand = ids[:n], cand[:n]
    return ids, _softmax(cand / np.float32(params.temperature))


def _draw(rng: np.random.Generator, probs: np.ndarray) -> int:
    """Index drawn from probs (need not be normalised)."""
    if len(probs) == 1:
        return 0
    cumulative = np.cumsum(probs)
    u = rng.random() * cumulative[-1]
    return min(int(np.searchsorted(cumulative, u, side="right")), len(probs) - 1)


class Sampler:
    """Samples one token per call from a logits row, with its own seeded Generator.

    logits_processors: callables (input_ids: np.ndarray[int32], scores: np.ndarray[float32])
    -> scores, llama-cpp-python's LogitsProcessor, applied first, in order. grammar: an object
    with apply(logits) (sets disallowed tokens to -inf in place) and accept(token)."""

    def __init__(self, params: SamplingParams | None = None, seed: int | np.random.Generator | None = None,
                 *, logits_processors: Sequence = (), grammar=None, n_vocab: int | None = None):
        self.params = params or SamplingParams()
        self.rng = seed if isinstance(seed, np.random.Generator) else make_rng(seed)
        self.logits_processors = list(logits_processors)
        self.grammar = grammar
        self.mirostat_mu = 2.0 * self.params.mirostat_tau
        self._n_vocab = n_vocab

    def state(self) -> dict:
        """Picklable: the generator's state and mirostat's mu."""
        return {"rng": self.rng.bit_generator.state, "mirostat_mu": self.mirostat_mu}

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.mirostat_mu = float(state["mirostat_mu"])

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> int:
        logits = np.asarray(logits, dtype=np.float32).reshape(-1)
        if self.logits_processors:
            ids = np.asarray(history, dtype=np.int32)
            logits = np.array(logits, dtype=np.float32, copy=True)
            for process in self.logits_processors:
                logits = np.asarray(process(ids, logits), dtype=np.float32).reshape(-1)
        logits = apply_penalties(logits, history, self.params)
        if self.grammar is not None:
            logits = np.array(logits, dtype=np.float32, copy=True)
            self.grammar.apply(logits)
        if self.params.greedy:   # _filtered's one candidate, without its arrays
            token = int(logits.argmax())
        elif self.params.mirostat_mode:
            token = self._mirostat(logits)
        else:
            ids, probs = _filtered(logits, self.params)
            token = int(ids[_draw(self.rng, probs)])
        if self.grammar is not None:
            self.grammar.accept(token)
        return token

    def _mirostat(self, logits: np.ndarray) -> int:
        """llama.cpp's mirostat (v1: top-k from an estimated Zipf exponent; v2: drop tokens more
        surprising than mu), then a draw, then mu -= eta * (surprise - tau)."""
        p = self.params
        ids, cand = sorted_candidates(logits, 0)
        finite = np.isfinite(cand)   # a grammar's -inf tokens are not candidates
        ids, cand = ids[finite], cand[finite]
        probs = _softmax(cand)
        if p.mirostat_mode == 1:
            m = min(100 - 1, len(probs) - 1)
            t = np.log(np.arange(2, m + 2) / np.arange(1, m + 1))
            with np.errstate(divide="ignore", invalid="ignore"):
                b = np.log(probs[:m] / probs[1:m + 1])
            s_hat = float(np.sum(t * b) / np.sum(t * t))
            eps = s_hat - 1
            n_vocab = self._n_vocab or len(logits)
            k = (eps * 2.0 ** self.mirostat_mu / (1 - n_vocab ** -eps)) ** (1 / s_hat)
            keep = max(int(k) if math.isfinite(k) else len(ids), 1)
        else:
            surprise = -np.log2(np.maximum(probs, 1e-300))
            over = np.flatnonzero(surprise > self.mirostat_mu)
            keep = max(int(over[0]) if len(over) else len(ids), 1)
        ids, probs = ids[:keep], _softmax(cand[:keep])
        idx = _draw(self.rng, probs)
        observed = -math.log2(max(float(probs[idx]), 1e-300))
        self.mirostat_mu -= p.mirostat_eta * (observed - p.mirostat_tau)
        return int(ids[idx])


# ---------------------------------------------------------------------------- hooks (llama-cpp-python's names)

class LogitsProcessorList(list):
    """Callables (input_ids, scores) -> scores, applied in order."""

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        for process in self:
            scores = process(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """Callables (input_ids, logits) -> bool; generation stops when any says True."""

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> bool:
        return any([criterion(input_ids, logits) for criterion in self])


class LogitBiasProcessor:
    """Adds bias[token] to that token's logit (OpenAI's logit_bias: keys are token ids, as ints
    or decimal strings; -100 effectively bans a token, +100 forces it)."""

    def __init__(self, logit_bias, n_vocab: int):
        if not isinstance(logit_bias, dict):
            raise ValueError(f"logit_bias must be a dict of token id -> bias, got {type(logit_bias).__name__}")
        ids, biases = [], []
        for key, bias in logit_bias.items():
            try:
                token = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"logit_bias key {key!r} is not a token id") from None
            if not 0 <= token < n_vocab:
                raise ValueError(f"logit_bias key {key!r} is outside the vocabulary 0..{n_vocab - 1}")
            _check_real(f"logit_bias[{key!r}]", bias)
            ids.append(token)
            biases.append(float(bias))
        self.ids = np.array(ids, dtype=np.int64)
        self.biases = np.array(biases, dtype=np.float32)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        scores[self.ids] += self.biases
        return scores


class MinTokensProcessor:
    """Bans the end-of-generation tokens until min_tokens tokens were generated (the prompt's
    length is taken at the first call)."""

    def __init__(self, min_tokens: int, eog_ids):
        _check_int("min_tokens", min_tokens)
        if min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, got {min_tokens}")
        self.min_tokens = min_tokens
        self.eog_ids = np.array(sorted(eog_ids), dtype=np.int64)
        self.prompt_tokens: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        if len(input_ids) - self.prompt_tokens < self.min_tokens:
            scores[self.eog_ids] = -np.inf
        return scores
