"""A small PPO loop for the tiny policies (GAE, clipped ratio, value head on the last hidden state, entropy bonus,
learning rate annealed linearly to 0: without it, button's greedy policy fell short of the bar on some seeds).

Why our own loop: TRL 1.16 has no PPO trainer, and its critic-free GRPO did not learn sparse-reward gridworld from
scratch here, while this loop does. It runs through accelerate, so the same code uses a GPU when there is one, and under
`accelerate launch --num_processes N` (`train --processes N`) the iteration's `n_envs` episodes are split among the
processes: each rolls out its share (its own layouts and sampling seed) and takes its share of every minibatch
(advantages normalized over the whole iteration's), and DDP averages the gradients: the same update
(tests/models/training/test_split_update.py), 1.2-1.4x faster an iteration on two CPU cores than one process with two
threads (benchmarks/train_speed.py). Other draws than one process makes, so another trajectory of the same seed;
rock-field PPO starts slowly on some seeds either way (experiments/results/rock-field-speed).

A run given a `resume` directory saves its state there every `checkpoint_every` iterations and, started again with
the same task, seed and settings, continues from the last one it saved (one process only): a stopped 40-minute run
loses minutes, not the run. A folder that is not this run's own (resume_state.py) is left alone."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.models.training.pool import LayoutPool
from mesaprobe.models.training.resume_state import ResumeDir
from mesaprobe.models.packing import pack_batch
from mesaprobe.models.rollouts.tiny import policy_outputs, rollout
from mesaprobe.runtime import bar_options, follow_free_cores, process_share
from mesaprobe.tasks.goal_base import GoalTask


@dataclass
class PPOConfig:
    iterations: int = 64
    n_envs: int = 128  # episodes per iteration
    epochs: int = 4
    minibatch: int = 32  # episodes per gradient step
    lr: float = 1e-3
    anneal_lr: bool = True  # linear decay to 0 over the iterations, as in the reference PPO implementations
    clip: float = 0.2
    gae_lambda: float = 0.95
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 1.0
    pool: int | None = None  # distinct training layouts (None: fresh ones every iteration)
    checkpoint_every: int = 8  # iterations between saved states, when the run has a `resume` directory


def gae(rewards: list[float], values: list[float], gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns of one finished episode (the value after the last step is 0: the episode ended)."""
    adv, last = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(values) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, adv + np.asarray(values)


