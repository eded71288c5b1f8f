"""Batched closed-loop rollouts: the model's next token is restricted to the task's action tokens, the environment
steps, its observation tokens are appended. Greedy or sampled; optionally with a value head (PPO)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from mesaprobe.models.tokenizer import token_ids
from mesaprobe.tasks.goal_base import HORIZON_K, GoalTask


@dataclass
class Episode:
    layout: dict
    tokens: list[str]
    decisions: list[int] = field(default_factory=list)  # token index of each decision (last observation token)
    actions: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)  # per decision: answer, goal, position, distance
    states: list[float] = field(default_factory=list)  # state code at each decision, then the final state
    success: bool = False
    text: str = ""  # text environments: the whole transcript
    ids: list[int] = field(default_factory=list)  # text environments: the transcript in the model's tokens
    prompt_len: int = 0  # text environments: how many of `ids` are the opening prompt
    model_mask: list[int] = field(default_factory=list)  # text: per token after the prompt, 1 if the model said it
    token_logprobs: list[float] = field(default_factory=list)  # text: their log-probabilities (0 for the env's)

    def tokens_read(self) -> list[str]:
        """The tokens up to the last decision: all a training update reads (what follows it is never attended to)."""
        return self.tokens[: self.decisions[-1] + 1]

    def discounted_return(self, gamma: float) -> float:
        return float(sum(r * gamma**t for t, r in enumerate(self.rewards)))

    def future_labels(self) -> list[dict]:
        """`position+k`: the state k steps later in this rollout (the final state once the episode has ended)."""
        last = len(self.states) - 1
        return [{f"position+{k}": self.states[min(t + k, last)] for k in range(1, HORIZON_K + 1)}
                for t in range(len(self.decisions))]


def action_ids(tokenizer, task: GoalTask) -> torch.Tensor:
    vocab = tokenizer.get_vocab()
    missing = [a for a in task.action_tokens() if a not in vocab]
    if missing:
        from mesaprobe.errors import UserError

        raise UserError(f"the model's vocabulary lacks the task's action tokens {missing}")
    return torch.tensor([vocab[a] for a in task.action_tokens()])


def pad_batch(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask. Causal attention leaves positions before the padding unchanged."""
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def policy_outputs(model, ids, mask, rows, positions, act_ids, value_head=None, position_ids=None):
    """Action logits [m, A] (and values [m]) at the (row, column) pairs of a padded batch, or of a packed one
    (`mask` None, `position_ids` from models/packing.py)."""
    # no cache: with one, transformers would not read restarted positions as packed sequences
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=False,
                output_hidden_states=value_head is not None)
    logits = out.logits[rows, positions][:, act_ids.to(ids.device)]
    values = value_head(out.hidden_states[-1][rows, positions]).squeeze(-1) if value_head is not None else None
    return logits, values


class CachedPolicy:
    """Incremental forward passes with a KV cache: each step feeds only the tokens appended since the last one.
    Prompts are left-padded with explicit position ids, so every row sees the same positions as it would alone;
    chunks of unequal length are right-padded and masked out of all later attention."""

    def __init__(self, model, device, pad_id: int, value_head=None):
        self.model, self.device, self.pad_id, self.value_head = model, device, pad_id, value_head
        self.cache, self.mask, self.next_pos = None, None, None

    def step(self, chunks: list[list[int]], keep: list[int] | None = None):
        """Feed `chunks[i]` to row i (rows restricted to `keep` first); (logits, values) at each chunk's last token."""
        if keep is not None and len(keep) < len(self.next_pos):
            idx = torch.tensor(keep, device=self.device)
            self.cache.batch_select_indices(idx)
            self.mask, self.next_pos = self.mask[idx], self.next_pos[idx]
        width = max(map(len, chunks))
        left = self.cache is None
        ids = torch.full((len(chunks), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(chunks), width), dtype=torch.long)
        for i, c in enumerate(chunks):
            cols = slice(width - len(c), width) if left else slice(0, len(c))
            ids[i, cols], new_mask[i, cols] = torch.tensor(c), 1
        ids, new_mask = ids.to(self.device), new_mask.to(self.device)
        if left:
            positions = (new_mask.cumsum(-1) - 1).clamp(min=0)
            self.mask, last = new_mask, torch.full((len(chunks),), width - 1, device=self.device)
        else:
            positions = self.next_pos[:, None] + torch.arange(width, device=self.device)
            self.mask = torch.cat([self.mask, new_mask], 1)
            last = new_mask.sum(1) - 1
        self.next_pos = positions.gather(1, last[:, None]).squeeze(1) + 1
        out = self.model(input_ids=ids, attention_mask=self.mask, position_ids=positions, past_key_values=self.cache,
                         use_cache=True, output_hidden_states=self.value_head is not None)
        self.cache = out.past_key_values
        rows = torch.arange(len(chunks), device=self.device)
        values = (self.value_head(out.hidden_states[-1][rows, last]).squeeze(-1) if self.value_head is not None
                  else None)
        return out.logits[rows, last], values


