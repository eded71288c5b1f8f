"""Closed-loop steering for goal tasks (G4): add alpha * (goal B's effect - goal A's effect on the activations, the
agent's position held fixed: `goal_means`) after a layer, roll out, and follow k = 1..K steps: the rate of reaching B
and the change in actions against the unsteered rollout. Beside a random direction of the same norm.

Modes: `first` steers the first decision only; `persistent` every decision from the first on; `context` as
`persistent` and every prompt token too, each with its own goal-B minus goal-A mean at that token index (where a model
computes its goal in the prompt, e.g. goal-sum's row at its second digit, and the decisions read it from there). At
the embeddings (layer -1) the prompt part rewrites the input's tokens, so it shows no more than changing the input
would. B is drawn by the task
(`GoalTask.steer_target`): on grids, a goal the oracle reaches without passing A, whose cell ends the episode."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from mesaprobe.models.rollouts.tiny import rollout
from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.schema import label_key
from mesaprobe.tasks.goal_base import DECISION, GoalTask


ALPHAS = ProbeOptions.alphas  # multiples of the goal-B minus goal-A direction tried on validation layouts
N_VALIDATION, N_TEST = 100, 200  # layouts to choose alpha on, and held-out layouts to report on


class Steer(CausalMethod):
    name = "steer"
    description = ("add the goal-B minus goal-A direction from the first decision on (or at it only, or also at the "
                   "prompt tokens); alpha chosen on validation layouts; P(reach B) by k on held-out layouts")
    families = ("goal",)
    evidence = True
    needs = frozenset({"rollouts"})
    plot = Plot("curves", "Steering: P(reached the steered goal within k steps), held-out layouts",
                (("reach_by_k", "goal direction"), ("reach_by_k_random", "random direction"),
                 ("reach_by_k_unsteered", "unsteered")))

    def run(self, ctx: CausalContext) -> list[dict]:
        mode = ctx.options.steer or ctx.task.steer_mode
        n_test = ctx.options.steer_episodes
        return [steering_row(ctx.subject, ctx.task, ctx.data, layer, mode, ctx.options.alphas, max(n_test // 2, 1),
                             n_test)
                for layer in ctx.layers]


@dataclass
class Steering:
    """Add `vectors[i]` to the residual stream after block `layer` of episode i at token `start[i]` (the first
    decision) and, when `persistent`, at every later token too: every decision from the first on is steered. With
    `prompt`, add `prompt[i, t]` at each prompt token t < P as well (`vectors` None: there only)."""

    bridge: object
    layer: int
    vectors: torch.Tensor | None  # [n_episodes, d_model]
    start: torch.Tensor  # [n_episodes]
    persistent: bool = True
    prompt: torch.Tensor | None = None  # [n_episodes, P, d_model] added at tokens 0..P-1 (mode `context`)

    def logits(self, ids: torch.Tensor, active: list[int]) -> torch.Tensor:
        idx = torch.tensor(active)
        start = self.start[idx].to(ids.device)

        def add(x, hook):
            if self.prompt is not None:  # prompt tokens lie before the first decision (P <= start)
                n = min(x.shape[1], self.prompt.shape[1])
                x = torch.cat([x[:, :n] + self.prompt[idx, :n].to(x), x[:, n:]], dim=1)
            if self.vectors is not None:
                t = torch.arange(x.shape[1], device=x.device)[None, :]
                mask = t >= start[:, None] if self.persistent else t == start[:, None]
                x = x + mask[..., None].to(x.dtype) * self.vectors[idx][:, None, :].to(x)
            return x

        return self.bridge.run_with_hooks(ids, fwd_hooks=[(hook_name(self.layer), add)])


def goal_means(data, layer: int) -> dict[int, torch.Tensor]:
    """Per goal, its effect on the decision rows' activations with the agent's position held fixed: the goal
    coefficients of a least-squares fit X ~ one-hot(goal) + one-hot(position). Raw class means would carry where
    agents with that goal tend to stand (near it), so goal-B minus goal-A would also tell the policy it stands
    elsewhere. Only differences of these are used, so the fit's baseline does not matter. On goal-sum this direction
    reached the steered goal more often than raw class means (tests/probes/test_steering.py plants the confound)."""
    X = data.subject.load(layer, DECISION).astype(np.float64)
    goals = data.labels[label_key("goal", DECISION)].astype(int)
    positions = data.labels[label_key("position", DECISION)].astype(int)
    goal_values, position_values = np.unique(goals), np.unique(positions)
    design = np.concatenate([goals[:, None] == goal_values, positions[:, None] == position_values[1:]], 1)
    coef = np.linalg.lstsq(design.astype(np.float64), X, rcond=None)[0]
    return {int(g): torch.tensor(coef[i], dtype=torch.float32) for i, g in enumerate(goal_values)}


@torch.no_grad()
def prompt_goal_means(subject, data, layer: int) -> dict[int, torch.Tensor]:
    """Per goal, the mean activation after block `layer` at each prompt token index [P, d_model] over the probe
    episodes (P: the shortest prompt, the tokens before any episode's first decision)."""
    first = np.flatnonzero(np.r_[True, data.groups[1:] != data.groups[:-1]])  # each episode's first decision row
    n_prompt = int(data.positions[DECISION][first].min())
    ids = torch.as_tensor(data.ids[first, :n_prompt]).to(next(subject.hf_model.parameters()).device)
    _, cache = subject.bridge.run_with_cache(ids, names_filter=hook_name(layer))
    acts = cache[hook_name(layer)].float().cpu()
    goals = data.labels[label_key("goal", DECISION)][first].astype(int)
    return {int(g): acts[goals == g].mean(0) for g in np.unique(goals)}


def persistence(episodes, unsteered, targets: list[int], k_max: int) -> tuple[list[float], list[float]]:
    """Per k: share of episodes that reached their target state within k steps; share whose k-th action differs
    from the unsteered rollout's (over episodes still running at k)."""
    reach, change = [], []
    for k in range(1, k_max + 1):
        reach.append(float(np.mean([b in ep.states[1 : k + 1] for ep, b in zip(episodes, targets)])))
        pairs = [(ep.actions[k - 1], u.actions[k - 1]) for ep, u in zip(episodes, unsteered)
                 if len(ep.actions) >= k and len(u.actions) >= k]
        change.append(float(np.mean([a != b for a, b in pairs])) if pairs else 0.0)
    return reach, change


class SteeringSetup:
    """One set of layouts: the unsteered rollouts, each episode's goal A and steered goal B, the goal-B minus goal-A
    direction (means over the probe rows, the training layouts) and a random direction of the same norm."""

    def __init__(self, subject, task: GoalTask, means: dict, layouts: list[dict], seed: str,
                 prompt_means: dict | None = None):
        rng = random.Random(seed)
        plain = rollout(subject.hf_model, subject.tokenizer, task, layouts)
        pairs = [(ep, int(ep.labels[0]["goal"]),
                  task.steer_target(ep.layout, int(ep.labels[0]["goal"]), int(ep.states[0]), sorted(means), rng))
                 for ep in plain]
        pairs = [(ep, a, b) for ep, a, b in pairs if b is not None and b in means]
        self.layouts = [ep.layout for ep, _, _ in pairs]
        self.plain = [ep for ep, _, _ in pairs]
        self.start = torch.tensor([ep.decisions[0] for ep in self.plain])
        self.targets = [b for _, _, b in pairs]
        zero = torch.zeros_like(next(iter(means.values())))
        self.direction = torch.stack([means[b] - means.get(a, zero) for _, a, b in pairs] or [zero])[: len(pairs)]
        noise = torch.randn(self.direction.shape, generator=torch.Generator().manual_seed(rng.randrange(2**31)))
        self.random = noise / noise.norm(dim=1, keepdim=True) * self.direction.norm(dim=1, keepdim=True)
        self.prompt = self.prompt_random = None
        if prompt_means:
            zero = torch.zeros_like(next(iter(prompt_means.values())))
            self.prompt = torch.stack([prompt_means.get(b, zero) - prompt_means.get(a, zero) for _, a, b in pairs]
                                      or [zero])[: len(pairs)]
            noise = torch.randn(self.prompt.shape, generator=torch.Generator().manual_seed(rng.randrange(2**31)))
            self.prompt_random = noise / noise.norm(dim=-1, keepdim=True) * self.prompt.norm(dim=-1, keepdim=True)

    def reach(self, subject, task, layer: int, alpha: float, random: bool, persistent: bool, k_max: int):
        """Reach and action change by k with alpha times the goal direction (or the random one, `random`)."""
        vectors, prompt = (self.random, self.prompt_random) if random else (self.direction, self.prompt)
        steering = Steering(subject.bridge, layer, alpha * vectors, self.start, persistent,
                            None if prompt is None else alpha * prompt)
        steered = rollout(subject.hf_model, subject.tokenizer, task, self.layouts, steering=steering)
        return persistence(steered, self.plain, self.targets, k_max)



def steering_row(subject, task: GoalTask, data, layer: int, mode: str = "persistent", alphas=ALPHAS,
                 n_validation: int = N_VALIDATION, n_test: int = N_TEST) -> dict:
    """Choose alpha on validation layouts (the highest mean reach of the steered goal), then report reach-by-k on
    held-out layouts for the goal direction, a norm-matched random direction, and no steering."""
    means, k_max, persistent = goal_means(data, layer), task.steer_horizon(), mode != "first"
    prompt = prompt_goal_means(subject, data, layer) if mode == "context" else None
    val = SteeringSetup(subject, task, means, task.layouts(n_validation, f"steer-val:{data.seed}"),
                        f"steer-val:{data.seed}:{layer}", prompt)
    test = SteeringSetup(subject, task, means, task.layouts(n_test, f"steer-test:{data.seed}"),
                         f"steer-test:{data.seed}:{layer}", prompt)
    if not val.targets or not test.targets:  # no layout's steered goal was seen in the probe data: nothing to add
        zeros = [0.0] * k_max
        return {"method": "steer", "target": "goal", "layer": layer, "position": DECISION, "effect": 0.0,
                "control_effect": 0.0, "reach_by_k": zeros, "reach_by_k_random": zeros,
                "reach_by_k_unsteered": zeros, "n": 0}
    val_reach = [float(np.mean(val.reach(subject, task, layer, a, False, persistent, k_max)[0])) for a in alphas]
    alpha = alphas[int(np.argmax(val_reach))]
    goal = test.reach(subject, task, layer, alpha, False, persistent, k_max)
    rand = test.reach(subject, task, layer, alpha, True, persistent, k_max)
    unsteered, _ = persistence(test.plain, test.plain, test.targets, k_max)
    return {"method": "steer", "target": "goal", "layer": layer, "position": DECISION,
            "mode": mode, "alpha": alpha,
            "alphas": list(alphas), "validation_reach_by_alpha": val_reach,
            "effect": float(np.mean(goal[0])), "control_effect": float(np.mean(rand[0])),
            "reach_by_k": goal[0], "reach_by_k_random": rand[0], "reach_by_k_unsteered": unsteered,
            "action_change_by_k": goal[1], "action_change_by_k_random": rand[1], "n": len(test.targets)}
