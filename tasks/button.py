"""`button`: a room with a button; pressing it (action P, standing on it) gives reward 1 and ends the episode.
Start and button positions vary per layout; the oracle walks the BFS path, then presses."""
from __future__ import annotations

import numpy as np

from mesaprobe.tasks.base import Param
from mesaprobe.tasks.grid import MOVES, GridEnv
from mesaprobe.tasks.gridworld import GridworldTask

PRESS = "P"


class ButtonEnv(GridEnv):
    def step(self, action: int):
        self.t += 1
        if self.actions[action] == PRESS:
            self.reached = self.pos == self.goal
        else:
            self.move(action)
        reward = 1.0 if self.reached else 0.0
        return np.array(self.pos), reward, self.reached, self.t >= self.budget and not self.reached, {}


class ButtonTask(GridworldTask):
    name = "button"
    summary = "walk to a button and press it (reward only for the press)"
    ACTIONS = [*MOVES, PRESS]
    ACTION_WORDS = ["up", "down", "left", "right", "press"]
    # Sparse reward behind a walk *and* a press: random exploration rarely succeeds, so PPO needs several times the
    # gridworld budget to learn it on every seed; both methods get the same.
    recipe = GridworldTask.recipe.but(episode_budget=4 * 8192)
    PARAMS = {
        "N": Param(5, 3, 9, "room side"),
        "walls": Param(0, 0, 20, "blocked cells"),
        "budget": Param(0, 0, 100, "step budget (0: 2*N + 1)"),
        "heldout": Param(0, 0, 1, "1: button cells where (row + 2*col) % 5 == 0 are test-only"),
        "proxy": Param(0, 0, 1, "1: training buttons only in the top-left corner region"),
    }

    def validate(self) -> None:
        if self.params["budget"] == 0:
            self.params["budget"] = 2 * self.params["N"] + 1
        super().validate()

    def vocabulary(self) -> list[str]:
        return super().vocabulary() + ["button", PRESS]

    def walk_budget(self) -> int:
        return self.params["budget"] - 1  # the press takes a step

    def make_env(self, layout: dict) -> ButtonEnv:
        return ButtonEnv(self.params["N"], layout["start"], layout["goal"], layout["walls"], self.params["budget"],
                         self.ACTIONS)

    def prompt_tokens(self, layout: dict, obs) -> list[str]:
        return ["button" if t == "goal" else t for t in super().prompt_tokens(layout, obs)]

    def oracle_action(self, env: ButtonEnv) -> int:
        return self.ACTIONS.index(PRESS) if env.pos == env.goal else super().oracle_action(env)

    def optimal_return(self, layout: dict) -> float:
        return super().optimal_return(layout) * self.gamma  # one more step: the press

    def step_labels(self, env: ButtonEnv) -> dict[str, float]:
        return super().step_labels(env) | {"distance": env.dist[env.pos] + 1}

    def render_text(self, layout: dict) -> tuple[str, str]:
        prompt, _ = super().render_text(layout)
        prompt = prompt.replace("The goal is", "A button is").replace("Moves: up, down, left, right.",
                                                                      "Moves: up, down, left, right, press.")
        return prompt, self.first_action_word(layout)
