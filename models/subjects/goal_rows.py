"""Probe data for goal tasks: every decision step of the subject's own greedy rollouts is one row."""
from __future__ import annotations

from mesaprobe.errors import UserError
from mesaprobe.models.rollouts.tiny import behavior, rollout
from mesaprobe.schema import label_column, position_column
from mesaprobe.tasks.goal_base import DECISION, GoalTask


def decision_rows(ep, episode: int, sequence: dict, prompt: tuple[dict, dict] = ({}, {})) -> list[dict]:
    """One row per decision of `ep`: `sequence` (its tokens or ids), the decision position, every label there, and
    the task's prompt positions and labels (`GoalTask.prompt_labels`, the same in every row of the episode), and the
    `action` the model took there."""
    positions, by_target = prompt
    shared = {position_column(p): i for p, i in positions.items()}
    shared |= {label_column(t, p): float(v) for t, by_pos in by_target.items() for p, v in by_pos.items()}
    rows = []
    for t, (decision, labels, future) in enumerate(zip(ep.decisions, ep.labels, ep.future_labels())):
        row = sequence | shared | {"episode": episode, "step": t, "action": ep.actions[t],
                                   position_column(DECISION): decision}
        rows.append(row | {label_column(name, DECISION): float(v) for name, v in (labels | future).items()})
    return rows


def rollout_dataset(model, tokenizer, task: GoalTask, n_rows: int, seed: int, batch: int = 256):
    """Roll out on fresh layouts until `n_rows` decision steps are collected. Returns (Dataset, behaviour).
    Columns: tokens (the whole episode; causal attention keeps later tokens out of a decision's activations),
    `pos.decision`, `label.<target>@decision`, `episode` (the CV group), `step` and `action`."""
    import datasets

    rows, episodes, k = [], [], 0
    while len(rows) < n_rows:
        eps = rollout(model, tokenizer, task, task.layouts(batch, f"probe:{seed}:{k}"))
        k += 1
        for ep in eps:
            rows += decision_rows(ep, len(episodes), {"tokens": ep.tokens}, task.prompt_labels(ep.layout))
            episodes.append(ep)
    rows = rows[:n_rows]
    used = episodes[: rows[-1]["episode"] + 1]
    return datasets.Dataset.from_list(rows), behavior(task, used), used


def text_rollout_dataset(model, tokenizer, task: GoalTask, n_rows: int, seed: int, batch: int = 16):
    """The same rows from a pretrained LM acting in the text environment: `ids` (the transcript, exactly the tokens
    the model read) and the decision positions in them; behaviour adds the share of unparseable replies."""
    import datasets

    from mesaprobe.models.rollouts.text import text_rollout

    rows, episodes, unparsed, k = [], [], 0, 0
    while len(rows) < n_rows and k < 50:
        eps, bad = text_rollout(model, tokenizer, task, task.layouts(batch, f"probe:{seed}:{k}"))
        k, unparsed = k + 1, unparsed + bad
        if not any(ep.decisions for ep in eps):
            break  # not one parseable action in a whole batch: more of the same would not help
        for ep in eps:
            rows += decision_rows(ep, len(episodes), {"ids": ep.ids})
            episodes.append(ep)
    if not rows:
        raise UserError(f"the model named no valid {task.name} action in {unparsed} replies: nothing to probe")
    rows = rows[:n_rows]
    used = episodes[: rows[-1]["episode"] + 1]
    return datasets.Dataset.from_list(rows), behavior(task, used) | {"unparseable": unparsed,
                                                                      "unparseable_rate": unparsed / len(episodes)}
