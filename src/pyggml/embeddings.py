"""Embeddings from a model's final normed hidden states, pooled as llama.cpp pools them.

hidden: (n_tokens, n_embd) float32 rows of one input. Pooling none keeps every row; mean
averages them; cls takes the first row; last the last. normalize=True scales each vector to unit
Euclidean length (llama-cpp-python's normalize_embedding).
"""
from __future__ import annotations

import numpy as np

from .llama_args import POOLING_CLS, POOLING_LAST, POOLING_MEAN, POOLING_NONE


def pool(hidden: np.ndarray, pooling_type: int) -> np.ndarray:
    """(n_embd,) for mean/cls/last, (n_tokens, n_embd) for none."""
    if pooling_type == POOLING_NONE:
        return hidden
    if pooling_type == POOLING_MEAN:
        return hidden.astype(np.float64).mean(axis=0).astype(np.float32)
    if pooling_type == POOLING_CLS:
        return hidden[0]
    if pooling_type == POOLING_LAST:
        return hidden[-1]
    raise ValueError(f"unsupported pooling type {pooling_type}")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Each row (or the one vector) scaled to unit length; a zero vector stays zero."""
    norm = np.linalg.norm(vectors.astype(np.float64), axis=-1, keepdims=True)
    return (vectors / np.where(norm > 0, norm, 1.0)).astype(np.float32)
