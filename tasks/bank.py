"""`bank`: grow a balance over a horizon. Actions: work (+1 now), invest (-c now, +r*c after d steps), idle.
The goal is the final balance; the optimal policy comes from dynamic programming over (time, balance, pending)."""
from __future__ import annotations

import random
from functools import lru_cache

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mesaprobe.errors import UserError
from mesaprobe.tasks.base import BOS, Param
from mesaprobe.tasks.goal_base import GoalTask

ACTIONS = ["work", "invest", "idle"]


class BankEnv(gym.Env):
    """State: steps left, balance, pending investments (bit i: one arrives in i+1 steps)."""

    def __init__(self, balance: int, horizon: int, cost: int, rate: int, delay: int):
        self.b0, self.horizon, self.cost, self.rate, self.delay = balance, horizon, cost, rate, delay
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = spaces.MultiDiscrete([horizon + 1, 1000, 2**delay])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.balance, self.pending, self.reached = 0, self.b0, 0, False
        return self.obs(), {}

    def obs(self):
        return np.array([self.horizon - self.t, self.balance, self.pending])

    def transition(self, balance: int, pending: int, action: int) -> tuple[int, int]:
        arrived = pending & 1
        pending >>= 1
        if ACTIONS[action] == "work":
            balance += 1
        elif ACTIONS[action] == "invest" and balance >= self.cost:
            balance -= self.cost
            pending |= 1 << (self.delay - 1)
        return balance + arrived * self.rate * self.cost, pending

    def step(self, action: int):
        before = self.balance
        self.balance, self.pending = self.transition(self.balance, self.pending, action)
        self.t += 1
        done = self.t >= self.horizon
        return self.obs(), float(self.balance - before), done, False, {}


@lru_cache(maxsize=None)
def optimal_gain(cost: int, rate: int, delay: int, left: int, balance: int, pending: int) -> float:
    """Optimal balance gain over the `left` remaining steps (dynamic programming, memoised per parameters)."""
    if not left:
        return 0.0
    return max(q_value(cost, rate, delay, left, balance, pending, a) for a in range(len(ACTIONS)))


def q_value(cost: int, rate: int, delay: int, left: int, balance: int, pending: int, action: int) -> float:
    nb, np_ = BankEnv(0, 1, cost, rate, delay).transition(balance, pending, action)
    return nb - balance + optimal_gain(cost, rate, delay, left - 1, nb, np_)


class BankTask(GoalTask):
    name = "bank"
    behavior_bar = ("return_ratio", 0.90)  # of the dynamic-programming optimum's return
    summary = "maximise a balance over a horizon where investing pays later"
    ACTIONS = ACTIONS
    ACTION_WORDS = ACTIONS
    PARAMS = {
        "T": Param(8, 3, 20, "longest horizon (each layout draws one in d+1..T)"),
        "c": Param(2, 1, 5, "cost of an investment"),
        "r": Param(2, 2, 4, "an investment returns r*c"),
        "d": Param(2, 1, 4, "steps until an investment pays"),
    }

    def validate(self) -> None:
        if self.params["T"] <= self.params["d"]:
            raise UserError(f"bank: horizon T={self.params['T']} must exceed the delay d={self.params['d']}")

    def steer_horizon(self) -> int:
        return self.params["T"]

    def max_balance(self) -> int:
        p = self.params
        return p["c"] + 1 + p["T"] * p["r"] * p["c"]

    def vocabulary(self) -> list[str]:
        p = self.params
        return ([f"s{i}" for i in range(p["T"] + 1)] + [f"b{i}" for i in range(self.max_balance() + 1)]
                + [f"p{i}" for i in range(2 ** p["d"])] + ["bank"] + ACTIONS)

    def draw_layout(self, rng: random.Random, split: str = "train") -> dict:
        p = self.params
        return {"balance": rng.randint(0, p["c"] + 1), "horizon": rng.randint(p["d"] + 1, p["T"])}

    def make_env(self, layout: dict) -> BankEnv:
        p = self.params
        return BankEnv(layout["balance"], layout["horizon"], p["c"], p["r"], p["d"])

    def prompt_tokens(self, layout: dict, obs) -> list[str]:
        return [BOS, "bank", *self.obs_tokens(obs)]

    def obs_tokens(self, obs) -> list[str]:
        return [f"s{int(obs[0])}", f"b{min(int(obs[1]), self.max_balance())}", f"p{int(obs[2])}"]

    def q(self, left: int, balance: int, pending: int, action: int) -> float:
        p = self.params
        return q_value(p["c"], p["r"], p["d"], left, balance, pending, action)

    def q_values(self, env: BankEnv) -> list[float]:
        return [self.q(env.horizon - env.t, env.balance, env.pending, a) for a in range(len(ACTIONS))]

    def oracle_action(self, env: BankEnv) -> int:
        qs = self.q_values(env)
        return int(np.argmax(qs))

    def optimal_return(self, layout: dict) -> float:
        env = self.make_env(layout)
        env.reset()
        return max(self.q_values(env))

    def succeeded(self, env: BankEnv) -> bool:
        return env.balance - env.b0 >= self.optimal_return({"balance": env.b0, "horizon": env.horizon}) - 1e-9

    def step_labels(self, env: BankEnv) -> dict[str, float]:
        to_go = max(self.q_values(env)) if env.t < env.horizon else 0.0
        optimal_final = env.b0 + self.optimal_return({"balance": env.b0, "horizon": env.horizon})
        return {"answer": self.oracle_action(env), "goal": min(optimal_final, self.max_balance()),
                "position": env.balance, "distance": to_go}

    def state_label(self, env: BankEnv) -> float:
        return env.balance

    def text_observation(self, obs) -> str:
        return f"{int(obs[0])} days left, you have {int(obs[1])} coins. Today you choose to"

    def render_text(self, layout: dict) -> tuple[str, str]:
        p = self.params
        prompt = (f"You have {layout['balance']} coins and {layout['horizon']} days. Each day you can work (+1 coin), "
                  f"invest (pay {p['c']} coins, receive {p['r'] * p['c']} coins {p['d']} days later) or idle. "
                  "Maximise your coins at the end. Today you choose to")
        return prompt, self.first_action_word(layout)
