"""`goal-sum`: a gridworld whose goal cell is given only as a puzzle: its row is (a + b) mod N and its column
(c + d) mod N, for digit tokens a, b, c, d. A linear read of the tokens cannot solve modular addition, so neither the
observation-only probe nor a random-init twin reads the goal, while any policy that succeeds must compute it and
keep acting on it. The instrument's known positive for goal-across-time (with random-init, its known negative).

`ties`, how the oracle picks among equally short moves: 0 takes the first in U, D, L, R order, so a policy needs the
goal's column only once its row is reached (a model of that oracle left the column implicit at decisions); 1 picks
by goal and position (a fixed pseudo-random rule, harder to learn); 2 (default) moves along the axis with more to go
(vertically on a tie), so every move compares the two remaining distances and the whole goal must be carried.
tests/probes/test_known_positive_goal.py holds the kept model to its known answer."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import BOS, Param
from mesaprobe.tasks.grid import MOVES, GridEnv, GridTask


class GoalSumTask(GridTask):
    name = "goal-sum"
    goal_in_prompt = False  # only the terms of the sums
    summary = "reach a goal cell given as sums mod N (row = a+b, col = c+d): the goal must be computed"
    # Five blocks: the goal is assembled at decisions in the middle blocks and acted on after them, where steering
    # can reach it (with three, the goal reaches the decisions only in the last block, where an edit only biases logits)
    recipe = GridTask.recipe.but(
        model_size={"n_layer": 5, "n_embd": 64, "n_head": 4, "n_positions": 128},
        episode_budget=4 * 8192,
        steps=3000,
        bc_batch_size=128,
    )
    steer_mode = "context"  # the goal is computed in the prompt, and the decisions read it from there
    PARAMS = {
        "N": Param(5, 3, 9, "grid side"),
        "budget": Param(0, 0, 100, "step budget (0: 2*N)"),
        "ties": Param(2, 0, 2, "oracle among equally short moves: 0 first in U,D,L,R order; 1 by goal and position; "
                               "2 along the axis with more to go"),
    }

    def vocabulary(self) -> list[str]:
        return super().vocabulary() + [f"d{i}" for i in range(self.params["N"])] + ["row", "col"]

    def oracle_action(self, env: GridEnv) -> int:
        if not self.params["ties"]:
            return super().oracle_action(env)
        here = env.dist[env.pos]
        shortest = [a for a, (dr, dc) in enumerate(MOVES.values())
                    if env.dist.get((env.pos[0] + dr, env.pos[1] + dc), here) < here]
        (r, c), (gr, gc) = env.pos, env.goal
        if self.params["ties"] == 2:  # the vertical move while the rows differ by at least as much as the columns
            vertical = abs(gr - r) >= abs(gc - c)
            return next(a for a in shortest if (list(MOVES.values())[a][0] != 0) == vertical)
        return shortest[(7 * r + 13 * c + 17 * gr + 19 * gc) % len(shortest)]  # a fixed pseudo-random pick

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
