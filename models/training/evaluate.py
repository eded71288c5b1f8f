"""Training's evaluation of a model on a search task: greedy next-token accuracy at the answer position, on the
task's own instances and on instances its training never shows."""
from __future__ import annotations

import torch

from mesaprobe.models.forward import answer_logits
from mesaprobe.models.tokenizer import encode_tokens
from mesaprobe.tasks.base import ANSWER_POSITION, Instance


def search_accuracy(model, tokenizer, instances: list[Instance]) -> float:
    ids = encode_tokens(tokenizer, [inst.tokens for inst in instances])
    pos = torch.tensor([inst.positions[ANSWER_POSITION] for inst in instances])
    target = encode_tokens(tokenizer, [[inst.answer] for inst in instances])[:, 0]
    pred = answer_logits(model, ids, pos).argmax(-1)
    return float((pred == target).float().mean())


def held_out_accuracy(model, tokenizer, task, n: int = 2000, seed: int | str = "held-out") -> float | None:
    """Accuracy on instances that `task`'s training never shows (`Task.held_out`: a rule left out of the mix),
    or None when the task has none or they need tokens the model lacks."""
    params = task.held_out()
    if params is None:
        return None
    other = type(task)(**params)
    if set(other.vocabulary()) - set(task.vocabulary()):
        return None
    return search_accuracy(model, tokenizer, other.instances(n, seed=seed))
