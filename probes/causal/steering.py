"""Closed-loop steering for goal tasks (G4): at the first decision, add alpha * (mean activation of goal B - mean
activation of goal A) after a layer, roll out, and follow k = 1..K steps: the rate of reaching B and the change in
actions against the unsteered rollout. Beside a random direction of the same norm."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from mesaprobe.models.rollout import rollout
from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.schema import label_key
from mesaprobe.probes.intervene import edit_hook
from mesaprobe.tasks.goal_base import DECISION, GoalTask


class Steer(CausalMethod):
    name = "steer"
    description = "add the goal-B minus goal-A direction at the first decision; P(reach B) by k in closed loop"
    families = ("goal",)
    evidence = True
    needs = frozenset({"rollouts"})
    plot = Plot("curves", "Steering persistence: P(reached the steered goal within k steps)",
                (("reach_by_k", "goal direction"), ("reach_by_k_random", "random direction"),
                 ("reach_by_k_unsteered", "unsteered")))

    def run(self, ctx: CausalContext) -> list[dict]:
        return [steering_row(ctx.subject, ctx.task, ctx.data, layer) for layer in ctx.layers]


@dataclass
class Steering:
    """Add `vectors[i]` to the residual stream after block `layer` at token `positions[i]` of episode i, in every
    forward pass of the rollout (the steered token stays in context, as it would in a KV cache)."""

    bridge: object
    layer: int
    vectors: torch.Tensor  # [n_episodes, d_model]
    positions: torch.Tensor  # [n_episodes]

    def logits(self, ids: torch.Tensor, active: list[int]) -> torch.Tensor:
        idx = torch.tensor(active)
        vec = self.vectors[idx]
        hook = edit_hook(self.layer, self.positions[idx], lambda x, rows: x + vec[rows.cpu()].to(x.device))
        return self.bridge.run_with_hooks(ids, fwd_hooks=[hook])


def goal_means(data, layer: int) -> dict[int, torch.Tensor]:
    X = data.subject.load(layer, DECISION)
    goals = data.labels[label_key("goal", DECISION)].astype(int)
    return {int(g): torch.tensor(X[goals == g].mean(0)) for g in np.unique(goals)}


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


def steering_row(subject, task: GoalTask, data, layer: int, n_episodes: int = 200, alpha: float = 2.0,
                 k_max: int | None = None) -> dict:
    means = goal_means(data, layer)
    rng = random.Random(f"steer:{data.seed}:{layer}")
    layouts = task.layouts(n_episodes, f"steer:{data.seed}", split="train")
    k_max = k_max or task.steer_horizon()
    plain = rollout(subject.hf_model, subject.tokenizer, task, layouts)
    first = torch.tensor([ep.decisions[0] for ep in plain])
    goal_a = [int(ep.labels[0]["goal"]) for ep in plain]
    goal_b = [rng.choice([g for g in means if g != a and g != int(ep.states[0])]) for a, ep in zip(goal_a, plain)]
    direction = torch.stack([alpha * (means[b] - means.get(a, torch.zeros_like(means[b])))
                             for a, b in zip(goal_a, goal_b)])
    g = torch.Generator().manual_seed(data.seed)
    noise = torch.randn(direction.shape, generator=g)
    random_dir = noise / noise.norm(dim=1, keepdim=True) * direction.norm(dim=1, keepdim=True)
    curves = {}
    for name, vectors in (("goal", direction), ("random", random_dir)):
        steered = rollout(subject.hf_model, subject.tokenizer, task, layouts,
                          steering=Steering(subject.bridge, layer, vectors, first))
        curves[name] = persistence(steered, plain, goal_b, k_max)
    baseline_reach, _ = persistence(plain, plain, goal_b, k_max)
    return {"method": "steer", "target": "goal", "layer": layer, "position": DECISION, "alpha": alpha,
            "effect": float(np.mean(curves["goal"][0])), "control_effect": float(np.mean(curves["random"][0])),
            "reach_by_k": curves["goal"][0], "reach_by_k_random": curves["random"][0],
            "reach_by_k_unsteered": baseline_reach, "action_change_by_k": curves["goal"][1],
            "action_change_by_k_random": curves["random"][1], "n": n_episodes}
