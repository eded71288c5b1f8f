"""`argmax`: K distinct numbers -> the largest. The model must search its input in one forward pass."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Instance, Param, TargetSpec, SearchTask

QUERY = ">"


class ArgmaxTask(SearchTask):
    name = "argmax"
    summary = "K distinct numbers in 0..V-1 -> the largest"
    model_size = {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 64}  # measured here: README "Numbers"
    train_steps = 1500
    PARAMS = {
        "K": Param(5, 2, 20, "how many numbers"),
        "V": Param(64, 4, 500, "numbers are drawn from 0..V-1"),
        "shortcut": Param(0, 0, 100, "percent of instances whose largest number is put last (a shortcut that "
                                     "spares the search)"),
    }

    def validate(self) -> None:
        from mesaprobe.errors import UserError

        if self.params["V"] < self.params["K"]:
            raise UserError(f"argmax: V={self.params['V']} must be >= K={self.params['K']} (the numbers are distinct)")

    def items(self) -> list[str]:
        return [f"item{i}" for i in range(self.params["K"])]

    def vocabulary(self) -> list[str]:
        return [str(v) for v in range(self.params["V"])] + [QUERY]

    def answer_classes(self) -> list[str]:
        return [str(v) for v in range(self.params["V"])]

    def targets(self) -> list[TargetSpec]:
        items = tuple(self.items())
        return [
            TargetSpec("answer", "class", (ANSWER_POSITION,), description="the largest number"),
            TargetSpec("running_max", "number", items, description="largest number so far", index="S1"),
            TargetSpec("running_argmax", "class", items, description="index of the largest number so far", index="S1"),
            TargetSpec("is_new_best", "class", items, description="this number beats all before it"),
            TargetSpec("argmax", "class", (ANSWER_POSITION,), description="index of the largest number"),
            TargetSpec("second_largest", "number", (ANSWER_POSITION,), description="the second largest number"),
        ]

    def draw(self, rng: random.Random) -> dict:
        values = rng.sample(range(self.params["V"]), self.params["K"])
        if self.params["shortcut"] and rng.random() * 100 < self.params["shortcut"]:
            values.append(values.pop(values.index(max(values))))
        return {"values": values}

    def perturb(self, meta: dict, rng: random.Random) -> dict:
        values = list(meta["values"])
        values[rng.randrange(len(values))] = rng.choice([v for v in range(self.params["V"]) if v not in values])
        return {"values": values}

    def build(self, meta: dict) -> Instance:
        values = meta["values"]
        best, best_i = -1, -1
        running = {"running_max": {}, "running_argmax": {}, "is_new_best": {}}
        for i, v in enumerate(values):
            new = v > best
            if new:
                best, best_i = v, i
            running["running_max"][f"item{i}"] = best
            running["running_argmax"][f"item{i}"] = best_i
            running["is_new_best"][f"item{i}"] = int(new)
        labels = running | {
            "answer": {ANSWER_POSITION: best},
            "argmax": {ANSWER_POSITION: best_i},
            "second_largest": {ANSWER_POSITION: sorted(values)[-2]},
        }
        tokens = [BOS, *map(str, values), QUERY]
        positions = {f"item{i}": 1 + i for i in range(len(values))} | {ANSWER_POSITION: len(tokens) - 1}
        return Instance(tokens, str(best), positions, labels, {"values": list(values)})

    def text_candidates(self, meta: dict) -> list[str]:
        return [str(v) for v in meta["values"]]

    def text_positions(self, meta: dict, prompt: str) -> dict[str, int]:
        out, cursor = {}, prompt.index(":")
        for i, v in enumerate(meta["values"]):
            cursor = prompt.index(str(v), cursor + 1)
            out[f"item{i}"] = cursor + len(str(v)) - 1
            cursor += len(str(v)) - 1
        return out | {ANSWER_POSITION: len(prompt) - 1}

    def render_text(self, meta: dict) -> tuple[str, str]:
        values = ", ".join(map(str, meta["values"]))
        return f"Numbers: {values}.\nThe largest number is", str(max(meta["values"]))
