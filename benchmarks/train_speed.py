"""Training speed against the floor (issue 31 item 1): for behaviour cloning and PPO on rock-field and goal-sum,
tokens per second through our training loop against a bare loop of the same model (forward, backward, optimizer
step) over the same token batches, measured in one run; PPO's time split into rollouts (sampling episodes through the
KV cache) and updates. A ratio near 1 says the loop adds little beyond the model's own compute; the rest of a long
training is the number of steps (sample efficiency), not overhead. SL rows also time the floor with GPT-2's
unfused "gelu_new" activation (what tiny models used before the fused "gelu_pytorch_tanh": the same function).
Both loops now cut each sequence after the last token they read and pack several to a row (models/packing.py): the
floor is the bare loop over those packed batches, and `packing_speedup` is the bare loop over the same sequences
whole and padded to the longest of their batch (how the loops fed them before) against it.

On a CPU, one more row: PPO on rock-field trained by `mesaprobe train` as one process with two threads and as two
one-thread processes (`--processes 2`, each rolling out half of every iteration), by the training wall time each
reports (`wall_time_s`: start-up and the final evaluation left out).

    python benchmarks/train_speed.py [--steps 60] [--iterations 2] [--process-iterations 8]
                                     [--out benchmarks/train_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import mesaprobe.models.training.ppo as ppo
from mesaprobe.models.packing import pack_batch
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training.goal import bc_example, ppo_config, train_bc
from mesaprobe.tasks import get_task


DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # where our loops train (accelerate's choice)


def synchronized() -> float:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def fresh(task, seed=0):
    tokenizer = build_tokenizer(task.vocabulary())
    return build_tiny_model(tokenizer, TinySize(**task.recipe.model_size), seed), tokenizer


def with_activation(model, name: str):
    """`model` with GPT-2's MLP activation replaced (models/tiny.py chose the fused "gelu_pytorch_tanh")."""
    from transformers.activations import ACT2FN

    for block in model.transformer.h:
        block.mlp.act = ACT2FN[name]
    return model


def padded(seqs: list[list[int]], pad: int) -> dict:
    ids, mask = pad_batch(seqs, pad)
    return {"input_ids": ids, "attention_mask": mask}


def packed(seqs: list[list[int]], pad: int) -> dict:
    ids, positions, _ = pack_batch(seqs, pad)
    return {"input_ids": ids, "position_ids": positions}


def bare_loop(model, batches: list[dict]) -> float:
    """Seconds for forward + backward + AdamW over `batches` (model inputs): the floor."""
    model.to(DEVICE)
    batches = [{k: v.to(DEVICE) for k, v in b.items()} for b in batches]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    start = synchronized()
    for batch in batches:
        logits = model(**batch, use_cache=False).logits[:, :-1]
        ids = batch["input_ids"]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return synchronized() - start


def floors(task, groups: list[list[list[int]]], cut: list[list[list[int]]], pad: int, gelu_new: bool) -> dict:
    """The bare loop over the batches as our loops used to feed them (whole sequences, padded to the longest) and
    as they feed them now (cut after the last token read, packed: models/packing.py), one after the other."""
    padded_s = bare_loop(fresh(task)[0], [padded(g, pad) for g in groups])
    packed_batches = [packed(g, pad) for g in cut]
    floor = bare_loop(fresh(task)[0], packed_batches)
    row = {"floor_s": round(floor, 2), "floor_padded_s": round(padded_s, 2),
           "packing_speedup": round(padded_s / floor, 2),
           "tokens": sum(map(len, (s for g in cut for s in g))),
           "padded_tokens": sum(len(g) * max(map(len, g)) for g in groups),
           "packed_tokens": sum(b["input_ids"].numel() for b in packed_batches)}
    if gelu_new:
        unfused = bare_loop(with_activation(fresh(task)[0], "gelu_new"), packed_batches)
        row |= {"floor_gelu_new_s": round(unfused, 2), "fused_gelu_speedup": round(unfused / floor, 2)}
    return row


