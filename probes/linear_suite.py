"""Every (target, layer, position) linear probe of a run, each beside its controls:
the control task (selectivity), the random-init twin, and the observation-only baseline.

`probe_all` probes every (target, position) of a task: `probe_targets` fits them all as batched tensor operations
(probes/batched.py); `probe_target` is the scikit-learn reference, one (target, position) at a time, run over the
cores by `probe_all_sklearn` (benchmarks/probe_speed.py compares the two)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mesaprobe.models.subjects.subject import ProbeInputs

from mesaprobe.probes.controls import chance_score, control_labels, observation_features, observation_keyings
from mesaprobe.probes.extract import ActivationStore
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes import batched
from mesaprobe.probes.linear import cv_score, fold_indices
from mesaprobe.runtime import bar_options, exit_with_parent
from mesaprobe.schema import ProbeRow, label_key
from mesaprobe.tasks.base import Task


@dataclass
class ProbeData:
    """One replicate (seed) of a run: the subject's rows (`inputs`: positions, labels, CV groups, answer classes,
    counterfactuals), their padded token ids, and the two activation stores."""

    ids: np.ndarray  # [n, T]
    inputs: ProbeInputs
    subject: ActivationStore
    random_init: ActivationStore
    vocab_size: int
    seed: int
    answer_position: str = "answer"  # where the model emits its answer (goal tasks: each decision)

    positions = property(lambda self: self.inputs.positions)  # name -> [n]
    labels = property(lambda self: self.inputs.labels)  # "target@position" -> [n]
    groups = property(lambda self: self.inputs.groups)  # CV groups (goal tasks: the episode)
    class_ids = property(lambda self: self.inputs.class_ids)  # token ids of the answer classes
    answer_classes = property(lambda self: self.inputs.answer_classes)  # per row: the right answer's class
    cf_ids = property(lambda self: self.inputs.cf_ids)  # counterfactual inputs, same shape as ids (search tasks)
    cf_classes = property(lambda self: self.inputs.cf_classes)  # per row: the counterfactual's answer class
    cf_predictions = property(lambda self: self.inputs.cf_predictions)  # the task's causal model's interchanges


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


def probe_all(data: ProbeData, task: Task, folds: int, device: str = "cpu", backend: str = "sklearn",
              progress: bool = False) -> list[dict]:
    """Every (target, position) the data has labels for; in task order. `backend` sklearn: the scikit-learn loop
    over the cores (the default: faster on a CPU, benchmarks/probe_speed.json); batched: one batched fit per kind
    (probes/batched.py), closer to the converged optimum and the path for a GPU."""
    if backend == "sklearn":
        return probe_all_sklearn(data, task, folds, progress)
    specs = [Spec(t.name, p, t.kind, t.token_bound) for t in task.targets() for p in t.positions
             if label_key(t.name, p) in data.labels]
    return probe_targets(data, specs, folds, device)


def probe_all_sklearn(data: ProbeData, task: Task, folds: int, progress: bool = False) -> list[dict]:
    """The scikit-learn reference of `probe_all`, one (target, position) a job over the machine's cores. The
    workers (loky's, as joblib uses) exit on their own when this process dies, however it dies."""
    from joblib import Parallel, delayed, parallel_config

    todo = [(t, p) for t in task.targets() for p in t.positions if label_key(t.name, p) in data.labels]
    with parallel_config(backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)):
        jobs = int(os.environ.get("MESAPROBE_JOBS", -1))  # a sweep's worker processes share the cores
        rows = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(probe_target)(data, t.name, p, t.kind, t.token_bound, folds) for t, p in todo)
        rows = tqdm(rows, total=len(todo), desc=f"probes seed {data.seed}", **bar_options(progress))
        return [row for group in rows for row in group]
