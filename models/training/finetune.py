"""Fine-tuning a pretrained base on a task's natural-language rendering with TRL:
- sl: SFTTrainer on prompt/completion pairs (search tasks: the answer; goal tasks: the oracle's action word at
  every decision of an oracle transcript), loss on the completion only;
- rl: GRPOTrainer with the task's own reward: search tasks, 1 for the right answer; goal tasks, whole text episodes
  played by a `rollout_func` (env_mask keeps the environment's words out of the loss), rewarded with their
  discounted return (models/training/grpo_goal.py).
On CPU, bf16 is off and use_cpu on. Warm-starting RL from an SL model with a low learning rate (1e-4) is the
recipe that worked on gridworld; a high one (1e-3) collapsed."""
from __future__ import annotations

import re
import tempfile
import time

import torch

from mesaprobe.models.loading import load_model
from mesaprobe.models.training.distance import answer_logprobs, base_weights, kl_from_base, update_share
from mesaprobe.models.subjects.subject import by_family
from mesaprobe.tasks.base import Task


def answer_reward(completions, answer, **_) -> list[float]:
    """1.0 when the first word or number of the completion is the answer."""
    out = []
    for completion, target in zip(completions, answer):
        text = completion if isinstance(completion, str) else completion[-1]["content"]
        words = re.findall(r"[A-Za-z]+|\d+", text)
        out.append(1.0 if words and words[0] == target else 0.0)
    return out


def grpo_answers(task: Task, n: int, seed: int):
    """GRPO on a search task: one reply per prompt, rewarded 1 for the right answer."""
    rows = [{"prompt": p, "answer": a} for p, a in
            (task.render_text(i.meta) for i in task.instances(n, seed=f"finetune:{seed}"))]
    return rows, answer_reward, {}, 6


def grpo_episodes(task: Task, n: int, seed: int):
    """GRPO on a goal task: whole text episodes played by a rollout function, rewarded with their return."""
    from mesaprobe.models.training.grpo_goal import episode_return, episode_rollout_func

    layouts = task.layouts(n, f"finetune:{seed}")
    rows = [{"prompt": task.render_text(layout)[0]} for layout in layouts]
    return rows, episode_return, {"rollout_func": episode_rollout_func(task, layouts)}, 512


def common_args(out_dir: str, steps: int, lr: float, seed: int, batch: int) -> dict:
    from mesaprobe.models.training.tracking import run_options

    cpu = not torch.cuda.is_available()
    tracker = run_options().get("log_with")  # `--log-with`: TRL reports to the same tracker
    return dict(output_dir=out_dir, max_steps=steps, learning_rate=lr, seed=seed, per_device_train_batch_size=batch,
                use_cpu=cpu, bf16=False, report_to=[tracker] if tracker else [], save_strategy="no",
                logging_steps=max(1, steps // 10), disable_tqdm=False)


def finetune(task: Task, base: str, method: str, seed: int = 0, steps: int | None = None, lr: float | None = None,
             n_eval: int = 100, lora: int | None = None):
    """Returns (model, tokenizer, summary), the model fine-tuned from `base` (any source load_model accepts), every
    weight or (`lora`) a LoRA adapter of that rank, merged; the summary says how far it moved (distance.py)."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    loaded = load_model(base)
    model, tokenizer = loaded.hf_model.eval(), loaded.tokenizer
    prompts = held_out_prompts(task, tokenizer, seed, n_eval)
    pad = tokenizer.pad_token_id or 0
    base_logp, before = answer_logprobs(model, prompts, pad), base_weights(model)
    model = with_lora(model.train(), lora) if lora else model.train()
    steps = steps or 200
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if method == "sl":
            data = datasets.Dataset.from_list(task.sft_pairs(steps * 8, seed))
            args = SFTConfig(**common_args(tmp, steps, lr or 5e-5, seed, 8), completion_only_loss=True)
            trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        else:
            rows, reward, extra, completion_tokens = by_family(task, grpo_answers, grpo_episodes)(task, steps * 8, seed)
            args = GRPOConfig(**common_args(tmp, steps, lr or 1e-4, seed, 4), num_generations=4,
                              max_completion_length=completion_tokens, beta=0.0)
            trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args,
                                  train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer, **extra)
        trainer.train()
    model = (trainer.model.merge_and_unload() if lora else trainer.model).eval()
    wall = time.perf_counter() - start
    summary = {"method": method, "base": base, "task": task.describe(), "seed": seed, "steps": steps,
               "trainer": type(trainer).__name__, "wall_time_s": round(wall, 2), "lora_rank": lora,
               "behavior": evaluate_text(model, tokenizer, task, seed, n_eval),
               "distance_from_base": {"kl": kl_from_base(base_logp, answer_logprobs(model, prompts, pad)),
                                      "update": update_share(before, model)}}
    return model, tokenizer, summary


def with_lora(model, rank: int):
    """`model` with a LoRA adapter of `rank` on every linear layer (peft), the rest frozen."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                            lora_dropout=0.0, task_type="CAUSAL_LM"))


def held_out_prompts(task: Task, tokenizer, seed: int, n: int) -> list[list[int]]:
    """The prompts `evaluate_text` reads (search: zero-shot questions; goal: each held-out episode's first
    decision), as tokens: where KL(base || model) is measured."""
    def search(task):
        from mesaprobe.models.subjects.text_eval import text_examples

        return [ex.ids for ex in text_examples(task, tokenizer, n, 10_000 + seed, shots=0, chat=False)]

    def goal(task):
        return [tokenizer(task.render_text(layout)[0])["input_ids"]
                for layout in task.layouts(n, f"eval:{seed}", split="test")]

    return by_family(task, search, goal)(task)


def evaluate_text(model, tokenizer, task: Task, seed: int, n: int) -> dict:
    """Held-out behaviour in natural language: zero-shot answers (search) or text episodes (goal)."""
    def search(task):
        from mesaprobe.models.subjects.text_eval import score_examples, text_examples

        examples = text_examples(task, tokenizer, n, 10_000 + seed, shots=0, chat=False)
        return score_examples(model, tokenizer, examples, progress=False)

    def goal(task):
        from mesaprobe.models.rollouts.tiny import behavior
        from mesaprobe.models.rollouts.text import text_rollout

        episodes, bad = text_rollout(model, tokenizer, task, task.layouts(n, f"eval:{seed}", split="test"))
        return behavior(task, episodes) | {"unparseable": bad}

    return by_family(task, search, goal)(task)
