"""`mesaprobe probe`: behaviour, activations, linear probes and causal probes -> RUN/results.json.

The subject (models/subjects/subject.py) builds each seed's rows and scores behaviour; this module extracts activations of
the subject and its random-init twin, fits the linear probes beside their controls, runs the causal methods the
subject supports (probes/causal/), and summarises indices and verdict (probes/indices.py)."""
from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.fsutil import atomic_write_json, output_dir
from mesaprobe.models.loading import check_device_map, load_model, random_twin
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.subjects.subject import Subject, make_subject
from mesaprobe.probes import estimate
from mesaprobe.probes.attention_ranking import candidate_ranking, merge_attention
from mesaprobe.probes.causal import REGISTRY as CAUSAL_METHODS
from mesaprobe.probes.causal import CausalContext, evidence_methods, run_causal, runs_any
from mesaprobe.probes.extract import EMBED_LAYER, extract_activations, merge_stores
from mesaprobe.probes.indices import (TaskView, families, mark_used, ranked_beyond_controls, readout, summarize,
                                     visible_goal_notes)
from mesaprobe.probes.linear_suite import ProbeData, Spec, average_rows, probe_target, probe_targets
from mesaprobe.probes.options import ProbeOptions, with_overrides
from mesaprobe.probes.rule_transfer import merge_transfers, rule_transfer
from mesaprobe.runtime import (PhaseTimer, exit_with_parent, package_versions, process_state, progress_disabled,
                               resolve_device)
from mesaprobe.schema import SCHEMA, CausalRow, label_key
from mesaprobe.tasks.base import Task


def replicate(subject: Subject, twin, n: int, seed: int, run_dir: Path, progress: bool, last: int,
              timer: PhaseTimer | None = None, on_first_batch=None, folds: int = 5) -> tuple[ProbeData, dict] | None:
    """Draw one seed's data, save it, extract both models' activations at blocks 0..`last` and the embeddings;
    return the probe data and the subject's behaviour. Launched as several processes (`accelerate launch`), each
    extracts its share of the rows into its own shards and the main process merges them and returns the data;
    the others return None. `on_first_batch(seconds, rows)` hears how long the subject's first batch took."""
    state, timer = process_state(), timer or PhaseTimer()
    together = state.num_processes > 1
    with timer("data and behaviour"):
        inputs = subject.probe_inputs(n, seed, progress)  # every process draws the same rows
    episodes = None if inputs.groups is None else len(set(inputs.groups.tolist()))
    if episodes is not None and episodes < folds:  # folds are grouped by episode (goal tasks)
        raise UserError(f"only {episodes} episode(s) of the model's own rollouts reached a decision to probe "
                        f"({len(inputs.sequences)} rows): {folds}-fold cross-validation grouped by episode needs at "
                        f"least {folds}; the model's behaviour leaves too little to probe (its rollouts end early), "
                        "or pass a larger --n or fewer --folds")
    if state.is_main_process:
        inputs.dataset.save_to_disk(str(run_dir / "data" / f"seed{seed}"))
    ids = pad_batch(inputs.sequences, subject.tokenizer.pad_token_id)[0]
    lengths = torch.tensor([len(s) for s in inputs.sequences])
    positions = {p: torch.tensor(v) for p, v in inputs.positions.items()}
    mine = share_of_rows(len(ids), state.process_index, state.num_processes)
    layers = [EMBED_LAYER, *range(last + 1)]  # extraction stops after block `last` (stop_at_layer)
    # behaviour is scored in the extraction pass when one process sees every row and the pass reaches the end
    scorer = inputs.scorer if last == subject.loaded.n_layers - 1 and not together else None
    stores = {}
    for tag, bridge, scores in (("subject", subject.bridge, scorer), ("random-init", twin.bridge, None)):
        root = run_dir / "activations" / tag / f"seed{seed}"
        with timer(f"{tag} activations" + (" and behaviour" if scores else "")):
            stores[tag] = extract_activations(bridge, ids[mine], {k: v[mine] for k, v in positions.items()},
                                              root / f"process{state.process_index}" if together else root,
                                              layers, lengths[mine], scorer=scores, progress=progress,
                                              on_first_batch=on_first_batch if tag == "subject" else None)
    if together:
        state.wait_for_everyone()  # every share is on disk
        if not state.is_main_process:
            return None
        for tag in stores:
            root = run_dir / "activations" / tag / f"seed{seed}"
            stores[tag] = merge_stores(root, [root / f"process{r}" for r in range(state.num_processes)])
    with timer("data and behaviour"):
        behavior = subject.finish(inputs, scored_in_pass=scorer is not None, progress=progress)
    data = ProbeData(ids.numpy(), inputs.positions, inputs.labels, stores["subject"], stores["random-init"],
                     len(subject.tokenizer), seed, inputs.groups, answer_position=subject.task.answer_position,
                     class_ids=inputs.class_ids, answer_classes=inputs.answer_classes, cf_ids=inputs.cf_ids,
                     cf_classes=inputs.cf_classes, cf_predictions=inputs.cf_predictions)
    return data, behavior


