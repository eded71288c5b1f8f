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


def observation_features(ids: np.ndarray, position: np.ndarray, vocab_size: int,
                         keyed_by: str = "position") -> sp.csr_matrix:
    """One-hot of every input token at or before each example's `position` (what the model has observed), as a
    sparse matrix: a linear probe on it decodes whatever sits in the tokens themselves. Each token is keyed by its
    absolute position (`keyed_by="position"`) or by its offset from `position` (`"offset"`: where prompts differ in
    length, the same item sits at one offset though at many absolute places). Only the columns that occur are kept
    (at most n * T, however large the vocabulary): a column that is zero in every row carries nothing a probe could
    use, and a 49k-token vocabulary times 200 positions does not fit in memory."""
    if keyed_by not in ("position", "offset"):
        raise ValueError(f"keyed_by must be 'position' or 'offset', not {keyed_by!r}")
    n, t = ids.shape
    seen = np.arange(t)[None, :] <= position[:, None]
    rows, cols = np.nonzero(seen)
    key = cols if keyed_by == "position" else position[rows] - cols
    features = key.astype(np.int64) * vocab_size + ids[rows, cols]
    used, columns = np.unique(features, return_inverse=True)
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(n, len(used)))


def observation_keyings(position: np.ndarray) -> tuple[str, ...]:
    """The keyings worth a baseline probe: by offset as well only where the probed position moves between rows
    (with one position for all, offsets only rename the positions)."""
    return ("position", "offset") if np.unique(position).size > 1 else ("position",)


def chance_score(labels: np.ndarray, kind: str) -> float:
    """Majority-class accuracy for classes; R^2 of predicting the mean (0) for numbers."""
    if kind == "number":
        return 0.0
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / counts.sum())
