"""Every (target, layer, position) linear probe of a run, each beside its controls:
the control task (selectivity), the random-init twin, and the observation-only baseline.

`probe_targets` fits them all as batched tensor operations (probes/batched.py); `probe_target` is the
scikit-learn reference, one (target, position) at a time (benchmarks/probe_speed.py compares the two)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mesaprobe.probes.controls import chance_score, control_labels, observation_features, observation_keyings
from mesaprobe.probes.extract import ActivationStore
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes import batched
from mesaprobe.probes.linear import cv_score, fold_indices
from mesaprobe.schema import ProbeRow, label_key


@dataclass
class ProbeData:
    """One replicate (seed) of a run: token ids, position indices, labels, and the two activation stores."""

    ids: np.ndarray  # [n, T]
    positions: dict[str, np.ndarray]  # name -> [n]
    labels: dict[str, np.ndarray]  # "target@position" -> [n]
    subject: ActivationStore
    random_init: ActivationStore
    vocab_size: int
    seed: int
    groups: np.ndarray | None = None  # CV groups (goal tasks: the episode), so no group spans train and test
    answer_position: str = "answer"  # where the model emits its answer (goal tasks: each decision)
    class_ids: object = None  # token ids of the answer classes (torch.LongTensor [C])
    answer_classes: np.ndarray | None = None  # per row: index of the correct answer among class_ids
    cf_ids: np.ndarray | None = None  # counterfactual inputs, same shape as ids (search tasks)
    cf_classes: np.ndarray | None = None  # per row: index of the counterfactual's answer
    cf_predictions: dict | None = None  # interchange targets of the task's causal model (ProbeInputs)


@dataclass(frozen=True)
class Spec:
    """One (target, position) to probe."""

    target: str
    position: str
    kind: str  # class | number
    token_bound: bool = False


OBS_DENSE_LIMIT = 2**24  # one-hot observation features up to this many elements are fitted batched (dense)


def probe_targets(data: ProbeData, specs: list[Spec], folds: int, device: str = "cpu") -> list[dict]:
    """Rows for every spec over all layers of the store, in spec then layer order: one batched fit per kind for
    the probes, their control-task labels and the random-init twin, one per (position, keying) for the
    observation-only baseline."""
    splits = fold_indices(len(data.ids), folds, data.seed, data.groups)
    layers = data.subject.layers
    out = {}
    for kind in ("class", "number"):
        todo = [s for s in specs if s.kind == kind]
        if not todo:
            continue
        positions = sorted({s.position for s in todo})
        designs = [store.load(layer, p) for store in (data.subject, data.random_init) for p in positions
                   for layer in layers]
        where = {(store, p, layer): i for i, (store, p, layer) in enumerate(
            (store, p, layer) for store in ("subject", "random") for p in positions for layer in layers)}
        labels, pairs = [], []
        for s in todo:
            y = data.labels[label_key(s.target, s.position)]
            token_ids = data.ids[np.arange(len(y)), data.positions[s.position]] if s.token_bound else None
            labels += [y, control_labels(y, seed=data.seed, token_ids=token_ids)]
            m = len(labels) - 2
            for layer in layers:
                pairs += [(where["subject", s.position, layer], m), (where["subject", s.position, layer], m + 1),
                          (where["random", s.position, layer], m)]
        scores = batched.cv_scores(batched.Problems(torch.as_tensor(np.stack(designs)), np.stack(labels), pairs),
                                   kind, splits, device=device).reshape(len(todo), len(layers), 3)
        obs = observation_scores(data, todo, kind, folds, splits, device)
        for s, by_layer, baseline in zip(todo, scores, obs):
            y = data.labels[label_key(s.target, s.position)]
            n_test = len(y) // folds
            out[s] = [ProbeRow(s.target, hook_name(layer), layer, s.position,
                               "accuracy" if kind == "class" else "r2", float(score), float(control),
                               float(score - control), float(random_init), baseline, chance_score(y, kind),
                               len(y) - n_test, n_test).to_dict()
                      for layer, (score, control, random_init) in zip(layers, by_layer)]
    return [row for s in specs for row in out[s]]


def observation_scores(data: ProbeData, specs: list[Spec], kind: str, folds: int, splits, device) -> list[float]:
    """Per spec: the observation-only baseline, the better of its keyings (a conservative baseline: picking by
    held-out score favours it, not the model). Batched over the targets that share a position's features."""
    best = {s: -np.inf for s in specs}
    for position in sorted({s.position for s in specs}):
        here = [s for s in specs if s.position == position]
        pos = data.positions[position]
        labels = np.stack([data.labels[label_key(s.target, position)] for s in here])
        for key in observation_keyings(pos):
            X = observation_features(data.ids, pos, data.vocab_size, key)
            if X.shape[0] * X.shape[1] <= OBS_DENSE_LIMIT:
                pairs = [(0, m) for m in range(len(here))]
                problems = batched.Problems(torch.as_tensor(X.toarray())[None], labels, pairs)
                scores = batched.cv_scores(problems, kind, splits, standardize=False, device=device)
            else:  # too wide to densify: scikit-learn on the sparse matrix
                scores = [cv_score(X, y, kind, folds, data.seed, data.groups) for y in labels]
            for s, score in zip(here, scores):
                best[s] = max(best[s], float(score))
    return [best[s] for s in specs]


def probe_target(data: ProbeData, target: str, position: str, kind: str, token_bound: bool, folds: int) -> list[dict]:
    """Rows for one (target, position) over all layers of the store."""
    y = data.labels[label_key(target, position)]
    pos = data.positions[position]
    token_ids = data.ids[np.arange(len(pos)), pos] if token_bound else None
    y_control = control_labels(y, seed=data.seed, token_ids=token_ids)
    # the better of the keyings: a conservative baseline (picking by held-out score favours it, not the model)
    obs = max(cv_score(observation_features(data.ids, pos, data.vocab_size, key), y, kind, folds, data.seed,
                       data.groups) for key in observation_keyings(pos))
    n_test = len(y) // folds
    rows = []
    for layer in data.subject.layers:
        X = data.subject.load(layer, position)
        score = cv_score(X, y, kind, folds, data.seed, data.groups)
        control = cv_score(X, y_control, kind, folds, data.seed, data.groups)
        random_init = cv_score(data.random_init.load(layer, position), y, kind, folds, data.seed, data.groups)
        rows.append(ProbeRow(target, hook_name(layer), layer, position, "accuracy" if kind == "class" else "r2",
                             score, control, score - control, random_init, obs, chance_score(y, kind),
                             len(y) - n_test, n_test).to_dict())
    return rows


def average_rows(per_seed: list[list[dict]], key: str = "score") -> list[dict]:
    """Mean of every float field over replicates (rows line up across seeds); mean curves for list fields;
    the per-seed values of `key` kept as `<key>_by_seed`."""
    out = []
    for rows in zip(*per_seed):
        merged = dict(rows[0])
        for field, value in rows[0].items():
            if isinstance(value, float):
                merged[field] = float(np.mean([r[field] for r in rows]))
            elif isinstance(value, list) and value and isinstance(value[0], float):
                merged[field] = np.mean([r[field] for r in rows], axis=0).tolist()
        merged[f"{key}_by_seed"] = [r[key] for r in rows]
        out.append(merged)
    return out
