"""The supervised training loop shared by search tasks and behaviour cloning: AdamW with warm-up, an optional hold at
the peak and cosine decay, run through accelerate (a GPU when there is one; several processes under
`accelerate launch` or `train --processes N`, each taking its share of every batch), with a progress bar."""
from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.runtime import bar_options, follow_free_cores, process_share


def cosine_lr(step: int, total: int, warmup: int = 100, hold: float = 0.0) -> float:
    """The learning rate's multiplier: linear warm-up, then the peak until a `hold` share of `total`, then cosine to
    zero (hold 0: plain warm-up and cosine; hold 0.8: the warm-up, stable, decay schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    start = max(warmup, int(hold * total))
    if step < start:
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * (step - start) / max(1, total - start)))


def supervised_loop(model, loss_fn: Callable[[object, torch.Tensor, torch.device], torch.Tensor], n_examples: int,
                    steps: int, batch_size: int, lr: float, seed: int, desc: str, progress: bool, hold: float = 0.0,
                    stop=None):
    """`loss_fn(model, batch_indices, device)` -> loss; `hold`: see `cosine_lr`; `stop`: a `BarStop` (bar_stop.py)
    that may end the run early. Returns the trained, unwrapped model in eval mode."""
    from accelerate import Accelerator

    from mesaprobe.models.training import tracking

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), **tracking.run_options())
    tracked = tracking.start(accelerator, "mesaprobe-train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, steps, hold=hold))
    model, optimizer = accelerator.prepare(model, optimizer)
    # launched as several processes, each draws its share of every batch and DDP averages the gradients
    rank, processes = accelerator.process_index, accelerator.num_processes
    gen = torch.Generator().manual_seed(seed + 7919 * rank)
    if batch_size < processes:
        raise UserError(f"{processes} processes for a batch of {batch_size}: at most one each")
    batch_size = process_share(batch_size, rank, processes)
    model.train()
    bar = tqdm(range(steps), desc=desc, **bar_options(progress))
    for step in bar:
        loss = loss_fn(model, torch.randint(n_examples, (batch_size,), generator=gen), accelerator.device)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if tracked and step % tracking.LOG_EVERY == 0:
            accelerator.log({"train/loss": loss.item(), "train/lr": scheduler.get_last_lr()[0]}, step=step)
        if stop is not None and stop.reached(accelerator.unwrap_model(model), step + 1):
            break
        follow_free_cores()
    model = accelerator.unwrap_model(model).eval()
    if tracked:
        accelerator.end_training()
    accelerator.free_memory()  # drops the DDP wrapper, which holds the process group (runtime.process_state)
    return model
