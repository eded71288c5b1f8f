"""`--until-bar`: stop training once the model's behaviour on validation data (a seed stream that neither training
nor the final held-out evaluation draws from) reaches the task's behaviour bar plus a margin, so a run costs what
its model needs rather than the task's whole default budget. The steps or iterations given are then the most it
trains. The margin keeps the final evaluation, a different sample, from landing just under the bar."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

MARGIN = 0.01
CHECKS = 30  # validation checks over the most steps a run may take


@dataclass
class BarStop:
    measure: Callable[[object], float]  # the model's validation behaviour (the bar's metric), model in eval mode
    bar: float
    every: int  # steps (SL) or iterations (PPO) between checks
    checks: list[list[float]] = field(default_factory=list)
    stopped_at: int | None = None

    @classmethod
    def for_steps(cls, measure: Callable[[object], float], bar: float, steps: int) -> "BarStop":
        return cls(measure, bar, max(1, steps // CHECKS))

    def reached(self, model, done: int) -> bool:
        """After `done` steps: whether to stop (the model is left in training mode)."""
        if done % self.every:
            return False
        model.eval()
        value = self.measure(model)
        model.train()
        self.checks.append([done, round(value, 4)])
        if value >= self.bar + MARGIN:
            self.stopped_at = done
        return self.stopped_at is not None

    def steps_taken(self, planned: int) -> int:
        return self.stopped_at or planned

    def summary(self) -> dict:
        return {"bar": self.bar, "margin": MARGIN, "every": self.every, "stopped_at": self.stopped_at,
                "validation_by_step": self.checks}
