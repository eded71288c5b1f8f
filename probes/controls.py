"""Controls for linear probes: the Hewitt & Liang (2019) control task and the observation-only baseline."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def control_labels(labels: np.ndarray, seed: int, token_ids: np.ndarray | None = None) -> np.ndarray:
    """Random labels drawn from the target's empirical label distribution.

    With `token_ids` (the target depends on one input token), every token type gets one random label, as in
    Hewitt & Liang's control tasks; otherwise every example draws its own.
    """
    rng = np.random.default_rng(seed)
    if token_ids is None:
        return rng.choice(labels, size=len(labels), replace=True)
    types = np.unique(token_ids)
    table = dict(zip(types.tolist(), rng.choice(labels, size=len(types), replace=True)))
    return np.array([table[t] for t in token_ids.tolist()], dtype=labels.dtype)


def observation_features(ids: np.ndarray, position: np.ndarray, vocab_size: int) -> sp.csr_matrix:
    """One-hot of every input token at or before each example's `position` (what the model has observed), as a
    sparse matrix: a linear probe on it decodes whatever sits in the tokens themselves. Each token is keyed by its
    absolute position and, where `position` varies between examples (prompts of different lengths, steps of an
    episode), also by its offset from `position`: the same item then sits at one offset though at many absolute
    places. Only the columns that occur are kept (at most 2 * n * T, however large the vocabulary): a column that is
    zero in every row carries nothing a probe could use, and a 49k-token vocabulary times 200 positions does not fit
    in memory."""
    n, t = ids.shape
    seen = np.arange(t)[None, :] <= position[:, None]
    rows, cols = np.nonzero(seen)
    tokens = ids[rows, cols].astype(np.int64)
    keys = [cols.astype(np.int64) * vocab_size + tokens]
    if np.unique(position).size > 1:
        keys.append((t + position[rows] - cols).astype(np.int64) * vocab_size + tokens)
    used, columns = np.unique(np.concatenate(keys), return_inverse=True)
    rows = np.tile(rows, len(keys))
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(n, len(used)))


def chance_score(labels: np.ndarray, kind: str) -> float:
    """Majority-class accuracy for classes; R^2 of predicting the mean (0) for numbers."""
    if kind == "number":
        return 0.0
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / counts.sum())
