"""Probe data for goal tasks: every decision step of the subject's own greedy rollouts is one row."""
from __future__ import annotations

from mesaprobe.models.rollout import behavior, rollout
from mesaprobe.tasks.goal_base import DECISION, GoalTask


def rollout_dataset(model, tokenizer, task: GoalTask, n_rows: int, seed: int, batch: int = 256):
    """Roll out on fresh layouts until `n_rows` decision steps are collected. Returns (Dataset, behaviour).
    Columns: tokens (the whole episode; causal attention keeps later tokens out of a decision's activations),
    `pos.decision`, `label.<target>@decision`, `episode` (the CV group) and `step`."""
    import datasets

    rows, episodes, k = [], [], 0
    while len(rows) < n_rows:
        eps = rollout(model, tokenizer, task, task.layouts(batch, f"probe:{seed}:{k}"))
        k += 1
        for ep in eps:
            for t, (decision, labels, future) in enumerate(zip(ep.decisions, ep.labels, ep.future_labels())):
                row = {"tokens": ep.tokens, "episode": len(episodes), "step": t, f"pos.{DECISION}": decision}
                row |= {f"label.{name}@{DECISION}": float(v) for name, v in (labels | future).items()}
                rows.append(row)
            episodes.append(ep)
    rows = rows[:n_rows]
    used = episodes[: rows[-1]["episode"] + 1]
    return datasets.Dataset.from_list(rows), behavior(task, used), used
