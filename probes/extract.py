"""Residual-stream activations at the positions targets name, streamed to disk in shards.

Layer -1 is the embeddings (token + position: `blocks.0.hook_resid_pre`), layers 0..L-1 the output of each block
(`blocks.{l}.hook_resid_post`), read through transformer-lens hooks on the TransformerBridge. Each batch gathers only
the probed positions and is written as one safetensors shard, so memory is bounded by the batch, not the dataset.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mesaprobe.models.forward import TOKENS_PER_BATCH, last_token_logits_kwargs, token_batches
from mesaprobe.probes.hooks import EMBED_LAYER, hook_name, stop_layer
from mesaprobe.runtime import bar_options

__all__ = ["EMBED_LAYER", "ActivationStore", "extract_activations", "hook_name", "merge_stores"]


@dataclass
class ActivationStore:
    """Shards of [batch, n_positions, d_model] float32 arrays per layer; `load(layer)` concatenates one layer."""

    root: Path

    @cached_property
    def index(self) -> dict:
        return json.loads((self.root / "index.json").read_text())

    @property
    def positions(self) -> list[str]:
        return self.index["positions"]

    @property
    def layers(self) -> list[int]:
        return self.index["layers"]

    def load(self, layer: int, position: str | None = None) -> np.ndarray:
        """One layer's activations [n, P, d] (or [n, d] at `position`); only that layer is read from each shard."""
        from safetensors import safe_open

        index, parts = self.index, []
        for shard in index["shards"]:
            with safe_open(self.root / shard, framework="numpy") as f:
                parts.append(f.get_tensor(str(layer)))
        acts = np.concatenate(parts)
        return acts[:, index["positions"].index(position)] if position is not None else acts


@torch.no_grad()
def extract_activations(
    bridge,
    ids: torch.Tensor,
    positions: dict[str, torch.Tensor],
    out_dir: str | Path,
    layers: list[int],
    lengths: torch.Tensor | None = None,
    tokens_per_batch: int = TOKENS_PER_BATCH,
    scorer: Callable | None = None,
    progress: bool = True,
    on_first_batch: Callable[[float, int], None] | None = None,
) -> ActivationStore:
    """Run `bridge` over `ids` [n, T] (right-padded; `lengths` [n] the real lengths) and keep, per layer, the residual
    stream at `positions` (name -> [n] index). Batches are cut by a token budget and trimmed to their longest row.
    `scorer(rows, last_logits [B, V], hf_cache, lengths)` is handed each batch's logits at its rows' last tokens
    and KV cache, so behaviour is scored in the same forward (it needs every layer: no `stop_at_layer`).
    `on_first_batch(seconds, rows)` hears how long the first batch took (probes/estimate.py)."""
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(positions)
    pos = torch.stack([positions[k] for k in names], dim=1)  # [n, P]
    lengths = torch.full((len(ids),), ids.shape[1]) if lengths is None else lengths
    stop = stop_layer(max(layers), bridge.cfg.n_layers)
    if scorer is not None and stop is not None:
        raise ValueError("scoring behaviour in the extraction pass needs every layer (no stop_at_layer)")
    device = next(bridge.parameters()).device
    shards = []
    batches = list(token_batches(lengths.tolist(), tokens_per_batch))
    started = time.perf_counter()
    for i, rows in enumerate(tqdm(batches, desc="extract", **bar_options(progress))):
        lens = lengths[rows].to(device)
        batch = ids[rows, : int(lens.max())].to(device)
        bpos = pos[rows].to(device)
        index = torch.arange(len(batch), device=device)[:, None]
        captured: dict[str, np.ndarray] = {}

        def keep(x, hook, layer):
            captured[str(layer)] = x[index, bpos].float().cpu().numpy()
            return x

        hooks = [(hook_name(l), lambda x, hook, l=l: keep(x, hook, l)) for l in layers]
        kwargs, last = last_token_logits_kwargs(bridge.original_model, lens)
        if scorer is None:
            bridge.run_with_hooks(batch, fwd_hooks=hooks, stop_at_layer=stop, use_cache=False, **kwargs)
        else:
            logits, cache = bridge.run_with_hooks(batch, fwd_hooks=hooks, return_type="logits_and_cache",
                                                  use_cache=True, **kwargs)
            scorer(rows, logits[index[:, 0], last], cache, lens)
        shard = f"shard_{len(shards):05d}.safetensors"
        save_file(captured, out / shard)
        shards.append(shard)
        if i == 0 and on_first_batch is not None:
            on_first_batch(time.perf_counter() - started, rows.stop)
    index = {"positions": names, "layers": list(layers), "n": len(ids), "d_model": bridge.cfg.d_model,
             "hooks": {str(l): hook_name(l) for l in layers}, "shards": shards}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return ActivationStore(out)


def merge_stores(root: str | Path, parts: list[Path]) -> ActivationStore:
    """One store over stores of consecutive row ranges (several processes' shares, in row order), written as an
    index at `root` whose shards are the parts' own (paths relative to `root`); nothing is copied."""
    root = Path(root)
    indices = [json.loads((part / "index.json").read_text()) for part in parts]
    shards = [str((part / shard).relative_to(root)) for part, index in zip(parts, indices) for shard in index["shards"]]
    merged = indices[0] | {"n": sum(index["n"] for index in indices), "shards": shards}
    (root / "index.json").write_text(json.dumps(merged, indent=1))
    return ActivationStore(root)
