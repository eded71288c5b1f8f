"""`mesaprobe probe`: behaviour, activations, linear probes (and, by default, causal probes) -> RUN/results.json."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.fsutil import atomic_dir, atomic_write_json
from mesaprobe.models.behavior import answer_logits
from mesaprobe.models.loading import LoadedModel, load_model, random_twin
from mesaprobe.models.rollout import pad_batch
from mesaprobe.models.text_eval import TextScorer
from mesaprobe.models.tokenizer import encode_tokens, token_ids
from mesaprobe.probes.extract import EMBED_LAYER, extract_activations
from mesaprobe.probes.indices import summarize
from mesaprobe.probes.linear_suite import ProbeData, average_rows, probe_target
from mesaprobe.runtime import PhaseTimer, package_versions, progress_disabled
from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Task
from mesaprobe.tasks.goal_base import DECISION

SCHEMA = "mesaprobe.results/1"


def speaks_task_tokens(subject: LoadedModel, task: Task) -> bool:
    """A tiny model trained here speaks synthetic tokens (on another task's vocabulary it fails with a clear
    message); any other model, a pretrained base fine-tuned here included, speaks them only if its vocabulary has
    every one, else it gets natural language."""
    if subject.info.get("task") and not subject.info.get("base"):
        return True
    return set(task.vocabulary()) | {BOS} <= set(subject.tokenizer.get_vocab())


def text_dataset(subject: LoadedModel, task: Task, n: int, seed: int, progress: bool):
    """Natural-language rows for a pretrained LM: token ids, positions aligned to its tokens, labels there."""
    import datasets

    from mesaprobe.models.text_eval import text_examples

    if task.family == "goal":
        from mesaprobe.probes.goal_data import text_rollout_dataset

        return text_rollout_dataset(subject.hf_model, subject.tokenizer, task, n, seed)
    examples = text_examples(task, subject.tokenizer, n, seed)
    rows = []
    for ex in examples:
        labels = task.build(ex.meta).labels
        row = {"ids": ex.ids, "answer": ex.answer} | {f"pos.{k}": v for k, v in ex.positions.items()}
        row |= {f"label.{t}@{p}": float(v) for t, by_pos in labels.items() for p, v in by_pos.items()
                if p in ex.positions}
        rows.append(row)
    return datasets.Dataset.from_list(rows), TextScorer(subject.hf_model, subject.tokenizer, examples)


def task_dataset(subject: LoadedModel, task: Task, n: int, seed: int, progress: bool = False):
    """The probe rows of one seed and the subject's behaviour on them: a dict, or for natural-language search tasks
    a `TextScorer` still to be fed the forward passes (the extraction pass feeds it)."""
    if not speaks_task_tokens(subject, task):
        return text_dataset(subject, task, n, seed, progress)
    if task.family == "goal":
        from mesaprobe.probes.goal_data import rollout_dataset

        ds, behavior, _ = rollout_dataset(subject.hf_model, subject.tokenizer, task, n, seed)
        return ds, behavior
    ds = task.dataset(n, seed=f"probe:{seed}", counterfactuals=True)
    ids = encode_tokens(subject.tokenizer, ds["tokens"])
    logits = answer_logits(subject.hf_model, ids, torch.tensor(ds[f"pos.{ANSWER_POSITION}"]))
    answers = encode_tokens(subject.tokenizer, [[a] for a in ds["answer"]])[:, 0]
    return ds, {"accuracy": float((logits.argmax(-1) == answers).float().mean())}


def replicate(subject: LoadedModel, twin: LoadedModel, task: Task, n: int, seed: int, run_dir: Path,
              progress: bool, max_layer: int | None = None, timer: PhaseTimer | None = None
              ) -> tuple[ProbeData, dict]:
    """Draw one seed's data, save it, extract both models' activations; return the probe data and behaviour."""
    timer = timer or PhaseTimer()
    with timer("data and behaviour"):
        ds, behavior = task_dataset(subject, task, n, seed, progress)
    ds.save_to_disk(str(run_dir / "data" / f"seed{seed}"))
    seqs = ds["ids"] if "ids" in ds.column_names else token_ids(subject.tokenizer, ds["tokens"])
    ids, lengths = pad_batch(seqs, subject.tokenizer.pad_token_id)[0], torch.tensor([len(s) for s in seqs])
    names = sorted({p for t in task.targets() for p in t.positions if f"pos.{p}" in ds.column_names})
    positions = {p: torch.tensor(ds[f"pos.{p}"]) for p in names}
    last = subject.n_layers - 1 if max_layer is None else min(max_layer, subject.n_layers - 1)
    layers = [EMBED_LAYER, *range(last + 1)]  # extraction stops after block `last` (stop_at_layer)
    scorer = behavior if isinstance(behavior, TextScorer) and last == subject.n_layers - 1 else None
    stores = {}
    for tag, model, scores in (("subject", subject, scorer), ("random-init", twin, None)):
        with timer(f"{tag} activations" + (" and behaviour" if scores else "")):
            out = run_dir / "activations" / tag / f"seed{seed}"
            stores[tag] = extract_activations(model.bridge, ids, positions, out, layers, lengths, scorer=scores,
                                              progress=progress)
    if isinstance(behavior, TextScorer):  # scored in the subject's extraction pass, unless that stopped early
        with timer("data and behaviour"):
            behavior = behavior.result() if scorer else behavior.run(progress=progress)
    labels = {c[len("label."):]: np.asarray(ds[c]) for c in ds.column_names if c.startswith("label.")}
    groups = np.asarray(ds["episode"]) if "episode" in ds.column_names else None
    text = "ids" in ds.column_names
    class_ids = None if text else torch.tensor(token_ids(subject.tokenizer, [task.answer_classes()])[0])
    data = ProbeData(ids.numpy(), {k: v.numpy() for k, v in positions.items()}, labels, stores["subject"],
                     stores["random-init"], len(subject.tokenizer), seed, groups,
                     answer_position=DECISION if task.family == "goal" else ANSWER_POSITION, class_ids=class_ids)
    if text:  # natural language: answers span several tokens, no causal probes yet
        data.answer_classes = None
    elif task.family == "goal":
        data.answer_classes = labels[f"answer@{DECISION}"].astype(int)
    else:
        index = {a: i for i, a in enumerate(task.answer_classes())}
        data.answer_classes = np.array([index[a] for a in ds["answer"]])
        data.cf_classes = np.array([index[a] for a in ds["cf_answer"]])
        data.cf_ids = encode_tokens(subject.tokenizer, ds["cf_tokens"]).numpy()
    return data, behavior


def probe_all(data: ProbeData, task: Task, folds: int, progress: bool, jobs: int = -1) -> list[dict]:
    """Every (target, position) the data has labels for, in parallel over the machine's cores; in task order."""
    from joblib import Parallel, delayed

    todo = [(t, p) for t in task.targets() for p in t.positions if f"{t.name}@{p}" in data.labels]
    runner = Parallel(n_jobs=jobs, return_as="generator")
    rows = runner(delayed(probe_target)(data, t.name, p, t.kind, t.token_bound, folds) for t, p in todo)
    rows = tqdm(rows, total=len(todo), desc=f"probes seed {data.seed}", disable=progress_disabled(progress),
                leave=False)
    return [row for group in rows for row in group]


