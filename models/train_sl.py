"""Supervised training of a tiny model on a search task: cross-entropy on the answer token only."""
from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from mesaprobe.models.behavior import search_accuracy
from mesaprobe.models.tiny import DEFAULT_SIZES, TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer, encode_tokens
from mesaprobe.runtime import progress_disabled, quiet_libraries
from mesaprobe.tasks.base import ANSWER_POSITION, Task

DEFAULT_STEPS = {"argmax": 1500, "rocks": 2500, "kv-recall": 2000, "icl-linear": 4000}
EVAL_EXAMPLES = 2000


def cosine_lr(step: int, total: int, warmup: int = 100) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_search_sl(
    task: Task,
    seed: int = 0,
    steps: int | None = None,
    size: TinySize | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    progress: bool = True,
):
    """Returns (model, tokenizer, summary). Training instances and evaluation instances come from disjoint seeds."""
    from accelerate import Accelerator

    quiet_libraries()
    steps = steps or DEFAULT_STEPS.get(task.name, 2000)
    size = size or DEFAULT_SIZES.get(task.name, TinySize())
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, size, seed)
    pool = task.instances(min(steps * batch_size, 200_000), seed=f"train:{seed}")
    ids = encode_tokens(tokenizer, [inst.tokens for inst in pool])
    answer_pos = torch.tensor([inst.positions[ANSWER_POSITION] for inst in pool])
    answers = encode_tokens(tokenizer, [[inst.answer] for inst in pool])[:, 0]

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"train {task.name} (sl)", disable=progress_disabled(progress), leave=False)
    for _ in bar:
        idx = torch.randint(len(pool), (batch_size,), generator=gen)
        x = ids[idx].to(accelerator.device)
        logits = model(x).logits[torch.arange(batch_size, device=x.device), answer_pos[idx].to(x.device)]
        loss = torch.nn.functional.cross_entropy(logits, answers[idx].to(x.device))
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    wall = time.perf_counter() - start
    model = accelerator.unwrap_model(model).eval()
    accuracy = search_accuracy(model, tokenizer, task.instances(EVAL_EXAMPLES, seed=f"eval:{seed}"))
    summary = {
        "method": "sl",
        "task": task.describe(),
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "size": size.__dict__,
        "wall_time_s": round(wall, 2),
        "behavior": {"accuracy": accuracy, "n_eval": EVAL_EXAMPLES},
    }
    return model, tokenizer, summary
