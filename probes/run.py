"""`mesaprobe probe`: behaviour, activations, linear probes and causal probes -> RUN/results.json.

The subject (models/subject.py) builds each seed's rows and scores behaviour; this module extracts activations of
the subject and its random-init twin, fits the linear probes beside their controls, runs the causal methods the
subject supports (probes/causal/), and summarises indices and verdict (probes/indices.py)."""
from __future__ import annotations

import contextlib
import os
import platform
import time
from pathlib import Path

import torch
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.fsutil import atomic_write_json, output_dir
from mesaprobe.models.loading import check_device_map, load_model, random_twin
from mesaprobe.models.rollout import pad_batch
from mesaprobe.models.subject import Subject, make_subject
from mesaprobe.probes.causal import CausalContext, run_causal, runs_any
from mesaprobe.probes.causal.steering import STEER_MODES
from mesaprobe.probes.extract import EMBED_LAYER, extract_activations, merge_stores
from mesaprobe.probes.indices import summarize, visible_goal_notes
from mesaprobe.probes.linear_suite import ProbeData, Spec, average_rows, probe_target, probe_targets
from mesaprobe.probes.rule_transfer import merge_transfers, rule_transfer
from mesaprobe.runtime import (PhaseTimer, exit_with_parent, package_versions, process_state, progress_disabled,
                               resolve_device)
from mesaprobe.schema import SCHEMA, CausalRow, RunConfig, label_key
from mesaprobe.tasks.base import Task


def replicate(subject: Subject, twin, n: int, seed: int, run_dir: Path, progress: bool, last: int,
              timer: PhaseTimer | None = None) -> tuple[ProbeData, dict] | None:
    """Draw one seed's data, save it, extract both models' activations at blocks 0..`last` and the embeddings;
    return the probe data and the subject's behaviour. Launched as several processes (`accelerate launch`), each
    extracts its share of the rows into its own shards and the main process merges them and returns the data;
    the others return None."""
    state, timer = process_state(), timer or PhaseTimer()
    together = state.num_processes > 1
    with timer("data and behaviour"):
        inputs = subject.probe_inputs(n, seed, progress)  # every process draws the same rows
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
                                              layers, lengths[mine], scorer=scores, progress=progress)
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
                     cf_classes=inputs.cf_classes)
    return data, behavior


def share_of_rows(n: int, rank: int, processes: int) -> slice:
    """Process `rank`'s consecutive share of `n` rows (the first `n % processes` shares get one more)."""
    size, extra = divmod(n, processes)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (rank < extra))


LINEAR_BACKENDS = ("sklearn", "batched")


def probe_all(data: ProbeData, task: Task, folds: int, device: str = "cpu", backend: str = "sklearn",
              progress: bool = False) -> list[dict]:
    """Every (target, position) the data has labels for; in task order. `backend` sklearn: the scikit-learn loop
    over the cores (the default: on 2 CPU cores it measured 2.4x faster than the batched fit on the argmax demo
    model and 18x on gridworld, benchmarks/probe_speed.py); batched: one batched fit per kind (probes/batched.py),
    closer to the converged optimum (every row within 0.007 of it on argmax, against 0.045 for the loop) and
    the path for a GPU, not yet measured on one."""
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


def check_options(n: int, seeds: int, folds: int, steer: str = "persistent", alphas=(1.0,),
                  steer_episodes: int = 200, linear_backend: str = "sklearn") -> None:
    if linear_backend not in LINEAR_BACKENDS:
        raise UserError(f"--linear-backend {linear_backend!r}: use one of {', '.join(LINEAR_BACKENDS)}")
    if steer_episodes < 2:
        raise UserError(f"steer_episodes {steer_episodes}: steering needs at least 2 held-out layouts")
    if steer not in STEER_MODES:
        raise UserError(f"--steer {steer!r}: use one of {', '.join(STEER_MODES)}")
    if not alphas or any(not a > 0 for a in alphas):
        raise UserError(f"--alphas {','.join(map(str, alphas))}: every steering strength must be positive")
    if folds < 2:
        raise UserError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: run at least 1 seed")
    if n < 10 * folds:
        raise UserError(f"--n {n} is too small for {folds}-fold probes; use at least {10 * folds}")


def check_max_layer(max_layer: int | None, n_layers: int) -> int:
    """The deepest block to probe."""
    if max_layer is None:
        return n_layers - 1
    if not 0 <= max_layer < n_layers:
        raise UserError(f"--max-layer {max_layer} is out of range: this model has blocks 0..{n_layers - 1}")
    return max_layer


def check_causal_layers(layers: tuple[int, ...] | None, last: int, default_count: int | None = None) -> list[int]:
    """The blocks causal probes run at: `layers` (each a probed block), else every probed block, or
    `default_count` evenly spaced ones ending at `last` (the subject's default)."""
    if layers is None:
        count = min(default_count or last + 1, last + 1)
        return sorted({round(last - i * last / max(count - 1, 1)) for i in range(count)})
    if not layers or any(not 0 <= layer <= last for layer in layers):
        raise UserError(f"--causal-layers {','.join(map(str, layers))}: give blocks within the probed 0..{last}")
    return sorted(set(layers))


