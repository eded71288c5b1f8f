"""Fine-tuning a pretrained base on a task's natural-language rendering with TRL:
- sl: SFTTrainer on prompt/completion pairs (search tasks: the answer; goal tasks: the oracle's action word at
  every decision of an oracle transcript), loss on the completion only;
- rl: GRPOTrainer with the task's own reward: search tasks, 1 for the right answer; goal tasks, whole text episodes
  played by a `rollout_func` (env_mask keeps the environment's words out of the loss), rewarded with their
  discounted return (models/grpo_episodes.py).
On CPU, bf16 is off and use_cpu on. Warm-starting RL from an SL model with a low learning rate (1e-4) is the
recipe that worked on gridworld; a high one (1e-3) collapsed."""
from __future__ import annotations

import re
import tempfile
import time

import torch

from mesaprobe.models.loading import load_model
from mesaprobe.tasks.base import Task


def sft_pairs(task: Task, n: int, seed: int) -> list[dict]:
    if task.family == "search":
        return [dict(zip(("prompt", "completion"), (p, " " + a)))
                for p, a in (task.render_text(i.meta) for i in task.instances(n, seed=f"finetune:{seed}"))]
    pairs = []
    for layout in task.layouts(n, f"finetune:{seed}"):
        env = task.make_env(layout)
        obs, _ = env.reset()
        text, done = task.render_text(layout)[0], False
        while not done:
            action = task.oracle_action(env)
            pairs.append({"prompt": text, "completion": f" {task.ACTION_WORDS[action]}."})
            obs, _, terminated, truncated, _ = env.step(action)
            text += f" {task.ACTION_WORDS[action]}. {task.text_observation(obs)}"
            done = terminated or truncated
    return pairs[: max(n, 1) * 4]


def answer_reward(completions, answer, **_) -> list[float]:
    """1.0 when the first word or number of the completion is the answer."""
    out = []
    for completion, target in zip(completions, answer):
        text = completion if isinstance(completion, str) else completion[-1]["content"]
        words = re.findall(r"[A-Za-z]+|\d+", text)
        out.append(1.0 if words and words[0] == target else 0.0)
    return out


def common_args(out_dir: str, steps: int, lr: float, seed: int, batch: int) -> dict:
    cpu = not torch.cuda.is_available()
    return dict(output_dir=out_dir, max_steps=steps, learning_rate=lr, seed=seed, per_device_train_batch_size=batch,
                use_cpu=cpu, bf16=False, report_to=[], save_strategy="no", logging_steps=max(1, steps // 10),
                disable_tqdm=False)


def finetune(task: Task, base: str, method: str, seed: int = 0, steps: int | None = None, lr: float | None = None,
             n_eval: int = 100):
    """Returns (model, tokenizer, summary), the model fine-tuned from `base` (any source load_model accepts)."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    loaded = load_model(base)
    model, tokenizer = loaded.hf_model.train(), loaded.tokenizer
    steps = steps or 200
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if method == "sl":
            data = datasets.Dataset.from_list(sft_pairs(task, steps * 8, seed))
            args = SFTConfig(**common_args(tmp, steps, lr or 5e-5, seed, 8), completion_only_loss=True)
            trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        else:
            if task.family == "goal":
                from mesaprobe.models.grpo_episodes import episode_return, episode_rollout_func

                layouts = task.layouts(steps * 8, f"finetune:{seed}")
                rows = [{"prompt": task.render_text(layout)[0]} for layout in layouts]
                reward, extra = episode_return, {"rollout_func": episode_rollout_func(task, layouts)}
            else:
                rows = [{"prompt": p, "answer": a} for p, a in
                        (task.render_text(i.meta) for i in task.instances(steps * 8, seed=f"finetune:{seed}"))]
                reward, extra = answer_reward, {}
            args = GRPOConfig(**common_args(tmp, steps, lr or 1e-4, seed, 4), num_generations=4,
                              max_completion_length=6 if task.family == "search" else 512, beta=0.0)
            trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args,
                                  train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer, **extra)
        trainer.train()
    model = trainer.model.eval()
    wall = time.perf_counter() - start
    summary = {"method": method, "base": base, "task": task.describe(), "seed": seed, "steps": steps,
               "trainer": type(trainer).__name__, "wall_time_s": round(wall, 2),
               "behavior": evaluate_text(model, tokenizer, task, seed, n_eval)}
    return model, tokenizer, summary


def evaluate_text(model, tokenizer, task: Task, seed: int, n: int) -> dict:
    if task.family == "search":
        from mesaprobe.models.text_eval import score_examples, text_examples

        return score_examples(model, tokenizer, text_examples(task, tokenizer, n, 10_000 + seed, shots=0, chat=False),
                              progress=False)
    from mesaprobe.models.rollout import behavior
    from mesaprobe.models.text_rollout import text_rollout

    episodes, bad = text_rollout(model, tokenizer, task, task.layouts(n, f"eval:{seed}", split="test"))
    return behavior(task, episodes) | {"unparseable": bad}
