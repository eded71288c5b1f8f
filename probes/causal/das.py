"""Distributed alignment search (DAS; Geiger, Wu et al. 2024): learn an orthonormal rank-r subspace at (layer,
position) such that patching it in from the counterfactual makes the model give what the task's high-level causal
model predicts (`SearchTask.intervened_answer`), then score that interchange on held-out rows. Where a probe's own
subspace is too narrow to carry a variable (one ridge direction for a value of 64 levels), DAS asks the question
interchange asks with the subspace the model actually uses. Beside a random subspace of the same rank, scored on the
same rows. Runs only on variables whose causal model the task declares (the answer alone is the readout check).

Why our own small loop: pyvene (the reference) is not a dependency and wraps HF models its own way; the few lines
below train one rotation through the TransformerBridge's hooks, the same hooks every other method uses."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.causal.interchange import interchange_expectation
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes.intervene import random_orthonormal, resid_at
from mesaprobe.probes.linear import fold_indices

RANK, STEPS, LR, BATCH = 8, 400, 1e-2, 128  # subspace rank; Adam steps, rate and rows per step of the fit


class DistributedAlignment(CausalMethod):
    name = "das"
    description = ("learn the rank-8 subspace whose interchange makes the model follow the task's causal model "
                   "(distributed alignment search); IIA on held-out rows")
    families = ("search",)
    evidence = True
    opt_in = True  # a fit per (target, block): run with `probe --also-methods das`
    needs = frozenset({"answer_logits", "counterfactuals"})
    plot = Plot("bars", "DAS: interchange accuracy of a learned subspace (held-out rows)")

    def run(self, ctx: CausalContext) -> list[dict]:
        data = ctx.data
        if not data.cf_predictions:
            return []
        return [das_row(ctx.subject.bridge, data, t, p, layer) for t, p, _, layer in ctx.jobs("das")
                if f"{t}@{p}" in data.cf_predictions]


def patched_logits(bridge, ids, answer_pos, class_ids, layer, pos, source, basis):
    """Answer-class logits [n, C] with the `basis` component of the residual at (layer, pos) replaced by `source`'s;
    differentiable in `basis`."""

    device = next(bridge.parameters()).device
    pos, source, basis = pos.to(device), source.to(device), basis.to(device)

    def hook(x, hook):
        rows = torch.arange(x.shape[0], device=device)
        here = x[rows, pos]
        x = x.clone()
        x[rows, pos] = (here + ((source - here) @ basis) @ basis.T).to(x.dtype)
        return x

    logits = bridge.run_with_hooks(ids.to(device), fwd_hooks=[(hook_name(layer), hook)])
    return logits[torch.arange(len(ids), device=device), answer_pos.to(device)][:, class_ids.to(device)].float().cpu()


def das_row(bridge, data, target: str, position: str, layer: int) -> dict:
    expected, informative, _ = interchange_expectation(data, target, position)
    rows = np.flatnonzero(informative)
    common = {"method": "das", "target": target, "layer": layer, "position": position, "rank": RANK,
              "n_uninformative": int((~informative).sum())}
    n = len(expected)
    test = fold_indices(n, 5, data.seed)[0][1]
    test, train = np.intersect1d(rows, test), np.setdiff1d(rows, test)
    if len(train) < BATCH // 4 or len(test) < 10:
        return common | {"effect": 0.0, "control_effect": 0.0, "n": len(test)}
    ids, cf_ids = torch.tensor(data.ids), torch.tensor(data.cf_ids)
    pos, answer_pos = torch.tensor(data.positions[position]), torch.tensor(data.positions[data.answer_position])
    source = resid_at(bridge, cf_ids, layer, pos)
    class_ids, target_class = data.class_ids, torch.tensor(expected)
    d = source.shape[1]
    torch.manual_seed(data.seed)  # before the rotation is drawn: a run's seed fixes its starting subspace
    rotation = torch.nn.utils.parametrizations.orthogonal(torch.nn.Linear(d, RANK, bias=False))
    opt = torch.optim.Adam(rotation.parameters(), lr=LR)
    frozen = [p.requires_grad for p in bridge.parameters()]
    for p in bridge.parameters():
        p.requires_grad_(False)
    try:
        rng = np.random.default_rng(data.seed)
        for _ in range(STEPS):
            batch = torch.tensor(rng.choice(train, min(BATCH, len(train)), replace=False))
            logits = patched_logits(bridge, ids[batch], answer_pos[batch], class_ids, layer, pos[batch],
                                    source[batch], rotation.weight.T)
            loss = torch.nn.functional.cross_entropy(logits, target_class[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            t = torch.tensor(test)
            learned = rotation.weight.T.detach()
            random = random_orthonormal(d, RANK, data.seed)
            iia = [float((patched_logits(bridge, ids[t], answer_pos[t], class_ids, layer, pos[t], source[t], b)
                          .argmax(-1) == target_class[t]).float().mean()) for b in (learned, random)]
    finally:
        for p, flag in zip(bridge.parameters(), frozen):
            p.requires_grad_(flag)
    return common | {"effect": iia[0], "control_effect": iia[1], "n": len(test)}
