"""Interchange interventions on a probe's subspace (Geiger et al. 2021): patch the subspace in from the
counterfactual input; IIA = share of runs whose output becomes what the task's high-level causal model predicts once
the variable takes the counterfactual's value (`SearchTask.intervened_answer`: for argmax's running maximum at item k,
the largest of it and the items after k), over the rows where that value differs from the row's own and the
predicted answer from the row's answer (the others test nothing; they are left out and counted). A target the task gives no causal model (and the answer itself) is
scored against the counterfactual's answer. Beside a random subspace of the same rank and the probe's null space
(the subspace-patching illusion, Makelov et al. 2024), scored against the same prediction."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import classes_of, edit_by_group, logits_at, random_orthonormal, resid_at
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


def interchange_row(bridge, data, target: str, position: str, kind: str, layer: int, folds: int) -> dict:
    """IIA of patching the probe's subspace (fitted on each training fold, applied to its held-out rows), a random
    subspace of the same rank, and the probe's null space; the three copies of every row in one forward."""
    X = data.subject.load(layer, position)
    y = data.labels[label_key(target, position)]
    pos = torch.tensor(data.positions[position])
    answer_pos = torch.tensor(data.positions[data.answer_position])
    ids, cf_ids = torch.tensor(data.ids), torch.tensor(data.cf_ids)
    n, d = X.shape
    expected, informative, scored_against = interchange_expectation(data, target, position)
    splits = [(tr, te[informative[te]]) for tr, te in fold_indices(n, folds, data.seed) if np.unique(y[tr]).size >= 2]
    splits = [(tr, te) for tr, te in splits if len(te)]
    common = {"method": "interchange", "target": target, "layer": layer, "position": position,
              "scored_against": scored_against, "n_uninformative": int((~informative).sum())}
    if not splits:
        return common | {"effect": 0.0, "control_effect": 0.0, "null_space_effect": 0.0, "rank": 0,
                         "n": int(informative.sum())}
    source = resid_at(bridge, cf_ids, layer, pos)
    bases = {"probe": [], "random": [], "null": []}
    for k, (train, _) in enumerate(splits):
        basis = probe_subspace(X[train], y[train], kind)
        rank = basis.shape[1]
        bases["probe"].append(basis)
        bases["random"].append(random_orthonormal(d, rank, data.seed + k))
        bases["null"].append(torch.linalg.qr(torch.eye(d) - basis @ basis.T)[0][:, : d - rank])
    test = np.concatenate([te for _, te in splits])
    fold = torch.cat([torch.full((len(te),), k) for k, (_, te) in enumerate(splits)])
    t = torch.tensor(test)
    variants = list(bases)
    row_fold = torch.cat([fold + v * len(splits) for v in range(len(variants))])  # which basis edits each copy
    all_bases = [b for v in variants for b in bases[v]]
    src = source[t].repeat(len(variants), 1)  # copy-major, as the rows of the forward below
    patch = [lambda x, rows, b=b: x + ((src[rows.cpu()].to(x.device) - x) @ b.to(x.device)) @ b.T.to(x.device)
             for b in all_bases]  # the basis's component of x replaced by the counterfactual's
    edit = edit_by_group(patch, row_fold)
    many = lambda v: v.repeat(len(variants), *([1] * (v.dim() - 1)))
    pred = logits_at(bridge, many(ids[t]), many(answer_pos[t]), classes_of(data.class_ids, many(t)),
                     [(layer, many(pos[t]), edit)]).argmax(-1).numpy()
    hits = (pred == np.tile(expected[test], len(variants))).reshape(len(variants), -1)
    fold_np = fold.numpy()
    iia = {v: float(np.mean([hits[i][fold_np == k].mean() for k in range(len(splits))]))
           for i, v in enumerate(variants)}
    return common | {"effect": iia["probe"], "control_effect": iia["random"], "null_space_effect": iia["null"],
                     "rank": int(bases["probe"][-1].shape[1]), "n": int(informative.sum())}


def interchange_expectation(data, target: str, position: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(per row: the answer class an interchange should produce, whether the row is informative, what the
    expectation is). The task's causal model where it declares one for this variable; else the counterfactual's
    own answer, every row counted."""
    key = label_key(target, position)
    if data.cf_predictions and key in data.cf_predictions:
        expected, differs = data.cf_predictions[key]
        # a row tests the variable only where its value changes and the model predicts another answer for it
        # (where the prediction is the row's own answer, an intervention that does nothing also scores a hit)
        return expected, differs & (expected >= 0) & (expected != data.answer_classes), "causal model"
    return data.cf_classes, np.ones(len(data.cf_classes), dtype=bool), "counterfactual answer"
