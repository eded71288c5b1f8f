"""One seed's candidates for the attention evidence (probes/attention_ranking.py, probes/causal/score_swap.py): fresh
instances of the task with nothing tying a candidate's place to its score (`SearchTask.position_free`), each
candidate's token index, score and answer class, the instance's counterfactual (one slot changed at a fixed place),
and which candidate wins in each."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from mesaprobe.models.tokenizer import encode_tokens
from mesaprobe.tasks.base import ANSWER_POSITION, SearchTask


@dataclass
class CandidateInputs:
    """Rows of equal length; K candidates per row."""

    ids: torch.Tensor  # [n, T] token ids
    answer_position: torch.Tensor  # [n] where the answer is read
    sites: torch.Tensor  # [n, K] each candidate's token index
    scores: np.ndarray  # [n, K] each candidate's score under the row's rule (higher is better)
    classes: np.ndarray  # [n, K] the answer class each candidate gives (index into class_ids)
    best: np.ndarray  # [n] the winning candidate
    cf_ids: torch.Tensor  # [n, T] the counterfactual: one slot changed, the answer changed
    cf_best: np.ndarray  # [n] the counterfactual's winning candidate (same sites)
    class_ids: torch.Tensor  # [C] the answer classes' token ids

    @property
    def k(self) -> int:
        return self.sites.shape[1]


def has_candidates(task) -> bool:
    """Does the task declare scored candidates (checked on one drawn instance)?"""
    if not isinstance(task, SearchTask):
        return False
    free = task.position_free()
    return any(free.candidates(free.draw(random.Random(f"candidates:{i}"))) is not None for i in range(20))


def candidate_inputs(task: SearchTask, tokenizer, class_ids: torch.Tensor, n: int, seed: int) -> CandidateInputs:
    """`n` position-free instances with scored candidates (instances without, such as a mix's second-largest rule,
    are drawn past) and their counterfactuals."""
    free = task.position_free()
    rng, cf_rng = random.Random(f"{task.name}:attention:{seed}"), random.Random(f"{task.name}:attention-cf:{seed}")
    index = {a: i for i, a in enumerate(task.answer_classes())}
    rows, cfs = [], []  # (instance, its candidates) and (counterfactual, its candidates)
    for _ in range(50 * n):
        inst = free.sample(rng)
        cands = free.candidates(inst.meta)
        if cands is None:
            continue
        cf = free.counterfactual(inst, cf_rng)
        cf_cands = free.candidates(cf.meta)
        if cf_cands is not None:
            rows.append((inst, cands))
            cfs.append((cf, cf_cands))
        if len(rows) == n:
            break
    if len(rows) < n:
        raise RuntimeError(f"{task.name}: only {len(rows)} of {n} instances have scored candidates")
    insts = [inst for inst, _ in rows]
    return CandidateInputs(
        ids=encode_tokens(tokenizer, [i.tokens for i in insts]),
        answer_position=torch.tensor([i.positions[ANSWER_POSITION] for i in insts]),
        sites=torch.tensor([[i.positions[p] for p in c.positions] for i, c in rows]),
        scores=np.array([c.scores for _, c in rows], dtype=float),
        classes=np.array([[index[a] for a in c.answers] for _, c in rows]),
        best=np.array([c.best for _, c in rows]),
        cf_ids=encode_tokens(tokenizer, [cf.tokens for cf, _ in cfs]),
        cf_best=np.array([c.best for _, c in cfs]),
        class_ids=class_ids)
