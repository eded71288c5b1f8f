"""Every (target, layer, position) linear probe of a run, each beside its controls:
the control task (selectivity), the random-init twin, and the observation-only baseline."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mesaprobe.probes.controls import chance_score, control_labels, observation_features, observation_keyings
from mesaprobe.probes.extract import ActivationStore
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes.linear import cv_score
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
