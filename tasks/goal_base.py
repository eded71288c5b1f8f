"""Shared protocol of goal tasks: a gymnasium environment per layout, a token-native rendering, an oracle, and the
labels of each decision step (docs/design.md: goal-directed, across time).

An episode's token sequence is `prompt_tokens(layout)`, then per step: the action token the policy chose, then the
observation tokens the environment returned. The policy decides at the last token of each observation."""
from __future__ import annotations

import random
from typing import Any, ClassVar

import gymnasium as gym

from mesaprobe.tasks.base import Task, TargetSpec

DECISION = "decision"  # the position name of every decision step
HORIZON_K = 3  # position+k targets for k = 1..HORIZON_K


class GoalTask(Task):
    family = "goal"
    recipe = Task.recipe.but(model_size={"n_layer": 3, "n_embd": 64, "n_head": 4, "n_positions": 128}, steps=1500,
                             methods=("sl", "rl"))
    behavior_bar = ("success_rate", 0.95)
    answer_position = DECISION
    ACTIONS: ClassVar[list[str]]
    ACTION_WORDS: ClassVar[list[str]]  # the same actions in natural language (text environments for LMs)
    gamma: ClassVar[float] = 1.0
    # A pretrained LM's causal probes in text here are LEACE at the decisions (probes/estimate.py): two copies of each
    # row per goal target, cut at the decision. Measured on a fine-tuned SmolLM2 (gridworld, 100 rows, 2 blocks,
    # beside another run): about 17 min against 48 estimated with the search tasks' 12.
    text_causal_forwards_per_block: ClassVar[float] = 3.0

    def action_tokens(self) -> list[str]:
        return list(self.ACTIONS)

    # --- what subclasses implement -------------------------------------------------------------
    def draw_layout(self, rng: random.Random, split: str = "train") -> dict[str, Any]:
        raise NotImplementedError

    def make_env(self, layout: dict[str, Any]) -> gym.Env:
        raise NotImplementedError

    def prompt_tokens(self, layout: dict[str, Any], obs) -> list[str]:
        raise NotImplementedError

    def obs_tokens(self, obs) -> list[str]:
        raise NotImplementedError

    def oracle_action(self, env: gym.Env) -> int:
        raise NotImplementedError

    def text_observation(self, obs) -> str:
        """What the text environment says after each action; it ends where the model names its next action."""
        raise NotImplementedError

    def optimal_return(self, layout: dict[str, Any]) -> float:
        raise NotImplementedError

    def prompt_labels(self, layout: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
        """Named positions in the prompt and labels there (target -> position -> label), the same for every decision
        of an episode: what a search over the map computes before the first move. Empty by default."""
        return {}, {}

    def step_labels(self, env: gym.Env) -> dict[str, float]:
        """Labels of the current decision step that need no future: answer, goal, position, distance."""
        raise NotImplementedError

    def state_label(self, env: gym.Env) -> float:
        """The state code that `position+k` targets record k steps later."""
        raise NotImplementedError

    def succeeded(self, env: gym.Env) -> bool:
        return bool(env.reached)

    def episode_return(self, episode) -> float:
        return episode.discounted_return(self.gamma)

    def steer_horizon(self) -> int:
        """How many steps a steered rollout is followed (reach-by-k for k = 1..this): the episode's step budget."""
        raise NotImplementedError

    def steer_target(self, layout: dict[str, Any], goal: int, start: int, goals: list[int],
                     rng: random.Random) -> int | None:
        """The state steering tries to send the agent to instead of its `goal` (codes as in `goal` labels): by
        default another goal among `goals` (those seen in the probe data), not the start."""
        options = [g for g in goals if g not in (goal, start)]
        return rng.choice(options) if options else None

    def extra_behavior(self, episodes) -> dict[str, float]:
        """Task-specific behaviour metrics (e.g. the proxy-goal share)."""
        return {}

    # --- shared -----------------------------------------------------------------------------------
    def targets(self) -> list[TargetSpec]:
        d = (DECISION,)
        future = [TargetSpec(f"position+{k}", "class", d, description=f"state {k} steps later in the rollout",
                             index="G2", horizon=k) for k in range(1, HORIZON_K + 1)]
        return [
            TargetSpec("answer", "class", d, description="the oracle's next action"),
            TargetSpec("goal", "class", d, description="the goal", index="G1"),
            TargetSpec("position", "class", d, description="the current state"),
            *future,
            TargetSpec("distance", "number", d, description="oracle steps (or return) to go"),
        ]

    def answer_classes(self) -> list[str]:
        return self.action_tokens()

    def layouts(self, n: int, seed: int | str, split: str = "train") -> list[dict[str, Any]]:
        rng = random.Random(f"{self.name}:{split}:{seed}")
        return [self.draw_layout(rng, split) for _ in range(n)]

    def first_action_word(self, layout: dict[str, Any]) -> str:
        """The oracle's first move in words: the answer of a layout's natural-language prompt."""
        env = self.make_env(layout)
        env.reset()
        return self.ACTION_WORDS[self.oracle_action(env)]

    def sft_pairs(self, n: int, seed: int) -> list[dict]:
        """At every decision of oracle text transcripts: the transcript so far -> the oracle's action word."""
        pairs = []
        for layout in self.layouts(n, f"finetune:{seed}"):
            env = self.make_env(layout)
            obs, _ = env.reset()
            text, done = self.render_text(layout)[0], False
            while not done:
                action = self.oracle_action(env)
                pairs.append({"prompt": text, "completion": f" {self.ACTION_WORDS[action]}."})
                obs, _, terminated, truncated, _ = env.step(action)
                text += f" {self.ACTION_WORDS[action]}. {self.text_observation(obs)}"
                done = terminated or truncated
        return pairs[: max(n, 1) * 4]

    def oracle_episode(self, layout: dict[str, Any]) -> list[str]:
        """The oracle's full token sequence for a layout (behaviour cloning data)."""
        env = self.make_env(layout)
        obs, _ = env.reset()
        tokens = self.prompt_tokens(layout, obs)
        done = False
        while not done:
            action = self.oracle_action(env)
            obs, _, terminated, truncated, _ = env.step(action)
            tokens += [self.ACTIONS[action], *self.obs_tokens(obs)]
            done = terminated or truncated
        return tokens