def run_probe(model: str, task: Task, out: str | Path, n: int = 1000, seeds: int = 3, folds: int = 5,
              random_init: bool = False, overwrite: bool = False, progress: bool = True, seed: int = 0,
              causal: bool = True, dtype: str = "float32", trust_remote_code: bool = False,
              max_layer: int | None = None) -> dict:
    """Probe `model` on `task`; write RUN/ (config, data, activations, results.json) atomically; return results."""
    if n < 10 * folds:
        raise UserError(f"--n {n} is too small for {folds}-fold probes; use at least {10 * folds}")
    started, timer = time.perf_counter(), PhaseTimer()
    with timer("load"):
        subject = load_model(model, random_init=random_init, seed=seed + 1, dtype=dtype,
                             trust_remote_code=trust_remote_code)
        twin = random_twin(subject, seed=seed + 1000)
    trained_on = subject.info.get("task", {})
    if trained_on and trained_on.get("name") not in (None, task.name):
        print(f"note: {model} was trained on {trained_on['name']!r}, probed here on {task.name!r}")
    with atomic_dir(out, overwrite=overwrite) as run_dir:
        per_seed, causal_per_seed, behaviors = [], [], []
        for s in range(seed, seed + seeds):
            data, behavior = replicate(subject, twin, task, n, s, run_dir, progress, max_layer, timer)
            behaviors.append(behavior)
            with timer("linear probes"):
                per_seed.append(probe_all(data, task, folds, progress))
            if causal and data.answer_classes is not None:
                from mesaprobe.probes.causal import run_causal

                with timer("causal probes"):
                    causal_per_seed.append(run_causal(subject, task, data, folds, progress))
        probes = average_rows(per_seed)
        causal_rows = average_rows(causal_per_seed, key="effect") if causal_per_seed else []
        indices, verdict = summarize(task, per_seed, causal_per_seed or None)
        results = {
            "schema": SCHEMA,
            "model": {"source": model, "training": subject.training, "n_layers": subject.n_layers,
                      "d_model": subject.d_model},
            "task": task.describe() | {"n_examples": n, "seed": seed, "seeds": seeds, "folds": folds},
            "behavior": mean_behavior(behaviors),
            "probes": probes,
            "causal": causal_rows,
            "indices": indices,
            "verdict": verdict,
            "environment": {"python": platform.python_version(), "packages": package_versions(),
                            "wall_time_s": round(time.perf_counter() - started, 2), "phase_s": timer.seconds},
        }
        atomic_write_json(run_dir / "config.json", {"model": model, "task": task.describe(), "n": n, "seeds": seeds,
                                                   "folds": folds, "random_init": random_init, "seed": seed,
                                                   "causal": causal, "dtype": dtype, "max_layer": max_layer})
        atomic_write_json(run_dir / "results.json", results)
    return results


def mean_behavior(behaviors: list[dict]) -> dict:
    """Mean of each behaviour metric over seeds, with the per-seed values."""
    out = {k: float(np.mean([b[k] for b in behaviors])) for k in behaviors[0] if k != "n_episodes"}
    return out | {f"{k}_by_seed": [b[k] for b in behaviors] for k in out}


def load_results(run: str | Path) -> dict:
    path = Path(run) / "results.json" if Path(run).is_dir() else Path(run)
    if not path.is_file():
        raise UserError(f"{run}: no results.json (run `mesaprobe probe` first)")
    return json.loads(path.read_text())
