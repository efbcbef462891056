"""Log-probabilities in llama-cpp-python's completion shape and OpenAI's chat shape.

Values are log-softmax of the model's raw logits row (before bias, penalties, grammar or
sampling filters), as llama-cpp-python reports them; pyggml computes them per generated token,
so `logprobs` does not need `logits_all`.

completion: {"tokens": [str], "text_offset": [int], "token_logprobs": [float],
             "top_logprobs": [{str: float}]}   (top n, plus the chosen token)
chat:       {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}],
             "refusal": None}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    m = x.max()
    return (x - m - np.log(np.exp(x - m).sum())).astype(np.float32)


@dataclass
class TokenLogprob:
    token: int
    text: str                       # the token's own text (invalid UTF-8 dropped)
    logprob: float | None           # None: no logits (an echoed first prompt token)
    top: list[tuple[int, str, float]] = field(default_factory=list)   # (id, text, logprob), best first


def token_logprob(logits_row: np.ndarray, token: int, n_top: int, piece) -> TokenLogprob:
    """piece(id) -> str. n_top best alternatives (ties by id)."""
    lp = log_softmax(logits_row)
    top = []
    if n_top > 0:
        n_top = min(n_top, len(lp))
        ids = np.argpartition(-lp, n_top - 1)[:n_top]
        ids = ids[np.lexsort((ids, -lp[ids]))]
        top = [(int(i), piece(int(i)), float(lp[i])) for i in ids]
    return TokenLogprob(int(token), piece(int(token)), float(lp[token]), top)


def completion_logprobs(entries: list[TokenLogprob], text_offset: int) -> dict:
    """entries: one per token, in order; text_offset: where the first token's text starts."""
    out = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
    offset = text_offset
    for e in entries:
        out["tokens"].append(e.text)
        out["text_offset"].append(offset)
        out["token_logprobs"].append(e.logprob)
        if e.logprob is None:
            out["top_logprobs"].append(None)
        else:
            top = {text: lp for _, text, lp in e.top}
            top[e.text] = e.logprob
            out["top_logprobs"].append(top)
        offset += len(e.text)
    return out


def chat_logprobs(entries: list[TokenLogprob]) -> dict:
    def item(text: str, lp: float) -> dict:
        return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

    return {"content": [dict(item(e.text, e.logprob), top_logprobs=[item(t, lp) for _, t, lp in e.top])
                        for e in entries], "refusal": None}
