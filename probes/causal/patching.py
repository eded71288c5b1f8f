"""Activation patching of the whole residual stream per (layer, token position) from the counterfactual input:
normalised logit difference (Zhang & Nanda 2024) and IIA. The map localises where the answer is computed.
Control: patching from a random other example instead of the counterfactual (how often its answer appears anyway)."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import logits_at, resid_all


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
    """Per (layer, token position): IIA and normalised logit difference of patching the counterfactual's stream in,
    beside the control. The counterfactual's streams come from one forward; each layer's patches, every position
    and its control alike, run as one batch of copies (row copy j patches position j // 2, from the counterfactual
    for even j, from a shuffled other example for odd j)."""
    n = min(limit, len(data.ids))
    ids, cf_ids = torch.tensor(data.ids[:n]), torch.tensor(data.cf_ids[:n])
    answer_pos = torch.tensor(data.positions[data.answer_position][:n])
    base_cls, cf_cls = torch.tensor(data.answer_classes[:n]), torch.tensor(data.cf_classes[:n])
    rows = torch.arange(n)
    shuffled = torch.tensor(np.random.default_rng(data.seed).permutation(n))

    def logit_diff(logits):  # cf answer minus base answer; logits [..., n, C]
        return logits[..., rows, cf_cls] - logits[..., rows, base_cls]

    clean = logits_at(bridge, ids, answer_pos, data.class_ids)
    corrupt = logits_at(bridge, cf_ids, answer_pos, data.class_ids)
    ld_base, ld_cf = logit_diff(clean), logit_diff(corrupt)
    denom = (ld_cf - ld_base).mean()
    T = ids.shape[1]
    streams = resid_all(bridge, cf_ids, layers)  # layer -> [n, T, d]
    copies = 2 * T
    out = []
    for layer in layers:
        source = streams[layer]  # [n, T, d]
        # copy j of row i: position j // 2; source row i (even j) or shuffled[i] (odd j)
        pos = torch.arange(copies).div(2, rounding_mode="floor").repeat_interleave(n)
        src_row = torch.cat([rows if j % 2 == 0 else shuffled for j in range(copies)])
        patch = source[src_row, pos]  # [copies * n, d]
        logits = logits_at(bridge, ids.repeat(copies, 1), answer_pos.repeat(copies), data.class_ids,
                           [(layer, pos, lambda x, r, s=patch: s[r.cpu()].to(x.device))]).view(copies, n, -1)
        hit = (logits.argmax(-1) == cf_cls).float().mean(-1)  # [copies]
        diff = (logit_diff(logits[0::2]) - ld_base).mean(-1) / denom  # [T]
        for p in range(T):
            out.append({
                "method": "patch", "target": "answer", "layer": layer, "position": position_names.get(p, f"t{p}"),
                "token_index": p, "effect": float(hit[2 * p]), "control_effect": float(hit[2 * p + 1]),
                "logit_diff": float(diff[p]) if abs(denom) > 1e-6 else 0.0, "n": n,
            })
    return out
