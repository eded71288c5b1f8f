"""Goal tasks as text environments for pretrained LMs: the prompt describes the layout, the model names its action
in words (greedy, a few tokens), the first action word it says is parsed, the environment steps and its observation
is appended as text. A reply with no action word ends the episode and is counted as unparseable."""
from __future__ import annotations

import re

import torch

from mesaprobe.models.rollout import Episode
from mesaprobe.tasks.goal_base import GoalTask


def parse_action(task: GoalTask, reply: str) -> int | None:
    for word in re.findall(r"[a-z]+", reply.lower()):
        if word in task.ACTION_WORDS:
            return task.ACTION_WORDS.index(word)
    return None


@torch.no_grad()
def text_rollout(model, tokenizer, task: GoalTask, layouts: list[dict], max_new_tokens: int = 4):
    """Episodes with `text` (the whole transcript) and `decision_chars` (the character where each decision is
    made); returns (episodes, number of unparseable replies)."""
    device = next(model.parameters()).device
    episodes, unparsed = [], 0
    for layout in layouts:
        env = task.make_env(layout)
        env.reset()
        text, _ = task.render_text(layout)
        ep = Episode(layout, [], states=[task.state_label(env)])
        ep.text, ep.decision_chars = text, []
        done = False
        while not done:
            ids = tokenizer(text, return_tensors="pt").input_ids.to(device)
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            action = parse_action(task, tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
            if action is None:
                unparsed += 1
                break
            ep.labels.append(task.step_labels(env))
            ep.decision_chars.append(len(text) - 1)
            ep.actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            ep.rewards.append(float(reward))
            ep.states.append(task.state_label(env))
            text += f" {task.ACTION_WORDS[action]}. {task.text_observation(obs)}"
            done = terminated or truncated
            ep.success = task.succeeded(env) if done else False
        ep.text = text
        episodes.append(ep)
    return episodes, unparsed
