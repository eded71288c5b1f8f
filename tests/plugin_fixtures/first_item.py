"""A task written outside the package, as a user would: the answer is the first of K numbers."""
import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Instance, Param, SearchTask, TargetSpec, TrainRecipe


class FirstItemTask(SearchTask):
    name = "first-item"
    summary = "K numbers -> the first one"
    PARAMS = {"K": Param(3, 2, 8, "how many numbers")}
    recipe = TrainRecipe(steps=300)

    def vocabulary(self):
        return [str(v) for v in range(10)] + [">"]

    def answer_classes(self):
        return [str(v) for v in range(10)]

    def targets(self):
        items = tuple(f"item{i}" for i in range(self.params["K"]))
        return [TargetSpec("answer", "class", (ANSWER_POSITION,), description="the first number"),
                TargetSpec("first", "number", items, description="the first number, seen so far", index="S1")]

    def draw(self, rng: random.Random):
        return {"values": [rng.randrange(10) for _ in range(self.params["K"])]}

    def perturb(self, meta, rng):
        return {"values": [rng.randrange(10)] + meta["values"][1:]}

    def build(self, meta):
        values = meta["values"]
        tokens = [BOS, *map(str, values), ">"]
        positions = {f"item{i}": 1 + i for i in range(len(values))} | {ANSWER_POSITION: len(tokens) - 1}
        labels = {"answer": {ANSWER_POSITION: values[0]}, "first": {f"item{i}": values[0] for i in range(len(values))}}
        return Instance(tokens, str(values[0]), positions, labels, dict(meta))

    def render_text(self, meta):
        return f"Numbers: {', '.join(map(str, meta['values']))}.\nThe first number is", str(meta["values"][0])