def run_probe(model: str, task: Task, out: str | Path, n: int = 1000, seeds: int = 3, folds: int = 5,
              random_init: bool = False, overwrite: bool = False, progress: bool = True, seed: int = 0,
              causal: bool = True, dtype: str = "float32", trust_remote_code: bool = False,
              max_layer: int | None = None, steer: str | None = None,
              alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0), steer_episodes: int = 200,
              device: str = "auto", linear_backend: str = "sklearn",
              causal_layers: tuple[int, ...] | None = None, device_map: str | None = None) -> dict | None:
    """Probe `model` on `task`; write RUN/ (config, data, activations, results.json) atomically; return results.
    `causal_layers`: the blocks causal probes run at (default every probed block; each costs forwards per row).
    `device_map` "auto": a model larger than one GPU is spread over all of them (accelerate's placement).
    Under `accelerate launch --num_processes N` the processes share the extraction and the main process does the
    rest and returns the results; the others return None."""
    alphas = tuple(float(a) for a in alphas)
    steer = steer or getattr(task, "steer_mode", "persistent")  # goal tasks name theirs; others never steer
    config = RunConfig(model, task.describe(), n, seeds, folds, seed, random_init, causal, dtype, max_layer, steer,
                       alphas, steer_episodes, device, linear_backend, causal_layers, device_map)
    check_options(n, seeds, folds, steer, alphas, steer_episodes, linear_backend)
    check_device_map(device_map, device)
    device = resolve_device(device)
    protect = (Path(model),) if Path(model).exists() else ()
    started, timer = time.perf_counter(), PhaseTimer()
    state = process_state()  # one process, or one of those `accelerate launch` started
    main = state.is_main_process
    progress = progress and main
    with output_dir(out, "run", overwrite, protect) if main else contextlib.nullcontext() as run_dir:
        if state.num_processes > 1:
            run_dir = broadcast_object_list([run_dir])[0]  # the main process's temporary run directory
        with timer("load"):
            loaded = load_model(model, random_init=random_init, seed=seed + 1, dtype=dtype,
                                trust_remote_code=trust_remote_code, device="auto" if device_map else device,
                                device_map=device_map)
            last = check_max_layer(max_layer, loaded.n_layers)
            twin = random_twin(loaded, seed=seed + 1000)
        trained_on = loaded.info.get("task", {})
        if main and trained_on and trained_on.get("name") not in (None, task.name):
            print(f"note: {model} was trained on {trained_on['name']!r}, probed here on {task.name!r}")
        subject = make_subject(loaded, task)
        causal_at = check_causal_layers(causal_layers, last, subject.causal_blocks)
        # every seed's activations first: the processes that share the extraction are then free to exit
        replicas = [replicate(subject, twin, n, s, run_dir, progress, last, timer) for s in range(seed, seed + seeds)]
        if not main:
            return None
        per_seed, causal_per_seed, behaviors, skipped, transfers = [], [], [], [], []
        for data, behavior in replicas:
            behaviors.append(behavior)
            with timer("linear probes"):
                per_seed.append(probe_all(data, task, folds, device, linear_backend, progress))
                transfers.append(rule_transfer(data, task))
            ctx = CausalContext(subject, task, data, folds, causal_at,
                                progress, {"steer": steer, "alphas": alphas, "steer_episodes": steer_episodes})
            with timer("causal probes") if runs_any(task, subject, causal) else contextlib.nullcontext():
                rows, skipped = run_causal(ctx, enabled=causal)
            causal_per_seed.append([CausalRow.from_dict(r).to_dict() for r in rows])
        ran = any(causal_per_seed)
        indices, verdict = summarize(task, per_seed, causal_per_seed if ran else None)
        probes = average_rows(per_seed)
        results = {
            "schema": SCHEMA,
            "model": {"source": model, "training": loaded.training, "n_layers": loaded.n_layers,
                      "d_model": loaded.d_model, "subject": subject.kind},
            "task": task.describe() | {"n_examples": n, "seed": seed, "seeds": seeds, "folds": folds},
            "behavior": mean_behavior(behaviors),
            "probes": probes,
            "causal": average_rows(causal_per_seed, key="effect") if ran else [],
            "causal_skipped": [s.to_dict() for s in skipped],
            "indices": indices,
            "verdict": verdict,
            **({"rule_transfer": transfer} if (transfer := merge_transfers(transfers)) else {}),
            "notes": visible_goal_notes(task, probes),
            "environment": {"python": platform.python_version(), "packages": package_versions(),
                            "processes": state.num_processes,
                            "wall_time_s": round(time.perf_counter() - started, 2), "phase_s": timer.seconds},
        }
        atomic_write_json(run_dir / "config.json", config.to_dict())
        atomic_write_json(run_dir / "results.json", results)
    return results


def mean_behavior(behaviors: list[dict]) -> dict:
    """Mean of each behaviour metric over seeds, with the per-seed values."""
    import numpy as np

    out = {k: float(np.mean([b[k] for b in behaviors])) for k in behaviors[0] if k != "n_episodes"}
    return out | {f"{k}_by_seed": [b[k] for b in behaviors] for k in out}
