"""Behaviour of a model on a search task: greedy next-token accuracy at the answer position."""
from __future__ import annotations

import torch

from mesaprobe.models.tokenizer import encode_tokens
from mesaprobe.tasks.base import ANSWER_POSITION, Instance


@torch.no_grad()
def answer_logits(model, ids: torch.Tensor, answer_pos: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits of the next token at each example's answer position: [n, vocab]."""
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(ids), batch_size):
        logits = model(ids[i : i + batch_size].to(dev)).logits
        pos = answer_pos[i : i + batch_size].to(dev)
        out.append(logits[torch.arange(len(pos), device=dev), pos].float().cpu())
    return torch.cat(out)


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
