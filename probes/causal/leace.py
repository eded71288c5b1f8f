"""LEACE erasure (Belrose et al. 2023, the concept-erasure package), fitted on each CV training fold only, applied
at one layer and position through a transformer-lens hook; beside a random subspace of the same rank."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from concept_erasure import LeaceEraser

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.controls import chance_score
from mesaprobe.probes.intervene import classes_of, edit_by_group, logits_at, random_orthonormal
from mesaprobe.probes.linear import fit_score, fold_indices
from mesaprobe.schema import label_key


def on_device(eraser: LeaceEraser, device) -> LeaceEraser:
    """The eraser with its tensors on `device`, where the hooked activations are (LeaceEraser has no `.to`)."""
    bias = None if eraser.bias is None else eraser.bias.to(device)
    return replace(eraser, proj_left=eraser.proj_left.to(device), proj_right=eraser.proj_right.to(device), bias=bias)


class Leace(CausalMethod):
    name = "leace"
    description = "erase the probed concept with LEACE (fitted per training fold); drop in answer accuracy"
    families = ("search", "goal")
    evidence = True
    needs = frozenset({"answer_logits"})
    plot = Plot("bars", "LEACE: drop in answer accuracy after erasure")

    def run(self, ctx: CausalContext) -> list[dict]:
        bridge, data = ctx.subject.bridge, ctx.data
        clean = logits_at(bridge, torch.tensor(data.ids), torch.tensor(data.positions[data.answer_position]),
                          data.class_ids).argmax(-1).numpy() == data.answer_classes  # shared by every row
        return [leace_row(bridge, data, t, p, k, layer, ctx.folds, clean) for t, p, k, layer in ctx.jobs("leace")]


def concept_matrix(y: np.ndarray, kind: str) -> torch.Tensor:
    if kind == "number":
        return torch.tensor(y, dtype=torch.float32)[:, None]
    classes = np.unique(y)
    return torch.tensor((y[:, None] == classes[None, :]).astype(np.float32))


def leace_row(bridge, data, target: str, position: str, kind: str, layer: int, folds: int,
              clean: np.ndarray) -> dict:
    """Drop in answer accuracy after erasing `target` at (layer, position), with `probe_after` (a fresh in-fold
    probe on erased activations), `chance`, and `control_effect` (a random subspace of the same rank erased).
    Each row is erased by the eraser fitted without its fold; `clean`: each row's answer correct unedited. One
    forward carries the erased and the random-subspace copies of every row."""
    X = data.subject.load(layer, position)
    y = data.labels[label_key(target, position)]
    n, splits = len(y), fold_indices(len(y), folds, data.seed, data.groups)
    fold = torch.zeros(n, dtype=torch.long)
    erasers, randoms = [], []
    for k, (train, test) in enumerate(splits):
        fold[test] = k
        eraser = LeaceEraser.fit(torch.tensor(X[train]), concept_matrix(y[train], kind))
        rank = eraser.proj_left.shape[1]
        basis, mean = random_orthonormal(X.shape[1], rank, data.seed + k), torch.tensor(X[train].mean(0))
        erasers.append(eraser)
        randoms.append(lambda x, rows, b=basis, m=mean: x - ((x - m.to(x.device)) @ b.to(x.device)) @ b.T.to(x.device))
    ids, pos = torch.tensor(data.ids), torch.tensor(data.positions[position])
    answer_pos = torch.tensor(data.positions[data.answer_position])
    both = lambda t: torch.cat([t, t])
    erase = [lambda x, rows, e=e: on_device(e, x.device)(x) for e in erasers]
    edit = edit_by_group(erase + randoms, torch.cat([fold, fold + folds]))
    classes = classes_of(data.class_ids, both(torch.arange(n)))
    correct = (logits_at(bridge, both(ids), both(answer_pos), classes, [(layer, both(pos), edit)])
               .argmax(-1).numpy() == np.tile(data.answer_classes, 2))
    erased_ok, random_ok = correct[:n], correct[n:]
    drops = [clean[test].mean() - erased_ok[test].mean() for _, test in splits]
    control_drops = [clean[test].mean() - random_ok[test].mean() for _, test in splits]
    after = [fit_score(erasers[k](torch.tensor(X)).numpy(), y, kind, train, test)  # eraser k's view, fold k
             for k, (train, test) in enumerate(splits)]
    return {"method": "leace", "target": target, "layer": layer, "position": position,
            "effect": float(np.mean(drops)), "control_effect": float(np.mean(control_drops)),
            "probe_after": float(np.mean(after)), "chance": chance_score(y, kind), "rank": int(max(e.proj_left.shape[1] for e in erasers)),
            "n": len(y)}
