"""Training a model for a task: a tiny model from scratch (supervised, or PPO on a goal task), or a pretrained base
fine-tuned with TRL (SFT / GRPO). `train_into` trains and saves into a directory the caller provides."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.models.subjects.subject import by_family
from mesaprobe.models.training.options import TrainOptions
from mesaprobe.tasks.base import Task


def train_tiny(task: Task, options: TrainOptions, progress: bool, resume: Path | None = None):
    """(model, tokenizer, summary) of a tiny model trained from scratch; the options' size overrides the task's
    model size (n_layer, n_embd, window), `pool` caps the distinct training instances; `resume`: where PPO keeps
    its state as it goes (and continues from)."""
    from mesaprobe.models.tiny import TinySize

    shape = TinySize(**(task.recipe.model_size | (options.size or {})))

    def search(task):
        from mesaprobe.models.training.search import train_search_sl

        return train_search_sl(task, seed=options.seed, steps=options.steps, progress=progress, size=shape,
                               pool_size=options.pool, until_bar=options.until_bar)

    def goal(task):
        from mesaprobe.models.training.goal import train_goal

        return train_goal(task, options.method, seed=options.seed, steps=options.steps, progress=progress,
                          size=shape, pool=options.pool, resume=resume, until_bar=options.until_bar)

    return by_family(task, search, goal)(task)


def train_into(task: Task, options: TrainOptions, directory: str | Path | None, resume: Path | None = None) -> dict:
    """Train and save the model directory into `directory`; return the training summary. The options are
    checked by the caller first (`options.check(task)`), before it takes the output directory. Of several
    launched processes only the main one saves (the others pass `directory` None)."""
    from mesaprobe.models.save import save_model_dir
    from mesaprobe.runtime import process_state

    from mesaprobe.models.training.tracking import tracking

    main = process_state().is_main_process
    config = {"task": task.name, **task.params, "method": options.method, "seed": options.seed}
    with tracking(options.log_with, directory if main else None, config):
        if options.base is not None:
            from mesaprobe.models.training.finetune import finetune

            model, tokenizer, summary = finetune(task, options.base, options.method, seed=options.seed,
                                                 steps=options.steps, lr=options.lr, lora=options.lora)
        else:
            model, tokenizer, summary = train_tiny(task, options, options.progress and main, resume)
    if main:
        save_model_dir(model, tokenizer, summary, directory)
    return summary
