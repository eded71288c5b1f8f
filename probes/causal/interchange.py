"""Interchange interventions on a probe's subspace (Geiger et al. 2021): patch the subspace in from the
counterfactual input; IIA = share of runs whose output becomes the counterfactual's answer. Beside a random
subspace of the same rank and the probe's null space (the subspace-patching illusion, Makelov et al. 2024)."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import logits_at, random_orthonormal, resid_at
from mesaprobe.probes.linear import fold_indices, make_probe
from mesaprobe.schema import label_key


class Interchange(CausalMethod):
    name = "interchange"
    description = "patch the probe's subspace in from a counterfactual input; interchange-intervention accuracy"
    families = ("search", "goal")
    evidence = True
    needs = frozenset({"answer_logits", "counterfactuals"})
    plot = Plot("bars", "Interchange intervention accuracy (IIA)", (("null_space_effect", "null space"),))

    def run(self, ctx: CausalContext) -> list[dict]:
        bridge = ctx.subject.bridge
        return [interchange_row(bridge, ctx.data, t, p, k, layer, ctx.folds)
                for t, p, k, layer in ctx.jobs("interchange")]


def probe_subspace(X: np.ndarray, y: np.ndarray, kind: str) -> torch.Tensor:
    """Orthonormal basis [d, r] of the row space of a probe's weights, mapped back through its standardisation."""
    probe = make_probe(kind).fit(X, y)
    scaler, model = probe[0], probe[-1]
    w = np.atleast_2d(model.coef_) / scaler.scale_[None, :]
    q, _ = torch.linalg.qr(torch.tensor(w.T, dtype=torch.float32))
    return q[:, : min(w.shape)]


def subspace_patch(basis: torch.Tensor, source: torch.Tensor):
    """Edit: replace the component of x in span(basis) by that of `source` (the counterfactual's activation)."""

    def edit(x, rows):
        b = basis.to(x.device)
        delta = (source[rows.cpu()].to(x.device) - x.float()) @ b
        return x.float() + delta @ b.T

    return edit


def interchange_row(bridge, data, target: str, position: str, kind: str, layer: int, folds: int) -> dict:
    X = data.subject.load(layer, position)
    y = data.labels[label_key(target, position)]
    pos = torch.tensor(data.positions[position])
    answer_pos = torch.tensor(data.positions[data.answer_position])
    ids, cf_ids = torch.tensor(data.ids), torch.tensor(data.cf_ids)
    scores = {"probe": [], "random": [], "null": []}
    rank = 0
    for k, (train, test) in enumerate(fold_indices(len(y), folds, data.seed)):
        if np.unique(y[train]).size < 2:
            continue
        basis = probe_subspace(X[train], y[train], kind)
        rank = basis.shape[1]
        null = torch.linalg.qr(torch.eye(X.shape[1]) - basis @ basis.T)[0][:, : X.shape[1] - rank]
        t = torch.tensor(test)
        source = resid_at(bridge, cf_ids[t], layer, pos[t])
        cf_cls = data.cf_classes[test]
        for name, b in (("probe", basis), ("random", random_orthonormal(X.shape[1], rank, data.seed + k)),
                        ("null", null)):
            edit = subspace_patch(b, source)
            pred = logits_at(bridge, ids[t], answer_pos[t], data.class_ids, [(layer, pos[t], edit)]).argmax(-1)
            scores[name].append(float((pred.numpy() == cf_cls).mean()))
    mean = lambda v: float(np.mean(v)) if v else 0.0
    return {"method": "interchange", "target": target, "layer": layer, "position": position,
            "effect": mean(scores["probe"]), "control_effect": mean(scores["random"]),
            "null_space_effect": mean(scores["null"]), "rank": rank, "n": len(y)}
