"""Counterfactual prompt pairs for causal probes on natural language.

A causal probe patches or erases the residual stream at a named position and reads the answer; on text that needs a
counterfactual prompt whose tokens line up with the original's: the same number of tokens and every named position
at the same token index. Each instance's counterfactual (the task's minimal change with another answer) is rendered
after the same solved examples through the model's own tokenizer; a pair that does not align is redrawn, and an
instance with no aligned counterfactual is refused (skipped, and counted). Answers are scored by ranking candidates
(models/subjects/text_eval.py); a pair's candidates are the union of both prompts' candidates, so the counterfactual's answer
can win on the original prompt."""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from mesaprobe.errors import UserError
from mesaprobe.models.subjects.text_eval import TextExample, candidate_tokens, check_fast, render_example
from mesaprobe.tasks.base import SearchTask

REDRAWS = 20  # counterfactuals tried per instance before it is refused


@dataclass
class TextPairs:
    base: list[TextExample]
    cf: list[TextExample]
    refused: int  # instances skipped for want of an aligned counterfactual

    def candidates(self) -> list[list[str]]:
        """Per pair: the original's candidates, then the counterfactual's that are new."""
        return [b.candidates + [c for c in f.candidates if c not in b.candidates] for b, f in zip(self.base, self.cf)]

    def candidate_ids(self, tokenizer) -> torch.Tensor:
        """The candidates' tokens per pair as one tensor [n, C, L], padded with -1 (a row with fewer candidates
        gets all -1 candidates, which score -inf)."""
        tokens = [[t[len(b.stem):] for t in candidate_tokens(tokenizer, cs)]  # the stem is in the prompt
                  for b, cs in zip(self.base, self.candidates())]
        n_cand = max(len(ts) for ts in tokens)
        width = max(len(t) for ts in tokens for t in ts)
        out = torch.full((len(tokens), n_cand, width), -1, dtype=torch.long)
        for i, ts in enumerate(tokens):
            for j, t in enumerate(ts):
                out[i, j, : len(t)] = torch.tensor(t)
        return out

    def answer_indices(self) -> tuple[list[int], list[int]]:
        """Per pair: the index of the original's answer and of the counterfactual's among `candidates()`."""
        cands = self.candidates()
        return ([cs.index(b.answer) for cs, b in zip(cands, self.base)],
                [cs.index(f.answer) for cs, f in zip(cands, self.cf)])


def aligned(a: TextExample, b: TextExample) -> bool:
    """Same length, every named position at the same index, and the same candidate stem (so both prompts'
    candidates continue either prompt)."""
    return len(a.ids) == len(b.ids) and a.positions == b.positions and a.stem == b.stem


def text_pairs(task: SearchTask, tokenizer, n: int, seed: int, shots: int = 3, chat: bool = True) -> TextPairs:
    """`n` aligned (original, counterfactual) prompt pairs: the originals are the instances `text_examples` draws
    (same seed, same solved examples), minus any refused."""
    check_fast(task, tokenizer)
    limit = 2 * n + 20  # refusals are rare (a number whose token count changes); give up past this
    stream = task.instances(limit, seed=f"probe:{seed}")
    demos = task.instances(shots * limit, seed=f"shots:{seed}")
    rng = random.Random(f"{task.name}:text-cf:{seed}")
    base, cf, refused = [], [], 0
    for i, inst in enumerate(stream):
        if len(base) == n:
            break
        shot_metas = [d.meta for d in demos[i * shots:(i + 1) * shots]]
        original = render_example(task, tokenizer, inst.meta, shot_metas, chat)
        for _ in range(REDRAWS):
            other = render_example(task, tokenizer, task.counterfactual(inst, rng).meta, shot_metas, chat)
            if other.answer != original.answer and aligned(original, other):
                base.append(original)
                cf.append(other)
                break
        else:
            refused += 1
    if len(base) < n:
        raise UserError(f"only {len(base)} of {n} {task.name} prompts have a counterfactual whose tokens align with "
                        f"theirs under this tokenizer ({refused} refused)")
    return TextPairs(base, cf, refused)
