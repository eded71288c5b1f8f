"""results.json of a probe run, assembled from each seed's behaviour, probe rows, causal rows and attention records:
rows averaged over seeds, indices and verdict from the per-seed rows (probes/indices.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mesaprobe.models.subjects.subject import Subject
from mesaprobe.probes.attention_ranking import candidate_ranking, merge_attention
from mesaprobe.probes.causal import evidence_methods
from mesaprobe.probes.indices import (TaskView, families, mark_used, ranked_beyond_controls, readout, summarize,
                                     visible_goal_notes)
from mesaprobe.probes.linear_suite import ProbeData, average_rows
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.probes.rule_transfer import merge_transfers
from mesaprobe.schema import SCHEMA
from mesaprobe.tasks.base import Task


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
    out = {k: float(np.mean([b[k] for b in behaviors])) for k in behaviors[0] if k != "n_episodes"}
    return out | {f"{k}_by_seed": [b[k] for b in behaviors] for k in out}


def log_probe_results(log_with: str | None, run_dir: Path, results: dict) -> None:
    """A probe's behaviour and indices (each with its decodable and causal parts) as one logged step."""
    if log_with is None:
        return
    from accelerate import Accelerator

    from mesaprobe.models.training.tracking import accelerator_options

    values = {f"behavior/{k}": v for k, v in results["behavior"].items() if isinstance(v, (int, float))}
    for family, entry in results["indices"].items():
        for part, key in (("index", None), ("decodable", "decodability"), ("used", "causal")):
            value = (entry if key is None else entry.get(key) or {}).get("value")
            if value is not None:
                values[f"{family}/{part}"] = value
    accelerator = Accelerator(cpu=True, **accelerator_options(log_with, run_dir))
    accelerator.init_trackers("mesaprobe-probe", config={"task": results["task"]["name"],
                                                         "model": results["model"]["source"]})
    accelerator.log(values, step=0)
    accelerator.end_training()
