"""Edited forwards of a pretrained LM that recompute only what an edit can change. An edit at token p leaves every
earlier token's keys and values as they were, so while `reusing_prefixes(bridge)` is active (the causal probes of one
run, whose weights do not change) each distinct prompt's clean KV is computed once and an edited forward runs only
the tokens from its first edited position on. On few-shot prompts, whose edits sit in the last query, that is most
of a causal probe's cost. HF's own cache carries the prefix; this module only pads each row's prefix into one batch
(rows keep their true position ids; the attention mask hides the padding between a prefix and its suffix)."""
from __future__ import annotations

import contextlib
import weakref

import torch

from mesaprobe.models.forward import token_batches

_ACTIVE: "weakref.WeakKeyDictionary[torch.nn.Module, PrefixStore]" = weakref.WeakKeyDictionary()


class PrefixStore:
    """Each distinct prompt's clean per-layer keys and values ([heads, len, head_dim] each), on the model's device;
    emptied (but for the prompts of the request at hand) when it would pass `limit_bytes`."""

    def __init__(self, model, limit_bytes: int = 4 * 2**30):
        self.model, self.limit_bytes = model, limit_bytes
        self.kv: dict[bytes, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.bytes = 0

    @torch.no_grad()
    def _fill(self, rows: list[torch.Tensor]) -> None:
        todo = {r.numpy().tobytes(): r for r in rows}
        needed = set(todo)  # a full store drops every other prompt, never one this call is about to read
        todo = [r for k, r in todo.items() if k not in self.kv]
        device = next(self.model.parameters()).device
        for part in token_batches([len(r) for r in todo]):
            batch = todo[part]
            lens = torch.tensor([len(r) for r in batch], device=device)
            ids = torch.zeros(len(batch), int(lens.max()), dtype=torch.long, device=device)
            for i, r in enumerate(batch):
                ids[i, : len(r)] = r.to(device)
            mask = (torch.arange(ids.shape[1], device=device)[None] < lens[:, None]).long()
            cache = self.model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1).past_key_values
            for i, r in enumerate(batch):
                kv = [(layer.keys[i, :, : len(r)].clone(), layer.values[i, :, : len(r)].clone())
                      for layer in cache.layers]
                size = sum(k.numel() * k.element_size() * 2 for k, _ in kv)
                if self.bytes + size > self.limit_bytes:
                    self.kv = {k: v for k, v in self.kv.items() if k in needed}
                    self.bytes = sum(k.numel() * k.element_size() * 2 for kv in self.kv.values() for k, _ in kv)
                self.kv[r.numpy().tobytes()] = kv
                self.bytes += size

    def prefix_cache(self, rows: list[torch.Tensor], starts: torch.Tensor) -> tuple[object | None, torch.Tensor]:
        """A batch cache of each row's first `starts[i]` tokens (right-padded to the longest) and its mask [B, P]
        (no cache when every row starts at its first token): a transformers DynamicCache."""
        from transformers import DynamicCache  # here, not at import: probes.causal loads this module

        width = int(starts.max())
        if width == 0:
            return None, torch.zeros(len(rows), 0, dtype=torch.long, device=starts.device)
        self._fill(rows)
        kvs = [self.kv[r.numpy().tobytes()] for r in rows]
        layers = []
        for li in range(len(kvs[0])):
            k0 = kvs[0][li][0]
            keys = k0.new_zeros(len(rows), k0.shape[0], width, k0.shape[2])
            values = torch.zeros_like(keys)
            for i, kv in enumerate(kvs):
                keys[i, :, : starts[i]] = kv[li][0][:, : starts[i]]
                values[i, :, : starts[i]] = kv[li][1][:, : starts[i]]
            layers.append((keys, values))
        mask = (torch.arange(width, device=keys.device)[None] < starts.to(keys.device)[:, None]).long()
        return DynamicCache(layers, config=self.model.config), mask


def active_store(model) -> PrefixStore | None:
    return _ACTIVE.get(model)


@contextlib.contextmanager
def reusing_prefixes(bridge):
    """Within this block, candidate scoring on `bridge` reuses each prompt's clean prefix (its weights must not
    change meanwhile). A model HF cannot cache (or not an HF model) runs full forwards as before."""
    model = getattr(bridge, "original_model", None)
    if model is None or not getattr(model.config, "use_cache", True) or model in _ACTIVE:
        yield
        return
    _ACTIVE[model] = PrefixStore(model)
    try:
        yield
    finally:
        _ACTIVE.pop(model, None)
