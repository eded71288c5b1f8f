"""The matched pair on a goal task: same config, tokenizer, seed and episode budget.
- sl: behaviour cloning of the oracle (BFS / dynamic programming), loss on the action tokens only;
- rl: PPO on the environment's reward alone (models/training/ppo.py)."""
from __future__ import annotations

import time

import torch
from mesaprobe.models.packing import pack_batch
from mesaprobe.models.rollouts.tiny import behavior, rollout
from mesaprobe.models.training.pool import from_pool
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training.supervised_loop import supervised_loop
from mesaprobe.runtime import process_state, quiet_libraries
from mesaprobe.tasks.goal_base import GoalTask

EVAL_EPISODES = 500


def evaluate(model, tokenizer, task: GoalTask, seed: int, n: int = EVAL_EPISODES) -> dict:
    """Greedy behaviour on held-out layouts (the test split, a seed stream training never sees)."""
    model.eval()
    return behavior(task, rollout(model, tokenizer, task, task.layouts(n, f"eval:{seed}", split="test")))


def bar_stop(task: GoalTask, tokenizer, seed: int, steps: int):
    """`--until-bar`'s check: greedy behaviour on validation layouts (test split, their own seed stream, drawn anew at
    each check) against the task's bar."""
    from mesaprobe.models.training.bar_stop import BarStop

    metric, bar = task.behavior_bar

    def measure(model, check: int) -> float:
        layouts = task.layouts(EVAL_EPISODES, f"val:{seed}:{check}", split="test")
        return behavior(task, rollout(model, tokenizer, task, layouts))[metric]

    return BarStop.for_steps(measure, bar, steps)


def bc_example(seq: list[int], actions: set[int]) -> tuple[list[int], list[int]]:
    """One oracle episode as behaviour cloning reads it: the tokens up to its last action, which is only a label
    (nothing later is read), and per token the next one where that is an action, -100 elsewhere (loss on actions)."""
    last = max(i for i, t in enumerate(seq) if t in actions)
    return seq[:last], [t if t in actions else -100 for t in seq[1:last + 1]]


def train_bc(task: GoalTask, model, tokenizer, seed: int, budget: int, steps: int, progress: bool,
             batch_size: int = 64, lr: float = 3e-3, pool: int | None = None, stop=None):
    vocab = tokenizer.get_vocab()
    actions = {vocab[a] for a in task.action_tokens()}
    layouts = from_pool(task.layouts, budget, f"train:{seed}", pool)
    inputs, labels = zip(*(bc_example([vocab[t] for t in task.oracle_episode(layout)], actions) for layout in layouts))

    def loss_fn(model, idx, dev):
        chosen = idx.tolist()  # packed several to a row (models/packing.py): the same batch and loss, no padding
        ids, positions, _, y = pack_batch([inputs[i] for i in chosen], tokenizer.pad_token_id,
                                          fill=[labels[i] for i in chosen])
        logits = model(input_ids=ids.to(dev), position_ids=positions.to(dev), use_cache=False).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(dev).reshape(-1))

    return supervised_loop(model, loss_fn, len(inputs), steps, batch_size, lr, seed, f"train {task.name} (sl)",
                           progress, hold=task.recipe.hold, stop=stop)


def ppo_config(task: GoalTask, budget: int, iterations: int | None = None, pool: int | None = None):
    """PPO's settings for `task`: its `ppo_batch` overrides, and as many iterations as the budget allows."""
    from mesaprobe.models.training.ppo import PPOConfig

    config = PPOConfig(**task.recipe.ppo_batch, pool=pool)
    config.iterations = iterations or budget // config.n_envs
    return config


def train_goal(task: GoalTask, method: str, seed: int = 0, steps: int | None = None, progress: bool = True,
               budget: int | None = None, size: TinySize | None = None, pool: int | None = None, resume=None,
               until_bar: bool = False):
    """Returns (model, tokenizer, summary). `steps`: SL optimizer steps, or RL PPO iterations; `budget`: episodes
    per method (default: the task's `episode_budget`, the same for both); `pool`: distinct training layouts;
    `resume`: PPO's state directory (ppo.py); `until_bar`: stop once validation behaviour reaches the bar
    (bar_stop.py), `steps` then being the most it trains."""
    quiet_libraries()
    budget = budget or task.recipe.episode_budget
    size = size or TinySize(**task.recipe.model_size)
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, size, seed)
    start = time.perf_counter()
    if method == "sl":
        steps = steps or task.recipe.steps
        stop = bar_stop(task, tokenizer, seed, steps) if until_bar else None
        model = train_bc(task, model, tokenizer, seed, budget, steps, progress, task.recipe.bc_batch_size, task.recipe.bc_lr,
                         pool, stop)
        extra = {"lr": task.recipe.bc_lr, "lr_hold": task.recipe.hold, "batch_size": task.recipe.bc_batch_size}
    else:
        from mesaprobe.models.training.ppo import train_ppo

        config = ppo_config(task, budget, steps, pool)
        steps = config.iterations
        stop = bar_stop(task, tokenizer, seed, steps) if until_bar else None
        model, value_head, extra = train_ppo(task, model, tokenizer, seed, config, progress, resume, stop)
        budget = (stop.steps_taken(steps) if stop else steps) * config.n_envs  # split among the processes
        start -= extra.get("wall_before_resume_s", 0.0)  # wall time: the run's, across a stop and its resumption
        model.value_head_state = value_head.state_dict()
    wall = time.perf_counter() - start
    if stop is not None:
        extra = extra | {"until_bar": stop.summary()}
        steps = stop.steps_taken(steps)
    summary = {
        "method": method, "task": task.describe(), "seed": seed, "steps": steps, "episode_budget": budget,
        "size": size.__dict__, "pool": pool, "wall_time_s": round(wall, 2),
        # launched as several processes, only the main one (which saves) evaluates
        "behavior": evaluate(model, tokenizer, task, seed) if process_state().is_main_process else {},
    } | extra
    return model, tokenizer, summary
