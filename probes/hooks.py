"""Where probes read and write the residual stream: transformer-lens hook names per layer."""
from __future__ import annotations

EMBED_LAYER = -1  # the embeddings (token + position): what the model has observed, before any block


def hook_name(layer: int) -> str:
    """Layer -1: `blocks.0.hook_resid_pre` (the embeddings); layer l >= 0: the output of block l."""
    return "blocks.0.hook_resid_pre" if layer == EMBED_LAYER else f"blocks.{layer}.hook_resid_post"


def stop_layer(deepest: int, n_layers: int) -> int | None:
    """`stop_at_layer` that still runs block `deepest` (layer -1, the embeddings, needs block 0 entered)."""
    stop = max(deepest + 1, 1)
    return stop if stop < n_layers else None
