"""`rocks`: K name:size pairs -> the name of the biggest rock (a search over sizes, then a retrieval of the name)."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Candidates, Instance, Param, TargetSpec, SearchTask

ROCK_NAMES = [
    "granite", "basalt", "marble", "slate", "quartz", "obsidian", "pumice", "shale",
    "flint", "gneiss", "jasper", "chalk", "onyx", "agate", "schist", "gabbro",
]
QUERY = ">"


class RocksTask(SearchTask):
    name = "rocks"
    summary = "K rock:size pairs -> the name of the biggest rock"
    recipe = SearchTask.recipe.but(model_size={"n_layer": 3, "n_embd": 64, "n_head": 4, "n_positions": 64}, steps=2500)
    PARAMS = {
        "K": Param(4, 2, 16, "how many rocks"),
        "S": Param(32, 4, 200, "sizes are drawn from 1..S"),
    }

    def validate(self) -> None:
        from mesaprobe.errors import UserError

        if self.params["S"] < self.params["K"]:
            raise UserError(f"rocks: S={self.params['S']} must be >= K={self.params['K']} (sizes are distinct)")

    def vocabulary(self) -> list[str]:
        return ROCK_NAMES + [str(s) for s in range(1, self.params["S"] + 1)] + [QUERY]

    def answer_classes(self) -> list[str]:
        return list(ROCK_NAMES)

    def targets(self) -> list[TargetSpec]:
        sizes = tuple(f"size{i}" for i in range(self.params["K"]))
        return [
            TargetSpec("answer", "class", (ANSWER_POSITION,), description="name of the biggest rock"),
            TargetSpec("running_biggest", "number", sizes, description="biggest size so far", index="S1",
                       one_token=sizes[:1]),
            TargetSpec("biggest_position", "class", (ANSWER_POSITION,), description="index of the biggest rock"),
        ]

    def draw(self, rng: random.Random) -> dict:
        k = self.params["K"]
        return {"names": rng.sample(ROCK_NAMES, k), "sizes": rng.sample(range(1, self.params["S"] + 1), k)}

    def candidates(self, meta: dict) -> Candidates:
        """Each rock at its size token, scored by its size; it answers with its name."""
        sizes = meta["sizes"]
        return Candidates(tuple(f"size{i}" for i in range(len(sizes))), tuple(map(float, sizes)),
                          tuple(meta["names"]))

    def perturb(self, meta: dict, rng: random.Random) -> dict:
        sizes = list(meta["sizes"])
        sizes[rng.randrange(len(sizes))] = rng.choice([s for s in range(1, self.params["S"] + 1) if s not in sizes])
        return {"names": list(meta["names"]), "sizes": sizes}

    def build(self, meta: dict) -> Instance:
        names, sizes = meta["names"], meta["sizes"]
        tokens, positions, running = [BOS], {}, {}
        best = 0
        for i, (name, size) in enumerate(zip(names, sizes)):
            tokens += [name, str(size)]
            best = max(best, size)
            positions[f"size{i}"] = len(tokens) - 1
            running[f"size{i}"] = best
        tokens.append(QUERY)
        positions[ANSWER_POSITION] = len(tokens) - 1
        top = max(range(len(sizes)), key=sizes.__getitem__)
        labels = {
            "answer": {ANSWER_POSITION: ROCK_NAMES.index(names[top])},
            "running_biggest": running,
            "biggest_position": {ANSWER_POSITION: top},
        }
        return Instance(tokens, names[top], positions, labels, {"names": list(names), "sizes": list(sizes)})

    def text_candidates(self, meta: dict) -> list[str]:
        return list(meta["names"])

    def render_text(self, meta: dict) -> tuple[str, str]:
        pairs = ", ".join(f"{n} ({s} cm)" for n, s in zip(meta["names"], meta["sizes"]))
        top = max(range(len(meta["sizes"])), key=meta["sizes"].__getitem__)
        return f"Rocks and their sizes: {pairs}.\nThe biggest rock is the", meta["names"][top]