@torch.no_grad()
def rollout(model, tokenizer, task: GoalTask, layouts: list[dict], greedy: bool = True, value_head=None,
            generator: torch.Generator | None = None, steering=None, use_cache: bool = True) -> list[Episode]:
    """Batched closed loop. With `use_cache` (the default; not with steering, whose hooks need the whole sequence),
    each step feeds only the new action and observation tokens through the model's KV cache. `steering`, when given,
    computes each step's logits instead of the model: `steering.logits(ids [b, T], active episode indices)`
    (probes/causal/steering.py adds a direction to the residual stream there)."""
    device = next(model.parameters()).device
    act_ids = action_ids(tokenizer, task)
    token_ids(tokenizer, [task.vocabulary()])  # every token an episode can show must be in the vocabulary
    vocab = tokenizer.get_vocab()
    envs = [task.make_env(layout) for layout in layouts]
    episodes = []
    for env, layout in zip(envs, layouts):
        obs, _ = env.reset()
        episodes.append(Episode(layout, task.prompt_tokens(layout, obs), states=[task.state_label(env)]))
    cached = CachedPolicy(model, device, tokenizer.pad_token_id, value_head) if use_cache and steering is None else None
    active, kept, chunks = list(range(len(envs))), None, [[vocab[t] for t in ep.tokens] for ep in episodes]
    while active:
        if cached is not None:
            logits, values = cached.step(chunks, kept)
            logits = logits[:, act_ids.to(device)]
        else:
            seqs = [[vocab[t] for t in episodes[i].tokens] for i in active]
            ids, mask = pad_batch(seqs, tokenizer.pad_token_id)
            last = torch.tensor([len(s) - 1 for s in seqs], device=device)
            rows = torch.arange(len(seqs), device=device)
            if steering is None:
                logits, values = policy_outputs(model, ids.to(device), mask.to(device), rows, last, act_ids,
                                                value_head)
            else:
                logits, values = steering.logits(ids.to(device), active)[rows, last][:, act_ids], None
        logp = torch.log_softmax(logits.float().cpu(), -1)
        choice = logp.argmax(-1) if greedy else torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
        still, kept, chunks = [], [], []
        for j, i in enumerate(active):
            ep, env, a = episodes[i], envs[i], int(choice[j])
            ep.labels.append(task.step_labels(env))
            ep.decisions.append(len(ep.tokens) - 1)
            ep.actions.append(a)
            ep.logprobs.append(float(logp[j, a]))
            if values is not None:
                ep.values.append(float(values[j]))
            obs, reward, terminated, truncated, _ = env.step(a)
            ep.rewards.append(float(reward))
            new = [task.ACTIONS[a], *task.obs_tokens(obs)]
            ep.tokens += new
            ep.states.append(task.state_label(env))
            if terminated or truncated:
                ep.success = task.succeeded(env)
            else:
                still.append(i)
                kept.append(j)
                chunks.append([vocab[t] for t in new])
        active = still
    return episodes


def behavior(task: GoalTask, episodes: list[Episode]) -> dict[str, float]:
    """Success rate, optimal rate (return equal to the oracle's), mean return, and its share of the optimum."""
    returns = np.array([task.episode_return(ep) for ep in episodes])
    optimal = np.array([task.optimal_return(ep.layout) for ep in episodes])
    out = {
        "success_rate": float(np.mean([ep.success for ep in episodes])),
        "optimal_rate": float(np.mean(returns >= optimal - 1e-9)),
        "mean_return": float(returns.mean()),
        "optimal_return": float(optimal.mean()),
        "return_ratio": float(returns.sum() / optimal.sum()) if optimal.sum() else 0.0,
        "n_episodes": len(episodes),
    }
    return out | task.extra_behavior(episodes)
