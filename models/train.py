"""Training a model for a task: a tiny model from scratch (supervised, or PPO on a goal task), or a pretrained base
fine-tuned with TRL (SFT / GRPO). `train_into` trains and saves into a directory the caller provides."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.models.subject import by_family
from mesaprobe.tasks.base import Task

METHODS = ("sl", "rl")


SIZE_KEYS = ("n_layer", "n_embd", "n_head")


def check_train_options(task: Task, method: str, steps: int | None, base: str | None, lr: float | None,
                        size: dict | None = None, pool: int | None = None) -> None:
    """Everything about a training request that can be refused before any work."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be positive, got {steps}")
    if lr is not None and (base is None or lr <= 0):
        raise UserError("--lr is for fine-tuning a --base model and must be positive")
    if (size or pool) and base is not None:
        raise UserError("model size and --pool are for tiny models; a --base model keeps its own")
    if pool is not None and pool < 1:
        raise UserError(f"--pool must be at least 1 (distinct training instances), got {pool}")
    unknown = set(size or {}) - set(SIZE_KEYS)
    if unknown:
        raise UserError(f"unknown model size key {sorted(unknown)[0]!r}; use {', '.join(SIZE_KEYS)}")
    shape = task.model_size | (size or {})
    if min(shape["n_layer"], shape["n_embd"], shape["n_head"]) < 1 or shape["n_embd"] % shape["n_head"]:
        raise UserError(f"model size {shape['n_layer']} layers x width {shape['n_embd']} with {shape['n_head']} heads: "
                        "all must be positive and the width a multiple of the heads")
    if base is None and method not in task.tiny_methods:
        raise UserError(f"{task.name} is a {task.family} task: a tiny model learns it with --method "
                        f"{' or '.join(task.tiny_methods)}")


def train_tiny(task: Task, method: str, seed: int, steps: int | None, progress: bool, size: dict | None = None,
               pool: int | None = None):
    """(model, tokenizer, summary) of a tiny model trained from scratch; `size` overrides the task's model size
    (n_layer, n_embd, n_head), `pool` caps the distinct training instances."""
    from mesaprobe.models.tiny import TinySize

    shape = TinySize(**(task.model_size | (size or {})))

    def search(task):
        from mesaprobe.models.train_sl import train_search_sl

        return train_search_sl(task, seed=seed, steps=steps, progress=progress, size=shape, pool_size=pool)

    def goal(task):
        from mesaprobe.models.train_goal import train_goal

        return train_goal(task, method, seed=seed, steps=steps, progress=progress, size=shape, pool=pool)

    return by_family(task, search, goal)(task)


def train_into(task: Task, method: str, directory: str | Path, seed: int = 0, steps: int | None = None,
               progress: bool = True, base: str | None = None, lr: float | None = None, size: dict | None = None,
               pool: int | None = None) -> dict:
    """Train and save the model directory into `directory`; return the training summary. The options are
    checked by the caller first (`check_train_options`), before it takes the output directory. Of several
    launched processes only the main one saves (the others pass `directory` None)."""
    from mesaprobe.models.save import save_model_dir
    from mesaprobe.runtime import process_state

    if base is not None:
        from mesaprobe.models.finetune import finetune

        model, tokenizer, summary = finetune(task, base, method, seed=seed, steps=steps, lr=lr)
    else:
        model, tokenizer, summary = train_tiny(task, method, seed, steps, progress, size, pool)
    if process_state().is_main_process:
        save_model_dir(model, tokenizer, summary, directory)
    return summary
