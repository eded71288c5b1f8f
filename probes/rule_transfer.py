"""Rule transfer: does one readout carry the running best under every rule, or does the model keep one comparison
per rule? For a task that mixes rules (argmax with `rules` > 1) and names each row's rule:

- `within`: a ridge probe (probes/linear.make_probe) fitted on one rule's rows of a training half and scored (R^2)
  on the same rule's rows of the other half;
- `across`: the same probe's direction read on every *other* rule's rows: an affine map from the probe's output to
  that rule's running best, fitted on its training rows, scored on its held-out rows (one subspace may carry each
  rule's running best at its own scale and offset);
- `separate`: what a model that kept a separate quantity per rule would give there: the same affine readout of rule
  B's running best from rule A's (computed on rule B's rows): a rule-A-only direction, perfectly read;
- `sharing` = (across - separate) / (within - separate): 1 when a readout learnt on one rule serves the others as
  well as their own, 0 when it does no better than a rule-specific quantity would.

Averaged over the target's positions where the rules' answers differ on some row (at the first item every rule's
pick so far is the same number). The random-init twin's `within` is the control: there the readout of the tokens
alone."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score

from mesaprobe.probes.linear import make_probe
from mesaprobe.probes.linear_suite import ProbeData
from mesaprobe.schema import label_key
from mesaprobe.tasks.base import Task

RULE_LABEL = label_key("rule", "rule")
MIN_ROWS = 10  # rows of one rule in each half, at least
MIN_WITHIN = 0.3  # a readout that does not read its own rule (R^2 below this) has nothing to share


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(r2_score(y, pred)) if np.var(y) > 0 else float(np.allclose(y, pred))


def rule_transfer(data: ProbeData, task: Task) -> dict | None:
    """Per probed block: mean within, across, separate and random-init within (see the module); None when the
    task has no per-rule target, the rows hold fewer than two rules, or too few rows of a rule."""
    target = task.per_rule_target
    if target is None or RULE_LABEL not in data.labels:
        return None
    rule = data.labels[RULE_LABEL].astype(int)
    rules = np.unique(rule)
    train = np.zeros(len(rule), dtype=bool)
    train[np.random.default_rng(data.seed).permutation(len(rule))[: len(rule) // 2]] = True
    if len(rules) < 2 or min(min((train & (rule == r)).sum(), (~train & (rule == r)).sum()) for r in rules) < MIN_ROWS:
        return None
    under = {r: lambda p, r=r: data.labels[label_key(f"{target}_under{r}", p)] for r in rules}
    positions = [p for spec in task.targets() if spec.name == target for p in spec.positions
                 if any(np.any(under[a](p) != under[b](p)) for a in rules for b in rules)]
    if not positions:
        return None
    off = ~np.eye(len(rules), dtype=bool)
    out = {"target": target, "rules": rules.tolist(), "positions": positions, "layers": data.subject.layers,
           "within": [], "across": [], "separate": [], "random_init_within": [], "matrix": []}
    separate = np.mean([_separate(data.labels[label_key(target, p)], under, p, rule, rules, train)
                        for p in positions], axis=0)[off].mean()  # labels only: the same at every block
    for layer in data.subject.layers:
        transfer = np.mean([_transfer(data.subject.load(layer, p), data.labels[label_key(target, p)], rule, rules,
                                      train) for p in positions], axis=0)
        random_init = np.mean([_transfer(data.random_init.load(layer, p), data.labels[label_key(target, p)], rule,
                                         rules, train, across=False) for p in positions], axis=0)
        out["within"].append(float(np.diag(transfer).mean()))
        out["across"].append(float(transfer[off].mean()))
        out["separate"].append(float(separate))
        out["random_init_within"].append(float(np.diag(random_init).mean()))
        out["matrix"].append(transfer.round(4).tolist())
    return at_best_layer(out)


def _affine_r2(x: np.ndarray, y: np.ndarray, fit: np.ndarray, test: np.ndarray) -> float:
    """R^2 on `test` of y ~ a*x + b fitted on `fit` (a constant x predicts the mean)."""
    slope, offset = np.polyfit(x[fit], y[fit], 1) if np.ptp(x[fit]) > 0 else (0.0, y[fit].mean())
    return _r2(y[test], slope * x[test] + offset)


def _transfer(X, y, rule, rules, train, across: bool = True) -> np.ndarray:
    """[A, B]: R^2 on rule B's held-out rows of the probe fitted on rule A's training rows (A = B: as fitted; else
    through an affine map fitted on B's training rows; left 0 without `across`)."""
    out = np.zeros((len(rules), len(rules)))
    for i, a in enumerate(rules):
        fit = train & (rule == a)
        readout = make_probe("number").fit(X[fit], y[fit]).predict(X)
        for j, b in enumerate(rules):
            own_fit, test = train & (rule == b), ~train & (rule == b)
            if a == b:
                out[i, j] = _r2(y[test], readout[test])
            elif across:
                out[i, j] = _affine_r2(readout, y, own_fit, test)
    return out


def _separate(y, under, position, rule, rules, train) -> np.ndarray:
    """[A, B]: R^2 on rule B's held-out rows of the affine readout of rule A's running best (fitted on B's
    training rows): a rule-A-only quantity, perfectly read."""
    return np.array([[_affine_r2(under[a](position).astype(float), y, train & (rule == b), ~train & (rule == b))
                      for b in rules] for a in rules])


def sharing(within: float, across: float, separate: float) -> float | None:
    """(across - separate) / (within - separate); None when the target is not read within a rule, or no better
    there than `separate`."""
    if within < MIN_WITHIN or within - separate <= 0.05:
        return None
    return float((across - separate) / (within - separate))


def at_best_layer(out: dict) -> dict:
    """`out` with `best_layer` (the block read best within a rule) and the `sharing` there."""
    best = int(np.argmax(out["within"]))
    return out | {"best_layer": out["layers"][best],
                  "sharing": sharing(out["within"][best], out["across"][best], out["separate"][best])}


def merge_transfers(per_seed: list[dict | None]) -> dict | None:
    """Seeds' results averaged curve by curve; the sharing of each seed kept as `sharing_by_seed`."""
    runs = [t for t in per_seed if t]
    if not runs:
        return None
    out = dict(runs[0])
    for key in ("within", "across", "separate", "random_init_within"):
        out[key] = np.mean([t[key] for t in runs], axis=0).tolist()
    out["matrix"] = np.mean([t["matrix"] for t in runs], axis=0).round(4).tolist()
    return at_best_layer(out) | {"sharing_by_seed": [t["sharing"] for t in runs]}
