"""Multi-step RL fine-tuning of a pretrained LM on a goal task: TRL's GRPOTrainer with a `rollout_func` that plays
whole text episodes (models/rollouts/text.py). The completion of one prompt is the rest of its episode: the model's
replies (env_mask 1, trained) interleaved with the environment's observations (env_mask 0, context only), and its
reward is the episode's discounted return. GRPO's group baseline compares episodes started from the same layout."""
from __future__ import annotations

import torch

from mesaprobe.models.rollouts.text import play_text_episode
from mesaprobe.tasks.goal_base import GoalTask


def episode_return(completions, episode_return, **_) -> list[float]:
    """The reward function: the environment's discounted return, forwarded by the rollout function."""
    return [float(r) for r in episode_return]


def episode_rollout_func(task: GoalTask, layouts: list[dict], max_new_tokens: int = 8):
    """A `rollout_func` for GRPOTrainer over `layouts` (the dataset's prompts are their text renderings).
    TRL hands it each prompt as many times as it wants completions (num_generations), so it plays one episode per
    prompt it receives."""
    by_prompt = {task.render_text(layout)[0]: layout for layout in layouts}

    def rollout_func(prompts: list[str], trainer) -> dict:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        gen = torch.Generator().manual_seed(trainer.args.seed * 100_003 + trainer.state.global_step)
        out = {k: [] for k in ("prompt_ids", "completion_ids", "logprobs", "env_mask", "episode_return", "success")}
        for prompt in prompts:
            ep, _ = play_text_episode(model, trainer.processing_class, task, by_prompt[prompt], max_new_tokens,
                                      sample=True, temperature=trainer.args.temperature, generator=gen)
            out["prompt_ids"].append(ep.ids[: ep.prompt_len])
            out["completion_ids"].append(ep.ids[ep.prompt_len:])
            out["logprobs"].append(ep.token_logprobs)
            out["env_mask"].append(ep.model_mask)
            out["episode_return"].append(task.episode_return(ep))
            out["success"].append(float(ep.success))
        model.train(was_training)
        return out

    return rollout_func
