"""Supervised training of a tiny model on a search task: cross-entropy on the answer token only."""
from __future__ import annotations

import time

import torch
from mesaprobe.models.behavior import search_accuracy
from mesaprobe.models.pool import from_pool
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer, encode_tokens
from mesaprobe.models.optim import supervised_loop
from mesaprobe.runtime import quiet_libraries
from mesaprobe.tasks.base import ANSWER_POSITION, Task

EVAL_EXAMPLES = 2000


def train_search_sl(
    task: Task,
    seed: int = 0,
    steps: int | None = None,
    size: TinySize | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    progress: bool = True,
    pool_size: int | None = None,
):
    """Returns (model, tokenizer, summary). Training instances and evaluation instances come from disjoint seeds;
    with `pool_size`, training sees only that many distinct instances."""
    quiet_libraries()
    steps = steps or task.train_steps
    size = size or TinySize(**task.model_size)
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, size, seed)
    pool = from_pool(lambda n, s: task.instances(n, seed=s), min(steps * batch_size, 50_000), f"train:{seed}",
                     pool_size)
    ids = encode_tokens(tokenizer, [inst.tokens for inst in pool])
    answer_pos = torch.tensor([inst.positions[ANSWER_POSITION] for inst in pool])
    answers = encode_tokens(tokenizer, [[inst.answer] for inst in pool])[:, 0]

    def loss_fn(model, idx, dev):
        logits = model(ids[idx].to(dev)).logits[torch.arange(len(idx), device=dev), answer_pos[idx].to(dev)]
        return torch.nn.functional.cross_entropy(logits, answers[idx].to(dev))

    start = time.perf_counter()
    model = supervised_loop(model, loss_fn, len(pool), steps, batch_size, lr, seed, f"train {task.name} (sl)",
                            progress)
    wall = time.perf_counter() - start
    accuracy = search_accuracy(model, tokenizer, task.instances(EVAL_EXAMPLES, seed=f"eval:{seed}"))
    summary = {
        "method": "sl",
        "task": task.describe(),
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "size": size.__dict__,
        "pool": pool_size,
        "wall_time_s": round(wall, 2),
        "behavior": {"accuracy": accuracy, "n_eval": EVAL_EXAMPLES},
    }
    return model, tokenizer, summary
