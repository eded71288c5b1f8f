"""Retargeting the search, the search-in-map analogue of goal steering: on a model trained on several rules (argmax
`-p rules=2`: largest vs smallest, the rule as a token), add the rule-B minus rule-A mean activation after a block
to rows of rule A and count how often the answer becomes rule B's pick. Beside a norm-matched random direction and
no edit; alpha chosen on validation rows, reported on held-out rows (and by alpha).

Two sites: at the rule token itself (where it only shows that the token is read) and after it, at every item and the
answer position, each with its own per-position mean difference, where it changes the criterion the comparison of
candidates uses. A task mixes rules when it declares `per_rule_target` and labels `rule@rule`; its target's value
under rule r at the last position (`TARGET_under{r}`) is rule r's answer. Reported beside the verdict, not counted
in it: the criterion is not one of the variables the search indices read (S1)."""
from __future__ import annotations

import numpy as np
import torch

from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.intervene import classes_of, logits_at
from mesaprobe.schema import label_key

RULE_LABEL = label_key("rule", "rule")
AFTER = "items+answer"  # the position label of the edit made after the rule token


class Retarget(CausalMethod):
    name = "retarget"
    description = ("add the rule-B minus rule-A mean activation at the rule token, or after it at the items and the "
                   "answer; P(answer becomes rule B's pick) beside a random direction and no edit")
    families = ("search",)
    evidence = False
    needs = frozenset({"answer_logits"})
    plot = Plot("bars", "Retargeting the search: P(the answer becomes the other rule's pick), held-out rows",
                (("unsteered_effect", "no edit"),))

    def run(self, ctx: CausalContext) -> list[dict]:
        return [row for layer in ctx.layers
                for row in retarget_rows(ctx.subject.bridge, ctx.task, ctx.data, layer, ctx.options.alphas)]


def rule_answers(task, data) -> dict[int, np.ndarray] | None:
    """Per rule present in the rows: each row's answer class under that rule (None: the task mixes no rules)."""
    target = task.per_rule_target
    if target is None or RULE_LABEL not in data.labels:
        return None
    last = next(t.positions[-1] for t in task.targets() if t.name == target)
    classes = {c: i for i, c in enumerate(task.answer_classes())}
    rules = np.unique(data.labels[RULE_LABEL].astype(int))
    if len(rules) < 2:
        return None
    return {int(r): np.array([classes[str(int(v))] for v in data.labels[label_key(f"{target}_under{r}", last)]])
            for r in rules}


def retarget_rows(bridge, task, data, layer: int, alphas) -> list[dict]:
    answers = rule_answers(task, data)
    if answers is None:
        return []
    rule = data.labels[RULE_LABEL].astype(int)
    rules = np.array(sorted(answers))
    other = rules[(np.searchsorted(rules, rule) + 1) % len(rules)]  # each row is steered toward the next rule
    want = np.array([answers[o][i] for i, o in enumerate(other)])
    rng = np.random.default_rng(data.seed + 1000 * layer)
    order = rng.permutation(len(rule))
    fit, val, test = np.split(order, [len(order) // 2, 3 * len(order) // 4])
    val, test = val[want[val] != data.answer_classes[val]], test[want[test] != data.answer_classes[test]]
    item_positions = next(t.positions for t in task.targets() if t.name == task.per_rule_target)
    sites = {"rule": ("rule",), AFTER: (*item_positions, data.answer_position)}
    ids, answer_pos = torch.as_tensor(data.ids), torch.as_tensor(data.positions[data.answer_position])
    rows = []
    for site, positions in sites.items():
        deltas = {}  # position -> [n, d]: each row's rule-B minus rule-A mean, and a random vector of its norm
        for p in positions:
            X = data.subject.load(layer, p).astype(np.float32)
            means = {r: X[fit[rule[fit] == r]].mean(0) for r in rules}
            delta = np.stack([means[o] - means[r] for r, o in zip(rule, other)])
            noise = rng.standard_normal(delta.shape).astype(np.float32)
            noise *= np.linalg.norm(delta, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
            deltas[p] = (torch.as_tensor(delta), torch.as_tensor(noise))

        def reach(subset: np.ndarray, alpha: float, random: bool) -> float:
            t = torch.as_tensor(subset)
            edits = [(layer, torch.as_tensor(data.positions[p])[t],
                      lambda x, r, v=deltas[p][int(random)][t]: x + alpha * v[r.cpu()].to(x)) for p in positions]
            pred = logits_at(bridge, ids[t], answer_pos[t], classes_of(data.class_ids, t), edits).argmax(-1).numpy()
            return float(np.mean(pred == want[subset]))

        if not len(val) or not len(test):
            continue
        by_alpha = [reach(val, a, False) for a in alphas]
        alpha = alphas[int(np.argmax(by_alpha))]
        test_by_alpha = [reach(test, a, False) for a in alphas]
        random_by_alpha = [reach(test, a, True) for a in alphas]
        rows.append({"method": "retarget", "target": "rule", "layer": layer, "position": site,
                     "effect": test_by_alpha[alphas.index(alpha)],
                     "control_effect": random_by_alpha[alphas.index(alpha)],
                     "unsteered_effect": reach(test, 0.0, False), "alpha": alpha, "alphas": list(alphas),
                     "validation_reach_by_alpha": by_alpha, "reach_by_alpha": test_by_alpha,
                     "reach_by_alpha_random": random_by_alpha, "rules": rules.tolist(), "n": int(len(test))})
    return rows
