"""Activation patching of the whole residual stream per (layer, token position) from the counterfactual input:
normalised logit difference (Zhang & Nanda 2024) and IIA. The map localises where the answer is computed.
Control: patching from a random other example instead of the counterfactual (how often its answer appears anyway)."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import logits_at, resid_at


class Patching(CausalMethod):
    """Localises rather than tests a probed variable: patching the whole stream at the answer position succeeds in
    any model, so it is no evidence for the verdict."""

    name = "patch"
    description = "patch the whole residual stream per (layer, token) from a counterfactual input"
    families = ("search", "goal")
    evidence = False
    needs = frozenset({"answer_logits", "counterfactuals"})
    plot = Plot("map", "activation patching from the counterfactual (IIA)")

    def run(self, ctx: CausalContext) -> list[dict]:
        names = {}
        for name, idx in ctx.data.positions.items():
            if len(set(idx.tolist())) == 1:
                names[int(idx[0])] = name
        return patching_rows(ctx.subject.bridge, ctx.data, [-1, *ctx.layers], names)


def patching_rows(bridge, data, layers: list[int], position_names: dict[int, str], limit: int = 400) -> list[dict]:
    n = min(limit, len(data.ids))
    ids, cf_ids = torch.tensor(data.ids[:n]), torch.tensor(data.cf_ids[:n])
    answer_pos = torch.tensor(data.positions[data.answer_position][:n])
    base_cls, cf_cls = data.answer_classes[:n], data.cf_classes[:n]
    rows = torch.arange(n)
    shuffled = torch.tensor(np.random.default_rng(data.seed).permutation(n))

    def logit_diff(logits):  # cf answer minus base answer
        return logits[rows, torch.tensor(cf_cls)] - logits[rows, torch.tensor(base_cls)]

    clean = logits_at(bridge, ids, answer_pos, data.class_ids)
    corrupt = logits_at(bridge, cf_ids, answer_pos, data.class_ids)
    ld_base, ld_cf = logit_diff(clean), logit_diff(corrupt)
    out = []
    for layer in layers:
        for p in range(ids.shape[1]):
            pos = torch.full((n,), p)
            source = resid_at(bridge, cf_ids, layer, pos)
            patched = logits_at(bridge, ids, answer_pos, data.class_ids,
                                [(layer, pos, lambda x, r, s=source: s[r.cpu()].to(x.device))])
            control = logits_at(bridge, ids, answer_pos, data.class_ids,
                                [(layer, pos, lambda x, r, s=source[shuffled]: s[r.cpu()].to(x.device))])
            denom = (ld_cf - ld_base).mean()
            out.append({
                "method": "patch", "target": "answer", "layer": layer, "position": position_names.get(p, f"t{p}"),
                "token_index": p,
                "effect": float((patched.argmax(-1).numpy() == cf_cls).mean()),
                "control_effect": float((control.argmax(-1).numpy() == cf_cls).mean()),
                "logit_diff": float((logit_diff(patched) - ld_base).mean() / denom) if abs(denom) > 1e-6 else 0.0,
                "n": n,
            })
    return out
