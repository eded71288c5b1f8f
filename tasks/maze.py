"""`maze`: a gridworld whose walls form a maze: rooms at even (row, col), joined along a random spanning tree, every
other cell a wall. Every free cell is reachable and the one path between two cells winds around walls, so the next
positions depend on the walls: the test bed for G2 (future states decodable beyond the observation-only baseline,
horizon H)."""
from __future__ import annotations

import random

from mesaprobe.errors import UserError
from mesaprobe.tasks.base import Param
from mesaprobe.tasks.grid import GridTask


def maze_walls(n: int, rng: random.Random) -> list[tuple[int, int]]:
    """The wall cells of an n x n maze (n odd): the rooms at even coordinates joined along a random spanning tree
    (randomised Kruskal: every spanning tree can come out, so mazes are many and varied)."""
    rooms = [(r, c) for r in range(0, n, 2) for c in range(0, n, 2)]
    edges = [(a, b) for a in rooms for b in rooms if b in ((a[0] + 2, a[1]), (a[0], a[1] + 2))]
    rng.shuffle(edges)
    parent = {room: room for room in rooms}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    free = set(rooms)
    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            free.add(((a[0] + b[0]) // 2, (a[1] + b[1]) // 2))  # the passage between the two rooms
    return [(r, c) for r in range(n) for c in range(n) if (r, c) not in free]


class MazeTask(GridTask):
    name = "maze"
    behavior_bar = ("success_rate", 0.90)  # PPO's optimal routes in random mazes are the harder part
    summary = "reach a goal cell in a random maze (every cell reachable, detours needed)"
    # The budget both methods get: PPO needs it (and 1024 episodes an iteration) to reach the bar.
    recipe = GridTask.recipe.but(
        episode_budget=16 * 8192,
        steps=3000,
        bc_batch_size=128,
        ppo_batch={"n_envs": 1024, "minibatch": 256},
    )
    PARAMS = {
        "N": Param(5, 3, 9, "maze side (odd)"),
        "budget": Param(0, 0, 200, "step budget (0: the number of free cells)"),
    }

    def validate(self) -> None:
        n = self.params["N"]
        if n % 2 == 0:
            raise UserError(f"maze: N={n} must be odd (rooms sit at even rows and columns)")
        free = ((n + 1) // 2) ** 2 * 2 - 1  # rooms plus the passages of a spanning tree
        if self.params["budget"] == 0:
            self.params["budget"] = free
        if self.params["budget"] < free - 1:
            raise UserError(f"maze: step budget {self.params['budget']} is below the longest path a {n}x{n} maze "
                            f"can have ({free - 1})")

    def draw_layout(self, rng: random.Random, split: str = "train") -> dict:
        n = self.params["N"]
        walls = maze_walls(n, rng)
        free = [c for c in self.cells() if c not in set(walls)]
        goal = rng.choice(free)
        start = rng.choice([c for c in free if c != goal])
        return {"start": list(start), "goal": list(goal), "walls": [list(w) for w in walls]}
