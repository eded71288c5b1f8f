"""Forward passes over right-padded sequences: batches sized by a token budget, logits kept only where needed."""
from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence

import torch

# a batch's padded tokens (why this many: docs/lab-notebook.md, "Settings in code")
TOKENS_PER_BATCH = 2048


def token_batches(lengths: Sequence[int], tokens_per_batch: int = TOKENS_PER_BATCH) -> Iterator[slice]:
    """Consecutive row slices whose padded size (rows x longest row) stays within the budget; one row at least."""
    start, n = 0, len(lengths)
    while start < n:
        stop, width = start + 1, lengths[start]
        while stop < n and (stop - start + 1) * max(width, lengths[stop]) <= tokens_per_batch:
            width = max(width, lengths[stop])
            stop += 1
        yield slice(start, stop)
        start = stop


def takes_logits_to_keep(hf_model) -> bool:
    return "logits_to_keep" in inspect.signature(hf_model.forward).parameters


def last_token_logits_kwargs(hf_model, lengths: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Forward kwargs that compute the unembedding only at each row's last real token (where the model takes
    `logits_to_keep`: the LM head is ~20% of a small LM's forward), and each row's index into the logits' time axis."""
    last = lengths - 1
    if not takes_logits_to_keep(hf_model):
        return {}, last
    keep, index = torch.unique(last, return_inverse=True)
    return {"logits_to_keep": keep}, index


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
