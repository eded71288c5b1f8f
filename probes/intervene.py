"""Running the TransformerBridge with interventions at one (layer, per-example position): the building block of
LEACE erasure, interchange interventions, activation patching and steering."""
from __future__ import annotations

from typing import Callable

import torch

from mesaprobe.models.forward import TOKENS_PER_BATCH, last_token_logits_kwargs, token_batches
from mesaprobe.models.subjects.text_eval import continuation_logprobs
from mesaprobe.probes.hooks import hook_name, stop_layer
from mesaprobe.probes.prefix_cache import active_store

Edit = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (resid at the positions [b, d], row index) -> new


def edit_hook(layer: int, positions: torch.Tensor, edit: Edit, offset: int = 0, index: torch.Tensor | None = None):
    """A (hook name, fn) pair that replaces the residual stream at `positions[r]` of each batch row b, whose row r in
    the whole set is `index[b]` (default: `offset + b`)."""

    def fn(x, hook):
        rows = torch.arange(x.shape[0], device=x.device)
        at = rows + offset if index is None else index.to(x.device)
        pos = positions.to(x.device)[at]
        x = x.clone()
        x[rows, pos] = edit(x[rows, pos], at).to(x.dtype)
        return x

    return hook_name(layer), fn


def edit_by_group(edits: list[Edit], group: torch.Tensor) -> Edit:
    """One edit that applies `edits[k]` to the rows whose group is k (`group[row]`: e.g. each row's held-out fold),
    so rows edited differently share one forward."""

    def edit(x, rows):
        x, g = x.float(), group[rows.cpu()].to(x.device)
        out = x.clone()
        for k, e in enumerate(edits):
            m = g == k
            if m.any():
                out[m] = e(x[m], rows[m])
        return out

    return edit