def share_of_rows(n: int, rank: int, processes: int) -> slice:
    """Process `rank`'s consecutive share of `n` rows (the first `n % processes` shares get one more)."""
    size, extra = divmod(n, processes)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (rank < extra))


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
        rows = tqdm(rows, total=len(todo), desc=f"probes seed {data.seed}", disable=progress_disabled(progress),
                    leave=False)
        return [row for group in rows for row in group]


def check_max_layer(max_layer: int | None, n_layers: int) -> int:
    """The deepest block to probe."""
    if max_layer is None:
        return n_layers - 1
    if not 0 <= max_layer < n_layers:
        raise UserError(f"--max-layer {max_layer} is out of range: this model has blocks 0..{n_layers - 1}")
    return max_layer


def check_causal_layers(layers: tuple[int, ...] | None, last: int, default_count: int | None = None) -> list[int]:
    """The blocks causal probes run at: `layers` (each a probed block), else every probed block, or
    `default_count` evenly spaced ones ending at `last` (the subject's default; 2 of 30 blocks: 14 and 29)."""
    if layers is None:
        count = min(default_count or last + 1, last + 1)
        if count == last + 1:
            return list(range(last + 1))
        return sorted({round(last - i * (last + 1) / count) for i in range(count)})
    if not layers or any(not 0 <= layer <= last for layer in layers):
        raise UserError(f"--causal-layers {','.join(map(str, layers))}: give blocks within the probed 0..{last}")
    return sorted(set(layers))


def run_probe(model: str, task: Task, out: str | Path, options: ProbeOptions | None = None,
              **overrides) -> dict | None:
    """Probe `model` on `task` with `options` (ProbeOptions; keyword `overrides` replace its fields); write RUN/
    (config, data, activations, results.json) atomically; return the results. Under `accelerate launch
    --num_processes N` the processes share the extraction and the main process does the rest and returns the
    results; the others return None."""
    opts = with_overrides(options, overrides)
    opts = replace(opts, steer=opts.steer or task.steer_mode)  # goal tasks name theirs
    opts.check()
    optional = sorted(m.name for m in CAUSAL_METHODS.values() if m.opt_in)
    for name in opts.also_methods:
        if name not in optional:
            raise UserError(f"--also-methods {name!r}: the opt-in causal methods are {', '.join(optional)}")
    check_device_map(opts.device_map, opts.device)
    device = resolve_device(opts.device)
    protect = (Path(model),) if Path(model).exists() else ()
    started, timer = time.perf_counter(), PhaseTimer()
    state = process_state()  # one process, or one of those `accelerate launch` started
    main = state.is_main_process
    progress = opts.progress and main
    with output_dir(out, "run", opts.overwrite, protect) if main else contextlib.nullcontext() as run_dir:
        if state.num_processes > 1:
            run_dir = broadcast_object_list([run_dir])[0]  # the main process's temporary run directory
        with timer("load"):
            loaded = load_model(model, random_init=opts.random_init, seed=opts.seed + 1, dtype=opts.dtype,
                                trust_remote_code=opts.trust_remote_code,
                                device="auto" if opts.device_map else device, device_map=opts.device_map)
            last = check_max_layer(opts.max_layer, loaded.n_layers)
            twin = random_twin(loaded, seed=opts.seed + 1000)
        trained_on = loaded.info.get("task", {})
        if main and trained_on and trained_on.get("name") not in (None, task.name):
            print(f"note: {model} was trained on {trained_on['name']!r}, probed here on {task.name!r}")
        subject = make_subject(loaded, task)
        sizes = subject.default_sizes(str(device))
        opts = opts.sized(sizes)
        causal_at = check_causal_layers(opts.causal_layers, last, sizes["causal_blocks"])
        # every seed's activations first: the processes that share the extraction are then free to exit
        seeds = range(opts.seed, opts.seed + opts.seeds)
        extraction_start = time.perf_counter()
        causal_on = runs_any(task, subject, opts.causal, opts.also_methods)
        blocks = len(causal_at) if causal_on else 0

        def early(seconds: float, rows: int) -> None:
            estimate.before_the_work(seconds, rows, opts.n, opts.seeds, blocks, opts.yes, progress,
                                     task.text_causal_forwards_per_block)

        early = early if subject.estimate_early and main else None
        replicas = [replicate(subject, twin, opts.n, seeds[0], run_dir, progress, last, timer, early,
                               opts.folds)]
        extraction_s = time.perf_counter() - extraction_start
        estimate.after_extraction(extraction_s, opts.seeds, progress)
        replicas += [replicate(subject, twin, opts.n, s, run_dir, progress, last, timer, folds=opts.folds)
                     for s in seeds[1:]]
        if not main:
            return None
        per_seed, causal_per_seed, behaviors, skipped, transfers, attention = [], [], [], [], [], []
        for i, (data, behavior) in enumerate(replicas):
            before = dict(timer.seconds)
            behaviors.append(behavior)
            with timer("linear probes"):
                per_seed.append(probe_all(data, task, opts.folds, device, opts.linear_backend, progress))
                transfers.append(rule_transfer(data, task))
            with timer("attention") if "candidates" in subject.capabilities else contextlib.nullcontext():
                attention.append(attention_evidence(subject, twin, data, behavior))
            ctx = CausalContext(subject, task, data, opts.folds, causal_at, progress, opts)
            with timer("causal probes") if causal_on else contextlib.nullcontext():
                rows, skipped = run_causal(ctx, enabled=opts.causal)
            causal_per_seed.append([CausalRow.from_dict(r).to_dict() for r in rows])
            if i == 0:
                spent = {k: timer.seconds[k] - before.get(k, 0.0) for k in ("linear probes", "causal probes")
                         if k in timer.seconds}
                estimate.after_first_seed(spent, opts.seeds, extraction_s * opts.seeds, causal_on, progress)
        results = assemble_results(model, loaded, subject, task, opts, behaviors, per_seed, causal_per_seed,
                                   skipped, transfers, attention)
        results["environment"] = {"python": platform.python_version(), "packages": package_versions(),
                                  "processes": state.num_processes,
                                  "wall_time_s": round(time.perf_counter() - started, 2), "phase_s": timer.seconds}
        atomic_write_json(run_dir / "config.json", {"model": model, "task": task.describe()} | opts.record())
        atomic_write_json(run_dir / "results.json", results)
    return results


