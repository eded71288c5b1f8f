"""Activation patching of the whole residual stream per (layer, token position) from the counterfactual input:
normalised logit difference (Zhang & Nanda 2024) and IIA. The map localises where the answer is computed.
Control: patching from a random other example instead of the counterfactual (how often its answer appears anyway)."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import classes_of, logits_at, resid_sites


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
        data = ctx.data
        n = len(data.ids)
        if ctx.subject.patch_every_token:  # synthetic tokens: the map covers every token index
            names = {int(idx[0]): name for name, idx in data.positions.items() if len(set(idx.tolist())) == 1}
            sites = [(names.get(p, f"t{p}"), torch.full((n,), p), p) for p in range(data.ids.shape[1])]
        else:  # text: prompts differ in length; the map covers the named positions the pairs align at
            sites = [(name, torch.tensor(idx), None) for name, idx in data.positions.items()]
        return patching_rows(ctx.subject.bridge, data, [-1, *ctx.layers], sites)


Site = tuple[str, torch.Tensor, int | None]  # (position name, token index per row [n], the shared index or None)


def patching_rows(bridge, data, layers: list[int], sites: list[Site], limit: int = 400) -> list[dict]:
    """Per (layer, site): IIA and normalised logit difference of patching the counterfactual's stream in, beside
    the control. The counterfactual's streams at the sites come from one forward; each layer's patches, every site
    and its control alike, run as one batch of copies (row copy j patches site j // 2, from the counterfactual for
    even j, from a shuffled other example for odd j)."""
    n = min(limit, len(data.ids))
    ids, cf_ids = torch.tensor(data.ids[:n]), torch.tensor(data.cf_ids[:n])
    answer_pos = torch.tensor(data.positions[data.answer_position][:n])
    base_cls, cf_cls = torch.tensor(data.answer_classes[:n]), torch.tensor(data.cf_classes[:n])
    rows = torch.arange(n)
    shuffled = torch.tensor(np.random.default_rng(data.seed).permutation(n))

    def logit_diff(logits):  # cf answer minus base answer; logits [..., n, C]
        return logits[..., rows, cf_cls] - logits[..., rows, base_cls]

    classes = lambda copies: classes_of(data.class_ids, rows.repeat(copies))
    clean = logits_at(bridge, ids, answer_pos, classes(1))
    corrupt = logits_at(bridge, cf_ids, answer_pos, classes(1))
    ld_base, ld_cf = logit_diff(clean), logit_diff(corrupt)
    denom = (ld_cf - ld_base).mean()
    site_pos = torch.stack([idx[:n] for _, idx, _ in sites], dim=1)  # [n, S]
    streams = resid_sites(bridge, cf_ids, layers, site_pos)  # layer -> [n, S, d]
    copies = 2 * len(sites)
    # copy j of row i: site j // 2; source row i (even j) or shuffled[i] (odd j)
    site = torch.arange(copies).div(2, rounding_mode="floor").repeat_interleave(n)
    src_row = torch.cat([rows if j % 2 == 0 else shuffled for j in range(copies)])
    pos = site_pos[rows.repeat(copies), site]  # each copy's token index in its own row
    out = []
    for layer in layers:
        patch = streams[layer][src_row, site]  # [copies * n, d]
        logits = logits_at(bridge, ids.repeat(copies, 1), answer_pos.repeat(copies), classes(copies),
                           [(layer, pos, lambda x, r, s=patch: s[r.cpu()].to(x.device))]).view(copies, n, -1)
        hit = (logits.argmax(-1) == cf_cls).float().mean(-1)  # [copies]
        diff = (logit_diff(logits[0::2]) - ld_base).mean(-1) / denom  # [S]
        for s, (name, _, token_index) in enumerate(sites):
            out.append({
                "method": "patch", "target": "answer", "layer": layer, "position": name,
                "effect": float(hit[2 * s]), "control_effect": float(hit[2 * s + 1]),
                "logit_diff": float(diff[s]) if abs(denom) > 1e-6 else 0.0, "n": n,
            } | ({"token_index": token_index} if token_index is not None else {}))
    return out
