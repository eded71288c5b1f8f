"""Supervised training of a tiny model on a search task: cross-entropy on the answer token (and on every answer
the task's `supervision` adds, for in-context tasks)."""
from __future__ import annotations

import random
import time

import torch
from mesaprobe.models.training.evaluate import held_out_accuracy, search_accuracy
from mesaprobe.models.training.pool import from_pool
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer, encode_tokens
from mesaprobe.models.training.supervised_loop import supervised_loop
from mesaprobe.runtime import quiet_libraries
from mesaprobe.tasks.base import Task

EVAL_EXAMPLES = 2000


def supervised_arrays(task: Task, tokenizer, pool: list, seed: int):
    """ids [n, T]; answer positions, answer ids and weights [n, m], m the most supervised positions of any
    instance (padding rows repeat the answer position with weight 0)."""
    rng = random.Random(f"supervision:{seed}")
    seqs, supervised = zip(*(task.supervision(inst, rng) for inst in pool))
    width = max(len(s) for s in supervised)
    pos = [list(s) + [next(iter(s))] * (width - len(s)) for s in supervised]
    ans = [[s[p] for p in row] for s, row in zip(supervised, pos)]
    weight = torch.tensor([[1.0] * len(s) + [0.0] * (width - len(s)) for s in supervised])
    return encode_tokens(tokenizer, list(seqs)), torch.tensor(pos), encode_tokens(tokenizer, ans), weight


def train_search_sl(
    task: Task,
    seed: int = 0,
    steps: int | None = None,
    size: TinySize | None = None,
    batch_size: int = 128,
    lr: float | None = None,
    progress: bool = True,
    pool_size: int | None = None,
    until_bar: bool = False,
):
    """Returns (model, tokenizer, summary). Training instances and evaluation instances come from disjoint seeds;
    with `pool_size`, training sees only that many distinct instances; `until_bar`: stop once accuracy on
    validation instances reaches the task's bar (bar_stop.py), `steps` then being the most it trains."""
    quiet_libraries()
    steps = steps or task.recipe.steps
    lr = lr or task.recipe.lr
    size = size or TinySize(**task.recipe.model_size)
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, size, seed)
    pool = from_pool(lambda n, s: task.instances(n, seed=s), min(steps * batch_size, 50_000), f"train:{seed}",
                     pool_size)
    ids, answer_pos, answers, weight = supervised_arrays(task, tokenizer, pool, seed)

    def loss_fn(model, idx, dev):
        logits = model(ids[idx].to(dev)).logits
        at = logits.gather(1, answer_pos[idx].to(dev).unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        loss = torch.nn.functional.cross_entropy(at.flatten(0, 1), answers[idx].to(dev).flatten(), reduction="none")
        w = weight[idx].to(dev).flatten()
        return (loss * w).sum() / w.sum()

    stop = None
    if until_bar:
        from mesaprobe.models.training.bar_stop import BarStop

        stop = BarStop.for_steps(  # fresh validation instances at each check
            lambda m, check: search_accuracy(m, tokenizer, task.instances(EVAL_EXAMPLES, seed=f"val:{seed}:{check}")),
            task.behavior_bar[1], steps)
    start = time.perf_counter()
    model = supervised_loop(model, loss_fn, len(pool), steps, batch_size, lr, seed, f"train {task.name} (sl)",
                            progress, hold=task.recipe.hold, stop=stop)
    wall = time.perf_counter() - start
    accuracy = search_accuracy(model, tokenizer, task.instances(EVAL_EXAMPLES, seed=f"eval:{seed}"))
    held_out = held_out_accuracy(model, tokenizer, task, EVAL_EXAMPLES, seed=f"eval:{seed}")
    summary = {
        "method": "sl",
        "task": task.describe(),
        "seed": seed,
        "steps": stop.steps_taken(steps) if stop else steps,
        "batch_size": batch_size,
        "lr": lr,
        "lr_hold": task.recipe.hold,
        "size": size.__dict__,
        "pool": pool_size,
        "wall_time_s": round(wall, 2),
        "behavior": {"accuracy": accuracy, "n_eval": EVAL_EXAMPLES}
                    | ({"held_out_accuracy": held_out} if held_out is not None else {}),
    } | ({"until_bar": stop.summary()} if stop else {})
    return model, tokenizer, summary
