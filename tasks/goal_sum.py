"""`goal-sum`: a gridworld whose goal cell is given only as a puzzle: its row is (a + b) mod N and its column
(c + d) mod N, for digit tokens a, b, c, d. A linear read of the tokens cannot solve modular addition, so neither the
observation-only probe nor a random-init twin reads the goal, while any policy that succeeds must compute it and
keep acting on it. The instrument's known positive for goal-across-time (with random-init, its known negative).

`ties`: with 0 (default) the oracle takes the first shortest move in U, D, L, R order, so a policy needs the goal's
column only once its row is reached (the 95.8% model computed the row in the prompt, linear 1.0 at its second digit,
and left the column implicit, 0.41 at decisions); with 1 it picks among the shortest moves by goal and position, so
both coordinates matter from the first step. Measured with the default budget (seed 0): ties=1 reached 71.0% held-out
success against 95.8% for ties=0, so 0 stays the default."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import BOS, Param
from mesaprobe.tasks.gridworld import MOVES, GridEnv, GridworldTask


class GoalSumTask(GridworldTask):
    name = "goal-sum"
    summary = "reach a goal cell given as sums mod N (row = a+b, col = c+d): the goal must be computed"
    # measured here (seed 0, 5x5): 8192 episodes, batch 64, 1500 steps: 84.0% held-out success; 8192, batch 128,
    # lr 1e-3, 3000 steps: 89.2%; 32768 episodes, batch 128, lr 3e-3, 3000 steps: 95.8%
    episode_budget = 4 * 8192
    train_steps = 3000
    bc_batch_size = 128
    PARAMS = {
        "N": Param(5, 3, 9, "grid side"),
        "budget": Param(0, 0, 100, "step budget (0: 2*N)"),
        "ties": Param(0, 0, 1, "oracle among equally short moves: 0 first in U,D,L,R order; 1 by goal and position"),
    }

    def validate(self) -> None:
        self.params |= {"walls": 0, "heldout": 0, "proxy": 0}
        super().validate()

    def vocabulary(self) -> list[str]:
        return super().vocabulary() + [f"d{i}" for i in range(self.params["N"])] + ["row", "col"]

    def oracle_action(self, env: GridEnv) -> int:
        if not self.params["ties"]:
            return super().oracle_action(env)
        here = env.dist[env.pos]
        shortest = [a for a, (dr, dc) in enumerate(MOVES.values())
                    if env.dist.get((env.pos[0] + dr, env.pos[1] + dc), here) < here]
        (r, c), (gr, gc) = env.pos, env.goal  # a fixed pseudo-random pick, so the demonstrations are reproducible
        return shortest[(7 * r + 13 * c + 17 * gr + 19 * gc) % len(shortest)]

    def draw_layout(self, rng: random.Random, split: str = "train") -> dict:
        layout, n = super().draw_layout(rng, split), self.params["N"]
        a, c = rng.randrange(n), rng.randrange(n)
        return layout | {"row_terms": [a, (layout["goal"][0] - a) % n], "col_terms": [c, (layout["goal"][1] - c) % n]}

    def prompt_tokens(self, layout: dict, obs) -> list[str]:
        (a, b), (c, d) = layout["row_terms"], layout["col_terms"]
        return [BOS, "row", f"d{a}", f"d{b}", "col", f"d{c}", f"d{d}", "at", *self.obs_tokens(obs)]

    def render_text(self, layout: dict) -> tuple[str, str]:
        n, (a, b), (c, d) = self.params["N"], layout["row_terms"], layout["col_terms"]
        prompt = (f"You are in a {n}x{n} grid (rows and columns 0 to {n - 1}). The goal's row is ({a} + {b}) mod {n} "
                  f"and its column is ({c} + {d}) mod {n}. You are at row {layout['start'][0]} col "
                  f"{layout['start'][1]}. Moves: up, down, left, right. Your move:")
        return prompt, self.first_action_word(layout)
