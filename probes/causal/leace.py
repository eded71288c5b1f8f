"""LEACE erasure (Belrose et al. 2023, the concept-erasure package), fitted on each CV training fold only, applied
at one layer and position through a transformer-lens hook; beside a random subspace of the same rank."""
from __future__ import annotations

import numpy as np
import torch
from concept_erasure import LeaceEraser

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.controls import chance_score
from mesaprobe.probes.intervene import logits_at, random_orthonormal
from mesaprobe.probes.linear import fit_score, fold_indices
from mesaprobe.schema import label_key


class Leace(CausalMethod):
    name = "leace"
    description = "erase the probed concept with LEACE (fitted per training fold); drop in answer accuracy"
    families = ("search", "goal")
    evidence = True
    needs = frozenset({"answer_logits"})
    plot = Plot("bars", "LEACE: drop in answer accuracy after erasure")

    def run(self, ctx: CausalContext) -> list[dict]:
        bridge = ctx.subject.bridge
        return [leace_row(bridge, ctx.data, t, p, k, layer, ctx.folds) for t, p, k, layer in ctx.jobs("leace")]


def concept_matrix(y: np.ndarray, kind: str) -> torch.Tensor:
    if kind == "number":
        return torch.tensor(y, dtype=torch.float32)[:, None]
    classes = np.unique(y)
    return torch.tensor((y[:, None] == classes[None, :]).astype(np.float32))


def leace_row(bridge, data, target: str, position: str, kind: str, layer: int, folds: int) -> dict:
    """Drop in answer accuracy after erasing `target` at (layer, position), with `probe_after` (a fresh in-fold
    probe on erased activations), `chance`, and `control_effect` (a random subspace of the same rank erased)."""
    X = data.subject.load(layer, position)
    y = data.labels[label_key(target, position)]
    pos = torch.tensor(data.positions[position])
    answer_pos = torch.tensor(data.positions[data.answer_position])
    ids = torch.tensor(data.ids)
    drops, control_drops, after, ranks = [], [], [], []
    for k, (train, test) in enumerate(fold_indices(len(y), folds, data.seed, data.groups)):
        eraser = LeaceEraser.fit(torch.tensor(X[train]), concept_matrix(y[train], kind))
        rank = eraser.proj_left.shape[1]
        basis, mean = random_orthonormal(X.shape[1], rank, data.seed + k), torch.tensor(X[train].mean(0))

        def erase(x, rows, eraser=eraser):
            return eraser(x.float())

        def erase_random(x, rows, basis=basis, mean=mean):
            x = x.float()
            return x - ((x - mean.to(x.device)) @ basis.to(x.device)) @ basis.T.to(x.device)

        t = torch.tensor(test)
        target_cls = data.answer_classes[test]
        acc = lambda edits: float((logits_at(bridge, ids[t], answer_pos[t], data.class_ids, edits).argmax(-1).numpy()
                                   == target_cls).mean())
        base = acc([])
        drops.append(base - acc([(layer, pos[t], erase)]))
        control_drops.append(base - acc([(layer, pos[t], erase_random)]))
        erased = eraser(torch.tensor(X)).numpy()
        after.append(fit_score(erased, y, kind, train, test))
        ranks.append(rank)
    return {"method": "leace", "target": target, "layer": layer, "position": position,
            "effect": float(np.mean(drops)), "control_effect": float(np.mean(control_drops)),
            "probe_after": float(np.mean(after)), "chance": chance_score(y, kind), "rank": int(max(ranks)),
            "n": len(y)}