@torch.no_grad()
def logits_at(bridge, ids: torch.Tensor, positions: torch.Tensor, class_ids: torch.Tensor,
              edits: list[tuple[int, torch.Tensor, Edit]] = (), batch_size: int = 256) -> torch.Tensor:
    """Scores of the answer classes [n, C] at each example's answer position, under (layer, positions, edit)s.
    `class_ids` [C]: one token per class, shared by every row (the logits). [n, C, L]: each row's candidate
    answers as token sequences padded with -1 (text), scored by their full log-probability after the answer
    position, which is then the row's last prompt token."""
    if class_ids.dim() == 3:
        return candidate_scores(bridge, ids, positions, class_ids, edits)
    device = next(bridge.parameters()).device
    # Rows sorted by the last token they need, each batch cut there (later tokens cannot reach it under causal
    # attention): a goal episode's early decisions do not pay for its whole transcript. Batches are bounded by rows and
    # by the size of their logits (every position's, over the vocabulary).
    need = positions.clone()
    for _, pos, _ in edits:
        need = torch.maximum(need, pos)
    order = torch.argsort(need, stable=True)
    budget = max(TOKENS_PER_BATCH, 2**24 // bridge.cfg.d_vocab)
    out = torch.empty(len(ids), len(class_ids))
    for chunk in token_batches((need[order] + 1).tolist(), budget):
        for index in order[chunk].split(batch_size):
            batch = ids[index, : int(need[index].max()) + 1].to(device)
            hooks = [edit_hook(layer, pos, edit, index=index) for layer, pos, edit in edits]
            logits = bridge.run_with_hooks(batch, fwd_hooks=hooks)
            rows = torch.arange(len(batch), device=device)
            out[index] = logits[rows, positions[index].to(device)][:, class_ids.to(device)].float().cpu()
    return out


def classes_of(class_ids: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The answer classes of `rows` (to go with `ids[rows]`): shared classes as they are, per-row ones indexed."""
    return class_ids if class_ids.dim() == 1 else class_ids[rows]


@torch.no_grad()
def candidate_scores(bridge, ids: torch.Tensor, last: torch.Tensor, candidates: torch.Tensor,
                     edits: list[tuple[int, torch.Tensor, Edit]] = (),
                     tokens_per_batch: int = TOKENS_PER_BATCH) -> torch.Tensor:
    """Log-probability of each row's candidates [n, C] (-inf for -1 padding candidates) after prompt `ids[i,
    :last[i] + 1]`: the prompts run once under the edits' hooks, their KV cache (which carries the edits) then feeds
    one forward over every candidate's tokens. The edits must lie within the prompts."""
    model, device = bridge.original_model, next(bridge.parameters()).device
    store = active_store(model)
    lengths = last + 1
    out = []
    for rows in token_batches(lengths.tolist(), tokens_per_batch):
        lens = lengths[rows].to(device)
        if store is None:
            batch = ids[rows, : int(lens.max())].to(device)
            hooks = [edit_hook(layer, pos, edit, offset=rows.start) for layer, pos, edit in edits]
            kwargs, index = last_token_logits_kwargs(model, lens)
            logits, cache = bridge.run_with_hooks(batch, fwd_hooks=hooks, return_type="logits_and_cache",
                                                  use_cache=True, **kwargs)
            mask = (torch.arange(batch.shape[1], device=device)[None] < lens[:, None]).long()
        else:
            logits, cache, mask, index = _from_first_edit(bridge, store, ids, rows, lens, edits)
        first = logits[torch.arange(len(lens), device=device), index].float().log_softmax(-1)
        cands = candidates[rows]
        valid = cands[:, :, 0] >= 0
        lists = [[[t for t in c if t >= 0] for c, ok in zip(row.tolist(), v.tolist()) if ok]
                 for row, v in zip(cands, valid)]
        scores = torch.full(valid.shape, float("-inf"))
        scores[valid] = torch.cat(continuation_logprobs(model, first, cache, mask, lens, lists, pad_id=0))
        out.append(scores)
    return torch.cat(out)


def _from_first_edit(bridge, store, ids, rows: slice, lens, edits):
    """candidate_scores' prompt pass from each row's first edited token on, over the store's clean prefix: the
    logits, the cache (prefix, padding, suffix), its attention mask and each row's index into the logits."""
    device = lens.device
    starts = lens - 1  # a clean pass still reads the last token
    for _, pos, _ in edits:
        starts = torch.minimum(starts, pos[rows].to(device))
    cache, prefix_mask = store.prefix_cache([ids[i, :n] for i, n in zip(range(rows.start, rows.stop), lens.tolist())],
                                            starts)
    width = int((lens - starts).max())
    steps = torch.arange(width, device=device)
    suffix_mask = (steps[None] < (lens - starts)[:, None]).long()
    gather = (starts[:, None] + steps[None]).clamp(max=ids.shape[1] - 1)
    suffix = ids[rows].to(device).gather(1, gather) * suffix_mask
    shifted = []
    for layer, pos, edit in edits:
        local = pos.clone().to(device)
        local[rows] -= starts
        shifted.append(edit_hook(layer, local, edit, offset=rows.start))
    kwargs, index = last_token_logits_kwargs(bridge.original_model, lens - starts)
    mask = torch.cat([prefix_mask, suffix_mask], 1)
    logits, cache = bridge.run_with_hooks(suffix, fwd_hooks=shifted, return_type="logits_and_cache", use_cache=True,
                                          past_key_values=cache, attention_mask=mask,
                                          position_ids=starts[:, None] + steps[None], **kwargs)
    return logits, cache, mask, index


@torch.no_grad()
def resid_at(bridge, ids: torch.Tensor, layer: int, positions: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The residual stream at (layer, each example's position) [n, d]."""
    captured = []

    def keep(x, row_idx):
        captured.append(x.float().cpu())
        return x

    for start in range(0, len(ids), batch_size):
        width = int(positions[start : start + batch_size].max()) + 1  # later tokens cannot reach these positions
        batch = ids[start : start + batch_size, :width].to(next(bridge.parameters()).device)
        bridge.run_with_hooks(batch, fwd_hooks=[edit_hook(layer, positions, keep, offset=start)],
                              stop_at_layer=stop_layer(layer, bridge.cfg.n_layers))
    return torch.cat(captured)


@torch.no_grad()
def resid_sites(bridge, ids: torch.Tensor, layers: list[int], sites: torch.Tensor,
                batch_size: int = 256) -> dict[int, torch.Tensor]:
    """The residual stream at each row's token indices `sites` [n, S] of `layers`, from one forward: layer ->
    [n, S, d]."""
    captured: dict[int, list] = {layer: [] for layer in layers}
    for start in range(0, len(ids), batch_size):
        width = int(sites[start : start + batch_size].max()) + 1  # later tokens cannot reach these sites
        batch = ids[start : start + batch_size, :width].to(next(bridge.parameters()).device)
        at = sites[start : start + batch_size].to(batch.device)
        rows = torch.arange(len(batch), device=batch.device)[:, None]

        def keep(x, hook, layer):
            captured[layer].append(x[rows, at].float().cpu())
            return x

        hooks = [(hook_name(layer), lambda x, hook, layer=layer: keep(x, hook, layer)) for layer in layers]
        bridge.run_with_hooks(batch, fwd_hooks=hooks, stop_at_layer=stop_layer(max(layers), bridge.cfg.n_layers))
    return {layer: torch.cat(parts) for layer, parts in captured.items()}


def random_orthonormal(d: int, rank: int, seed: int) -> torch.Tensor:
    """A uniformly random d x rank orthonormal basis (QR of a Gaussian matrix)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, max(rank, 1), generator=g))
    return q[:, :rank]