def assemble_results(model: str, loaded, subject: Subject, task: Task, opts: ProbeOptions, behaviors: list[dict],
                     per_seed: list[list[dict]], causal_per_seed: list[list[dict]], skipped: list,
                     transfers: list, attention: list | None = None) -> dict:
    """results.json (less its `environment`) from each seed's behaviour, probe rows, causal rows and attention
    records: rows averaged over seeds, indices and verdict from the per-seed rows (probes/indices.py)."""
    ran = any(causal_per_seed)
    merged = merge_attention(attention or [])
    indices, verdict = summarize(task, per_seed, causal_per_seed if ran else None, merged and merged["by_seed"])
    causal = average_rows(causal_per_seed, key="effect") if ran else []
    methods = tuple({m for f in families(TaskView.of(task)) for m in evidence_methods(f)})
    probes = mark_used(average_rows(per_seed), causal, methods)
    transfer = merge_transfers(transfers)
    return {
        "schema": SCHEMA,
        "model": {"source": model, "training": loaded.training, "n_layers": loaded.n_layers,
                  "d_model": loaded.d_model, "subject": subject.kind, **fine_tuning(loaded)},
        "task": task.describe() | {"n_examples": opts.n, "seed": opts.seed, "seeds": opts.seeds, "folds": opts.folds},
        "behavior": mean_behavior(behaviors),
        "probes": probes,
        "causal": causal,
        "causal_skipped": [s.to_dict() for s in skipped],
        "indices": indices,
        "verdict": verdict,
        "readout": readout(causal, methods),
        **({"rule_transfer": transfer} if transfer else {}),
        **({"attention": merged} if merged else {}),
        "notes": visible_goal_notes(task, probes),
    }


def attention_evidence(subject: Subject, twin, data: ProbeData, behavior: dict) -> dict | None:
    """One seed's candidate scoring in attention (probes/attention_ranking.py) where the subject has scored
    candidates, with the model's accuracy on its own data beside its accuracy on the position-free rows."""
    if "candidates" not in subject.capabilities:
        return None
    inputs = subject.candidate_inputs(len(data.ids), data.seed)
    record = candidate_ranking(subject.bridge, twin.bridge, inputs, data.seed)
    return record | {"heads": ranked_beyond_controls(record["heads"]), "accuracy": behavior.get("accuracy")}


def fine_tuning(loaded) -> dict:
    """A model fine-tuned from a pretrained base (`train --base`): its base, method, steps, wall time, held-out
    behaviour and distance from the base, so that reports read them from results.json alone."""
    info = loaded.info or {}
    if loaded.training == "random-init" or "distance_from_base" not in info:
        return {}
    keys = ("base", "method", "steps", "wall_time_s", "lora_rank", "behavior", "distance_from_base")
    return {"fine_tuned": {k: info.get(k) for k in keys}}


def mean_behavior(behaviors: list[dict]) -> dict:
    """Mean of each behaviour metric over seeds, with the per-seed values."""
    import numpy as np

    out = {k: float(np.mean([b[k] for b in behaviors])) for k in behaviors[0] if k != "n_episodes"}
    return out | {f"{k}_by_seed": [b[k] for b in behaviors] for k in out}
