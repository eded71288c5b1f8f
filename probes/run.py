"""`mesaprobe probe`: behaviour, activations, linear probes and causal probes -> RUN/results.json.

Orchestration only. The subject (models/subjects/subject.py) builds each seed's rows and scores behaviour;
probes/replicate.py extracts the activations of the subject and its random-init twin; probes/linear_suite.py fits the
linear probes beside their controls; probes/causal/ runs the causal methods the subject supports; probes/results.py
assembles results.json (indices and verdict: probes/indices.py)."""
from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import replace
from pathlib import Path

from accelerate.utils import broadcast_object_list

from mesaprobe.errors import UserError
from mesaprobe.fsutil import atomic_write_json, output_dir
from mesaprobe.models.loading import check_device_map, load_model, random_twin
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes import estimate
from mesaprobe.probes.causal import REGISTRY as CAUSAL_METHODS
from mesaprobe.probes.causal import CausalContext, run_causal, runs_any
from mesaprobe.probes.linear_suite import probe_all
from mesaprobe.probes.options import ProbeOptions, with_overrides
from mesaprobe.probes.replicate import replicate
from mesaprobe.probes.results import assemble_results, attention_evidence, log_probe_results
from mesaprobe.probes.rule_transfer import rule_transfer
from mesaprobe.runtime import PhaseTimer, package_versions, process_state, resolve_device
from mesaprobe.schema import CausalRow
from mesaprobe.tasks.base import Task


def trained_task_notes(model: str, trained_on: dict, task: Task) -> list[str]:
    """Where the task probed differs from the one the model's record says it learned: its name, or a parameter
    (an explicit -p): said in the console and kept in results.json's notes, which the report shows."""
    name = trained_on.get("name")
    if name is None:
        return []
    if name != task.name:
        return [f"{model} was trained on {name!r}, probed here on {task.name!r}"]
    params = trained_on.get("params") if isinstance(trained_on.get("params"), dict) else {}
    differs = {k: (v, task.params[k]) for k, v in params.items() if k in task.params and task.params[k] != v}
    if not differs:
        return []
    said = ", ".join(f"{k}={new} (trained with {old})" for k, (old, new) in differs.items())
    return [f"probed with {said}: not the task this model learned, so its behaviour and verdict describe it on "
            "another task"]


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
        task_notes = trained_task_notes(model, loaded.info.get("task") or {}, task)
        for note in task_notes if main else ():
            print(f"note: {note}")
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
        results["notes"] = task_notes + results["notes"]
        results["environment"] = {"python": platform.python_version(), "packages": package_versions(),
                                  "processes": state.num_processes,
                                  "wall_time_s": round(time.perf_counter() - started, 2), "phase_s": timer.seconds}
        atomic_write_json(run_dir / "config.json", {"model": model, "task": task.describe()} | opts.record())
        atomic_write_json(run_dir / "results.json", results)
        log_probe_results(opts.log_with, run_dir, results)
    return results


