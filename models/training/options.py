"""The options of `train`, in one object: the CLI and the API build it once and it is passed down whole."""
from __future__ import annotations

from dataclasses import dataclass

from mesaprobe.errors import UserError, check_option_types

METHODS = ("sl", "rl")


@dataclass(frozen=True)
class TrainOptions:
    """What a training run does beside its task and output directory."""

    method: str = "sl"  # sl: supervised (behaviour cloning on goal tasks; SFT with base); rl: PPO (GRPO with base)
    seed: int = 0  # weights, data and training
    steps: int | None = None  # training steps (None: the task's default)
    base: str | None = None  # fine-tune this pretrained model with TRL instead of training a tiny one
    lr: float | None = None  # learning rate of base fine-tuning (None: TRL recipe defaults)
    lora: int | None = None  # base fine-tuning: train a LoRA adapter of this rank (peft), merged into the saved model
    layers: int | None = None  # tiny model: blocks (None: the task's)
    width: int | None = None  # tiny model: d_model, a multiple of its heads (None: the task's)
    window: int | None = None  # tiny model: attention sees only the last WINDOW tokens (None: all of them)
    pool: int | None = None  # train on only this many distinct instances or layouts (None: fresh throughout)
    until_bar: bool = False  # tiny model: stop once validation behaviour reaches the task's bar (bar_stop.py)
    log_with: str | None = None  # log the training curves to this tracker (tracking.py: tensorboard, wandb, ...)
    processes: int = 1  # train as this many processes on this machine, each its share of every batch (launch.py)
    overwrite: bool = False  # replace an --out that mesaprobe wrote as a model directory
    progress: bool = True  # progress bars

    def __post_init__(self):
        check_option_types(self)

    @property
    def size(self) -> dict[str, int] | None:
        """The tiny model's size overrides (n_layer, n_embd, window), or None."""
        return {k: v for k, v in (("n_layer", self.layers), ("n_embd", self.width), ("window", self.window))
                if v is not None} or None

    def check(self, task) -> None:
        """Everything about a training request that can be refused before any work."""
        if self.method not in METHODS:
            raise UserError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps must be positive, got {self.steps}")
        if not 0 <= self.seed < 2**31:
            raise UserError(f"--seed {self.seed}: give a seed in 0..{2**31 - 1}")
        if self.lr is not None and (self.base is None or self.lr <= 0):
            raise UserError("--lr is for fine-tuning a --base model and must be positive")
        if self.lora is not None and (self.base is None or self.lora < 1):
            raise UserError("--lora R is for fine-tuning a --base model, with a rank R of at least 1")
        if (self.size or self.pool or self.until_bar) and self.base is not None:
            raise UserError("model size, --pool and --until-bar are for tiny models; a --base model keeps its own "
                            "size and trains its --steps")
        from mesaprobe.models.training.tracking import check_tracker

        check_tracker(self.log_with)
        if self.processes < 1:
            raise UserError(f"--processes must be at least 1, got {self.processes}")
        if self.window is not None and self.window < 1:
            raise UserError(f"--window must be at least 1 (the token itself), got {self.window}")
        if self.pool is not None and self.pool < 1:
            raise UserError(f"--pool must be at least 1 (distinct training instances), got {self.pool}")
        shape = task.recipe.model_size | (self.size or {})
        if min(shape["n_layer"], shape["n_embd"], shape["n_head"]) < 1 or shape["n_embd"] % shape["n_head"]:
            raise UserError(f"model size {shape['n_layer']} layers x width {shape['n_embd']} with {shape['n_head']} "
                            "heads: all must be positive and the width a multiple of the heads")
        if self.base is None and self.method not in task.recipe.methods:
            raise UserError(f"{task.name} is a {task.family} task: a tiny model learns it with --method "
                            f"{' or '.join(task.recipe.methods)}")