def supervised(task, steps: int) -> dict:
    model, tokenizer = fresh(task)
    batch, vocab = task.recipe.bc_batch_size, tokenizer.get_vocab()
    start = synchronized()
    train_bc(task, model, tokenizer, 0, batch * steps, steps, False, batch, task.recipe.bc_lr)
    ours = synchronized() - start
    actions = {vocab[a] for a in task.action_tokens()}
    episodes = [[vocab[t] for t in task.oracle_episode(layout)] for layout in task.layouts(batch * steps, "speed:0")]
    groups = [episodes[i * batch:(i + 1) * batch] for i in range(steps)]
    cut = [[bc_example(s, actions)[0] for s in g] for g in groups]
    row = floors(task, groups, cut, tokenizer.pad_token_id, gelu_new=True)
    return {"method": "sl", "task": task.name, "steps": steps, "ours_s": round(ours, 2),
            "ratio_to_floor": round(ours / row["floor_s"], 2), "tokens_per_s": round(row["tokens"] / ours)} | row


def reinforcement(task, iterations: int) -> dict:
    model, tokenizer = fresh(task)
    config = ppo_config(task, 0, iterations)
    rollout_s, seen = [0.0], []

    def heard(episodes, seconds):
        rollout_s[0] += seconds
        seen.extend(episodes)

    start = synchronized()
    ppo.train_ppo(task, model, tokenizer, 0, config, progress=False, on_rollout=heard)
    ours = synchronized() - start
    vocab = tokenizer.get_vocab()
    per = config.minibatch
    minibatches = [seen[i:i + per] for i in range(0, len(seen), per)]
    groups = [[[vocab[t] for t in ep.tokens] for ep in eps] for eps in minibatches]
    cut = [[[vocab[t] for t in ep.tokens_read()] for ep in eps] for eps in minibatches]
    # the update reads every episode `epochs` times
    row = floors(task, groups * config.epochs, cut * config.epochs, tokenizer.pad_token_id, gelu_new=False)
    update = ours - rollout_s[0]
    return {"method": "rl", "task": task.name, "iterations": iterations, "episodes": len(seen),
            "ours_s": round(ours, 2), "rollout_s": round(rollout_s[0], 2), "update_s": round(update, 2),
            "update_ratio_to_floor": round(update / row["floor_s"], 2),
            "ratio_to_floor": round(ours / row["floor_s"], 2)} | row


def processes(task: str, iterations: int) -> dict:
    """PPO as one process with two threads against two one-thread processes (`train --processes 2`)."""
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("one_process_two_threads_s", []), ("two_processes_one_thread_s", ["--processes", "2"])):
            out = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "mesaprobe.cli", "--threads", "2", "train", task, "--method", "rl",
                            "--steps", str(iterations), *extra, "--out", str(out)], check=True,
                           stdout=subprocess.DEVNULL, env=os.environ | {"HF_HUB_OFFLINE": "1"})
            walls[name] = json.loads((out / "training.json").read_text())["wall_time_s"]
    speedup = walls["one_process_two_threads_s"] / walls["two_processes_one_thread_s"]
    return {"method": "rl", "task": task, "iterations": iterations} | walls | {"processes_speedup": round(speedup, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60, help="SL optimizer steps per task")
    parser.add_argument("--iterations", type=int, default=2, help="PPO iterations per task")
    parser.add_argument("--tasks", default="rock-field,goal-sum")
    parser.add_argument("--process-iterations", type=int, default=8, help="PPO iterations of the processes row (0: "
                        "none; CPU only)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        for row in (supervised(task, args.steps), reinforcement(task, args.iterations)):
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.process_iterations and DEVICE.type == "cpu":
        rows.append(processes("rock-field", args.process_iterations))
        print(json.dumps(rows[-1]), flush=True)
    result = {"machine": platform.machine(), "device": str(DEVICE), "threads": torch.get_num_threads(), "rows": rows,
              "target": "the loop within 1.5x of the floor; a rock-field SL + RL pair at their bars in 10 minutes"}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