def iteration_moments(accelerator, advantages: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the whole iteration's advantages, over every process's share, as one process
    normalizes them (the first two-process runs normalized each share by its own)."""
    if accelerator.num_processes == 1:
        return advantages.mean(), advantages.std()
    sums = torch.tensor([[advantages.sum(), (advantages ** 2).sum(), advantages.size]], dtype=torch.float64,
                        device=accelerator.device)
    total, squares, n = accelerator.gather(sums).sum(0).tolist()
    mean = total / n
    return mean, max(squares / n - mean ** 2, 0.0) ** 0.5


def train_ppo(task: GoalTask, model, tokenizer, seed: int, config: PPOConfig, progress: bool = True,
              resume: Path | ResumeDir | None = None, stop=None, on_rollout=None):
    """`resume`: the folder PPO keeps its state in (resume_state.py). `stop`: a `BarStop` (bar_stop.py) checked after
    each iteration's update; it may end the run early (the learning rate still anneals over `config.iterations`).
    `on_rollout(episodes, seconds)`: hears each iteration's episodes and the time their rollout took
    (benchmarks/train_speed.py splits PPO's time with it)."""
    from accelerate import Accelerator

    torch.manual_seed(seed)  # the same initial weights in every process
    value_head = torch.nn.Linear(model.config.hidden_size, 1)
    from mesaprobe.models.training import tracking

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), **tracking.run_options())
    tracked = tracking.start(accelerator, "mesaprobe-train")
    rank, processes = accelerator.process_index, accelerator.num_processes
    params = list(model.parameters()) + list(value_head.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr)
    model, value_head, optimizer = accelerator.prepare(model, value_head, optimizer)
    # rollouts use the bare modules: a DDP forward outside the training step would ask the other processes to join
    policy, policy_value = accelerator.unwrap_model(model), accelerator.unwrap_model(value_head)
    vocab = tokenizer.get_vocab()
    act_ids = torch.tensor([vocab[a] for a in task.action_tokens()])
    gen = torch.Generator().manual_seed(seed + 7919 * rank)  # each process samples its own actions
    history, layouts = [], LayoutPool(task, seed, config.pool, stream=rank)
    first_layouts, first_episodes, start, earlier_s, began = None, 0, 0, 0.0, time.perf_counter()
    identity = {"task": task.describe(), "seed": seed, "config": asdict(config), "model": policy.config.to_dict()}
    resume = ResumeDir(resume) if isinstance(resume, (str, Path)) else resume
    resume = resume if processes == 1 else None  # each process would need its own state: not kept
    if resume is not None and (state := resume.load(identity)) is not None:
        policy.load_state_dict(state["model"])
        policy_value.load_state_dict(state["value_head"])
        optimizer.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        layouts.rng.setstate(state["pool_rng"])
        start, history, first_layouts = state["iteration"], state["history"], state["first_layouts"]
        earlier_s = state["wall_s"]
        if stop is not None:  # its validation curve so far: the next check draws its own data, two in a row count
            stop.checks = state.get("bar_checks") or []
    # every process takes the same number of gradient steps an epoch (DDP meets at each backward)
    minibatches = min(-(-config.n_envs // config.minibatch), config.n_envs // processes)
    if minibatches < 1:
        raise UserError(f"{processes} processes for {config.n_envs} episodes an iteration: at most one each")
    bar = tqdm(range(start, config.iterations), desc=f"train {task.name} (rl)", initial=start,
               total=config.iterations, **bar_options(progress and accelerator.is_main_process))
    for it in bar:
        if config.anneal_lr:
            for group in optimizer.param_groups:
                group["lr"] = config.lr * (1 - it / config.iterations)
        model.eval()
        drawn = layouts.draw(process_share(config.n_envs, rank, processes), it)
        first_layouts, first_episodes = first_layouts or repr(drawn), first_episodes or len(drawn)
        rollout_start = time.perf_counter()
        episodes = rollout(policy, tokenizer, task, drawn, greedy=False, value_head=policy_value, generator=gen)
        if on_rollout is not None:
            on_rollout(episodes, time.perf_counter() - rollout_start)
        adv, ret = zip(*(gae(ep.rewards, ep.values, task.gamma, config.gae_lambda) for ep in episodes))
        mean, std = iteration_moments(accelerator, np.concatenate(adv))
        adv = [(a - mean) / (std + 1e-8) for a in adv]
        success = float(accelerator.gather(torch.tensor([np.mean([ep.success for ep in episodes])],
                                                        device=accelerator.device)).mean())
        history.append(success)
        if tracked:
            accelerator.log({"train/success": success, "train/lr": optimizer.param_groups[0]["lr"]}, step=it)
        bar.set_postfix(success=f"{success:.2f}", refresh=False)
        model.train()
        seqs = [[vocab[t] for t in ep.tokens_read()] for ep in episodes]  # packed several to a row below
        for _ in range(config.epochs):
            for chunk in torch.randperm(len(episodes), generator=gen).tensor_split(minibatches):
                chosen = chunk.tolist()
                loss = ppo_loss(model, value_head, [episodes[i] for i in chosen], [seqs[i] for i in chosen],
                                [adv[i] for i in chosen], [ret[i] for i in chosen], act_ids, tokenizer.pad_token_id,
                                config, accelerator.device)
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        if stop is not None and stop.reached(policy, it + 1):
            break
        follow_free_cores()
        if resume is not None and (it + 1) % config.checkpoint_every == 0 and it + 1 < config.iterations:
            resume.save({"iteration": it + 1, "history": history,
                                "first_layouts": first_layouts, "model": policy.state_dict(),
                                "value_head": policy_value.state_dict(), "optimizer": optimizer.state_dict(),
                                "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                                "pool_rng": layouts.rng.getstate(), "bar_checks": stop.checks if stop else None,
                                "wall_s": earlier_s + time.perf_counter() - began})
    model = accelerator.unwrap_model(model).eval()
    value_head = accelerator.unwrap_model(value_head)
    resumed = {"resumed_at_iteration": start, "wall_before_resume_s": round(earlier_s, 2)} if start else {}
    checks = replicas(accelerator, params, first_layouts, first_episodes)
    if tracked:
        accelerator.end_training()
    accelerator.free_memory()  # drops the DDP wrappers, which hold the process group (runtime.process_state)
    return model, value_head, {"ppo": asdict(config), "train_success_by_iteration": history,
                               "processes": processes} | resumed | checks


def ppo_loss(model, value_head, batch: list, seqs: list[list[int]], adv: list, ret: list, act_ids: torch.Tensor,
             pad_id: int, config: PPOConfig, dev) -> torch.Tensor:
    """The clipped PPO loss of one minibatch (its episodes packed several to a row), its value loss and entropy
    bonus: means over the minibatch's decisions."""
    ids, positions, starts = pack_batch(seqs, pad_id)
    rows = torch.tensor([starts[j][0] for j, ep in enumerate(batch) for _ in ep.decisions])
    pos = torch.tensor([starts[j][1] + d for j, ep in enumerate(batch) for d in ep.decisions])
    logits, values = policy_outputs(model, ids.to(dev), None, rows.to(dev), pos.to(dev), act_ids, value_head,
                                    position_ids=positions.to(dev))
    logp_all = torch.log_softmax(logits.float(), -1)
    actions = torch.tensor([a for ep in batch for a in ep.actions], device=dev)
    logp = logp_all.gather(1, actions[:, None]).squeeze(1)
    old = torch.tensor([lp for ep in batch for lp in ep.logprobs], device=dev)
    a = torch.tensor(np.concatenate(adv), dtype=torch.float32, device=dev)
    r = torch.tensor(np.concatenate(ret), dtype=torch.float32, device=dev)
    ratio = (logp - old).exp()
    policy_loss = -torch.min(ratio * a, ratio.clamp(1 - config.clip, 1 + config.clip) * a).mean()
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    return policy_loss + config.vf_coef * (values - r).pow(2).mean() - config.ent_coef * entropy


def replicas(accelerator, params: list[torch.Tensor], first_layouts: str, first_episodes: int) -> dict:
    """Checks of a run over several processes: every process ends with the same weights (the gradients were
    averaged), and each rolled out its own share of layouts (a digest of its first iteration's, and their number)."""
    import hashlib

    if accelerator.num_processes == 1:
        return {}
    total = torch.stack([p.detach().double().sum() for p in params]).sum()[None].to(accelerator.device)
    sums = accelerator.gather(total).cpu()
    digest = int(hashlib.sha256(first_layouts.encode()).hexdigest()[:12], 16)
    digests = accelerator.gather(torch.tensor([digest], device=accelerator.device)).tolist()
    counts = accelerator.gather(torch.tensor([first_episodes], device=accelerator.device)).tolist()
    return {"weights_in_sync": bool(torch.allclose(sums, sums[0].expand_as(sums), rtol=0, atol=1e-6)),
            "first_layouts_digest_by_process": [f"{d:012x}" for d in digests], "first_episodes_by_process": counts}
