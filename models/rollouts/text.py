"""Goal tasks as text environments for pretrained LMs: the prompt describes the layout, the model replies in words (a
few tokens, greedy or sampled, through a KV cache kept across the whole episode), the first action word it says is
parsed, the environment steps and its observation is appended as text. The model's own reply stays in its context.
A reply with no action word ends the episode and is counted as unparseable.

Each episode also keeps its token ids, which of them the model produced (`model_mask`) and their log-probabilities:
what TRL's GRPOTrainer needs from a multi-step `rollout_func` (models/training/grpo_goal.py), and the exact tokens the
probes read (no re-tokenisation of the transcript)."""
from __future__ import annotations

import re

import torch

from mesaprobe.models.rollouts.tiny import Episode
from mesaprobe.tasks.goal_base import GoalTask


def parse_action(task: GoalTask, reply: str) -> int | None:
    for word in re.findall(r"[a-z]+", reply.lower()):
        if word in task.ACTION_WORDS:
            return task.ACTION_WORDS.index(word)
    return None


def reply_done(task: GoalTask, reply: str) -> bool:
    """An action word followed by anything that is not a letter, or a line break: the reply has said its move."""
    words = "|".join(task.ACTION_WORDS)
    return bool(re.search(rf"\b({words})[^a-z]", reply.lower())) or "\n" in reply


class TextEpisode:
    """One text episode's token stream and KV cache; `reply` decodes the model's next move."""

    def __init__(self, model, tokenizer, text: str):
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.ids = tokenizer(text).input_ids
        self.prompt_len = len(self.ids)
        self.model_mask, self.logprobs = [], []  # over ids[prompt_len:]
        self.cache, self.cached = None, 0  # the cache holds ids[:cached]; a decoded token is fed only once kept
        self.eos = None  # (token, log-probability) when the last reply ended on end-of-sequence

    def forward(self, new: list[int]) -> torch.Tensor:
        out = self.model(torch.tensor([new], device=self.device), past_key_values=self.cache, use_cache=True)
        self.cache, self.cached = out.past_key_values, self.cached + len(new)
        return out.logits[0, -1].float()

    def append(self, ids: list[int], from_model: bool, logprobs: list[float] | None = None) -> None:
        self.ids += ids
        self.model_mask += [int(from_model)] * len(ids)
        self.logprobs += logprobs or [0.0] * len(ids)

    @torch.no_grad()
    def reply(self, task: GoalTask, max_new_tokens: int, sample: bool, temperature: float,
              generator: torch.Generator | None) -> str:
        """Decode the model's reply, keep it in the stream, return its text. An end-of-sequence token is held in
        `eos` (token, log-probability) rather than kept: it is kept only if the episode ends on this reply."""
        logits = self.forward(self.ids[self.cached:])
        tokens, logps = [], []
        self.eos = None
        for _ in range(max_new_tokens):
            logp = torch.log_softmax(logits / (temperature if sample else 1.0), -1).cpu()
            token = int(torch.multinomial(logp.exp(), 1, generator=generator)) if sample else int(logp.argmax())
            if token == self.tokenizer.eos_token_id:
                self.eos = (token, float(logp[token]))
                break
            tokens.append(token)
            logps.append(float(logp[token]))
            if reply_done(task, self.tokenizer.decode(tokens)) or len(tokens) == max_new_tokens:
                break
            logits = self.forward([token])
        self.append(tokens, True, logps)
        return self.tokenizer.decode(tokens)


def play_text_episode(model, tokenizer, task: GoalTask, layout: dict, max_new_tokens: int = 8,
                      sample: bool = False, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> tuple[Episode, bool]:
    """One closed-loop episode. Returns (episode, whether it ended on an unparseable reply). The episode carries
    `text`, `ids`, `decisions` (the token index where each move is decided), and per token after the prompt
    `model_mask` (1 where the model produced it) and `token_logprobs`."""
    env = task.make_env(layout)
    env.reset()
    text, _ = task.render_text(layout)
    stream = TextEpisode(model, tokenizer, text)
    ep = Episode(layout, [], states=[task.state_label(env)])
    done = unparsed = False
    while not done:
        decision = len(stream.ids) - 1
        reply = stream.reply(task, max_new_tokens, sample, temperature, generator)
        text += reply
        action = parse_action(task, reply)
        if action is None:
            if stream.eos:  # the model chose to stop: part of what RL should see of this episode
                stream.append([stream.eos[0]], True, [stream.eos[1]])
            unparsed = True
            break
        ep.labels.append(task.step_labels(env))
        ep.decisions.append(decision)
        ep.actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        ep.rewards.append(float(reward))
        ep.states.append(task.state_label(env))
        done = terminated or truncated
        ep.success = task.succeeded(env) if done else False
        feedback = ("" if reply.rstrip().endswith(".") else ".") + " " + task.text_observation(obs)
        if not done:  # the last observation is never read by the model
            stream.append(tokenizer(feedback, add_special_tokens=False).input_ids, False)
            text += feedback
    ep.text, ep.ids, ep.prompt_len = text, stream.ids, stream.prompt_len
    ep.model_mask, ep.token_logprobs = stream.model_mask, stream.logprobs
    return ep, unparsed


def text_rollout(model, tokenizer, task: GoalTask, layouts: list[dict], max_new_tokens: int = 8, **sampling):
    """Greedy episodes (or sampled ones, with `sample=True`) on `layouts`; returns (episodes, unparseable count)."""
    episodes = [play_text_episode(model, tokenizer, task, layout, max_new_tokens, **sampling) for layout in layouts]
    return [ep for ep, _ in episodes], sum(bad for _, bad in episodes)
