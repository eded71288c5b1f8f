"""`mesaprobe train`: dispatch a task and a method to its trainer, save the model directory."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.tasks import get_task

METHODS = ("sl", "rl")


def train(task_name: str, method: str, out: str | Path, seed: int = 0, steps: int | None = None,
          params: dict[str, int] | None = None, overwrite: bool = False, progress: bool = True,
          base: str | None = None, lr: float | None = None) -> dict:
    """A tiny model trained from scratch, or with `base` a pretrained model fine-tuned with TRL (SFT / GRPO)."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    task = get_task(task_name, **(params or {}))
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be positive, got {steps}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
    if lr is not None and (base is None or lr <= 0):
        raise UserError("--lr is for fine-tuning a --base model and must be positive")
    if base is not None:
        from mesaprobe.models.finetune import finetune

        model, tokenizer, summary = finetune(task, base, method, seed=seed, steps=steps, lr=lr)
    elif task.family == "search":
        if method == "rl":
            raise UserError(f"{task.name} is a search task: it is trained by supervised learning (--method sl)")
        from mesaprobe.models.train_sl import train_search_sl

        model, tokenizer, summary = train_search_sl(task, seed=seed, steps=steps, progress=progress)
    else:
        from mesaprobe.models.train_goal import train_goal

        model, tokenizer, summary = train_goal(task, method, seed=seed, steps=steps, progress=progress)
    from mesaprobe.models.save import save_model_dir

    save_model_dir(model, tokenizer, summary, out, overwrite=overwrite)
    return summary
